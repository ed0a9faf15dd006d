"""Sinusoidal positional encodings (Vaswani et al. 2017, Sec. 3.5), added to the input."""

import numpy as np

from avt_np.nn.module import Module


def sinusoidal_table(length, dim):
    """PE[t, 2i] = sin(t / 10000^(2i/dim)), PE[t, 2i+1] = cos(t / 10000^(2i/dim)).  (length, dim)"""
    position = np.arange(length)[:, None]                                  # (T, 1)
    rate = 10000.0 ** (-(np.arange(dim) // 2 * 2) / dim)                   # (D,)
    angle = position * rate                                                # (T, D)
    return np.where(np.arange(dim) % 2 == 0, np.sin(angle), np.cos(angle))


class SinusoidalPositionalEncoding(Module):
    """y = x + PE[:T]. No parameters; the gradient passes straight through.

    x: (B, T, D) -> y: (B, T, D)
    """

    def forward(self, x):
        T, D = x.shape[-2:]
        return x + sinusoidal_table(T, D).astype(x.dtype)

    def backward(self, dy):
        return dy
