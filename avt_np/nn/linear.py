"""Affine map over the last axis: y = x W + b."""

import numpy as np

from avt_np.nn.module import Module
from avt_np.nn.reductions import column_sum


def glorot_uniform(rng, fan_in, fan_out, dtype):
    """TensorFlow's default initialiser for dense layers (the paper used TensorFlow)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


class Linear(Module):
    """y = x W + b.

    x: (..., D_in)  ->  y: (..., D_out);  W: (D_in, D_out), b: (D_out,)
    """

    def __init__(self, d_in, d_out, rng=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        self.add_param("W", glorot_uniform(rng, d_in, d_out, dtype))
        self.add_param("b", np.zeros(d_out, dtype))

    def forward(self, x):
        self.x = x
        W = self.params["W"]
        # As a 2-D product: NumPy would otherwise call BLAS once per leading index (STYLE.md).
        y = x.reshape(-1, W.shape[0]) @ W                         # (M, D_out)
        y += self.params["b"]
        return y.reshape(*x.shape[:-1], W.shape[1])

    def backward(self, dy, input_grad=True):                      # dy: (..., D_out)
        """Adds dL/dW, dL/db; returns dL/dx, or None with input_grad=False (x is data)."""
        W = self.params["W"]
        x2 = self.x.reshape(-1, W.shape[0])                       # (M, D_in)
        dy2 = dy.reshape(-1, W.shape[1])                          # (M, D_out)
        self.grads["W"] += x2.T @ dy2
        self.grads["b"] += column_sum(dy2)
        if not input_grad:
            return None
        return (dy2 @ W.T).reshape(self.x.shape)


def stacked_forward(layers, x):
    """The outputs of several Linear layers that read the same x, side by side, from ONE product.

    x: (..., D_in) -> (..., sum of D_out): the same numbers as np.concatenate([l(x) for l in
    layers], -1), but x is multiplied once by the weights placed side by side. Attention's
    q, k and v maps all read x: one (400, 128) @ (128, 1152) product is faster than three
    (400, 128) @ (128, 384) ones, and backward needs one dx product instead of three.
    """
    W = np.concatenate([layer.params["W"] for layer in layers], axis=1)   # (D_in, sum D_out)
    b = np.concatenate([layer.params["b"] for layer in layers])
    for layer in layers:
        layer.x = x                                     # the cache each layer's forward keeps
    y = x.reshape(-1, W.shape[0]) @ W
    y += b
    return y.reshape(*x.shape[:-1], W.shape[1])


def stacked_backward(layers, dy):
    """Backward of stacked_forward: dy (..., sum of D_out) -> dx (..., D_in); adds each layer's
    dW and db (its columns of the stacked gradients)."""
    x = layers[0].x
    x2 = x.reshape(-1, x.shape[-1])                                       # (M, D_in)
    dy2 = dy.reshape(-1, dy.shape[-1])                                    # (M, sum D_out)
    dW, db = x2.T @ dy2, column_sum(dy2)
    start = 0
    for layer in layers:
        columns = slice(start, start + layer.params["W"].shape[1])
        layer.grads["W"] += dW[:, columns]
        layer.grads["b"] += db[columns]
        start = columns.stop
    W = np.concatenate([layer.params["W"] for layer in layers], axis=1)
    return (dy2 @ W.T).reshape(x.shape)
