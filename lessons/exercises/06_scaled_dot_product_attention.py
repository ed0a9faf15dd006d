"""Exercise for lesson 6: the backward pass of scaled dot-product attention (paper Eq. 1).

    scores  = q k^T / sqrt(d_k)        (B, H, T_q, T_k)
    weights = f(scores)                (B, H, T_q, T_k)    f: an attention function (lesson 5)
    out     = dropout(weights) v       (B, H, T_q, d_v)
    q: (B, H, T_q, d_k), k: (B, H, T_k, d_k), v: (B, H, T_k, d_v)

Write `backward` below. It gets dout (B, H, T_q, d_v) and returns the tuple (dq, dk, dv), each
of its input's shape. The children have their own backward: `self.function.backward` (the
attention function) and `self.dropout.backward`. What the forward keeps: `self.q`, `self.k`,
`self.v`, `self.scale` (1 / sqrt(d_k)), `self.weights` (after f) and `self.dropped` (after
dropout). Batched products over (B, H) are `@` on the last two axes; `a.swapaxes(-1, -2)`
transposes them. Lesson 6, section 3 derives it in six lines.

    python -m avt_np.exercises check lessons/exercises/06_scaled_dot_product_attention.py
"""

import numpy as np

from avt_np.nn import Dropout, Module, attention_function

EXERCISE = "scaled_dot_product_attention"   # what `python -m avt_np.exercises check` grades


class ScaledDotProductAttention(Module):
    """A(Q, K, V) = f(Q K^T / sqrt(d_k)) V, dropout on the weights (Sec. 3.2.7)."""

    def __init__(self, function="softmax", dropout=0.1, rng=None):
        super().__init__()
        self.function = attention_function(function)               # the package's, lesson 5
        self.dropout = Dropout(dropout, rng)

    def forward(self, q, k, v):
        self.q, self.k, self.v = q, k, v
        self.scale = q.shape[-1] ** -0.5                           # a Python float: no upcast
        scores = (q @ k.swapaxes(-1, -2)) * self.scale             # (B, H, T_q, T_k)
        self.weights = self.function(scores)                       # (B, H, T_q, T_k)
        self.dropped = self.dropout(self.weights)                  # (B, H, T_q, T_k)
        return self.dropped @ v                                    # (B, H, T_q, d_v)

    def backward(self, dout):                                      # dout: (B, H, T_q, d_v)
        # Return the tuple (dq, dk, dv), shaped like q, k and v.
        raise NotImplementedError("write ScaledDotProductAttention.backward")
