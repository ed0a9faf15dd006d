"""Exercise for lesson 9: the backward passes of mean and max pooling and of binary
cross-entropy (paper Sec. 2.2.4, 3.2.8).

    MeanPool:  y[b, c] = mean over the real frames t of x[b, t, c]      x: (B, T, C) -> y: (B, C)
    MaxPool:   y[b, c] = x[b, t*, c], t* the (first) real frame holding the maximum
    BinaryCrossEntropy:  L = -mean(y log p + (1 - y) log(1 - p)) over all N elements
               p, y: (B, C) -> L: a scalar; p is clipped to [eps, 1 - eps]

Write the three `backward`s below.
  - MeanPool.backward(dy) and MaxPool.backward(dy) get dy (B, C) and return dx (B, T, C).
    `mask` (B, T) bool, True for a clip's real frames, marks padding: padded frames get no
    gradient. MeanPool's forward keeps `self.T` and `self.frame_weights` ((B, T, 1): 1 / the
    clip's length on real frames, 0 on padded ones; None without a mask); MaxPool's keeps
    `self.shape` (B, T, C) and `self.argmax` (B, C), the frame t* of each clip and class.
  - BinaryCrossEntropy.backward(dloss) gets the scalar dL and returns the tuple (dp, dy): the
    loss is differentiable in the targets too. Where p was clipped (`self.inside` is False) its
    gradient is 0. The forward keeps `self.p` (clipped), `self.y`, `self.inside`, `self.log_p`
    and `self.log_1mp` (log(1 - p)).
Lesson 9, section 3 derives all three.

    python -m avt_np.exercises check lessons/exercises/09_pooling_and_bce.py
"""

import numpy as np

from avt_np.nn import Module

EXERCISE = "pooling_and_bce"   # what `python -m avt_np.exercises check` grades this file as


class MeanPool(Module):
    """y = mean over time (over the real frames only, with a mask). x: (B, T, C) -> y: (B, C)"""

    def forward(self, x, mask=None):
        self.T = x.shape[1]
        if mask is None:
            self.frame_weights = None
            return x.mean(1)
        # 1 / length on a clip's real frames, 0 on its padded ones: (B, T, 1), in x's dtype
        self.frame_weights = (mask / mask.sum(1, keepdims=True)).astype(x.dtype)[:, :, None]
        return (x * self.frame_weights).sum(1)

    def backward(self, dy):                                          # dy: (B, C)
        # Return dx, (B, T, C), for both cases: without and with a mask.
        raise NotImplementedError("write MeanPool.backward")


class MaxPool(Module):
    """y = max over time (over the real frames only, with a mask). x: (B, T, C) -> y: (B, C)"""

    def forward(self, x, mask=None):
        self.shape = x.shape
        candidates = x if mask is None else np.where(mask[:, :, None], x, x.dtype.type(-np.inf))
        self.argmax = candidates.argmax(1)                           # (B, C), a real frame
        return np.take_along_axis(x, self.argmax[:, None, :], 1)[:, 0]

    def backward(self, dy):                                          # dy: (B, C)
        # Return dx, (B, T, C): dy goes to frame t* of each clip and class, 0 elsewhere.
        raise NotImplementedError("write MaxPool.backward")


class BinaryCrossEntropy(Module):
    """L = -mean(y log p + (1 - y) log(1 - p)); p, y: (B, C) -> scalar."""

    def __init__(self, eps=1e-7):
        super().__init__()
        self.eps = eps

    def forward(self, p, y):
        self.inside = (p > self.eps) & (p < 1 - self.eps)            # where p is not clipped
        self.p = np.clip(p, self.eps, 1 - self.eps)
        self.y = y
        self.log_p, self.log_1mp = np.log(self.p), np.log1p(-self.p)
        return -(y * self.log_p + (1 - y) * self.log_1mp).mean()

    def backward(self, dloss=1.0):                                   # dloss: a scalar
        # Return the tuple (dp, dy), both shaped like p.
        raise NotImplementedError("write BinaryCrossEntropy.backward")
