"""Tiny stand-in ONNX models with the tensor names and shapes of the real exports.

The real files (weights/README.md) cannot be downloaded in tests, so the loading code is
tested on these: same input/output names, ranks, shapes and dtypes, trivial arithmetic whose
outputs reveal what was fed in.

VGGish stand-in (ailia-models torchvggish export: log-mel [N, 1, 96, 64] -> [N, 128]):
    out[:, :64] = relu(mean over time of each mel band),  out[:, 64:] = relu(-same)
  (relu=False leaves the ReLU out, like Google's graph.)

VGG16 stand-in (ONNX zoo vgg16-7: data [1, 3, 224, 224] -> vgg0_dense2_fwd [1, 1000]):
    GlobalAveragePool -> Flatten -> vgg0_dense1_fwd (Gemm to 4096) -> vgg0_dense1_relu_fwd
    -> vgg0_dense2_fwd (Gemm to 1000). fc7[:3] = relu(mean of each normalised channel),
    fc7[3:6] = relu(-mean), so mean_channel = fc7[:3] - fc7[3:6].
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8


def _save(graph, path, opset):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="avt_np-tests-standin")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_vggish(path, relu=True, batch="N", input_name="input", output_name="output",
                layout="NCHW", output_width=128):
    """Write a VGGish stand-in to path; returns path."""
    in_shape = {"NCHW": [batch, 1, 96, 64], "NHW": [batch, 96, 64],
                "NHWC": [batch, 96, 64, 1]}[layout]
    time_axes = {"NCHW": [1, 2], "NHW": [1], "NHWC": [1, 3]}[layout]
    w = np.concatenate([np.eye(64), -np.eye(64)], axis=1).astype(np.float32)[:, :output_width]
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["band_mean"], axes=time_axes, keepdims=0),
        helper.make_node("MatMul", ["band_mean", "W"], ["pre" if relu else output_name]),
    ]
    if relu:
        nodes.append(helper.make_node("Relu", ["pre"], [output_name]))
    graph = helper.make_graph(
        nodes, "vggish_standin",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, output_width])],
        initializer=[numpy_helper.from_array(w, "W")])
    return _save(graph, path, opset=14)


def vggish_expected(examples, relu=True):
    """What the VGGish stand-in outputs for (n, 96, 64) examples."""
    m = np.asarray(examples, np.float64).mean(axis=1)
    out = np.concatenate([m, -m], axis=1)
    return np.maximum(out, 0) if relu else out


def make_vgg16(path, batch=1, expose_fc7=False, reshape_to_batch=False):
    """Write a vgg16-7 stand-in; expose_fc7=True also lists vgg0_dense1_relu_fwd as an output.

    reshape_to_batch=True flattens with a Reshape to the constant shape [batch, 3] instead of
    Flatten: a graph that truly runs only with its declared batch.
    """
    w1 = np.zeros((3, 4096), np.float32)
    w1[:, :3] = np.eye(3)
    w1[:, 3:6] = -np.eye(3)
    b1 = np.zeros(4096, np.float32)
    b1[6:] = 0.5                           # the rest of fc7: a constant positive value
    w2 = np.zeros((4096, 1000), np.float32)
    w2[:6, :6] = np.eye(6)
    b2 = np.zeros(1000, np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["data"], ["pool"]),
        helper.make_node("Reshape", ["pool", "flat_shape"], ["flat"]) if reshape_to_batch
        else helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "vgg0_dense1_weight", "vgg0_dense1_bias"], ["vgg0_dense1_fwd"]),
        helper.make_node("Relu", ["vgg0_dense1_fwd"], ["vgg0_dense1_relu_fwd"]),
        helper.make_node("Gemm", ["vgg0_dense1_relu_fwd", "vgg0_dense2_weight", "vgg0_dense2_bias"],
                         ["vgg0_dense2_fwd"]),
    ]
    outputs = [helper.make_tensor_value_info("vgg0_dense2_fwd", TensorProto.FLOAT, [batch, 1000])]
    if expose_fc7:
        outputs.append(helper.make_tensor_value_info("vgg0_dense1_relu_fwd", TensorProto.FLOAT,
                                                     [batch, 4096]))
    graph = helper.make_graph(
        nodes, "vgg16_standin",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [batch, 3, 224, 224])],
        outputs,
        initializer=[numpy_helper.from_array(w1, "vgg0_dense1_weight"),
                     numpy_helper.from_array(b1, "vgg0_dense1_bias"),
                     numpy_helper.from_array(w2, "vgg0_dense2_weight"),
                     numpy_helper.from_array(b2, "vgg0_dense2_bias")]
        + ([numpy_helper.from_array(np.array([batch, 3], np.int64), "flat_shape")]
           if reshape_to_batch else []))
    return _save(graph, path, opset=7)


def vgg16_mean_rgb(fc7, style="gluon"):
    """Invert the VGG16 stand-in: fc7 (n, 4096) -> mean RGB (0-255) of each frame fed to it."""
    from avt_np.features.vgg16 import PREPROCESS
    order, scale, mean, std = PREPROCESS[style]
    channels = fc7[:, :3] - fc7[:, 3:6]                 # mean normalised value per channel
    values = (channels * np.asarray(std) + np.asarray(mean)) / scale
    return values[:, ::-1] if order == "BGR" else values
