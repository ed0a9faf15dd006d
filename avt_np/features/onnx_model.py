"""Opening an ONNX file with onnxruntime and checking it is the model we expect.

Tensor names are read from the session, never assumed; shapes are compared with what the
runner needs, and a mismatch is one clear line naming the file, what it has and what was
expected. A missing file names the fetch command (avt_np.weights.require).
"""

import numpy as np
import onnxruntime as ort

from avt_np.cli import first_line
from avt_np.weights import WeightsError, require


class ModelFileError(WeightsError):
    """An ONNX file that is missing, unreadable or not the expected model."""


def open_session(model, name, threads=None):
    """onnxruntime CPU session for a manifest name ("vggish"), a file path, or a model's bytes
    (onnx's model.SerializeToString(), for a model not saved yet; session.avt_path is then None).

    name: the manifest entry the file stands for (used in messages). threads: intra-op
    threads (None = onnxruntime's default, one per core).
    """
    if isinstance(model, bytes):
        path, source = None, model
    else:
        try:
            path = require(model, name)
        except WeightsError as e:
            raise ModelFileError(str(e)) from None
        source = str(path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = int(threads)
    try:
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail / InvalidProtobuf / RuntimeError
        first = first_line(e)
        raise ModelFileError(f"{path or f'the {name} model'}: onnxruntime cannot load it as an "
                             f"ONNX model ({first})") from None
    session.avt_path = path
    return session


def describe(arg):
    """'name [N, 1, 96, 64] tensor(float)' for a session input/output."""
    dims = ["?" if d is None else d for d in arg.shape]
    return f"{arg.name} [{', '.join(map(str, dims))}] {arg.type}"


def dims_match(shape, expected):
    """True if a declared shape fits the expected one; symbolic/unknown dims match anything."""
    if len(shape) != len(expected):
        return False
    return all(not isinstance(d, int) or e is None or d == e for d, e in zip(shape, expected))


def fixed_batch(shape):
    """The batch size a model was exported with, or None if the batch dimension is free."""
    d = shape[0]
    return d if isinstance(d, int) and d > 0 else None


def run_batched(session, feeds_name, x, output_names, batch, max_batch=32):
    """Run x (n, ...) through the session in chunks; returns one array per output name.

    batch: the model's fixed batch size (the last chunk is zero-padded to it) or None.
    """
    n = x.shape[0]
    step = batch or max_batch
    outs = [[] for _ in output_names]
    for start in range(0, n, step):
        chunk = x[start:start + step]
        m = chunk.shape[0]
        if batch and m < batch:
            pad = np.zeros((batch - m,) + chunk.shape[1:], chunk.dtype)
            chunk = np.concatenate([chunk, pad])
        results = session.run(output_names, {feeds_name: chunk})
        for acc, r in zip(outs, results):
            acc.append(np.asarray(r)[:m])
    if n == 0:
        return [np.zeros((0,)) for _ in output_names]
    return [np.concatenate(acc) for acc in outs]
