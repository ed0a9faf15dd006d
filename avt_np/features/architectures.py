"""VGGish- and VGG16-architecture ONNX files with random weights, for timing extraction.

The cost of a network does not depend on its weights' values, so these files time what the
real exports cost without downloading them (python -m avt_np.features.bench --networks). They
are written to a temporary folder by the benchmark and never committed.

VGGish as torchvggish builds it (github.com/harritaylor/torchvggish, `vggish.py`; Google's
VGGish, Hershey et al. 2017, same layers) and as the ailia-models ONNX export carries it
(opset 14, input log-mel [N, 1, 96, 64] -> [N, 128]):

    conv3x3 64, pool | conv 128, pool | conv 256, conv 256, pool | conv 512, conv 512, pool
    -> [N, 512, 6, 4] -> transpose to [N, 6, 4, 512] -> flatten 12288
    -> fc 4096, relu -> fc 4096, relu -> fc 128, relu (torchvggish's final ReLU)
    72,141,184 parameters.

VGG16 (Simonyan & Zisserman 2015, configuration D) as the ONNX model zoo's vgg16-7 (MXNet
Gluon names) after `python -m avt_np.weights fetch` (fc7 exposed, batch symbolic):

    data [N, 3, 224, 224] -> 13 conv3x3 (64, 64 | 128, 128 | 256 x 3 | 512 x 3 | 512 x 3, a
    2x2 max pool after each group) -> flatten 25088 -> vgg0_dense0 4096, relu, dropout
    -> vgg0_dense1 4096 -> vgg0_dense1_relu_fwd (fc7, an output) -> dropout
    -> vgg0_dense2_fwd 1000 (an output). 138,357,544 parameters, ~15.5 GFLOP per frame.

`divide` > 1 shrinks the widths (channels and the first fc layer; not the input, VGGish's 128-d
embedding or VGG16's 4096-d fc7, which the runners check) by that factor: the same graph,
small, for tests. Weights are He-scaled normal values (activations stay O(1): no
denormals, which would change the speed), drawn once (2^20 of them) and repeated to fill each
tensor: drawing 138 M fresh values took longer than the benchmark's timings.
"""

import numpy as np

VGGISH_CONVS = ((64,), (128,), (256, 256), (512, 512))
VGG16_CONVS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
VGGISH_PARAMETERS = 72_141_184          # torchvggish; checked by tests
VGG16_PARAMETERS = 138_357_544          # vgg16-7; checked by tests


def vggish_layers(divide=1):
    """[(kind, name, weight shape)] of VGGish: 'conv' (out, in, 3, 3) and 'fc' (out, in)."""
    layers, c_in = [], 1
    for g, group in enumerate(VGGISH_CONVS):
        for i, c in enumerate(group):
            layers.append(("conv", f"features.{g}.{i}", (c // divide, c_in, 3, 3)))
            c_in = c // divide
    flat = c_in * 6 * 4                                   # 96 x 64 after four 2x2 pools
    hidden = 4096 // divide
    for name, (out, inp) in (("embeddings.0", (hidden, flat)), ("embeddings.2", (hidden, hidden)),
                             ("embeddings.4", (128, hidden))):
        layers.append(("fc", name, (out, inp)))
    return layers


def vgg16_layers(divide=1):
    """[(kind, name, weight shape)] of VGG16 with vgg16-7's (MXNet Gluon) layer names."""
    layers, c_in, k = [], 3, 0
    for group in VGG16_CONVS:
        for c in group:
            layers.append(("conv", f"vgg0_conv{k}", (c // divide, c_in, 3, 3)))
            c_in, k = c // divide, k + 1
    flat, hidden = c_in * 7 * 7, 4096 // divide           # 224 after five 2x2 pools
    for name, (out, inp) in (("vgg0_dense0", (hidden, flat)), ("vgg0_dense1", (4096, hidden)),
                             ("vgg0_dense2", (1000, 4096))):         # fc7 stays 4096 wide
        layers.append(("fc", name, (out, inp)))
    return layers


def parameter_count(layers):
    """Weights plus one bias per output of every layer."""
    return sum(int(np.prod(shape)) + shape[0] for _, _, shape in layers)


def _weights(pool, name, shape):
    """He-scaled weight (pool's normal values repeated) and zero bias as ONNX initializers."""
    from onnx import numpy_helper
    fan_in = int(np.prod(shape[1:]))
    w = np.resize(pool, shape) * np.float32(np.sqrt(2.0 / fan_in))
    return [numpy_helper.from_array(w, f"{name}_weight"),
            numpy_helper.from_array(np.zeros(shape[0], np.float32), f"{name}_bias")]


def _conv_relu(pool, name, shape, x, out):
    from onnx import helper
    nodes = [helper.make_node("Conv", [x, f"{name}_weight", f"{name}_bias"], [f"{name}_fwd"],
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", [f"{name}_fwd"], [out])]
    return nodes, _weights(pool, name, shape)


def _pool(x, out):
    from onnx import helper
    return helper.make_node("MaxPool", [x], [out], kernel_shape=[2, 2], strides=[2, 2])


def _gemm(pool, name, shape, x, out):
    """y = x W^T + b, W stored (out, in) as PyTorch and MXNet store it."""
    from onnx import helper
    node = helper.make_node("Gemm", [x, f"{name}_weight", f"{name}_bias"], [out], transB=1)
    return [node], _weights(pool, name, shape)


def _conv_groups(pool, layers, groups, x, nodes, inits, relu_name, pool_name):
    """The convolution groups of a VGG network (conv + ReLU per layer, a max pool per group),
    appended to nodes / inits; tensor names from relu_name(layer name, k) and pool_name(g) (the
    two public exports name them differently). Returns the last tensor's name."""
    convs = iter(ly for ly in layers if ly[0] == "conv")
    k = 0
    for g, group in enumerate(groups):
        for _ in group:
            _, name, shape = next(convs)
            n, w = _conv_relu(pool, name, shape, x, relu_name(name, k))
            nodes += n
            inits += w
            x, k = relu_name(name, k), k + 1
        nodes.append(_pool(x, pool_name(g)))
        x = pool_name(g)
    return x


def _save(nodes, inits, name, inputs, outputs, path, opset):
    import onnx
    from onnx import helper
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="avt_np.features.architectures (random weights)")
    model.ir_version = 8
    onnx.save(model, str(path))
    onnx.checker.check_model(str(path))        # from the file: no second copy in memory
    return path


def make_vggish(path, divide=1, seed=0):
    """Write a VGGish-architecture ONNX file (input [N, 1, 96, 64] -> [N, 128]); returns path."""
    from onnx import TensorProto, helper
    pool = np.random.default_rng(seed).standard_normal(1 << 20, dtype=np.float32)
    nodes, inits, x = [], [], "input"
    layers = vggish_layers(divide)
    x = _conv_groups(pool, layers, VGGISH_CONVS, x, nodes, inits,
                     relu_name=lambda name, k: f"{name}_relu", pool_name=lambda g: f"pool{g}")
    nodes.append(helper.make_node("Transpose", [x], ["nhwc"], perm=[0, 2, 3, 1]))
    nodes.append(helper.make_node("Flatten", ["nhwc"], ["flat"], axis=1))
    x = "flat"
    for i, (_, name, shape) in enumerate(ly for ly in layers if ly[0] == "fc"):
        n, w = _gemm(pool, name, shape, x, f"{name}_fwd")
        out = "output" if i == 2 else f"{name}_relu"
        nodes += n + [helper.make_node("Relu", [f"{name}_fwd"], [out])]
        inits += w
        x = out
    return _save(nodes, inits, "vggish_random",
                 [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 96, 64])],
                 [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 128])],
                 path, opset=14)


def make_vgg16(path, divide=1, seed=0):
    """Write a VGG16-architecture ONNX file shaped as the fetched vgg16-7-fc7.onnx: input `data`
    [N, 3, 224, 224], outputs vgg0_dense2_fwd [N, 1000] and vgg0_dense1_relu_fwd [N, 4096];
    returns path."""
    from onnx import TensorProto, helper
    pool = np.random.default_rng(seed).standard_normal(1 << 20, dtype=np.float32)
    nodes, inits, x = [], [], "data"
    layers = vgg16_layers(divide)
    x = _conv_groups(pool, layers, VGG16_CONVS, x, nodes, inits,
                     relu_name=lambda name, k: f"vgg0_relu{k}_fwd",
                     pool_name=lambda g: f"vgg0_pool{g}_fwd")
    nodes.append(helper.make_node("Flatten", [x], ["vgg0_flatten0_fwd"], axis=1))
    x = "vgg0_flatten0_fwd"
    for i, (_, name, shape) in enumerate(ly for ly in layers if ly[0] == "fc"):
        n, w = _gemm(pool, name, shape, x, f"{name}_fwd")
        nodes += n
        inits += w
        if i < 2:
            nodes += [helper.make_node("Relu", [f"{name}_fwd"], [f"{name}_relu_fwd"]),
                      helper.make_node("Dropout", [f"{name}_relu_fwd"], [f"vgg0_dropout{i}_fwd"],
                                       ratio=0.5)]
            x = f"vgg0_dropout{i}_fwd"
    return _save(nodes, inits, "vgg16_random",
                 [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 224, 224])],
                 [helper.make_tensor_value_info("vgg0_dense2_fwd", TensorProto.FLOAT, ["N", 1000]),
                  helper.make_tensor_value_info("vgg0_dense1_relu_fwd", TensorProto.FLOAT,
                                                ["N", 4096])],
                 path, opset=7)
