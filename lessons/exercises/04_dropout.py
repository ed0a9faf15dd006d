"""Exercise for lesson 4: the backward pass of (inverted) dropout.

    training:  y = x * mask,  mask = keep / (1 - p),  keep ~ Bernoulli(1 - p) per element
    eval, or p = 0:  y = x
    x, y, mask: (...), all the same shape

Write `backward` below: it gets dy, of y's shape, and returns dx, of x's shape. The mask is a
constant once drawn; the forward keeps it as `self.mask` (None when dropout is off). Use the
mask of THIS forward pass; never draw a new one (lesson 4, section 3).

    python -m avt_np.exercises check lessons/exercises/04_dropout.py
"""

import numpy as np

from avt_np.nn import Module
from avt_np.nn.dropout import random_uint16      # the package's fast random bits (same masks)

EXERCISE = "dropout"         # what `python -m avt_np.exercises check` grades this file as


class Dropout(Module):
    """x: (...) -> y: (...). Identity in eval mode or when p == 0."""

    def __init__(self, p=0.1, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x):                                         # x: (...)
        if not self.training or self.p == 0.0:
            self.mask = None
            return x
        # keep each element with probability 1 - p (16 random bits against a threshold)
        keep = random_uint16(self.rng, x.shape) >= round(self.p * 65536)
        self.mask = keep * x.dtype.type(1.0 / (1.0 - self.p))    # 0 or 1/(1-p), x's shape
        return x * self.mask

    def backward(self, dy):                                       # dy: x's shape
        # Return dx, of x's shape (remember the case self.mask is None).
        raise NotImplementedError("write Dropout.backward")
