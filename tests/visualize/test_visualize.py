"""python -m avt_np.visualize: attention pictures and the sync report on tiny real runs."""

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from avt_np import train, visualize
from avt_np.visualize import picture
from avt_np.visualize.clip_view import query_frame_share
from avt_np.data import synthetic
from avt_np.data.writer import DatasetWriter

TINY = ["--epochs", "1", "--batches-per-epoch", "2", "--batch-size", "8", "--ensemble", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A small embedded set, a video/audio and an audio/audio run on it, and a copy of some of
    its clips without frame-level ground truth."""
    root = tmp_path_factory.mktemp("vis")
    data = root / "embedded"
    sizes = {"train": 120, "validation": 30, "test": 40}
    synthetic.generate(data, seed=1, recipe=synthetic.Recipe(sizes=sizes), progress=False)
    train.run(["--data", str(data), *TINY, "--out", str(root / "va")])
    train.run(["--data", str(data), *TINY, "--first", "audio", "--second", "audio",
               "--pos-enc", "none", "--out", str(root / "aa")])
    source = synthetic.open_embedded(data)
    with DatasetWriter(root / "no_truth", source.classes, source.dims) as writer:
        for name in ("train", "validation", "test"):
            idx = np.arange(4)
            batch = source[name].batch(idx)
            writer.append(name, audio=batch["audio"], video=batch["video"],
                          labels=source[name].labels[idx],
                          clip_ids=[source[name].clip_ids[i] for i in idx])
    return root


def test_picture_is_written_with_the_expected_size_and_one_row_per_head(runs, capsys):
    out = runs / "va3.png"
    visualize.main([str(runs / "va"), "--clip", "3", "--query-frame", "4", "--out", str(out)])
    assert capsys.readouterr().out.strip() == str(out)
    run = visualize.load(runs / "va")
    view = visualize.clip_view(run, "test", 3)
    image, layout = visualize.render(view, block=-1, query_frame=4)
    H, T_q, T_k = view.weights[-1].shape
    assert (H, T_q, T_k) == (3, 10, 10) and len(view.weights) == 3
    written = Image.open(out)
    assert written.format == "PNG" and written.size == image.size == layout["size"]
    assert image.size[0] == picture.LEFT + T_k * picture.CELL + picture.RIGHT
    assert len(layout["heads"]) == H
    pixels = np.asarray(image)
    for left, top, right, bottom in layout["heads"]:
        assert bottom - top == picture.HEAD_ROW
        assert (pixels[top:bottom, left:right] != 255).any(axis=-1).mean() > 0.9   # coloured
    marker = layout["query_marker"]
    assert marker[0] == picture.LEFT + 4 * picture.CELL
    assert tuple(pixels[marker[1] + 1, marker[0] + 1]) == picture.RED
    assert len(layout["truth"]) >= 1                            # the clip's labelled classes
    # the embedded set stores no log-mel: both strips are embeddings with an energy bar
    assert layout["strip_kinds"] == {"query": "embedding + energy", "key": "embedding + energy"}


def test_all_queries_draws_the_full_matrix_per_head(runs):
    run = visualize.load(runs / "va")
    view = visualize.clip_view(run, "test", "test-00005")
    image, layout = visualize.render(view, block=0, all_queries=True)
    assert len(layout["heads"]) == 3
    assert all(b - t == 10 * picture.HEAD_ROW for _, t, _, b in layout["heads"])
    assert image.size[1] > visualize.render(view, block=0)[0].size[1]


def test_metrics_hold_the_sync_score_of_the_last_ensemble_model_per_block(runs, capsys):
    sync = json.loads((runs / "va" / "metrics.json").read_text())["sync"]
    assert sync["split"] == "test" and sync["epoch"] == 1 and sync["clips"] == 40
    assert sync["query"].startswith("audio") and sync["key"].startswith("video")
    assert len(sync["blocks"]) == 3 and sync["last_block"] == sync["blocks"][-1]
    assert sync["pairs"] > 0 and 0 < sync["chance"] < 1
    for block in sync["blocks"]:
        assert 0 <= block["share"] <= 1 and len(block["share_per_head"]) == 3
        assert 0 <= block["top1"] <= 1 and len(block["top1_per_head"]) == 3
    visualize.main([str(runs / "va"), "--sync-report"])
    text = capsys.readouterr().out
    assert "synchronization score, test split (40 clips" in text and "chance" in text
    rows = [line.split()[0] for line in text.splitlines() if re.match(r"\s+\d\s+0\.\d{3}\s", line)]
    assert rows == ["1", "2", "3"]                             # one row per decoder block
    assert "encoder output, std over a clip's frames: stage 0 " in text and "stage 3" in text
    assert "frames shuffled within each clip: micro-F1" in text         # the probes follow
    probe_rows = [line.split() for line in text.splitlines() if re.match(r"\s+\d\s+[+-]", line)]
    assert [row[0] for row in probe_rows] == ["1", "2", "3"] and all(len(r) == 5 for r in probe_rows)


def test_unimodal_run_is_drawn_with_a_note_and_its_score_is_skipped(runs, capsys):
    out = runs / "aa.png"
    visualize.main([str(runs / "aa"), "--clip", "0", "--out", str(out)])
    err = capsys.readouterr().err
    assert "cross-attention exists but is within one modality" in err
    assert Image.open(out).size[0] > 0
    sync = json.loads((runs / "aa" / "metrics.json").read_text())["sync"]
    assert "within one modality" in sync["skipped"] and "blocks" not in sync
    visualize.main([str(runs / "aa"), "--sync-report"])
    assert "skipped" in capsys.readouterr().out


def test_clip_without_ground_truth_is_drawn_and_its_score_skipped(runs, capsys):
    out = runs / "no_truth.png"
    visualize.main([str(runs / "va"), "--data", str(runs / "no_truth"), "--clip", "1",
                    "--out", str(out)])
    assert "no frame-level ground truth" in capsys.readouterr().err
    assert Image.open(out).size[0] > 0
    run = visualize.load(runs / "va", data=runs / "no_truth")
    view = visualize.clip_view(run, "test", 1)
    assert view.query_present is None and query_frame_share(view, -1, 0) is None
    _, layout = visualize.render(view)
    assert layout["truth"] == []
    visualize.main([str(runs / "va"), "--data", str(runs / "no_truth"), "--split", "validation",
                    "--sync-report"])
    assert "skipped" in capsys.readouterr().out


def test_sync_report_on_other_data_is_computed_there_not_read_from_metrics(runs, capsys):
    visualize.main([str(runs / "va"), "--sync-report"])
    stored = capsys.readouterr().out
    assert "synchronization score, test split (40 clips" in stored
    visualize.main([str(runs / "va"), "--data", str(runs / "embedded"), "--sync-report"])
    assert capsys.readouterr().out == stored                  # the run's own data: metrics.json
    visualize.main([str(runs / "va"), "--data", str(runs / "no_truth"), "--sync-report"])
    text = capsys.readouterr().out
    assert text.startswith("synchronization score skipped (test split)")
    assert "no frame-level ground truth" in text


def test_sync_report_of_a_run_without_snapshots_is_read_from_metrics(runs, tmp_path, capsys):
    run = tmp_path / "kept_none"
    shutil.copytree(runs / "va", run)
    shutil.rmtree(run / "checkpoints")                         # what --keep none leaves
    visualize.main([str(run), "--sync-report"])
    text = capsys.readouterr().out
    assert "synchronization score, test split (40 clips" in text
    assert "probes skipped: they need the model of epoch 1, which this run did not keep" in text
    code = visualize.main([str(run), "--split", "validation", "--sync-report"])  # needs the model
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(run / "checkpoints" / "epoch_001.npz") in err and "validation split" in err
    assert "--keep none" in err


@pytest.mark.parametrize("keep_bytes", [0, 5000])
def test_a_truncated_snapshot_is_one_line_naming_the_file(runs, tmp_path, capsys, keep_bytes):
    run = tmp_path / "truncated"
    shutil.copytree(runs / "va", run)
    snapshot = run / "checkpoints" / "epoch_001.npz"
    snapshot.write_bytes(snapshot.read_bytes()[:keep_bytes])
    code = visualize.main([str(run), "--clip", "0", "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"error: {snapshot}: unreadable .npz file")


def test_uniform_attention_is_drawn_cold_on_a_fixed_0_to_1_scale(runs):
    view = visualize.clip_view(visualize.load(runs / "va"), "test", 3)
    H, T_q, T_k = view.weights[-1].shape
    uniform = np.full((H, T_q, T_k), 1 / T_k, np.float32)
    peaked = np.zeros((H, T_q, T_k), np.float32)
    peaked[:, :, 2] = 1.0
    for weights, expected in ((uniform, 1 / T_k), (peaked, 1.0)):
        view.weights = [weights]
        image, layout = visualize.render(view, query_frame=4)
        pixels = np.asarray(image)
        for left, top, _, _ in layout["heads"]:
            corner = pixels[top + 1, left + 2 * picture.CELL + 1]   # key frame 2, outside text
            assert tuple(corner) == picture.heat_colour(expected)
    legend_left = layout["legend"][0]
    assert layout["uniform_tick"] == legend_left + round(119 / T_k)   # marked on the scale


def test_the_picture_says_when_attention_is_uniform_and_marks_the_threshold(runs):
    view = visualize.clip_view(visualize.load(runs / "va"), "test", 3)
    H, T_q, T_k = view.weights[-1].shape
    near_uniform = np.full((H, T_q, T_k), 1 / T_k, np.float32)
    near_uniform[:, :, 0] += 0.005                               # within 20% of the mean
    peaked = np.zeros((H, T_q, T_k), np.float32)
    peaked[:, :, 2] = 1.0
    view.weights, view.threshold = [near_uniform], 0.25
    _, layout = visualize.render(view, query_frame=4)
    assert "(near) uniform" in layout["uniform_note"] and f"1/{T_k}" in layout["uniform_note"]
    legend_x = layout["legend"][0]                               # the probabilities' left edge
    assert layout["threshold_line"] == legend_x + round(60 * 0.25)
    view.weights, view.threshold = [peaked], None
    _, layout = visualize.render(view, query_frame=4)
    assert "uniform_note" not in layout and "threshold_line" not in layout


def test_picture_names_do_not_repeat_the_split():
    view = type("View", (), {"split": "test", "clip_id": "test-00007"})()
    assert visualize.picture_name(view) == "attention-test-00007.png"
    view.clip_id = "abc_30.000_40.000"
    assert visualize.picture_name(view, all_queries=True) == "attention-test-abc_30.000_40.000-all.png"


def test_truth_rows_say_query_and_key_and_class_names_are_not_cut(runs):
    _, layout = visualize.render(visualize.clip_view(visualize.load(runs / "aa"), "test", 0))
    assert layout["truth_rows"] == ["query audible", "key audible"]    # unimodal: both audible
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    name = "Fire engine, fire truck (siren)"
    lines = picture.wrapped(draw, name, 90)
    assert " ".join(lines) == name and len(lines) == 2
    assert all(draw.textbbox((0, 0), line)[2] <= 90 for line in lines)
    view = visualize.clip_view(visualize.load(runs / "va"), "test", 0)
    view.classes[0] = name + " and a much longer name"
    image, layout = visualize.render(view)
    right_panel = image.size[0] - (layout["legend"][0] + 64)
    assert right_panel >= draw.textbbox((0, 0), f"0.00 * {view.classes[0]}")[2]


@pytest.mark.parametrize("flags, named", [
    (["--clip", "999"], "--clip"),
    (["--clip", "no-such-clip"], "--clip"),
    (["--query-frame", "10"], "--query-frame"),
    (["--block", "3"], "--block"),
    (["--split", "dev"], "--split"),
    (["--out", "picture.jpg"], "--out"),
])
def test_bad_input_is_one_line_naming_the_argument_with_exit_code_2(runs, capsys, flags, named):
    assert visualize.main([str(runs / "va"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and named in err


def test_command_line_runs_as_a_module(runs, tmp_path):
    done = subprocess.run([sys.executable, "-m", "avt_np.visualize", str(runs / "nope")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    done = subprocess.run([sys.executable, "-m", "avt_np.visualize", str(runs / "va"),
                           "--clip", "2", "--all-queries", "--out", str(tmp_path / "a.png")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "a.png").size[1] > 0


def sloped_log_mel(n):
    """(n, 10, 96, 64) log-mel rising with time and falling with band: loud low frequencies."""
    t, band = np.meshgrid(np.arange(96), np.arange(64), indexing="ij")
    example = (t / 50 - band / 10).astype(np.float32)                # -6.3 .. 1.9
    return np.broadcast_to(example, (n, 10, 96, 64)).copy()


@pytest.fixture(scope="module")
def with_log_mel(runs):
    """The no_truth clips again, with log-mel examples; test clip 1 has 7 real frames."""
    source = visualize.load(runs / "va", data=runs / "no_truth").dataset
    with DatasetWriter(runs / "log_mel", source.classes, source.dims) as writer:
        for name in ("train", "validation", "test"):
            batch = source[name].batch(np.arange(4))
            log_mel, lengths = sloped_log_mel(4), np.array([10, 7, 10, 10])
            padded = np.arange(10)[None, :] >= lengths[:, None]
            for x in (batch["audio"], batch["video"], log_mel):
                x[padded] = 0
            writer.append(name, audio=batch["audio"], video=batch["video"],
                          labels=source[name].labels[:4], clip_ids=source[name].clip_ids[:4],
                          lengths=lengths, log_mel=log_mel)
    return runs / "log_mel"


def strip_pixels(image, layout, name):
    left, top, right, bottom = layout[name]
    return np.asarray(image)[top:bottom, left:right]


def test_audio_strips_show_log_mel_when_the_split_stores_it(runs, with_log_mel, tmp_path):
    run = visualize.load(runs / "va", data=with_log_mel)             # video keys, audio queries
    view = visualize.clip_view(run, "test", 1)
    assert view.query_log_mel.shape == (10, 96, 64) and view.key_log_mel is None
    image, layout = visualize.render(view, query_frame=4)
    assert layout["strip_kinds"] == {"query": "log-mel", "key": "embedding + energy"}
    grey = strip_pixels(image, layout, "query_strip")[:, 2:picture.CELL - 2, 0].astype(int)
    thumb = grey[:picture.STRIP + picture.ENERGY]                 # frame 0's spectrogram
    assert thumb[-4:].mean() > thumb[:4].mean() + 100                 # loud low bands at the bottom
    assert thumb[:, -4:].mean() > thumb[:, :4].mean() + 30            # rising with time: right
    assert thumb.max() >= 250 and thumb.min() <= 5                    # the clip's min..max scale
    padded = strip_pixels(image, layout, "query_strip")[5:40, 8 * picture.CELL + 6:
                                                        9 * picture.CELL - 6]
    assert (padded == 255).all()                                       # frame 8 is padding: empty

    old, old_layout = visualize.render(replace(view, query_log_mel=None), query_frame=4)
    assert old_layout["strip_kinds"]["query"] == "embedding + energy"
    assert (strip_pixels(image, layout, "query_strip")
            != strip_pixels(old, old_layout, "query_strip")).any(-1).mean() > 0.3
    np.testing.assert_array_equal(strip_pixels(image, layout, "key_strip"),
                                  strip_pixels(old, old_layout, "key_strip"))   # video: as before

    out = tmp_path / "log_mel.png"
    visualize.main([str(runs / "va"), "--data", str(with_log_mel), "--clip", "1",
                    "--out", str(out)])
    assert Image.open(out).size == image.size


def test_an_audio_audio_run_shows_log_mel_in_both_strips(runs, with_log_mel):
    view = visualize.clip_view(visualize.load(runs / "aa", data=with_log_mel), "test", 0)
    _, layout = visualize.render(view)
    assert layout["strip_kinds"] == {"query": "log-mel", "key": "log-mel"}


def test_collapse_report_prints_every_stage_on_validation_and_draws_it(runs, capsys, tmp_path):
    report = visualize.main([str(runs / "va"), "--collapse-report"])
    assert report == 0
    out = capsys.readouterr().out
    assert "collapse report, validation split (30 clips)" in out
    assert "decoder.2 cross_attn" in out and "frame probabilities" in out
    picture_path = runs / "va" / "collapse-validation.png"
    assert out.strip().splitlines()[-1] == str(picture_path)
    assert Image.open(picture_path).size == (720, 400)
    assert visualize.main([str(runs / "va"), "--collapse-report", "--split", "test", "--out",
                           str(tmp_path / "c.png")]) == 0
    assert "test split (40 clips)" in capsys.readouterr().out and (tmp_path / "c.png").is_file()


def test_collapse_report_of_a_missing_split_is_one_line(runs, capsys):
    assert visualize.main([str(runs / "va"), "--collapse-report", "--split", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err
