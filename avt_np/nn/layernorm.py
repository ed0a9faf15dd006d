"""Layer normalisation over the last axis, with learned gain and bias."""

import numpy as np

from avt_np.nn.module import Module


class LayerNorm(Module):
    """y = g * (x - mean) / sqrt(var + eps) + b, over the last axis.

    x: (..., D)  ->  y: (..., D);  g, b: (D,)
    """

    def __init__(self, dim, eps=1e-6, dtype=np.float32):
        super().__init__()
        self.eps = eps
        self.add_param("g", np.ones(dim, dtype))
        self.add_param("b", np.zeros(dim, dtype))

    def forward(self, x):
        centred = x - x.mean(-1, keepdims=True)                                  # (..., D)
        var = (centred * centred).mean(-1, keepdims=True)                        # (..., 1)
        self.inv_std = 1.0 / np.sqrt(var + x.dtype.type(self.eps))               # (..., 1)
        self.x_hat = centred * self.inv_std                                      # (..., D)
        return self.params["g"] * self.x_hat + self.params["b"]

    def backward(self, dy):                                                      # dy: (..., D)
        D = dy.shape[-1]
        self.grads["g"] += (dy * self.x_hat).reshape(-1, D).sum(0)
        self.grads["b"] += dy.reshape(-1, D).sum(0)
        dx_hat = dy * self.params["g"]
        # d/dx of the normalisation: the direct term minus the paths through the mean and the variance
        return self.inv_std * (dx_hat - dx_hat.mean(-1, keepdims=True)
                               - self.x_hat * (dx_hat * self.x_hat).mean(-1, keepdims=True))
