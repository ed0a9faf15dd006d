"""VGG16 through onnxruntime: RGB frames -> (n, 4096) fc7 activations after ReLU.

Sec. 3.2.1: "The resulting video frames are then fed into VGG16 ... The 4096-dimensional
outputs of the last feedforward layer ... are used as visual frame embeddings". We read that
as fc7 (the last 4096-wide layer, after its ReLU; the 1000-way fc8 is the classifier).

The expected file is the ONNX model zoo's vgg16-7 (weights trained in MXNet Gluon) with fc7,
`vgg0_dense1_relu_fwd`, appended to the graph outputs by `python -m avt_np.weights fetch`,
which also turns the zoo file's fixed batch 1 into a symbolic N: input `data` [N, 3, 224, 224]
float32, so a clip's frames run max_batch (default 16) at a time, not one by one (a file with a
fixed batch is fed chunks of that batch, the last one zero-padded). Its preprocessing
("gluon", the default here):

    shorter side resized to 256 (bilinear), centre crop 224 x 224, RGB scaled to [0, 1],
    minus mean (0.485, 0.456, 0.406), divided by std (0.229, 0.224, 0.225), NCHW.

Keras' VGG16 (the original Caffe weights, likely what 2019 papers used) wants "caffe":
RGB -> BGR, minus (103.939, 116.779, 123.68) on 0-255 values, no scaling. The two fc7s are not
interchangeable; the style used is written into the data set's provenance.
"""

import numpy as np
from PIL import Image

from avt_np.features.onnx_model import (ModelFileError, describe, dims_match, fixed_batch,
                                        open_session, run_batched)
from avt_np.features.vgg16_graph import FC7

SIZE = 224
SHORT_SIDE = 256
FC7_SIZE = 4096
PREPROCESS = {
    # name: (channel order, scale applied to 0-255 values, mean, std) after scaling
    "gluon": ("RGB", 1 / 255.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "caffe": ("BGR", 1.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0)),
}


def resize_and_crop(image, size=SIZE, short_side=SHORT_SIDE):
    """PIL image or (H, W, 3) uint8 -> (size, size, 3) uint8 RGB: short side to 256, centre crop."""
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image, np.uint8))
    image = image.convert("RGB")
    w, h = image.size
    scale = short_side / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), np.uint8)


def normalise(frames, style="gluon"):
    """(n, 224, 224, 3) uint8 RGB -> (n, 3, 224, 224) float32 as the chosen export expects."""
    if style not in PREPROCESS:
        raise ValueError(f"unknown VGG16 preprocessing {style!r}; expected one of {list(PREPROCESS)}")
    order, scale, mean, std = PREPROCESS[style]
    x = np.asarray(frames, np.float32) * np.float32(scale)
    if order == "BGR":
        x = x[..., ::-1]
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class VGG16:
    """(n, 224, 224, 3) uint8 RGB frames -> (n, 4096) float32 fc7 after ReLU.

    path: a file path or the manifest name "vgg16_fc7" (weights/vgg16-7-fc7.onnx).
    output: the fc7 tensor name; style: "gluon" for the zoo's vgg16-7, "caffe" for Caffe weights.
    """

    def __init__(self, path="vgg16_fc7", output=FC7, style="gluon", threads=None, max_batch=16):
        if style not in PREPROCESS:
            raise ValueError(f"unknown VGG16 preprocessing {style!r}; expected one of {list(PREPROCESS)}")
        self.session = open_session(path, "vgg16_fc7", threads)
        self.path, self.style, self.max_batch = self.session.avt_path, style, max_batch
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or not dims_match(inputs[0].shape, (None, 3, SIZE, SIZE)) \
                or inputs[0].type != "tensor(float)":
            raise ModelFileError(f"{self.path}: inputs are {'; '.join(map(describe, inputs))}; "
                                 f"VGG16 needs one [N, 3, {SIZE}, {SIZE}] float input")
        self.input_name, self.batch = inputs[0].name, fixed_batch(inputs[0].shape)
        by_name = {o.name: o for o in outputs}
        if output not in by_name:
            raise ModelFileError(
                f"{self.path}: no output {output!r} (outputs: {'; '.join(map(describe, outputs))}); "
                f"expose fc7 with `python -m avt_np.weights expose-fc7 {self.path} OUT.onnx` "
                "or fetch with `python -m avt_np.weights fetch`")
        if not dims_match(by_name[output].shape, (None, FC7_SIZE)):
            raise ModelFileError(f"{self.path}: output {describe(by_name[output])}, "
                                 f"expected [N, {FC7_SIZE}] (fc7)")
        self.output_name = output

    def __call__(self, frames):
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[1:] != (SIZE, SIZE, 3):
            raise ValueError(f"expected frames (n, {SIZE}, {SIZE}, 3) uint8, got {frames.shape}")
        n = frames.shape[0]
        if n == 0:
            return np.zeros((0, FC7_SIZE), np.float32)
        x = normalise(frames, self.style)
        (y,) = run_batched(self.session, self.input_name, x, [self.output_name],
                           self.batch, self.max_batch)
        if y.shape != (n, FC7_SIZE):
            raise ModelFileError(f"{self.path}: output {self.output_name} has shape {y.shape}, "
                                 f"expected ({n}, {FC7_SIZE})")
        if (y < 0).any():
            raise ModelFileError(f"{self.path}: output {self.output_name} has negative values, so "
                                 "it is not fc7 after ReLU (vgg0_dense1_fwd is before the ReLU)")
        return y.astype(np.float32)
