"""python -m avt_np.visualize: attention pictures and the sync report on tiny real runs."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from avt_np import train, visualize
from avt_np.data import synthetic
from avt_np.data.format import DatasetWriter

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
    assert image.size[0] == visualize.LEFT + T_k * visualize.CELL + visualize.RIGHT
    assert len(layout["heads"]) == H
    pixels = np.asarray(image)
    for left, top, right, bottom in layout["heads"]:
        assert bottom - top == visualize.HEAD_ROW
        assert (pixels[top:bottom, left:right] != 255).any(axis=-1).mean() > 0.9   # coloured
    marker = layout["query_marker"]
    assert marker[0] == visualize.LEFT + 4 * visualize.CELL
    assert tuple(pixels[marker[1] + 1, marker[0] + 1]) == visualize.RED
    assert len(layout["truth"]) >= 1                            # the clip's labelled classes


def test_all_queries_draws_the_full_matrix_per_head(runs):
    run = visualize.load(runs / "va")
    view = visualize.clip_view(run, "test", "test-00005")
    image, layout = visualize.render(view, block=0, all_queries=True)
    assert len(layout["heads"]) == 3
    assert all(b - t == 10 * visualize.HEAD_ROW for _, t, _, b in layout["heads"])
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
    assert view.query_present is None and visualize.query_frame_share(view, -1, 0) is None
    _, layout = visualize.render(view)
    assert layout["truth"] == []
    visualize.main([str(runs / "va"), "--data", str(runs / "no_truth"), "--split", "validation",
                    "--sync-report"])
    assert "skipped" in capsys.readouterr().out


@pytest.mark.parametrize("flags, named", [
    (["--clip", "999"], "--clip"),
    (["--clip", "no-such-clip"], "--clip"),
    (["--query-frame", "10"], "--query-frame"),
    (["--block", "3"], "--block"),
    (["--split", "dev"], "--split"),
    (["--out", "picture.jpg"], "--out"),
])
def test_bad_input_is_one_line_naming_the_argument_with_exit_code_2(runs, capsys, flags, named):
    with pytest.raises(SystemExit) as exit_:
        visualize.main([str(runs / "va"), *flags])
    assert exit_.value.code == 2
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
