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
        # True: the gradients hold stale values that the next backward writes over instead of
        # adding to (set by avt_np/training_step.py's backward_writing_grads).
        self.overwrite_grads = False

    def forward(self, x):
        self.x = x
        W = self.params["W"]
        # As a 2-D product: NumPy would otherwise call BLAS once per leading index.
        y = x.reshape(-1, W.shape[0]) @ W                         # (M, D_out)
        y += self.params["b"]
        return y.reshape(*x.shape[:-1], W.shape[1])

    def backward(self, dy, input_grad=True):                      # dy: (..., D_out)
        """Adds dL/dW, dL/db; returns dL/dx, or None with input_grad=False (x is data)."""
        W = self.params["W"]
        x2 = self.x.reshape(-1, W.shape[0])                       # (M, D_in)
        dy2 = dy.reshape(-1, W.shape[1])                          # (M, D_out)
        self.add_grads(x2.T @ dy2, column_sum(dy2))
        if not input_grad:
            return None
        return (dy2 @ W.T).reshape(self.x.shape)

    def add_grads(self, dW, db):
        """grads += (dW, db), as the protocol asks; or grads = (dW, db) when overwrite_grads is
        set (it is then cleared): the first contribution of a step whose gradients were not
        zeroed, which saves filling them with zeros and reading the zeros back."""
        if self.overwrite_grads:
            self.grads["W"][...] = dW
            self.grads["b"][...] = db
            self.overwrite_grads = False
        else:
            self.grads["W"] += dW
            self.grads["b"] += db


class LinearStack:
    """Several Linear layers that read the same input, run as ONE matrix product with their
    weights side by side. Not a Module: the parameters stay registered, and named, in the layers
    themselves; a LinearStack only schedules their products.

    x: (..., D_in) -> (..., sum of D_out): the same numbers as np.concatenate([l(x) for l in
    layers], -1). Attention's q, k and v maps all read x: one (400, 128) @ (128, 1152) product
    is faster than three (400, 128) @ (128, 384) ones, and backward needs one dx product
    instead of three. backward gives each layer its columns of the stacked dW and db
    (Linear.add_grads).
    """

    def __init__(self, *layers):
        self.layers = layers

    def __call__(self, x):
        self.x = x
        self.W = np.concatenate([layer.params["W"] for layer in self.layers], axis=1)
        y = x.reshape(-1, self.W.shape[0]) @ self.W                           # (M, sum D_out)
        y += np.concatenate([layer.params["b"] for layer in self.layers])
        return y.reshape(*x.shape[:-1], self.W.shape[1])

    def backward(self, dy):                                                   # (..., sum D_out)
        x2 = self.x.reshape(-1, self.W.shape[0])                              # (M, D_in)
        dy2 = dy.reshape(-1, self.W.shape[1])                                 # (M, sum D_out)
        dW, db = x2.T @ dy2, column_sum(dy2)
        start = 0
        for layer in self.layers:
            columns = slice(start, start + layer.params["W"].shape[1])
            layer.add_grads(dW[:, columns], db[columns])
            start = columns.stop
        return (dy2 @ self.W.T).reshape(self.x.shape)
