"""Binary cross-entropy on probabilities (the model pools sigmoid outputs, so the loss sees p)."""

import numpy as np

from avt_np.nn.module import Module


class BinaryCrossEntropy(Module):
    """L = -mean(y log p + (1 - y) log(1 - p)) over all elements.

    p, y: (B, C) (any shape) -> scalar. p is clipped to [eps, 1 - eps] (Keras uses 1e-7 in
    float32), so p = 0 or 1 gives a finite loss and gradient; where p is clipped its gradient is 0.
    backward returns (dp, dy): the targets are usually constants, but the loss is differentiable
    in them too, and returning both keeps the module protocol uniform.
    """

    def __init__(self, eps=1e-7):
        super().__init__()
        self.eps = eps

    def forward(self, p, y):
        self.inside = (p > self.eps) & (p < 1 - self.eps)
        self.p = np.clip(p, self.eps, 1 - self.eps)
        self.y = y
        self.log_p, self.log_1mp = np.log(self.p), np.log1p(-self.p)
        return -(y * self.log_p + (1 - y) * self.log_1mp).mean()

    def backward(self, dloss=1.0):
        n = self.p.size
        dp = dloss * self.inside * (self.p - self.y) / (self.p * (1 - self.p)) / n
        dy = dloss * (self.log_1mp - self.log_p) / n
        return dp.astype(self.p.dtype, copy=False), dy.astype(self.p.dtype, copy=False)
