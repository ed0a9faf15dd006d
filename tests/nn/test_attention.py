import warnings

import numpy as np
import pytest

from avt_np import nn
from avt_np.gradcheck import gradcheck
from tests.nn.bound import Bound


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
    # 3 heads x 128 wide q/k/v maps, 384 -> 128 output map (docs/model.md)
    mha = nn.MultiHeadAttention(128, heads=3, d_head=128)
    assert mha.num_parameters() == 3 * (128 * 384 + 384) + 384 * 128 + 128


def test_attention_in_eval_mode_is_deterministic():
    rng = np.random.default_rng(0)
    mha = nn.MultiHeadAttention(8, heads=2, d_head=4, dropout=0.5, rng=rng).eval()
    x = rng.standard_normal((2, 3, 8))
    np.testing.assert_array_equal(mha(x), mha(x))


# -- padded keys (key_mask) -------------------------------------------------------------------
LENGTHS = np.array([5, 2, 1, 4])                        # real keys of each batch row, T_k = 5


def key_mask(lengths=LENGTHS, t_k=5):
    return (np.arange(t_k) < lengths[:, None])[:, None, None, :]           # (B, 1, 1, T_k)


@pytest.mark.parametrize("function", list(nn.ATTENTION_FUNCTIONS))
def test_masked_keys_get_weight_zero_and_real_keys_the_weights_of_the_cut_scores(function):
    scores = 3 * np.random.default_rng(0).standard_normal((4, 2, 3, 5))
    w = nn.attention_function(function)(scores, key_mask())
    for b, length in enumerate(LENGTHS):
        assert (w[b, ..., length:] == 0).all()
        cut = nn.attention_function(function)(scores[b, ..., :length])
        np.testing.assert_allclose(w[b, ..., :length], cut, rtol=0, atol=1e-15)


@pytest.mark.parametrize("function", list(nn.ATTENTION_FUNCTIONS))
def test_masked_keys_ignore_any_score_even_huge_ones(function):
    scores = np.random.default_rng(1).standard_normal((4, 1, 2, 5))
    f = nn.attention_function(function)
    reference = f(scores, key_mask()).copy()
    padded = ~np.broadcast_to(key_mask(), scores.shape)
    scores[padded] = 1e4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(f(scores, key_mask()), reference)


@pytest.mark.parametrize("function", list(nn.ATTENTION_FUNCTIONS))
def test_masked_attention_functions_pass_gradcheck(function):
    scores = np.random.default_rng(2).standard_normal((4, 2, 3, 5))
    result = gradcheck(Bound(nn.attention_function(function), key_mask()), scores)
    assert result.ok, result


@pytest.mark.parametrize("function", list(nn.ATTENTION_FUNCTIONS))
def test_masked_scaled_dot_product_attention_passes_gradcheck(function):
    rng = np.random.default_rng(3)
    sdpa = nn.ScaledDotProductAttention(function, 0.2, rng)
    q, k, v = (rng.standard_normal(s) for s in ((4, 2, 3, 6), (4, 2, 5, 6), (4, 2, 5, 7)))
    result = gradcheck(Bound(sdpa, key_mask()), q, k, v)
    assert result.ok, result


@pytest.mark.parametrize("function", list(nn.ATTENTION_FUNCTIONS))
@pytest.mark.parametrize("kind", ["self", "cross"])
def test_masked_multi_head_attention_passes_gradcheck(function, kind):
    rng = np.random.default_rng(4)
    mha = nn.MultiHeadAttention(6, 3, 4, function, 0.2, rng)
    for _, param, _ in mha.parameters():
        param += 0.1 * rng.standard_normal(param.shape)
    if kind == "self":
        inputs, bound = [rng.standard_normal((4, 5, 6))], Bound(mha, None, key_mask())
    else:
        inputs, bound = [rng.standard_normal((4, 3, 6)), rng.standard_normal((4, 5, 6))], \
            Bound(mha, key_mask())
    result = gradcheck(bound, *inputs)
    assert result.ok, result
    assert len(result.checks) == len(inputs) + len(list(mha.parameters()))


def run_cross_attention(mha, x, memory, dy):
    mha.zero_grad()
    y = mha(x, memory, key_mask())
    dx, dmemory = mha.backward(dy)
    return y, dx, dmemory, {name: g.copy() for name, _, g in mha.parameters()}


@pytest.mark.parametrize("function", list(nn.ATTENTION_FUNCTIONS))
def test_padded_memory_frames_change_no_output_and_no_gradient(function):
    rng = np.random.default_rng(5)
    mha = nn.MultiHeadAttention(6, 3, 4, function, 0.0, rng)
    x, memory = rng.standard_normal((4, 3, 6)), rng.standard_normal((4, 5, 6))
    dy = rng.standard_normal((4, 3, 6))
    y, dx, dmemory, grads = run_cross_attention(mha, x, memory, dy)
    padded = ~(np.arange(5) < LENGTHS[:, None])                              # (B, T_k)
    memory[padded] = 10 * rng.standard_normal((padded.sum(), 6))
    y2, dx2, dmemory2, grads2 = run_cross_attention(mha, x, memory, dy)
    for a, b in [(y, y2), (dx, dx2), (dmemory, dmemory2)] + [(grads[n], grads2[n]) for n in grads]:
        assert np.abs(a - b).max() <= 1e-12
    assert (dmemory[padded] == 0).all()


@pytest.mark.parametrize("function", list(nn.ATTENTION_FUNCTIONS))
def test_masked_attention_keeps_float32(function):
    rng = np.random.default_rng(6)
    mha = nn.MultiHeadAttention(8, 2, 4, function, 0.1, rng)
    x = rng.standard_normal((4, 5, 8)).astype(np.float32)
    y = mha(x, None, key_mask())
    assert y.dtype == np.float32 and mha.weights.dtype == np.float32
    assert mha.backward(np.ones_like(y)).dtype == np.float32


def test_attention_backward_writes_into_given_arrays_the_gradients_it_returns_without_them():
    # MultiHeadAttention passes views of its stacked-gradient buffer (split_heads), strided
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 4, 5)).astype(np.float32) for _ in range(3))
    dout = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    attention = nn.ScaledDotProductAttention("softmax", dropout=0.0)
    attention(q, k, v)
    expected = attention.backward(dout)
    buffer = np.full((2, 4, 3 * 3 * 5), np.nan, np.float32)          # (B, T, n H d)
    views = np.split(buffer.reshape(2, 4, 9, 5).transpose(0, 2, 1, 3), 3, axis=1)
    returned = attention.backward(dout, out=views)
    for got, view, want in zip(returned, views, expected):
        assert got is view
        np.testing.assert_array_equal(view, want)
    assert not np.isnan(buffer).any()
