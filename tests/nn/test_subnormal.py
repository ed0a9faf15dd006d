"""Saturated softmax and sigmoid weights come out as exact zeros, never subnormal floats."""

import numpy as np
import pytest

from avt_np.nn import Softmax
from avt_np.nn.attention import ATTENTION_FUNCTIONS
from avt_np.nn.subnormal import flush_tiny


def subnormal(a):
    return int(((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)).sum())


def test_flush_tiny_zeroes_only_values_under_eps_squared_of_the_dtype():
    w = np.array([0.0, 1e-40, 1e-20, 1e-14, 2e-14, 0.5], np.float32)
    assert subnormal(w) == 1
    flush_tiny(w)
    np.testing.assert_array_equal(w, np.array([0, 0, 0, 0, 2e-14, 0.5], np.float32))
    w64 = np.array([1e-310, 1e-32, 1e-31, 1e-14])
    np.testing.assert_array_equal(flush_tiny(w64), [0, 0, 1e-31, 1e-14])   # 4.9e-32 there


@pytest.mark.parametrize("name", sorted(ATTENTION_FUNCTIONS))
def test_saturated_scores_give_no_subnormal_weights_or_gradients(name):
    rng = np.random.default_rng(0)
    scores = (rng.standard_normal((4, 3, 10, 10)) * 60).astype(np.float32)   # e^-90 and less
    f = ATTENTION_FUNCTIONS[name]()
    w = f(scores)
    dscores = f.backward(rng.standard_normal(w.shape).astype(np.float32) * 1e-6)
    assert subnormal(w) == 0 and subnormal(dscores) == 0
    assert (w == 0).any()                                  # saturated weights are exact zeros


def test_a_flushed_softmax_row_is_the_softmax_in_float32_precision():
    x = np.array([[0.0, -3.0, -40.0, -200.0]], np.float32)
    w = Softmax()(x)
    exact = np.exp(x.astype(np.float64) - np.log(np.exp(x.astype(np.float64)).sum()))
    np.testing.assert_allclose(w, exact, rtol=1e-6, atol=2e-14)
    assert w[0, 3] == 0 and w[0, 2] == 0                   # e^-40 = 4e-18 < 1.4e-14: flushed
