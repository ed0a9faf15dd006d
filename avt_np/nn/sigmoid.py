"""The logistic sigmoid, element by element: the model's per-frame output activation
(Sec. 2.2.3) and one of the three attention functions (Sec. 2.2.5)."""

import numpy as np

from avt_np.nn.module import Module
from avt_np.nn.subnormal import flush_tiny


def stable_sigmoid(x):
    """1 / (1 + e^-x) without overflow: exp is only ever taken of -|x| <= 0. Values under
    eps^2 of x's dtype come out as exactly 0 (subnormal.py: they would slow every product)."""
    e = np.exp(-np.abs(x))
    return flush_tiny(np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False))


class Sigmoid(Module):
    """w_i = sigma(x_i), element by element: as attention, rows are NOT normalised.

    x: (...) -> w: (...)
    key_mask (optional, as attention; bool broadcastable to x, False = a padded key): the
    weights of padded keys are multiplied by 0. Backward needs no mask: it multiplies by
    w (1 - w), which is 0 there (the zeroed weight no longer depends on its score).
    """

    def forward(self, x, key_mask=None):
        self.w = stable_sigmoid(x)
        if key_mask is not None:
            self.w *= key_mask
        return self.w

    def backward(self, dw):
        return dw * self.w * (1 - self.w)
