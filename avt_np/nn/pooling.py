"""Aggregation of frame-level scores into one clip-level score (paper Sec. 2.2.4)."""

import numpy as np

from avt_np.nn.module import Module


class MeanPool(Module):
    """y = mean over time. x: (B, T, C) -> y: (B, C)"""

    def forward(self, x):
        self.T = x.shape[1]
        return x.mean(1)

    def backward(self, dy):                                          # dy: (B, C)
        return np.repeat(dy[:, None, :] / self.T, self.T, axis=1)


class MaxPool(Module):
    """y = max over time; the gradient goes to the (first) frame that holds the maximum.

    x: (B, T, C) -> y: (B, C)
    """

    def forward(self, x):
        self.shape = x.shape
        self.argmax = x.argmax(1)                                    # (B, C)
        return np.take_along_axis(x, self.argmax[:, None, :], 1)[:, 0]

    def backward(self, dy):                                          # dy: (B, C)
        dx = np.zeros(self.shape, dy.dtype)
        np.put_along_axis(dx, self.argmax[:, None, :], dy[:, None, :], 1)
        return dx


POOLING = {"mean": MeanPool, "max": MaxPool}
