"""avt_np/visualize/architecture.py: the model's picture says what the config builds."""

import re
from dataclasses import dataclass

import numpy as np

from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.visualize.architecture import describe, draw


def text(config):
    return "\n".join(line for lines in describe(config).values() for line in lines)


def test_the_pictures_shapes_are_the_ones_the_model_computes():
    config = ModelConfig(blocks=1, heads=2, d_model=16, d_head=8, d_ff=12, classes=5,
                         dims={"audio": 6, "video": 10})
    model = AudiovisualTransformer(config, seed=0).eval()
    B, T = 2, 4
    rng = np.random.default_rng(0)
    p = model(rng.standard_normal((B, T, 10)).astype(np.float32),
              rng.standard_normal((B, T, 6)).astype(np.float32))
    said = text(config)
    frames = re.search(r"frame probabilities \(B, T, (\d+)\)", said).group(1)
    clips = re.search(r"clip probabilities \(B, (\d+)\)", said).group(1)
    assert model.frame_probabilities.shape == (B, T, int(frames))
    assert p.shape == (B, int(clips))
    assert f"memory (B, T, {model.memory.shape[-1]})" in said
    assert "video features  (B, T, 10)" in said and "audio features  (B, T, 6)" in said
    assert "2 heads x 8" in said and "feed-forward 16 -> 12 -> 16" in said


def test_the_picture_follows_the_config():
    said = text(ModelConfig())
    assert "encoder block  x 3" in said and "mean pooling over time" in said
    assert "+ positional encodings" in describe(ModelConfig())["encoder input"][1]
    assert "+ positional encodings" not in describe(ModelConfig())["decoder input"][1]
    other = text(ModelConfig(first="audio", second="video", pos_enc=(), pooling="max", blocks=2,
                             memory_block=1, attention="sigmoid"))
    assert "encoder block  x 1 (of 2)" in other and "max pooling over time" in other
    assert "queries: video; keys, values: encoder block 1's output" in other
    assert "sigmoid" in other and "positional" not in other


def test_a_config_with_fields_the_picture_does_not_know_draws_and_shows_windows():
    @dataclass
    class Newer(ModelConfig):
        self_attention_window: int = 3
        residual: str = "pre-norm"                 # a field the picture does not read

    said = text(Newer())
    assert "self-attention: 3 heads x 128, softmax, window 3" in said
    image = draw(Newer())
    assert image.size[0] >= 900 and image.size[1] >= 400
    assert len(image.getcolors(maxcolors=1 << 20)) > 10     # something drawn, not blank
