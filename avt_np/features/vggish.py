"""VGGish through onnxruntime: (n, 96, 64) log-mel examples -> (n, 128) embeddings.

Sec. 3.2.1: "the 128-dimensional outputs of the last feedforward layer of this deep
convolutional network are used as frame embeddings". The expected file is the ailia-models
ONNX export of torchvggish (weights/README.md): input log-mel [N, 1, 96, 64] float32, one
[N, 128] output. Layouts [N, 96, 64] (Google's TensorFlow graph) and [N, 96, 64, 1] are
accepted too; names are read from the session.

Two properties of an export change what its embeddings mean, and both are detected on the
outputs and reported (`VGGish.findings()`), never silently accepted:
- a final ReLU: torchvggish appends one after the 128-d layer, Google's VGGish has none. An
  output with no negative value over many embeddings betrays it.
- quantisation: integer-valued outputs in [0, 255] (or a uint8 output) mean the export already
  applies AudioSet's PCA + 8-bit postprocessing.

AudioSet's released embeddings are raw embeddings -> PCA with whitening -> clip to [-2, 2]
-> uint8((x + 2) * 255 / 4) (truncating); `PCAQuantizer` does this when the user supplies
Google's public `vggish_pca_params.npz`. It is off by default.
"""

import numpy as np

from avt_np.features.audio import EXAMPLE_FRAMES, NUM_MEL_BANDS
from avt_np.features.onnx_model import (ModelFileError, describe, dims_match, fixed_batch,
                                        open_session, run_batched)
from avt_np.weights import require

EMBEDDING_SIZE = 128
LAYOUTS = {                     # declared input shape (after N) -> how examples are reshaped
    "NCHW": (1, EXAMPLE_FRAMES, NUM_MEL_BANDS),
    "NHW": (EXAMPLE_FRAMES, NUM_MEL_BANDS),
    "NHWC": (EXAMPLE_FRAMES, NUM_MEL_BANDS, 1),
}


class OutputCheck:
    """Running facts about a model's raw outputs: sign and integrality."""

    def __init__(self):
        self.count = 0          # embeddings seen
        self.values = 0
        self.negative = 0
        self.non_integer = 0
        self.min = np.inf
        self.max = -np.inf
        self.uint8 = False

    def update(self, y):
        if y.dtype == np.uint8:
            self.uint8 = True
        y = np.asarray(y, np.float64)
        self.count += y.shape[0]
        self.values += y.size
        self.negative += int((y < 0).sum())
        self.non_integer += int((y != np.round(y)).sum())
        if y.size:
            self.min, self.max = min(self.min, y.min()), max(self.max, y.max())

    @property
    def has_final_relu(self):
        """No negative value among a fair number of outputs (None when too few to say)."""
        if self.values < 256:
            return None
        return self.negative == 0

    @property
    def is_quantised(self):
        if self.uint8:
            return True
        if self.values < 256:
            return None
        return self.non_integer == 0 and self.min >= 0 and self.max <= 255

    def findings(self):
        """Plain-language lines about what the outputs reveal (empty if nothing to report)."""
        lines = []
        if self.has_final_relu:
            lines.append(f"no negative value in {self.count} embeddings: this export ends with "
                         "a ReLU (torchvggish adds one; Google's VGGish has none), so its "
                         "embeddings are not Google's raw embeddings")
        if self.is_quantised:
            lines.append(f"all {self.values} output values are integers in [0, 255]: this export "
                         "already applies PCA + 8-bit quantisation; do not pass --pca")
        return lines


class VGGish:
    """(n, 96, 64) float32 log-mel examples -> (n, 128) float32 embeddings.

    path: a file path or the manifest name "vggish" (weights/vggish.onnx).
    """

    def __init__(self, path="vggish", threads=None, max_batch=64):
        self.session = open_session(path, "vggish", threads)
        self.path = self.session.avt_path
        self.max_batch = max_batch
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        expected = "one input [N, 1, 96, 64] (or [N, 96, 64] / [N, 96, 64, 1]) float"
        if len(inputs) != 1:
            raise ModelFileError(f"{self.path}: has {len(inputs)} inputs "
                                 f"({'; '.join(map(describe, inputs))}); VGGish needs {expected}")
        inp = inputs[0]
        self.layout = next((k for k, dims in LAYOUTS.items()
                            if dims_match(inp.shape, (None,) + dims)), None)
        if self.layout is None or inp.type != "tensor(float)":
            raise ModelFileError(f"{self.path}: input is {describe(inp)}; VGGish needs {expected}")
        self.input_name = inp.name
        self.batch = fixed_batch(inp.shape)
        fits = [o for o in outputs if dims_match(o.shape, (None, EMBEDDING_SIZE))]
        if len(fits) != 1:
            raise ModelFileError(f"{self.path}: outputs are {'; '.join(map(describe, outputs))}; "
                                 f"VGGish needs exactly one [N, {EMBEDDING_SIZE}] output")
        self.output_name = fits[0].name
        self.check = OutputCheck()

    def __call__(self, examples):
        examples = np.asarray(examples, np.float32)
        if examples.ndim != 3 or examples.shape[1:] != (EXAMPLE_FRAMES, NUM_MEL_BANDS):
            raise ValueError(f"expected examples (n, {EXAMPLE_FRAMES}, {NUM_MEL_BANDS}), "
                             f"got {examples.shape}")
        n = examples.shape[0]
        if n == 0:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        x = examples.reshape((n,) + LAYOUTS[self.layout])
        (y,) = run_batched(self.session, self.input_name, x, [self.output_name],
                           self.batch, self.max_batch)
        if y.shape != (n, EMBEDDING_SIZE):
            raise ModelFileError(f"{self.path}: output {self.output_name} has shape {y.shape}, "
                                 f"expected ({n}, {EMBEDDING_SIZE})")
        self.check.update(y)
        return y.astype(np.float32)

    def findings(self):
        return self.check.findings()


class PCAQuantizer:
    """AudioSet's postprocessing: PCA + whitening, clip to [-2, 2], truncate to uint8.

    params: path of Google's vggish_pca_params.npz (arrays pca_eigen_vectors (128, 128), rows
    are components, and pca_means (128,) or (128, 1)) or the manifest name "vggish_pca".
    """

    QUANT_MIN, QUANT_MAX = -2.0, 2.0

    def __init__(self, params="vggish_pca"):
        path = require(params, "vggish_pca")
        try:
            with np.load(path) as f:
                self.eigvecs = np.asarray(f["pca_eigen_vectors"], np.float64)
                self.means = np.asarray(f["pca_means"], np.float64).reshape(-1)
        except (KeyError, ValueError, OSError) as e:
            raise ModelFileError(f"{path}: not a VGGish PCA file with pca_eigen_vectors and "
                                 f"pca_means ({e})") from None
        if self.eigvecs.shape != (EMBEDDING_SIZE, EMBEDDING_SIZE) or self.means.shape != (EMBEDDING_SIZE,):
            raise ModelFileError(f"{path}: pca_eigen_vectors {self.eigvecs.shape} / pca_means "
                                 f"{self.means.shape}, expected (128, 128) / (128,)")

    def __call__(self, embeddings):
        """(n, 128) raw embeddings -> (n, 128) uint8."""
        pca = (np.asarray(embeddings, np.float64) - self.means) @ self.eigvecs.T
        clipped = np.clip(pca, self.QUANT_MIN, self.QUANT_MAX)
        scaled = (clipped - self.QUANT_MIN) * (255.0 / (self.QUANT_MAX - self.QUANT_MIN))
        return scaled.astype(np.uint8)          # truncation, as in Google's postprocessor


DEQUANTIZE = {
    # YouTube-8M's inverse of the truncating quantiser (bin centres): q * 4/255 + 4/512 - 2
    "yt8m": lambda q: q * (4.0 / 255.0) + (4.0 / 512.0 - 2.0),
    "centered": lambda q: (q - 128.0) / 128.0,
    "unit": lambda q: q / 255.0,
}


def dequantize(q, convention="yt8m"):
    """uint8 embeddings -> float32 by one of the conventions in use (see DEQUANTIZE)."""
    if convention not in DEQUANTIZE:
        raise ValueError(f"unknown dequantisation {convention!r}; expected one of {list(DEQUANTIZE)}")
    return DEQUANTIZE[convention](np.asarray(q, np.float64)).astype(np.float32)
