import numpy as np
import pytest

from avt_np import nn
from avt_np.gradcheck import gradcheck
from tests.nn.bound import Bound

LENGTHS = np.array([5, 2, 1, 4])                        # real frames of each clip, T = 5
FRAME_POOLINGS = ["mean", "max", "linear-softmax"]      # pool the frame probabilities alone


def real_frames(lengths=LENGTHS, frames=5):
    return np.arange(frames) < lengths[:, None]                             # (B, T)


@pytest.mark.parametrize("pooling", FRAME_POOLINGS)
def test_masked_pooling_gives_each_clip_the_pooling_of_its_real_frames(pooling):
    x = np.random.default_rng(0).random((4, 5, 3))
    y = nn.POOLING[pooling]()(x, real_frames())
    for b, length in enumerate(LENGTHS):
        cut = nn.POOLING[pooling]()(x[b:b + 1, :length])[0]
        np.testing.assert_allclose(y[b], cut, rtol=0, atol=1e-15)


@pytest.mark.parametrize("pooling", FRAME_POOLINGS)
def test_padded_frames_change_no_pooled_value_and_get_zero_gradient(pooling):
    rng = np.random.default_rng(1)
    x, dy = rng.random((4, 5, 3)), rng.standard_normal((4, 3))
    pool = nn.POOLING[pooling]()
    y, dx = pool(x, real_frames()), pool.backward(dy)
    x[~real_frames()] = 2.0                            # larger than every real probability
    pool = nn.POOLING[pooling]()
    np.testing.assert_array_equal(pool(x, real_frames()), y)
    np.testing.assert_array_equal(pool.backward(dy), dx)
    assert (dx[~real_frames()] == 0).all()


@pytest.mark.parametrize("pooling", FRAME_POOLINGS)
def test_masked_pooling_passes_gradcheck(pooling):
    x = np.random.default_rng(2).standard_normal((4, 5, 3))    # random: no ties for max
    result = gradcheck(Bound(nn.POOLING[pooling](), real_frames()), x)
    assert result.ok, result


@pytest.mark.parametrize("pooling", FRAME_POOLINGS)
def test_masked_pooling_keeps_float32(pooling):
    x = np.random.default_rng(3).random((4, 5, 3), dtype=np.float32)
    pool = nn.POOLING[pooling]()
    y = pool(x, real_frames())
    assert y.dtype == np.float32 and pool.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("pooling", FRAME_POOLINGS)
def test_pooling_without_a_mask_is_unchanged(pooling):
    x = np.random.default_rng(4).random((4, 5, 3))
    y = nn.POOLING[pooling]()(x)
    expected = {"mean": x.mean(1), "max": x.max(1),
                "linear-softmax": (x ** 2).sum(1) / x.sum(1)}[pooling]
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=0)


def test_every_pooling_is_tested():
    assert set(nn.POOLING) == set(FRAME_POOLINGS) | {"attention"}


def test_linear_softmax_pushes_frames_above_the_clip_value_up_and_the_others_down():
    # dy/dp_t = (2 p_t - y) / sum p: the frames of an event gain, the quiet frames lose
    x = np.array([[[0.9], [0.8], [0.1], [0.1], [0.1]]])
    pool = nn.LinearSoftmaxPool()
    y = pool(x)[0, 0]
    dx = pool.backward(np.ones((1, 1)))[0, :, 0]
    assert 0.5 < y < 0.9 and (dx[:2] > 0).all() and (dx[2:] < 0).all()
    np.testing.assert_allclose(dx, (2 * x[0, :, 0] - y) / x.sum(), rtol=1e-14)


def test_linear_softmax_of_a_constant_clip_is_that_constant_and_mean_spreads_evenly():
    x = np.full((1, 5, 2), 0.3)
    np.testing.assert_allclose(nn.LinearSoftmaxPool()(x), 0.3, rtol=1e-14)
    mean = nn.MeanPool()
    mean(x)
    np.testing.assert_allclose(mean.backward(np.ones((1, 2))), 0.2, rtol=1e-14)


def test_attention_pooling_is_a_softmax_over_time_weighted_mean_and_ignores_padding():
    rng = np.random.default_rng(5)
    x, scores = rng.random((4, 5, 3)), rng.standard_normal((4, 5, 3))
    pool = nn.AttentionPool()
    y = pool(x, scores, real_frames())
    for b, length in enumerate(LENGTHS):
        w = np.exp(scores[b, :length]) / np.exp(scores[b, :length]).sum(0)
        np.testing.assert_allclose(y[b], (w * x[b, :length]).sum(0), rtol=1e-13)
    dx, dscores = pool.backward(rng.standard_normal((4, 3)))
    assert (dx[~real_frames()] == 0).all() and (dscores[~real_frames()] == 0).all()


def test_attention_pooling_with_equal_scores_is_mean_pooling():
    x = np.random.default_rng(6).random((4, 5, 3))
    np.testing.assert_allclose(nn.AttentionPool()(x, np.zeros_like(x), real_frames()),
                               nn.MeanPool()(x, real_frames()), rtol=1e-14)


def test_masked_attention_pooling_passes_gradcheck_on_both_inputs():
    rng = np.random.default_rng(7)
    result = gradcheck(Bound(nn.AttentionPool(), real_frames()), rng.random((4, 5, 3)),
                       rng.standard_normal((4, 5, 3)))
    assert result.ok and len(result.checks) == 2, result


def test_attention_pooling_keeps_float32():
    rng = np.random.default_rng(8)
    x, scores = rng.random((4, 5, 3), dtype=np.float32), rng.random((4, 5, 3), dtype=np.float32)
    pool = nn.AttentionPool()
    y = pool(x, scores, real_frames())
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in pool.backward(np.ones_like(y)))
