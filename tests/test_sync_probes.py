"""avt_np/sync_probes.py on constructed cases: a constant memory scores chance, attention on the
visible frames scores gain 1, a bag-of-frames model does not notice its frames shuffled."""

import numpy as np
import pytest

from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.sync import sync_score
from avt_np.sync_probes import (ShuffledSplit, encoder_variation, format_probes, probe_report,
                                shuffle_test, sync_by_memory)

SMALL = dict(blocks=2, heads=2, d_model=8, d_head=4, d_ff=8, dims={"audio": 5, "video": 6})


class Split:
    """Six clips of 5 frames with frame-level ground truth; clip 5 has 3 real frames."""
    name = "test"

    def __init__(self, constant_video=False, seed=0):
        rng = np.random.default_rng(seed)
        self.video = rng.standard_normal((6, 5, 6))
        if constant_video:
            self.video[:] = self.video[:, :1]                        # every frame alike
        self.audio = rng.standard_normal((6, 5, 5))
        self.labels = np.zeros((6, 3), np.uint8)
        self.labels[np.arange(6), np.arange(6) % 3] = 1
        self.audible = np.zeros((6, 3, 5), bool)
        self.visible = np.zeros((6, 3, 5), bool)
        for b in range(6):
            c = b % 3
            self.audible[b, c, 1:4] = True
            self.visible[b, c, 0:2] = True
        self.lengths = np.array([5, 5, 5, 5, 5, 3])
        self.video[5, 3:] = 0
        self.audio[5, 3:] = 0
        self.audible[5, :, 3:] = self.visible[5, :, 3:] = False

    has_ground_truth = True

    def __len__(self):
        return 6

    def batch(self, idx):
        idx = np.asarray(idx)
        return {"audio": self.audio[idx], "video": self.video[idx],
                "labels": self.labels[idx].astype(np.float64), "lengths": self.lengths[idx]}


def model(pos_enc=("video",), memory_block=None, attention="softmax", seed=0):
    config = ModelConfig(pos_enc=pos_enc, attention=attention, memory_block=memory_block,
                         classes=3, **SMALL)
    return AudiovisualTransformer(config, seed=seed, dtype=np.float64), config


def test_a_memory_constant_over_time_scores_exactly_chance():
    m, config = model(pos_enc=(), memory_block=0)
    scores = sync_by_memory(m, Split(constant_video=True), config)
    stage0 = [row[0] for row in scores]                            # keys all alike: uniform
    for s in stage0:
        assert s["pairs"] > 0 and s["share"] == pytest.approx(s["chance"], abs=1e-12)
        assert s["gain"] == pytest.approx(0.0, abs=1e-12)
    assert encoder_variation(m, Split(constant_video=True), config) == [pytest.approx(0, abs=1e-12)]


def test_attention_on_exactly_the_visible_frames_has_gain_one():
    split = Split()
    r_audible, r_visible = split.audible, split.visible
    weights = np.zeros((6, 2, 5, 5))                               # (B, H, T_q, T_k)
    weights[...] = r_visible.any(1)[:, None, None, :]              # on every visible frame
    score = sync_score(weights, r_audible, r_visible)
    assert score["pairs"] > 0 and score["gain"] == pytest.approx(1.0) and score["top1"] == 1.0


def test_sync_by_memory_reports_every_decoder_block_against_every_encoder_stage():
    m, config = model()
    scores = sync_by_memory(m, Split(), config)
    assert len(scores) == 2 and all(len(row) == 3 for row in scores)      # 2 blocks x 3 stages
    m.eval()
    split = Split()
    batch = split.batch(np.arange(6))
    m(batch["video"], batch["audio"], batch["lengths"])
    last = [sync_score(w, split.audible, split.visible) for w in m.cross_attention_weights()]
    for d in range(2):                          # reading the last stage = what the model does
        assert scores[d][-1]["share"] == pytest.approx(last[d]["share"], abs=1e-12)


def test_a_bag_of_frames_model_does_not_notice_its_frames_shuffled():
    split = Split()
    bag, config = model(pos_enc=())                 # no positional encodings on video
    out = shuffle_test(bag, split, config, threshold=0.5)
    assert out["frame_probability_change"] < 1e-12
    assert out["micro_f1"] == out["micro_f1_shuffled"]
    ordered, config = model(pos_enc=("video",))     # positions make frames distinguishable
    assert shuffle_test(ordered, split, config, threshold=0.5)["frame_probability_change"] > 1e-6


def test_shuffling_permutes_only_real_frames_and_the_same_way_every_time():
    split = Split()
    shuffled = ShuffledSplit(split, "video", seed=3)
    a, b = shuffled.batch([5, 0]), shuffled.batch([5, 0])
    np.testing.assert_array_equal(a["video"], b["video"])
    np.testing.assert_array_equal(a["video"][0, 3:], 0)                   # padding stays
    assert sorted(map(tuple, a["video"][0, :3])) == sorted(map(tuple, split.video[5, :3]))
    np.testing.assert_array_equal(a["audio"], split.audio[[5, 0]])          # the other stream


def test_probe_report_prints_every_probe():
    m, config = model()
    text = format_probes(probe_report(m, Split(), config, threshold=0.5))
    assert "stage 0" in text and "shuffled" in text and "decoder block d" in text


@pytest.mark.parametrize("window", [None, 0, 1])
def test_probes_run_the_encoder_with_the_models_own_masks_local_windows_included(window):
    from avt_np.sync_probes import encoder_stages, masks
    config = ModelConfig(pos_enc=("video",), self_window=window, cross_window=window, **SMALL)
    m = AudiovisualTransformer(config, seed=0).eval()
    split = Split()
    batch = split.batch(np.arange(6))
    m(batch["video"], batch["audio"], batch["lengths"])
    _, keys_first, _, _ = masks(batch, config)
    stages = encoder_stages(m, batch["video"], keys_first)
    real = np.arange(5) < split.lengths[:, None]
    np.testing.assert_allclose(stages[-1][real], m.memory[real], rtol=1e-6, atol=1e-6)
