"""The feed-forward ReLU subnetwork of each block (paper Sec. 3.2.5, 3.2.7)."""

import numpy as np

from avt_np.nn.dropout import Dropout
from avt_np.nn.linear import Linear
from avt_np.nn.module import Module
from avt_np.nn.relu import ReLU


class FeedForward(Module):
    """One ReLU layer then one linear layer, dropout after both (Sec. 3.2.7).

    x: (B, T, D) -> y: (B, T, D); the hidden layer has d_hidden units (128 in the paper).
    """

    def __init__(self, dim, d_hidden, dropout=0.1, rng=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        self.hidden = Linear(dim, d_hidden, rng, dtype)
        self.relu = ReLU()
        self.hidden_dropout = Dropout(dropout, rng)
        self.out = Linear(d_hidden, dim, rng, dtype)
        self.out_dropout = Dropout(dropout, rng)

    def forward(self, x):
        h = self.hidden_dropout(self.relu(self.hidden(x)))
        return self.out_dropout(self.out(h))

    def backward(self, dy):
        dh = self.out.backward(self.out_dropout.backward(dy))
        return self.hidden.backward(self.relu.backward(self.hidden_dropout.backward(dh)))
