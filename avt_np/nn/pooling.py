"""Aggregation of frame-level scores into one clip-level score (paper Sec. 2.2.4).

Padded frames. Both poolings take an optional `mask` (B, T) bool, True for the real frames of
each clip (at least one per clip): padded frames then take no part, so a clip's score is
exactly the one it gets when cut to its real frames, and padded frames get zero gradient.
mask=None: every frame is real.
"""

import numpy as np

from avt_np.nn.module import Module


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
        if self.frame_weights is None:
            return np.repeat(dy[:, None, :] / self.T, self.T, axis=1)
        return dy[:, None, :] * self.frame_weights


class MaxPool(Module):
    """y = max over time (over the real frames only, with a mask); the gradient goes to the
    (first) frame that holds the maximum.

    x: (B, T, C) -> y: (B, C)
    """

    def forward(self, x, mask=None):
        self.shape = x.shape
        candidates = x if mask is None else np.where(mask[:, :, None], x, x.dtype.type(-np.inf))
        self.argmax = candidates.argmax(1)                           # (B, C), a real frame
        return np.take_along_axis(x, self.argmax[:, None, :], 1)[:, 0]

    def backward(self, dy):                                          # dy: (B, C)
        dx = np.zeros(self.shape, dy.dtype)
        np.put_along_axis(dx, self.argmax[:, None, :], dy[:, None, :], 1)
        return dx


POOLING = {"mean": MeanPool, "max": MaxPool}
