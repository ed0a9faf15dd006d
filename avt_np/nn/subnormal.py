"""Weights too small to matter, set to exactly zero: subnormal floats are slow.

A float32 under 1.2e-38 (float64: 2.2e-308) is stored as a subnormal number, and x86
processors handle each arithmetic operation on one with a microcode assist, many times slower
than on a normal number. Softmax and sigmoid make such weights once their scores saturate
(e^-90 is one), and the products that read them inherit the slowness: the attention gradients
built from them and then the matrix products of the q, k, v maps' backward. Measured on the
default run's model after 27 epochs: 1,000 subnormal attention weights and 38,000 subnormal
attention gradients in one batch of 40 clips, and epochs that slowed from 21 s to 30 s as the
attention saturated (docs/speed.md).

flush_tiny(w) sets every weight under eps^2 of its dtype (1.4e-14 for float32, 4.9e-32 for
float64) to 0, in place. Attention and sigmoid weights are sums of probabilities near 1, to which
such a weight adds nothing in that precision, and its gradient, weight x upstream gradient, no
longer has room to go subnormal. The gradient checks, in float64, never meet a weight that
small.
"""

import numpy as np


def flush_tiny(w):
    """Weights w >= 0: every value under eps^2 of w's dtype set to 0, in place. -> w."""
    np.putmask(w, w < np.finfo(w.dtype).eps ** 2, 0)
    return w
