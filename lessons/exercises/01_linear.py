"""Exercise for lesson 1: the backward pass of a linear layer.

    y = x W + b          x: (..., D_in)  ->  y: (..., D_out);  W: (D_in, D_out), b: (D_out,)

Write `backward` below. It gets dy = dL/dy, of y's shape, and must
  - ADD dL/dW (D_in, D_out) and dL/db (D_out,) into self.grads["W"] and self.grads["b"]
    (`+=`, or `self.add_grads(dW, db)`, which does exactly that), and
  - return dx = dL/dx, of x's shape.
Every row of x (every frame of every clip) shares W and b, so their gradients sum over rows.
The forward is given: it keeps x as `self.x`. Lesson 1, section 2 derives the three gradients.

Grade your answer (gradient check in float64, then the package's Linear on the same inputs):

    python -m avt_np.exercises check lessons/exercises/01_linear.py
"""

import numpy as np

from avt_np.nn import Module
from avt_np.nn.reductions import column_sum       # sum over every axis but the last (optional)

EXERCISE = "linear"          # what `python -m avt_np.exercises check` grades this file as


class Linear(Module):
    """y = x W + b over the last axis."""

    def __init__(self, d_in, d_out, rng=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        limit = np.sqrt(6.0 / (d_in + d_out))                     # Glorot uniform, as TensorFlow
        self.add_param("W", rng.uniform(-limit, limit, (d_in, d_out)).astype(dtype))
        self.add_param("b", np.zeros(d_out, dtype))

    def forward(self, x):                                         # x: (..., D_in)
        self.x = x
        W = self.params["W"]
        y = x.reshape(-1, W.shape[0]) @ W + self.params["b"]      # (M, D_out), M = rows of x
        return y.reshape(*x.shape[:-1], W.shape[1])               # (..., D_out)

    def add_grads(self, dW, db):
        """self.grads += (dW, db): gradients are added, never assigned (module protocol)."""
        self.grads["W"] += dW
        self.grads["b"] += db

    def backward(self, dy):                                       # dy: (..., D_out)
        # Add dW (D_in, D_out) and db (D_out,) into self.grads; return dx, shaped like self.x.
        raise NotImplementedError("write Linear.backward")
