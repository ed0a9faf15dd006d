"""Rectified linear unit, y = max(x, 0)."""

from avt_np.nn.module import Module


class ReLU(Module):
    """x: (...) -> y: (...)"""

    def forward(self, x):
        self.positive = x > 0
        return x * self.positive

    def backward(self, dy):
        return dy * self.positive
