"""Exercise for lesson 15: the backward pass of linear-softmax pooling (Wang, Li and Metze,
ICASSP 2019), the pooling of `python -m avt_np.train --preset detection`.

    LinearSoftmaxPool:  y[b, c] = sum_t x[b, t, c]^2 / sum_t x[b, t, c]
                        over the real frames t          x: (B, T, C) -> y: (B, C)

Write `backward` below: it gets dy (B, C) and returns dx (B, T, C).
  - Each frame is weighted by its own value, so x_t appears in the numerator and in the
    denominator: dy/dx_t = (2 x_t - y) / sum_s x_s (lesson 15, section 1).
  - `mask` (B, T) bool, True for a clip's real frames, marks padding: padded frames take no
    part in y and get no gradient. The forward keeps `self.keep` ((B, T, 1): 1 on real frames,
    0 on padded ones, in x's dtype; None without a mask), `self.x` (x with its padded frames
    set to 0), `self.total` (B, C), the sum over frames, and `self.y` (B, C).

    python -m avt_np.exercises check lessons/exercises/15_linear_softmax_pooling.py
"""

import numpy as np  # noqa: F401  (for your backward)

from avt_np.nn import Module

EXERCISE = "linear_softmax_pooling"   # what `python -m avt_np.exercises check` grades this as


class LinearSoftmaxPool(Module):
    """y = sum_t x_t^2 / sum_t x_t over time (the real frames only, with a mask), for
    probabilities x in (0, 1). x: (B, T, C) -> y: (B, C)"""

    def forward(self, x, mask=None):
        self.keep = None if mask is None else mask[:, :, None].astype(x.dtype)   # (B, T, 1)
        self.x = x if mask is None else x * self.keep                       # padded frames: 0
        self.total = self.x.sum(1)                                          # (B, C)
        self.y = (self.x * self.x).sum(1) / self.total
        return self.y

    def backward(self, dy):                                          # dy: (B, C)
        # Return dx, (B, T, C), for both cases: without and with a mask.
        raise NotImplementedError("write LinearSoftmaxPool.backward")
