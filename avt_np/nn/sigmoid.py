"""The logistic sigmoid, element by element: the model's per-frame output activation
(Sec. 2.2.3) and one of the three attention functions (Sec. 2.2.5)."""

import numpy as np

from avt_np.nn.module import Module


def stable_sigmoid(x):
    """1 / (1 + e^-x) without overflow: exp is only ever taken of -|x| <= 0."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


class Sigmoid(Module):
    """w_i = sigma(x_i), element by element: as attention, rows are NOT normalised.

    x: (...) -> w: (...)
    """

    def forward(self, x):
        self.w = stable_sigmoid(x)
        return self.w

    def backward(self, dw):
        return dw * self.w * (1 - self.w)
