import warnings

import numpy as np
import pytest

from avt_np import nn


@pytest.mark.parametrize("function", list(nn.ATTENTION_FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_functions_are_stable_for_huge_scores(function, dtype):
    scores = np.array([[1e4, -1e4, 0.0, 1e4 - 1], [-1000.0, -999.0, 1000.0, 3.0],
                       [-1e4, -1e4, -1e4, -1e4]], dtype)
    f = nn.attention_function(function)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # any overflow / invalid warning fails
        w = f(scores)
        dx = f.backward(np.ones_like(w))
    assert w.dtype == dtype and dx.dtype == dtype
    assert np.isfinite(w).all() and np.isfinite(dx).all()
    assert (w >= 0).all() and (w <= 1).all()


def test_softmax_of_huge_logits_matches_the_shifted_softmax():
    w = nn.Softmax()(np.array([1e4, 1e4 - 1.0, -1e4]))
    np.testing.assert_allclose(w, [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0])


def test_sigmoid_saturates_exactly_at_plus_minus_1000():
    w = nn.Sigmoid()(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(w, [0.0, 0.5, 1.0])


def test_normalising_functions_sum_to_one_and_sigmoid_does_not():
    x = np.random.default_rng(0).standard_normal((4, 6))
    np.testing.assert_allclose(nn.Softmax()(x).sum(-1), 1.0)
    np.testing.assert_allclose(nn.NormalizedSigmoid()(x).sum(-1), 1.0, rtol=1e-7)
    assert (nn.NormalizedSigmoid()(x).sum(-1) < 1.0).all()    # eps in the denominator
    assert not np.allclose(nn.Sigmoid()(x).sum(-1), 1.0)


def test_unknown_attention_function_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown attention function 'relu'.*softmax"):
        nn.attention_function("relu")


def test_cross_attention_handles_different_lengths_and_keeps_its_weights():
    rng = np.random.default_rng(0)
    mha = nn.MultiHeadAttention(16, heads=3, d_head=8, dropout=0.0, rng=rng)
    y = mha(rng.standard_normal((2, 4, 16)), rng.standard_normal((2, 7, 16)))
    assert y.shape == (2, 4, 16)
    assert mha.weights.shape == (2, 3, 4, 7)
    np.testing.assert_allclose(mha.weights.sum(-1), 1.0, rtol=1e-6)
    dx, dmemory = mha.backward(np.ones_like(y))
    assert dx.shape == (2, 4, 16) and dmemory.shape == (2, 7, 16)


def test_attention_dropout_acts_on_weights_after_the_function():
    # Dropping weights after softmax: kept weights are the softmax weights scaled by 1/(1-p),
    # and the saved weights (for pictures) are the undropped ones.
    rng = np.random.default_rng(0)
    sdpa = nn.ScaledDotProductAttention("softmax", dropout=0.5, rng=rng)
    q, k = rng.standard_normal((1, 1, 3, 4)), rng.standard_normal((1, 1, 5, 4))
    v = np.eye(5)[None, None]                              # output row = dropped weights row
    out = sdpa(q, k, v)
    kept = out != 0
    np.testing.assert_allclose(out[kept], 2 * sdpa.weights[kept])
    np.testing.assert_allclose(sdpa.weights.sum(-1), 1.0)


def test_multi_head_attention_parameter_count_matches_the_papers_reading():
    # 3 heads x 128 wide q/k/v maps, 384 -> 128 output map (REFERENCE.md)
    mha = nn.MultiHeadAttention(128, heads=3, d_head=128)
    assert mha.num_parameters() == 3 * (128 * 384 + 384) + 384 * 128 + 128


def test_attention_in_eval_mode_is_deterministic():
    rng = np.random.default_rng(0)
    mha = nn.MultiHeadAttention(8, heads=2, d_head=4, dropout=0.5, rng=rng).eval()
    x = rng.standard_normal((2, 3, 8))
    np.testing.assert_array_equal(mha(x), mha(x))
