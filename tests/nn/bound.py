"""Bound: a layer with its trailing forward arguments fixed, for the gradient checker.

gradcheck feeds a module positional inputs and expects one gradient per input; a key mask or a
frame mask is a fixed condition, not an input with a gradient. Bound(layer, None, mask) checks
layer(x, None, mask) as a function of x alone.
"""

from avt_np.nn import Module


class Bound(Module):
    def __init__(self, layer, *fixed):
        super().__init__()
        self.layer, self.fixed = layer, fixed

    def forward(self, *inputs):
        return self.layer(*inputs, *self.fixed)

    def backward(self, dy):
        return self.layer.backward(dy)
