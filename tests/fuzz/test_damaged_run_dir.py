"""One case per defect the fuzz suite found in the readers of a run directory (each failed
before its fix): a one-line error naming the file, or the work done anyway, never a traceback."""

import json
import shutil

import numpy as np

from avt_np import evaluate, train
from avt_np.io import read_npz, write_npz
from avt_np.visualize import command as visualize
from tests.fuzz.harness import run_in_process


def copy(run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out


def one_error_line(result, *expected):
    code, stdout, stderr, escaped, caught = result
    assert escaped is None, escaped
    assert code == 2, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in stderr
    for text in expected:
        assert text in last, last
    return last


def test_evaluate_of_a_cut_emptied_or_byte_flipped_metrics_json_is_one_line(
        finished_run, tmp_path):
    run = copy(finished_run, tmp_path)
    good = (run / "metrics.json").read_bytes()
    for damaged in (good[:len(good) // 2], b"", good[:40] + b"\x93" + good[41:]):
        (run / "metrics.json").write_bytes(damaged)
        one_error_line(run_in_process(evaluate.main, [str(run)], 60), "metrics.json",
                       "--resume")


def test_resume_of_a_finished_run_with_damaged_metrics_or_config_is_one_line(
        finished_run, tmp_path):
    run = copy(finished_run, tmp_path)
    (run / "metrics.json").write_bytes(b"\xff")
    one_error_line(run_in_process(train.main, ["--out", str(run), "--resume"], 60),
                   "metrics.json", "not UTF-8")
    (run / "config.json").write_text('{"settings": {"epochs": "3"}}')
    one_error_line(run_in_process(train.main, ["--out", str(run), "--resume"], 60),
                   "config.json", "settings.epochs")


def test_a_model_size_nan_or_missing_or_a_data_path_of_another_type_in_config_is_one_line(
        finished_run, tmp_path):
    run = copy(finished_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["model"]["dims"]["audio"] = float("nan")
    (run / "config.json").write_text(json.dumps(config))
    one_error_line(run_in_process(evaluate.main, [str(run)], 60), "config.json", "dims.audio")
    del config["model"]["dims"]["audio"]                         # the modality it reads
    (run / "config.json").write_text(json.dumps(config))
    one_error_line(run_in_process(evaluate.main, [str(run)], 60), "config.json", "no width")
    config["model"]["dims"]["audio"] = 128
    config["data"] = {"a": 1}
    (run / "config.json").write_text(json.dumps(config))
    one_error_line(run_in_process(visualize.main, [str(run)], 60), "config.json", "data")


def test_a_snapshot_holding_nan_or_complex_numbers_is_refused_not_scored(finished_run, tmp_path):
    run = copy(finished_run, tmp_path)
    path = run / "checkpoints" / "epoch_001.npz"
    state = read_npz(path)
    name = sorted(state)[0]
    state[name] = np.full_like(state[name], np.nan)
    write_npz(path, state)
    one_error_line(run_in_process(evaluate.main, [str(run)], 60), "epoch_001.npz", "NaN")
    state[name] = state[name].astype(np.complex64)
    write_npz(path, state)
    one_error_line(run_in_process(evaluate.main, [str(run)], 60), "epoch_001.npz", "complex")


def test_resume_with_a_damaged_last_checkpoint_says_how_to_resume_from_the_one_before(
        stopped_run, tmp_path):
    run = copy(stopped_run, tmp_path)
    last, previous = run / "checkpoints" / "last.npz", run / "checkpoints" / "previous.npz"
    last.write_bytes(last.read_bytes()[:1000])
    line = one_error_line(run_in_process(train.main, ["--out", str(run), "--resume"], 60),
                          "last.npz", f"mv {previous} {last}")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "epoch_001.npz", "epoch_002.npz", "last.npz", "previous.npz"], line   # nothing deleted
    previous.rename(last)                                   # what the message says to do
    code, stdout, stderr, escaped, _ = run_in_process(
        train.main, ["--out", str(run), "--resume"], 120)
    assert code == 0 and escaped is None, stderr
    assert "resuming" in stderr and "after epoch 1" in stderr
    assert json.loads((run / "metrics.json").read_text())["epochs_trained"] == 3


def test_resume_without_last_checkpoint_says_how_to_resume_from_the_one_before(
        stopped_run, tmp_path):
    run = copy(stopped_run, tmp_path)
    last = run / "checkpoints" / "last.npz"
    last.unlink()
    before = (run / "checkpoints" / "epoch_002.npz").read_bytes()
    one_error_line(run_in_process(train.main, ["--out", str(run), "--resume"], 60),
                   "last.npz: missing", f"mv {last.with_name('previous.npz')} {last}")
    assert (run / "checkpoints" / "epoch_002.npz").read_bytes() == before   # not trained over


def test_a_damaged_sync_entry_in_metrics_json_is_computed_again(finished_run, tmp_path):
    run = copy(finished_run, tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["sync"] = {"split": "test", "epoch": 2, "clips": 3, "pairs": 1, "blocks": [[]]}
    (run / "metrics.json").write_text(json.dumps(metrics))
    code, stdout, stderr, escaped, _ = run_in_process(
        visualize.main, [str(run), "--sync-report"], 60)
    assert escaped is None and code == 0, stderr
    assert "damaged; computing the score again" in stderr
    assert stdout.startswith("synchronization score skipped (test split)")   # audio/audio run
