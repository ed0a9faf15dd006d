"""Forward behaviour and dtypes of the simple layers (gradients: test_gradients.py)."""

import numpy as np
import pytest

from avt_np import nn

ALL_LAYERS = [
    lambda r: nn.Linear(6, 6, r, np.float32), lambda r: nn.ReLU(), lambda r: nn.Dropout(0.3, r),
    lambda r: nn.LayerNorm(6), lambda r: nn.SinusoidalPositionalEncoding(),
    lambda r: nn.FeedForward(6, 5, 0.1, r), lambda r: nn.Softmax(), lambda r: nn.Sigmoid(),
    lambda r: nn.NormalizedSigmoid(), lambda r: nn.MultiHeadAttention(6, 3, 4, "softmax", 0.1, r),
]


@pytest.mark.parametrize("make", ALL_LAYERS)
def test_float32_stays_float32_through_forward_and_backward(make):
    rng = np.random.default_rng(0)
    layer = make(rng)
    x = rng.standard_normal((2, 3, 6)).astype(np.float32)
    y = layer(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == np.float32 and dx.dtype == np.float32
    assert all(g.dtype == np.float32 for _, _, g in layer.parameters())


def test_bce_is_float32_and_finite_at_zero_and_one():
    bce = nn.BinaryCrossEntropy()
    p = np.array([[0.0, 1.0, 0.5, 1.0]], np.float32)
    y = np.array([[1.0, 0.0, 1.0, 1.0]], np.float32)
    loss = bce(p, y)
    dp, dy = bce.backward()
    assert np.isfinite(loss) and np.isfinite(dp).all() and dp.dtype == np.float32
    assert loss.dtype == np.float32


def test_bce_matches_hand_computed_value():
    p = np.array([0.9, 0.2])
    y = np.array([1.0, 0.0])
    expected = -(np.log(0.9) + np.log(0.8)) / 2
    assert nn.BinaryCrossEntropy()(p, y) == pytest.approx(expected)


def test_linear_accepts_any_leading_dims():
    rng = np.random.default_rng(0)
    lin = nn.Linear(4, 3, rng)
    x = rng.standard_normal((2, 5, 7, 4)).astype(np.float32)
    y = lin(x)
    np.testing.assert_allclose(y, x @ lin.params["W"] + lin.params["b"], rtol=1e-5)
    assert lin.backward(np.ones_like(y)).shape == x.shape


def test_layernorm_normalises_the_last_axis():
    x = np.random.default_rng(0).standard_normal((3, 4, 32)) * 5 + 2
    y = nn.LayerNorm(32)(x)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(-1), 1, rtol=1e-5)


def test_dropout_is_identity_in_eval_and_reproducible_when_seeded():
    x = np.ones((100, 100), np.float32)
    a = nn.Dropout(0.25, np.random.default_rng(7))(x)
    b = nn.Dropout(0.25, np.random.default_rng(7))(x)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, np.float32(1 / 0.75)}
    assert abs((a == 0).mean() - 0.25) < 0.02
    assert abs(a.mean() - 1.0) < 0.03                     # inverted dropout keeps the mean
    np.testing.assert_array_equal(nn.Dropout(0.25).eval()(x), x)


def test_dropout_rejects_a_probability_of_one():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(1.0)


def test_sinusoidal_table_matches_vaswani():
    pe = nn.sinusoidal_table(50, 8)
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(pe[7, 2], np.sin(7 / 10000 ** (2 / 8)))
    np.testing.assert_allclose(pe[7, 3], np.cos(7 / 10000 ** (2 / 8)))
    x = np.zeros((2, 5, 8), np.float32)
    np.testing.assert_allclose(nn.SinusoidalPositionalEncoding()(x)[1], pe[:5], rtol=1e-6)


def test_linear_stack_matches_its_layers_run_one_by_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5))
    dy = rng.standard_normal((2, 3, 4 + 6))
    stacked = [nn.Linear(5, 4, rng, np.float64), nn.Linear(5, 6, rng, np.float64)]
    separate = [nn.Linear(5, 4, rng, np.float64), nn.Linear(5, 6, rng, np.float64)]
    for a, b in zip(stacked, separate):
        b.load_state_dict(a.state_dict())
    stack = nn.LinearStack(*stacked)
    np.testing.assert_allclose(stack(x), np.concatenate([l(x) for l in separate], -1))
    dx = stack.backward(dy)
    expected = separate[0].backward(dy[..., :4]) + separate[1].backward(dy[..., 4:])
    np.testing.assert_allclose(dx, expected)
    for a, b in zip(stacked, separate):
        for name in ("W", "b"):
            np.testing.assert_allclose(a.grads[name], b.grads[name])


@pytest.mark.parametrize("stacked", [False, True])
def test_linear_overwrite_grads_writes_the_first_contribution_and_adds_the_next(stacked):
    # avt_np/training_step.py skips zeroing Linear gradients: the first backward of a step must
    # write over the stale values (NaN here), any further one add to what it wrote.
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 4))
    layer = nn.Linear(5, 4, rng, np.float64)
    run = nn.LinearStack(layer) if stacked else layer
    for grad in layer.grads.values():
        grad[...] = np.nan
    layer.overwrite_grads = True
    for _ in range(2):
        run(x)
        run.backward(dy)
    assert not layer.overwrite_grads
    np.testing.assert_allclose(layer.grads["W"], 2 * x.reshape(-1, 5).T @ dy.reshape(-1, 4))
    np.testing.assert_allclose(layer.grads["b"], 2 * dy.sum((0, 1)))
