"""Exercise for lesson 3: the backward pass of layer normalisation.

    y = g * x_hat + b,   x_hat = (x - mean) / sqrt(var + eps),   over the last axis
    x: (..., D) -> y: (..., D);  g, b: (D,);  mean, var: (..., 1)

Write `backward` below. It gets dy, of y's shape, and must
  - ADD dL/dg and dL/db, both (D,), into self.grads["g"] and self.grads["b"] (`+=`): every
    row shares g and b, so sum over every axis but the last;
  - return dx, of x's shape. x reaches x_hat three ways: directly, through the mean and
    through the variance; dx has a term for each (lesson 3, section 2).
The forward keeps x_hat as `self.x_hat` (..., D) and 1 / sqrt(var + eps) as `self.inv_std`
(..., 1).

    python -m avt_np.exercises check lessons/exercises/03_layer_norm.py
"""

import numpy as np

from avt_np.nn import Module
from avt_np.nn.reductions import column_sum, row_mean   # as BLAS products (optional helpers)

EXERCISE = "layer_norm"      # what `python -m avt_np.exercises check` grades this file as


class LayerNorm(Module):
    """y = g * (x - mean) / sqrt(var + eps) + b, over the last axis."""

    def __init__(self, dim, eps=1e-6, dtype=np.float32):
        super().__init__()
        self.eps = eps
        self.add_param("g", np.ones(dim, dtype))
        self.add_param("b", np.zeros(dim, dtype))

    def forward(self, x):                                         # x: (..., D)
        centred = x - x.mean(-1, keepdims=True)                   # (..., D)
        var = (centred * centred).mean(-1, keepdims=True)         # (..., 1)
        self.inv_std = 1.0 / np.sqrt(var + x.dtype.type(self.eps))     # (..., 1)
        self.x_hat = centred * self.inv_std                       # (..., D)
        return self.x_hat * self.params["g"] + self.params["b"]   # (..., D)

    def backward(self, dy):                                       # dy: (..., D)
        # Add dg (D,) and db (D,) into self.grads; return dx, (..., D).
        raise NotImplementedError("write LayerNorm.backward")
