"""Exercise for lesson 5: the backward passes of the paper's three attention functions.

Each acts along the last axis, the keys: scores x (..., T_k) -> weights w (..., T_k).

    Softmax:            w_i = exp(x_i) / sum_j exp(x_j)
    Sigmoid:            w_i = s_i = 1 / (1 + exp(-x_i))              (each key on its own)
    NormalizedSigmoid:  w_i = s_i / (sum_j s_j + eps)                (paper Eq. 2)

Write the three `backward`s below. Each gets dw, of w's shape, and returns dx, of x's shape:
the Jacobian dw_i/dx_j applied to dw, WITHOUT building the (T_k, T_k) matrix. What the
forward keeps: Softmax `self.w`; Sigmoid `self.w`; NormalizedSigmoid `self.s` (the sigmoids),
`self.denominator` (..., 1) and `self.w`. Lesson 5, section 2 derives the three Jacobians.

    python -m avt_np.exercises check lessons/exercises/05_attention_functions.py
"""

import numpy as np

from avt_np.nn import Module
from avt_np.nn.reductions import row_sum       # sum over the last axis, keepdims (optional)

EXERCISE = "attention_functions"   # what `python -m avt_np.exercises check` grades this file as


def stable_sigmoid(x):
    """1 / (1 + e^-x), taking exp only of -|x| (no overflow)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


class Softmax(Module):
    """x: (..., T_k) -> w: (..., T_k), rows sum to 1."""

    def forward(self, x):
        e = np.exp(x - x.max(-1, keepdims=True))      # shifted by the row max: no overflow
        self.w = e / e.sum(-1, keepdims=True)
        return self.w

    def backward(self, dw):                           # dw: (..., T_k)
        # Return dx, (..., T_k): the Jacobian diag(w) - w w^T applied to dw, row by row.
        raise NotImplementedError("write Softmax.backward")


class Sigmoid(Module):
    """x: (...) -> w: (...), element by element; rows are not normalised."""

    def forward(self, x):
        self.w = stable_sigmoid(x)
        return self.w

    def backward(self, dw):                           # dw: (...)
        # Return dx, of x's shape.
        raise NotImplementedError("write Sigmoid.backward")


class NormalizedSigmoid(Module):
    """x: (..., T_k) -> w: (..., T_k), rows sum to just under 1."""

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        self.s = stable_sigmoid(x)                                     # (..., T_k)
        self.denominator = self.s.sum(-1, keepdims=True) + x.dtype.type(self.eps)   # (..., 1)
        self.w = self.s / self.denominator                             # (..., T_k)
        return self.w

    def backward(self, dw):                           # dw: (..., T_k)
        # Return dx, (..., T_k): through the quotient s / denominator, then through sigma.
        raise NotImplementedError("write NormalizedSigmoid.backward")
