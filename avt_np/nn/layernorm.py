"""Layer normalisation over the last axis, with learned gain and bias."""

import numpy as np

from avt_np.nn.module import Module
from avt_np.nn.reductions import column_sum, row_mean


class LayerNorm(Module):
    """y = g * (x - mean) / sqrt(var + eps) + b, over the last axis.

    x: (..., D)  ->  y: (..., D);  g, b: (D,)
    """

    def __init__(self, dim, eps=1e-6, dtype=np.float32):
        super().__init__()
        self.eps = eps
        self.add_param("g", np.ones(dim, dtype))
        self.add_param("b", np.zeros(dim, dtype))

    # Means and sums as products with a ones vector (reductions.py): ~5x faster than .mean(-1)
    def forward(self, x):
        centred = x - row_mean(x)                                                # (..., D)
        var = row_mean(centred * centred)                                        # (..., 1)
        self.inv_std = 1.0 / np.sqrt(var + x.dtype.type(self.eps))               # (..., 1)
        self.x_hat = np.multiply(centred, self.inv_std, out=centred)            # overwrites centred
        y = self.x_hat * self.params["g"]
        y += self.params["b"]                                                    # in place: no 3rd array
        return y

    def backward(self, dy):                                                      # dy: (..., D)
        self.grads["g"] += column_sum(dy * self.x_hat)
        self.grads["b"] += column_sum(dy)
        dx_hat = dy * self.params["g"]
        # d/dx of the normalisation: the direct term minus the paths through the mean and the variance
        dx = dx_hat - row_mean(dx_hat)
        dx -= self.x_hat * row_mean(dx_hat * self.x_hat)
        dx *= self.inv_std
        return dx
