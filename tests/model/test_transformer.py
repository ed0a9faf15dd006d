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
