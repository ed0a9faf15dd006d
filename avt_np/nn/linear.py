"""Affine map over the last axis: y = x W + b."""

import numpy as np

from avt_np.nn.module import Module


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
        self.grads["b"] += dy2.sum(0)
        if not input_grad:
            return None
        return (dy2 @ W.T).reshape(self.x.shape)
