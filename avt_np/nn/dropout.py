"""Inverted dropout: zero each element with probability p, scale the rest by 1 / (1 - p)."""

import numpy as np

from avt_np.nn.module import Module


class Dropout(Module):
    """x: (...) -> y: (...). Identity in eval mode or when p == 0.

    The mask comes from `self.rng`, a numpy.random.Generator the caller can seed. (The gradient
    checker reseeds every module's `rng` before each evaluation, so the mask stays fixed.)
    """

    def __init__(self, p=0.1, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self.mask = keep * x.dtype.type(1.0 / (1.0 - self.p))   # zeros and 1/(1-p), dtype of x
        return x * self.mask

    def backward(self, dy):
        return dy if self.mask is None else dy * self.mask
