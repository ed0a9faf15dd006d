"""The model's options for keeping time (not in the paper): linear-softmax and attention
pooling, local self- and cross-attention, the frame skip to the classifier."""

import copy

import numpy as np
import pytest

from avt_np.gradcheck import gradcheck
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.model.transformer import local_key_mask

SMALL = dict(blocks=2, heads=2, d_model=6, d_head=3, d_ff=5, dims={"audio": 5, "video": 9})
LENGTHS = np.array([5, 3, 1, 4])
OPTIONS = [dict(pooling="linear-softmax"), dict(pooling="attention"), dict(self_window=1),
           dict(cross_window=0), dict(frame_skip=True),
           dict(pooling="linear-softmax", frame_skip=True, self_window=1, cross_window=1)]


def model64(seed=0, **options):
    config = ModelConfig(first="video", second="audio", pos_enc=("video",), **SMALL, **options)
    return AudiovisualTransformer(config, seed=seed).astype(np.float64)


def clips(frames=5, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, frames, SMALL["dims"]["video"])),
            rng.standard_normal((batch, frames, SMALL["dims"]["audio"])))


def test_window_mask_keeps_the_keys_within_w_frames_of_each_query():
    mask = local_key_mask(None, 5, 5, 1)[0, 0]
    expected = np.abs(np.arange(5)[:, None] - np.arange(5)[None, :]) <= 1
    np.testing.assert_array_equal(mask, expected)
    assert local_key_mask(None, 5, 5, None) is None                     # every key
    keys = (np.arange(5) < LENGTHS[:, None])[:, None, None, :]
    assert local_key_mask(keys, 5, 5, None) is keys


def test_window_mask_leaves_no_row_without_a_real_key_and_padded_keys_masked():
    keys = (np.arange(6) < np.array([6, 2, 1])[:, None])[:, None, None, :]   # (3, 1, 1, 6)
    mask = local_key_mask(keys, 6, 6, 1)                                     # (3, 1, 6, 6)
    assert mask.any(-1).all()                        # every query row keeps at least one key
    assert not (mask & ~keys).any()                  # padded keys stay masked
    # clip of length 1: queries 2..5 have no real key within +-1 and fall back to frame 0
    np.testing.assert_array_equal(mask[2, 0, :, 0], True)
    # a real query sees exactly its real neighbours
    np.testing.assert_array_equal(mask[1, 0, 1], [True, True, False, False, False, False])
    # cross-attention with more queries than keys: queries past the keys keep every real key
    cross = local_key_mask(keys[:, :, :, :3], 6, 3, 0)
    assert cross.any(-1).all() and cross[0, 0, 5].all()


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in
                                                                    o.items()))
def test_each_option_passes_gradcheck_with_padded_clips(options):
    model = model64(seed=3, **options)
    first, second = clips(frames=4, batch=3, seed=4)
    result = gradcheck(model, first, second, np.array([4, 2, 1]), max_entries=12, directions=3)
    assert result.ok, result
    assert len(result.checks) == 2 + len(list(model.parameters()))


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in
                                                                    o.items()))
def test_each_option_gives_a_clip_the_output_of_the_clip_cut_to_its_real_frames(options):
    model = model64(seed=4, **options).eval()
    first, second = clips(seed=5)
    p = model(first, second, LENGTHS)
    frames = model.frame_probabilities.copy()
    for b, length in enumerate(LENGTHS):
        cut = model(first[b:b + 1, :length], second[b:b + 1, :length])
        np.testing.assert_allclose(p[b], cut[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(frames[b, :length], model.frame_probabilities[0],
                                   rtol=0, atol=1e-12)


def changed_frames(model, t):
    """The frames whose probabilities change when frame t of both inputs changes."""
    first, second = clips(frames=8, batch=1, seed=7)
    model(first, second)
    before = model.frame_probabilities.copy()
    first[:, t] += 3.0
    second[:, t] += 3.0
    model(first, second)
    return np.nonzero(np.abs(model.frame_probabilities - before).max(-1)[0] > 1e-12)[0]


def test_window_zero_everywhere_makes_each_frame_depend_on_its_own_time_only():
    model = model64(seed=6, self_window=0, cross_window=0).eval()
    assert changed_frames(model, 3).tolist() == [3]
    assert len(changed_frames(model64(seed=6).eval(), 3)) == 8        # the paper: every frame


def test_window_w_reaches_w_frames_per_attention_layer():
    # self-attention +-1, cross-attention +-0; 2 encoder blocks take a change at t to t +- 2
    # in the memory, decoder block 1's cross-attention reads it there and block 2's
    # self-attention moves it one frame further: t +- 3, and no further
    model = model64(seed=6, self_window=1, cross_window=0).eval()
    assert changed_frames(model, 4).tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert changed_frames(model, 0).tolist() == [0, 1, 2, 3]


def test_frame_skip_feeds_the_input_stream_to_the_classifier():
    plain, skip = model64(seed=8), model64(seed=8, frame_skip=True)
    assert plain.num_parameters() == skip.num_parameters()
    first, second = clips(seed=9)
    plain.eval(), skip.eval()
    plain(first, second), skip(first, second)
    stream = skip.decoder_input(second)
    x = plain.decoder_input(second)
    for block in plain.decoder:
        x = block(x, plain.memory)
    logits = (x + stream) @ skip.classifier.params["W"] + skip.classifier.params["b"]
    np.testing.assert_allclose(skip.frame_probabilities, 1 / (1 + np.exp(-logits)), rtol=1e-12)


def test_attention_pooling_adds_one_score_map_and_other_options_add_no_parameter():
    base = model64().num_parameters()
    d, c = SMALL["d_model"], 17
    assert model64(pooling="attention").num_parameters() == base + d * c + c
    for options in (dict(pooling="linear-softmax"), dict(self_window=2), dict(cross_window=0),
                    dict(frame_skip=True)):
        assert model64(**options).num_parameters() == base


def test_the_paper_model_is_the_default():
    c = ModelConfig()
    assert (c.pooling, c.self_window, c.cross_window, c.frame_skip) == ("mean", None, None, False)
    assert AudiovisualTransformer(c).pool_scores is None


@pytest.mark.parametrize("window", [-1, 1.5, "2"])
def test_bad_window_is_a_clear_error(window):
    with pytest.raises(ValueError, match="self_window"):
        ModelConfig(self_window=window)


def test_float32_training_step_stays_float32_with_every_option():
    config = ModelConfig(first="video", second="audio", pooling="attention", self_window=1,
                         cross_window=1, frame_skip=True, **SMALL)
    model = AudiovisualTransformer(config)
    first, second = (x.astype(np.float32) for x in clips())
    p = model(first, second, LENGTHS)
    assert p.dtype == np.float32
    dfirst, dsecond, _ = model.backward(np.ones_like(p))
    assert dfirst.dtype == dsecond.dtype == np.float32
    assert all(g.dtype == np.float32 for _, _, g in model.parameters())
    twin = copy.deepcopy(model)
    assert twin.pool_scores is not None
