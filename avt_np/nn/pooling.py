"""Aggregation of frame-level scores into one clip-level score (paper Sec. 2.2.4).

Mean and max are the paper's. Linear softmax and attention pooling are not: they come from the
weak-label detection literature, for a model that should also say *when* (lesson 15,
docs/detection.md). Where each pushes its gradient, per class, for frame probabilities p_t:
  mean            dy/dp_t = 1/T: every frame toward the clip label, so frames need not differ;
  max             only the top frame;
  linear softmax  y = sum p_t^2 / sum p_t, dy/dp_t = (2 p_t - y) / sum p_t: for a positive
                  clip the frames above y / 2 are pushed up, the others down (Wang, Li and
                  Metze, ICASSP 2019, arXiv 1810.09050);
  attention       y = sum_t softmax_t(a_t) p_t with learned scores a_t (Kong et al., "Weakly
                  labelled AudioSet tagging with attention neural networks", 2019).

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


class LinearSoftmaxPool(Module):
    """y = sum_t x_t^2 / sum_t x_t over time (the real frames only, with a mask), for
    probabilities x in (0, 1): each frame weighted by its own value. Not in the paper.

    x: (B, T, C) -> y: (B, C)
    """

    def forward(self, x, mask=None):
        self.keep = None if mask is None else mask[:, :, None].astype(x.dtype)   # (B, T, 1)
        self.x = x if mask is None else x * self.keep                       # padded frames: 0
        self.total = self.x.sum(1)                                          # (B, C)
        self.y = (self.x * self.x).sum(1) / self.total
        return self.y

    def backward(self, dy):                                          # dy: (B, C)
        # d/dx_t of sum x^2 / sum x = (2 x_t - y) / sum x; padded frames take no part: 0
        dx = (2 * self.x - self.y[:, None, :]) * (dy / self.total)[:, None, :]
        return dx if self.keep is None else dx * self.keep


class AttentionPool(Module):
    """y = sum_t w_t x_t with w = softmax over time of learned scores a (the real frames only,
    with a mask); x are the frame probabilities, a one score per frame and class from a linear
    map of the model's last frames (AudiovisualTransformer.pool_scores). Not in the paper.

    x: (B, T, C), scores: (B, T, C) -> y: (B, C); backward -> (dx, dscores)
    """

    def forward(self, x, scores, mask=None):
        if mask is not None:
            scores = np.where(mask[:, :, None], scores, scores.dtype.type(-np.inf))
        e = np.exp(scores - scores.max(1, keepdims=True))                   # (B, T, C)
        self.w = e / e.sum(1, keepdims=True)                                # softmax over time
        self.x = x
        self.y = (self.w * x).sum(1)
        return self.y

    def backward(self, dy):                                          # dy: (B, C)
        dy = dy[:, None, :]
        dx = self.w * dy
        # softmax Jacobian along time: dscores_t = w_t (x_t - y) dy
        dscores = self.w * (self.x - self.y[:, None, :]) * dy
        return dx, dscores


POOLING = {"mean": MeanPool, "max": MaxPool, "linear-softmax": LinearSoftmaxPool,
           "attention": AttentionPool}
