import numpy as np
import pytest

from avt_np import nn
from avt_np.gradcheck import gradcheck
from tests.nn.bound import Bound

LENGTHS = np.array([5, 2, 1, 4])                        # real frames of each clip, T = 5


def real_frames(lengths=LENGTHS, frames=5):
    return np.arange(frames) < lengths[:, None]                             # (B, T)


@pytest.mark.parametrize("pooling", list(nn.POOLING))
def test_masked_pooling_gives_each_clip_the_pooling_of_its_real_frames(pooling):
    x = np.random.default_rng(0).random((4, 5, 3))
    y = nn.POOLING[pooling]()(x, real_frames())
    for b, length in enumerate(LENGTHS):
        cut = nn.POOLING[pooling]()(x[b:b + 1, :length])[0]
        np.testing.assert_allclose(y[b], cut, rtol=0, atol=1e-15)


@pytest.mark.parametrize("pooling", list(nn.POOLING))
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


@pytest.mark.parametrize("pooling", list(nn.POOLING))
def test_masked_pooling_passes_gradcheck(pooling):
    x = np.random.default_rng(2).standard_normal((4, 5, 3))    # random: no ties for max
    result = gradcheck(Bound(nn.POOLING[pooling](), real_frames()), x)
    assert result.ok, result


@pytest.mark.parametrize("pooling", list(nn.POOLING))
def test_masked_pooling_keeps_float32(pooling):
    x = np.random.default_rng(3).random((4, 5, 3), dtype=np.float32)
    pool = nn.POOLING[pooling]()
    y = pool(x, real_frames())
    assert y.dtype == np.float32 and pool.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("pooling", list(nn.POOLING))
def test_pooling_without_a_mask_is_unchanged(pooling):
    x = np.random.default_rng(4).random((4, 5, 3))
    y = nn.POOLING[pooling]()(x)
    np.testing.assert_array_equal(y, x.mean(1) if pooling == "mean" else x.max(1))
