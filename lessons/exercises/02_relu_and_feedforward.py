"""Exercise for lesson 2: the backward passes of ReLU and of the feed-forward subnet.

    ReLU:         y = max(x, 0), element by element            x: (...) -> y: (...)
    FeedForward:  y = dropout(Linear_out(dropout(ReLU(Linear_hidden(x)))))   (paper Sec. 3.2.7)
                  x: (B, T, D) -> h: (B, T, d_hidden) -> y: (B, T, D)

Write both `backward`s below.
  - ReLU.backward(dy) returns dx, of x's shape: the gradient passes where x was positive and
    is 0 elsewhere. The forward keeps that mask as `self.positive`.
  - FeedForward.backward(dy) returns dx: every child module already has its own backward
    (your ReLU above; the package's Linear and Dropout), so call them in the reverse order of
    forward. The Linear children add their own parameter gradients.
Lesson 2 derives both.

    python -m avt_np.exercises check lessons/exercises/02_relu_and_feedforward.py
"""

import numpy as np

from avt_np.nn import Dropout, Linear, Module

EXERCISE = "relu_feedforward"     # what `python -m avt_np.exercises check` grades this file as


class ReLU(Module):
    """x: (...) -> y: (...)"""

    def forward(self, x):
        self.positive = x > 0                                     # bool, x's shape
        return x * self.positive

    def backward(self, dy):                                       # dy: x's shape
        # Return dx, of x's shape.
        raise NotImplementedError("write ReLU.backward")


class FeedForward(Module):
    """One ReLU layer, then one linear layer, dropout after both. x: (B, T, D) -> (B, T, D)"""

    def __init__(self, dim, d_hidden, dropout=0.1, rng=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        self.hidden = Linear(dim, d_hidden, rng, dtype)
        self.relu = ReLU()                                        # yours, from above
        self.hidden_dropout = Dropout(dropout, rng)
        self.out = Linear(d_hidden, dim, rng, dtype)
        self.out_dropout = Dropout(dropout, rng)

    def forward(self, x):                                         # x: (B, T, D)
        h = self.hidden_dropout(self.relu(self.hidden(x)))        # (B, T, d_hidden)
        return self.out_dropout(self.out(h))                      # (B, T, D)

    def backward(self, dy):                                       # dy: (B, T, D)
        # Call the children's backward in reverse order; return dx, (B, T, D).
        raise NotImplementedError("write FeedForward.backward")
