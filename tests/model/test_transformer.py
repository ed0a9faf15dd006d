import itertools

import numpy as np
import pytest

from avt_np.gradcheck import gradcheck
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.nn import Dropout

PAIRINGS = [("video", "audio"), ("audio", "video"), ("audio", "audio"), ("video", "video")]
SMALL = dict(blocks=2, heads=2, d_model=6, d_head=3, d_ff=5, dims={"audio": 5, "video": 9})


def small_model(first, second, pooling, attention, seed=0):
    config = ModelConfig(first=first, second=second, pos_enc=(first, second), pooling=pooling,
                         attention=attention, **SMALL)
    return AudiovisualTransformer(config, seed=seed)


@pytest.mark.parametrize("pooling, attention, pairing", list(itertools.product(
    ["mean", "max"], ["softmax", "sigmoid", "normalized-sigmoid"], PAIRINGS)))
def test_full_model_passes_gradcheck(pooling, attention, pairing):
    first, second = pairing
    model = small_model(first, second, pooling, attention, seed=3)
    rng = np.random.default_rng(4)
    x_first = rng.standard_normal((2, 3, SMALL["dims"][first]))
    x_second = rng.standard_normal((2, 4, SMALL["dims"][second]))
    result = gradcheck(model, x_first, x_second, max_entries=12, directions=3)
    assert result.ok, result
    assert len(result.checks) == 2 + len(list(model.parameters()))


def test_parameter_counts_match_the_reference_reading_of_the_paper():
    assert AudiovisualTransformer(ModelConfig()).num_parameters() == 2_526_097
    audio_only = ModelConfig(first="audio", second="audio", pos_enc=())
    assert AudiovisualTransformer(audio_only).num_parameters() == 2_018_193


def test_dropout_sits_exactly_where_section_3_2_7_lists_it():
    model = AudiovisualTransformer(ModelConfig())
    dropouts = [m for m in model.modules() if isinstance(m, Dropout)]
    # 2 input maps + per MHA (attention weights, final map) + 2 per feed-forward subnet
    assert len(dropouts) == 2 + 3 * (2 + 2) + 3 * (2 * 2 + 2)
    assert all(d.p == 0.1 for d in dropouts)


def test_forward_shapes_dtype_and_attention_weights():
    model = AudiovisualTransformer(ModelConfig(), seed=0)
    rng = np.random.default_rng(0)
    video = rng.random((4, 10, 4096), dtype=np.float32)
    audio = rng.standard_normal((4, 10, 128)).astype(np.float32)
    p = model(video, audio)
    assert p.shape == (4, 17) and p.dtype == np.float32
    assert ((p > 0) & (p < 1)).all()
    assert model.frame_probabilities.shape == (4, 10, 17)
    assert [w.shape for w in model.cross_attention_weights()] == [(4, 3, 10, 10)] * 3
    dvideo, daudio = model.backward(np.ones_like(p))
    assert dvideo.shape == video.shape and daudio.dtype == np.float32


def test_max_pooling_takes_the_largest_frame_probability():
    model = small_model("audio", "audio", "max", "softmax").eval()
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    p = model(x, x)
    np.testing.assert_array_equal(p, model.frame_probabilities.max(1))


def test_eval_mode_is_deterministic_and_train_mode_is_not():
    model = small_model("video", "audio", "mean", "softmax")
    rng = np.random.default_rng(0)
    v, a = rng.standard_normal((2, 3, 9)), rng.standard_normal((2, 3, 5))
    assert not np.array_equal(model(v, a), model(v, a))
    model.eval()
    np.testing.assert_array_equal(model(v, a), model(v, a))


def test_positional_encodings_only_where_configured():
    model = AudiovisualTransformer(ModelConfig(first="video", second="audio", pos_enc=("video",)))
    assert model.encoder_input.positional is not None
    assert model.decoder_input.positional is None


def test_same_seed_builds_the_same_model():
    a = AudiovisualTransformer(ModelConfig(**SMALL), seed=5).state_dict()
    b = AudiovisualTransformer(ModelConfig(**SMALL), seed=5).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kwargs, message", [
    (dict(first="text"), "first modality 'text'"),
    (dict(pos_enc=("audio", "smell")), "positional encodings on \\['smell'\\]"),
    (dict(first="audio", second="audio", pos_enc=("video",)), "does not read"),
    (dict(pooling="median"), "pooling 'median'"),
    (dict(attention="relu"), "attention 'relu'"),
])
def test_bad_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)


def test_backward_without_input_grad_gives_the_same_parameter_gradients():
    model = small_model("video", "audio", "mean", "softmax").eval()
    rng = np.random.default_rng(0)
    v, a = rng.standard_normal((2, 3, 9)), rng.standard_normal((2, 3, 5))
    dp = rng.standard_normal((2, 17))
    model(v, a)
    model.backward(dp)
    full = {n: g.copy() for n, _, g in model.parameters()}
    model.zero_grad()
    model(v, a)
    assert model.backward(dp, input_grad=False) == (None, None)
    for name, _, grad in model.parameters():
        np.testing.assert_array_equal(grad, full[name])


# -- padded frames (lengths) ------------------------------------------------------------------
import copy  # noqa: E402

ATTENTIONS = ["softmax", "sigmoid", "normalized-sigmoid"]
LENGTHS = np.array([5, 3, 1, 4])                        # real frames of each clip, T = 5


def clips(first, second, frames=5, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, frames, SMALL["dims"][first])),
            rng.standard_normal((batch, frames, SMALL["dims"][second])))


def small_model64(*args, **kwargs):
    return small_model(*args, **kwargs).astype(np.float64)


def run(model, first, second, lengths, dp):
    """Outputs, frame probabilities, input and parameter gradients of one forward/backward."""
    model.zero_grad()
    p = model(first, second, lengths)
    frames = model.frame_probabilities.copy()
    dfirst, dsecond, *_ = model.backward(dp)
    return p, frames, dfirst, dsecond, {n: g.copy() for n, _, g in model.parameters()}


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("pooling", ["mean", "max"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_padded_frames_change_no_output_and_no_gradient(attention, pooling, mode):
    model = small_model64("video", "audio", pooling, attention, seed=1).train(mode == "train")
    twin = copy.deepcopy(model)                        # same dropout draws in train mode
    v, a = clips("video", "audio")
    dp = np.random.default_rng(2).standard_normal((4, 17))
    p, frames, dv, da, grads = run(model, v, a, LENGTHS, dp)
    padded = np.arange(5) >= LENGTHS[:, None]                                  # (B, T)
    rng = np.random.default_rng(3)
    v[padded], a[padded] = 5 * rng.standard_normal(v[padded].shape), rng.random(a[padded].shape)
    p2, frames2, dv2, da2, grads2 = run(twin, v, a, LENGTHS, dp)
    real = ~padded
    pairs = [(p, p2), (frames[real], frames2[real]), (dv, dv2), (da, da2)]
    for name in grads:
        pairs.append((grads[name], grads2[name]))
    assert max(np.abs(x - y).max() for x, y in pairs) <= 1e-12
    assert (dv[padded] == 0).all() and (da[padded] == 0).all()


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_clip_of_length_l_gives_the_output_of_the_clip_cut_to_l(attention, pooling):
    model = small_model64("audio", "video", pooling, attention, seed=4).eval()
    first, second = clips("audio", "video", seed=5)
    dp = np.random.default_rng(6).standard_normal((4, 17))
    p, frames, dfirst, dsecond, grads = run(model, first, second, LENGTHS, dp)
    summed = {name: 0 for name in grads}
    for b, length in enumerate(LENGTHS):            # each clip alone, cut to its real frames
        cut = run(model, first[b:b + 1, :length], second[b:b + 1, :length], None, dp[b:b + 1])
        np.testing.assert_allclose(p[b], cut[0][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(frames[b, :length], cut[1][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(dfirst[b, :length], cut[2][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(dsecond[b, :length], cut[3][0], rtol=0, atol=1e-12)
        summed = {name: summed[name] + cut[4][name] for name in grads}
    for name in grads:                             # parameter gradients add up over clips
        np.testing.assert_allclose(grads[name], summed[name], rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("pooling, attention, pairing", [
    ("mean", "softmax", ("video", "audio")), ("max", "sigmoid", ("audio", "video")),
    ("mean", "normalized-sigmoid", ("audio", "audio")), ("max", "softmax", ("video", "video")),
    ("mean", "sigmoid", ("video", "audio")), ("max", "normalized-sigmoid", ("video", "audio"))])
def test_full_model_with_lengths_passes_gradcheck(pooling, attention, pairing):
    first, second = pairing
    model = small_model64(first, second, pooling, attention, seed=3)
    x_first, x_second = clips(first, second, frames=4, batch=3, seed=4)
    lengths = np.array([4, 2, 1])
    result = gradcheck(model, x_first, x_second, lengths, max_entries=12, directions=3)
    assert result.ok, result
    assert result.worst_error < 2e-7, result              # well under the 1e-6 tolerance
    # lengths (integers) is passed through, not checked: both float inputs and every parameter
    assert [c.name for c in result.checks[:2]] == ["input 0", "input 1"]
    assert len(result.checks) == 2 + len(list(model.parameters()))


def test_lengths_cover_streams_of_different_frame_counts():
    model = small_model64("video", "audio", "mean", "softmax").eval()
    rng = np.random.default_rng(0)
    v, a = rng.standard_normal((2, 6, 9)), rng.standard_normal((2, 4, 5))
    p = model(v, a, np.array([4, 2]))
    cut = model(v[1:, :2], a[1:, :2])
    np.testing.assert_allclose(p[1], cut[0], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="length <= 4"):
        model(v, a, np.array([5, 2]))


@pytest.mark.parametrize("lengths, message", [
    (np.array([5, 0, 3, 1]), "expected 1 <= length <= 5.*from 0 to 5"),
    (np.array([6, 1, 3, 1]), "expected 1 <= length <= 5.*from 1 to 6"),
    (np.array([5, 3]), "shape \\(4,\\)"),
    (np.array([5.0, 3.0, 1.0, 4.0]), "expected integers"),
])
def test_bad_lengths_are_a_clear_error(lengths, message):
    model = small_model64("video", "audio", "mean", "softmax")
    with pytest.raises(ValueError, match=message):
        model(*clips("video", "audio"), lengths)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_full_lengths_and_unmasked_config_are_the_unmasked_model_bit_for_bit(attention):
    v, a = clips("video", "audio")
    dp = np.random.default_rng(1).standard_normal((4, 17))
    reference = run(small_model64("video", "audio", "max", attention, seed=2), v, a, None, dp)
    full = run(small_model64("video", "audio", "max", attention, seed=2), v, a, np.full(4, 5), dp)
    config = ModelConfig(first="video", second="audio", pos_enc=("video", "audio"),
                         pooling="max", attention=attention, mask_padding=False, **SMALL)
    unmasked = run(AudiovisualTransformer(config, seed=2).astype(np.float64), v, a, LENGTHS, dp)
    for other in (full, unmasked):
        for x, y in zip(reference[:4], other[:4]):
            np.testing.assert_array_equal(x, y)
        for name in reference[4]:
            np.testing.assert_array_equal(reference[4][name], other[4][name])


def test_mask_padding_is_on_by_default_and_stored_in_the_config():
    assert ModelConfig().mask_padding is True
    assert ModelConfig().to_dict()["mask_padding"] is True


def test_backward_with_lengths_returns_none_for_lengths():
    model = small_model64("video", "audio", "mean", "softmax")
    v, a = clips("video", "audio")
    p = model(v, a, LENGTHS)
    dv, da, dlengths = model.backward(np.ones_like(p))
    assert dv.shape == v.shape and da.shape == a.shape and dlengths is None
    model(v, a, LENGTHS)
    assert model.backward(np.ones_like(p), input_grad=False) == (None, None, None)
    model(v, a)
    assert len(model.backward(np.ones_like(p))) == 2


def test_masked_model_keeps_float32_and_gives_padded_keys_zero_cross_attention():
    model = AudiovisualTransformer(ModelConfig(), seed=0)
    rng = np.random.default_rng(0)
    video = rng.random((3, 10, 4096), dtype=np.float32)
    audio = rng.standard_normal((3, 10, 128)).astype(np.float32)
    lengths = np.array([10, 7, 3], np.int16)
    p = model(video, audio, lengths)
    assert p.dtype == np.float32 and model.frame_probabilities.dtype == np.float32
    for w in model.cross_attention_weights():
        assert w.shape == (3, 3, 10, 10) and w.dtype == np.float32
        assert (w[1, ..., 7:] == 0).all() and (w[2, ..., 3:] == 0).all()
        np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    dvideo, daudio, _ = model.backward(np.ones_like(p))
    assert dvideo.dtype == np.float32 and daudio.dtype == np.float32


@pytest.mark.parametrize("memory_block", [0, 1])
def test_decoder_reading_an_earlier_encoder_block_passes_gradcheck(memory_block):
    config = ModelConfig(first="video", second="audio", pos_enc=("video", "audio"),
                         memory_block=memory_block, **SMALL)
    model = AudiovisualTransformer(config, seed=3)
    assert len(model.encoder) == memory_block                    # later blocks: never read
    rng = np.random.default_rng(4)
    x_first, x_second = rng.standard_normal((2, 3, 9)), rng.standard_normal((2, 4, 5))
    result = gradcheck(model, x_first, x_second, np.array([3, 2]), max_entries=12, directions=3)
    assert result.ok, result


def test_memory_block_zero_feeds_the_input_stream_to_cross_attention():
    config = ModelConfig(memory_block=0, **SMALL)
    model = AudiovisualTransformer(config, seed=0)
    model.eval()
    rng = np.random.default_rng(1)
    first, second = rng.standard_normal((2, 3, 9)), rng.standard_normal((2, 4, 5))
    model(first, second)
    stream = model.encoder_input(first)
    np.testing.assert_allclose(model.decoder[0].cross_attn.k(stream),
                               model.decoder[0].cross_attn.k(model.memory), atol=0)
    assert ModelConfig().memory_block == ModelConfig().blocks == 3           # the paper's model
    with pytest.raises(ValueError, match="memory block 4: expected 0..2"):
        ModelConfig(memory_block=4, **SMALL)
