"""The graph surgery `python -m avt_np.weights fetch` does on the ONNX model zoo's VGG16:
fc7 added to the graph's outputs, and the fixed batch of 1 made symbolic.

The zoo's vgg16-7 outputs only the 1000 logits (`vgg0_dense2_fwd`); fc7 after its ReLU, what
vgg16.py runs (Sec. 3.2.1), is the internal tensor `vgg0_dense1_relu_fwd` (MXNet Gluon names).
`python -m avt_np.weights expose-fc7 SRC DST` runs it alone on a file you have.
"""

import sys

import numpy as np

from avt_np.cli import UsageError, first_line
from avt_np.io import atomic_write

FC7 = "vgg0_dense1_relu_fwd"   # fc7 after its ReLU in the ONNX zoo's vgg16-7


class GraphError(UsageError):
    """An ONNX file the surgery cannot use (not ONNX, no fc7 tensor): one line, exit 2."""


def load_onnx(path):
    """onnx.ModelProto from a file, or GraphError (one line) if it is not an ONNX model."""
    import onnx                             # imported here: slow to load, graph surgery only
    try:
        return onnx.load(str(path))
    except Exception as e:  # google.protobuf DecodeError, OSError, ...
        raise GraphError(f"{path}: not an ONNX model (onnx cannot parse it: "
                           f"{first_line(e)})") from None


def free_batch(graph, name="N"):
    """Make a fixed batch dimension symbolic: dim 0 of the first input, of every output and of
    intermediate shapes that repeat it. The zoo's vgg16-7 declares batch 1 although its
    operators (Conv, Flatten, Gemm) work for any batch. Returns the old batch (None if free)."""
    first = graph.input[0].type.tensor_type.shape.dim
    if not first or first[0].dim_param or first[0].dim_value <= 0:
        return None
    old = first[0].dim_value
    for info in [graph.input[0], *graph.output, *graph.value_info]:
        dims = info.type.tensor_type.shape.dim
        if dims and not dims[0].dim_param and dims[0].dim_value == old:
            dims[0].dim_param = name               # setting dim_param clears dim_value
    return old


def runs_with_batch(model_bytes, batch=2):
    """True if onnxruntime runs a serialized model (onnx's SerializeToString()) on `batch` zero
    inputs (all input dims but 0 fixed)."""
    import onnxruntime as ort               # imported here, as onnx below: only graph surgery
                                            # needs them, and they take a second to load
    quiet = ort.RunOptions()
    quiet.log_severity_level = 4            # failing is an answer here, not an error to print
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        (inp,) = session.get_inputs()
        shape = [batch] + [int(d) for d in inp.shape[1:]]
        outs = session.run(None, {inp.name: np.zeros(shape, np.float32)}, quiet)
        return all(np.asarray(o).shape[:1] == (batch,) for o in outs)
    except Exception:
        return False


def expose_output(src, dst, tensor=FC7, width=4096, symbolic_batch=True):
    """Copy an ONNX model, adding the internal tensor `tensor` to its graph outputs.

    The zoo's vgg16-7 only outputs the 1000 logits (vgg0_dense2_fwd); fc7 after its ReLU is
    the internal tensor vgg0_dense1_relu_fwd. It is declared [batch, width]. vgg16-7 declares
    batch 1, so with symbolic_batch a fixed batch becomes the symbol N (free_batch), checked by
    running a batch of 2 in onnxruntime; if that fails the file keeps its fixed batch (the
    runner then feeds it one frame at a time) and a note goes to stderr. src is read once and
    dst written once (atomic_write).
    """
    import onnx                             # imported here: slow to load, graph surgery only
    from onnx import TensorProto, helper

    model = load_onnx(src)
    graph = model.graph
    if not graph.input:
        raise GraphError(f"{src}: the graph has no input")
    if not any(o.name == tensor for o in graph.output):
        produced = {out for node in graph.node for out in node.output}
        if tensor not in produced:
            raise GraphError(f"{src}: no tensor named {tensor!r} in the graph; is this the ONNX "
                               "zoo's vgg16-7.onnx? (see weights/README.md)")
        batch = graph.input[0].type.tensor_type.shape.dim[0]
        batch = batch.dim_param or (batch.dim_value if batch.dim_value > 0 else "N")
        graph.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT,
                                                          [batch, width]))
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise GraphError(f"{src}: the model with output {tensor} fails onnx's checker "
                           f"({first_line(e)})") from None
    data = model.SerializeToString()               # the model with the batch src declares
    fixed = free_batch(graph) if symbolic_batch else None
    if fixed is not None:
        free = model.SerializeToString()           # the same with batch N
        if runs_with_batch(free):
            data = free
        else:
            print(f"note: {src} does not run with a free batch; {dst} keeps batch {fixed}",
                  file=sys.stderr)
    atomic_write(dst, lambda f: f.write(data))
    return dst
