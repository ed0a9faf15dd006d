"""avt_np/collapse.py on a model built to collapse (uniform attention that swamps its skip) and
one built not to (each frame attends to itself alone), and the numbers it is made of."""

import numpy as np
import pytest

from avt_np.collapse import collapse_picture, collapse_report, format_collapse
from avt_np.diagnostics import variation_of, variation_sums
from avt_np.model import AudiovisualTransformer, ModelConfig

SMALL = dict(blocks=2, heads=2, d_model=8, d_head=4, d_ff=8, dims={"audio": 5, "video": 6})


class Split:
    """Nine clips of 6 frames of random features; the last two have 4 and 2 real frames."""
    name = "validation"

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.video = rng.standard_normal((9, 6, 6))
        self.audio = rng.standard_normal((9, 6, 5))
        self.lengths = np.array([6] * 7 + [4, 2])

    def __len__(self):
        return 9

    def batch(self, idx):
        idx = np.asarray(idx)
        return {"audio": self.audio[idx], "video": self.video[idx], "lengths": self.lengths[idx]}


def model(**options):
    config = ModelConfig(pos_enc=(), **SMALL, **options)
    return AudiovisualTransformer(config, seed=1).astype(np.float64), config


def attentions(m):
    for block in m.encoder + m.decoder:
        yield block.self_attn
        if hasattr(block, "cross_attn"):
            yield block.cross_attn


def built_to_collapse():
    """Queries and keys of every attention zeroed (uniform weights: each branch is its clip's
    mean value, the same in every frame) and the branches made 10 times larger."""
    m, config = model()
    for mha in attentions(m):
        for linear in (mha.q, mha.k):
            linear.params["W"][...] = 0
            linear.params["b"][...] = 0
        mha.out.params["W"] *= 10
    return m, config


def stage(report, name):
    return next(row for row in report["stages"] if row["stage"] == name)


def test_variation_sums_add_up_over_batches_and_ignore_padded_frames():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5, 3))
    real = np.arange(5) < np.array([5, 3, 1, 4])[:, None]
    whole = variation_sums(x, real)
    np.testing.assert_allclose(whole, variation_sums(x[:2], real[:2])
                               + variation_sums(x[2:], real[2:]), rtol=1e-14)
    x2 = x.copy()
    x2[~real] = 1e6
    np.testing.assert_allclose(variation_sums(x2, real), whole, rtol=1e-14)
    same = np.repeat(x[:, :1], 5, axis=1)                       # every frame the same vector
    assert variation_of(variation_sums(same))[1] == pytest.approx(0, abs=1e-12)
    centred = x - x.mean(1, keepdims=True)                      # clip means 0: variation 1
    assert variation_of(variation_sums(centred))[1] == pytest.approx(1, rel=1e-12)


def test_a_model_built_to_collapse_loses_its_frames_differences_block_by_block():
    m, config = built_to_collapse()
    report = collapse_report(m, Split(), config, batch_size=4)
    rows = [r for r in report["stages"] if "branch_variation" in r and "attn" in r["stage"]]
    assert len(rows) == 2 + 2 * 2                              # 2 encoder, 2 x 2 decoder
    for row in rows:
        assert row["branch_variation"] < 1e-9, row             # the clip mean in every frame
        assert row["branch_over_skip"] > 3, row
        assert row["output_variation"] < 0.5 * row["skip_variation"], row
    start = stage(report, "decoder input")["output_variation"]
    assert stage(report, "frame probabilities")["output_variation"] < 0.01 * start


def test_a_model_whose_frames_attend_to_themselves_keeps_its_frames_apart():
    m, config = model(self_window=0, cross_window=0)
    report = collapse_report(m, Split(), config, batch_size=4)
    start = stage(report, "decoder input")["output_variation"]
    end = stage(report, "classifier input")["output_variation"]
    assert start > 0.5 and end > 0.5 * start
    for row in report["stages"]:
        if row["stage"].endswith("self_attn"):
            assert row["branch_variation"] > 0.3, row


def test_the_report_does_not_depend_on_the_batch_size_and_keeps_the_model_mode():
    m, config = model()
    m.train()
    one = collapse_report(m, Split(), config, batch_size=9)
    three = collapse_report(m, Split(), config, batch_size=3)
    assert m.training
    for a, b in zip(one["stages"], three["stages"]):
        assert a.keys() == b.keys()
        for key in a:
            if key != "stage":
                assert a[key] == pytest.approx(b[key], rel=1e-10), (a["stage"], key)


def test_the_frame_skip_shows_as_variation_restored_at_the_classifier_input():
    m, config = built_to_collapse()
    m.config.frame_skip = True
    report = collapse_report(m, Split(), config)
    last = stage(report, "decoder.1 ff")["output_variation"]
    assert stage(report, "classifier input")["output_variation"] > 10 * last


def test_table_and_picture_name_every_stage():
    m, config = model()
    report = collapse_report(m, Split(), config)
    text = format_collapse(report)
    names = [r["stage"] for r in report["stages"]]
    assert names[0] == "encoder input" and names[-1] == "frame probabilities"
    assert "decoder.1 cross_attn" in names and len(names) == 1 + 2 * 2 + 1 + 2 * 3 + 2
    assert all(name in text for name in names) and "9 clips" in text
    image = collapse_picture(report)
    assert image.size == (720, 400)
