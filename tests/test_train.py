"""python -m avt_np.train and python -m avt_np.evaluate: a short real run, resume, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from avt_np import train
from avt_np.data import synthetic
from avt_np.data.format import open_dataset
from avt_np.data.writer import DatasetWriter
from avt_np.io import read_npz

SHORT = ["--epochs", "3", "--batches-per-epoch", "3", "--batch-size", "8", "--ensemble", "2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small embedded set (120/30/40 clips) that --data accepts like any data set."""
    path = tmp_path_factory.mktemp("data") / "embedded"
    sizes = {"train": 120, "validation": 30, "test": 40}
    synthetic.generate(path, seed=1, recipe=synthetic.Recipe(sizes=sizes), progress=False)
    return str(path)


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd)


def test_a_short_run_writes_every_file_and_evaluate_reproduces_its_score(tmp_path, data):
    out = tmp_path / "run"
    done = cli("avt_np.train", "--data", data, *SHORT, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("test micro-F1 ")
    assert "run: batch 9/9 epoch 3/3" in done.stderr               # progress on stderr, with
    assert "ETA <= " in done.stderr and "scoring: model 3/3" in done.stderr   # the run's ETA
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["checkpoints/epoch_002.npz", "checkpoints/epoch_003.npz",
                     "checkpoints/last.npz", "checkpoints/previous.npz", "config.json",
                     "curves.png", "log.csv",
                     "metrics.json"]                                 # ensemble window of 2 kept
    log = (out / "log.csv").read_text().splitlines()
    assert log[0] == "epoch,train_loss,val_loss,val_micro_f1,seconds" and len(log) == 4
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ensemble_epochs"] == [2, 3] and metrics["epochs_trained"] == 3
    assert 0.0 <= metrics["test_micro_f1"] <= 1.0 and len(metrics["per_class"]) == 17
    assert Image.open(out / "curves.png").size[0] > 0
    again = cli("avt_np.evaluate", str(out))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["test_micro_f1"] == metrics["test_micro_f1"]


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_result(tmp_path, data, monkeypatch):
    common = ["--data", data, *SHORT, "--first", "audio", "--second", "video", "--pos-enc",
              "audio,video", "--pooling", "max"]
    straight = train.run(common + ["--out", str(tmp_path / "straight")])

    real_epoch = train.train_epoch

    def killed_in_epoch_3(steps, sampler, epoch, *rest):
        if epoch == 3:
            raise KeyboardInterrupt
        return real_epoch(steps, sampler, epoch, *rest)

    monkeypatch.setattr(train, "train_epoch", killed_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train.run(common + ["--out", str(tmp_path / "killed")])
    assert not (tmp_path / "killed" / "metrics.json").exists()
    monkeypatch.setattr(train, "train_epoch", real_epoch)
    resumed = train.run(["--out", str(tmp_path / "killed"), "--resume"])

    assert resumed["test_micro_f1"] == straight["test_micro_f1"]
    assert resumed["val_micro_f1"] == straight["val_micro_f1"]
    a = read_npz(tmp_path / "straight" / "checkpoints" / "last.npz")
    b = read_npz(tmp_path / "killed" / "checkpoints" / "last.npz")
    assert a.keys() == b.keys()
    for key in a.keys() - {"history"}:                 # parameters and Adam state, bit for bit
        np.testing.assert_array_equal(a[key], b[key])
    untimed = lambda h: [{k: v for k, v in row.items() if k != "seconds"}   # noqa: E731
                         for row in json.loads(str(h))]
    assert untimed(a["history"]) == untimed(b["history"])


@pytest.fixture(scope="module")
def audio_only(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("audio") / "set"
    source = synthetic.open_embedded(data)
    with DatasetWriter(path, source.classes, {"audio": 128}) as writer:
        for name in ("train", "validation", "test"):
            split = source[name]
            idx = np.arange(len(split))
            writer.append(name, audio=split.batch(idx)["audio"], labels=split.labels,
                          clip_ids=split.clip_ids)
    return str(path)


def test_audio_only_data_trains_an_audio_model_without_naming_positional_encodings(
        tmp_path, audio_only):
    done = cli("avt_np.train", "--data", audio_only, "--first", "audio", "--second", "audio",
               "--epochs", "1", "--batches-per-epoch", "2", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["settings"]["pos_enc"] == "none" and config["model"]["pos_enc"] == []
    assert "other classes" not in done.stderr


def test_positional_encodings_asked_for_on_audio_are_kept(tmp_path, audio_only):
    done = cli("avt_np.train", "--data", audio_only, "--first", "audio", "--second", "audio",
               "--pos-enc", "audio", "--epochs", "1", "--batches-per-epoch", "1",
               "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["pos_enc"] == ["audio"]


def test_a_data_set_with_other_classes_trains_with_a_note(tmp_path, audio_only):
    source = open_dataset(audio_only)
    renamed = ["Lorry" if c == "Truck" else c for c in source.classes]
    path = tmp_path / "renamed"
    with DatasetWriter(path, renamed, {"audio": 128}) as writer:
        for name in ("train", "validation", "test"):
            split = source[name]
            writer.append(name, audio=split.batch(np.arange(len(split)))["audio"],
                          labels=split.labels, clip_ids=split.clip_ids)
    done = cli("avt_np.train", "--data", str(path), "--first", "audio", "--second", "audio",
               "--epochs", "1", "--batches-per-epoch", "1", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert "other classes than DCASE 2017 Task 4's 17" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["--pooling", "median"], "--pooling median"),
    (["--attention", "relu"], "--attention relu"),
    (["--first", "text"], "--first text"),
    (["--pos-enc", "audio,smell"], "--pos-enc audio,smell"),
    (["--epochs", "0"], "--epochs 0: must be at least 1"),
    (["--cores", "3"], "--cores 3: expected 1 or 2"),
    (["--epochs", "three"], "--epochs"),
    (["--bogus"], "--bogus"),
    (["--resume"], "--resume needs --out"),
    (["--data", "/no/such/dir"], "/no/such/dir: not a directory"),
])
def test_bad_flags_give_one_line_and_exit_code_2(tmp_path, args, message):
    done = cli("avt_np.train", *args, "--epochs", "1", cwd=tmp_path) if "--epochs" not in args \
        else cli("avt_np.train", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()


def test_bad_data_for_the_model_and_conflicting_resume_give_one_line(tmp_path, data, audio_only):
    video = cli("avt_np.train", "--data", audio_only, "--out", str(tmp_path / "v"))
    assert video.returncode == 2 and "has no video" in video.stderr
    assert video.stderr.count("\n") == 1

    out = str(tmp_path / "run")
    first = cli("avt_np.train", "--data", data, "--epochs", "1", "--batches-per-epoch", "1",
                "--out", out)
    assert first.returncode == 0, first.stderr
    assert "note: --ensemble 7 but only 1 epoch(s) were trained" in first.stderr  # said aloud
    again = cli("avt_np.train", "--data", data, "--out", out)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    conflict = cli("avt_np.train", "--out", out, "--resume", "--pooling", "max")
    assert conflict.returncode == 2 and "--pooling max" in conflict.stderr
    finished = cli("avt_np.train", "--out", out, "--resume")
    assert finished.returncode == 0 and "already finished" in finished.stdout
    # a run saved before --cores existed was trained in one process: it resumes with --cores 1
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["settings"]["cores"] == 2
    del config["settings"]["cores"]
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    older = cli("avt_np.train", "--out", out, "--resume", "--cores", "2")
    assert older.returncode == 2 and "--cores 2: the run in" in older.stderr \
        and "was started with 1" in older.stderr


def test_truncated_checkpoints_give_one_line_in_evaluate_and_resume(tmp_path, data):
    out = tmp_path / "run"
    assert cli("avt_np.train", "--data", data, "--epochs", "2", "--batches-per-epoch", "1",
               "--batch-size", "8", "--ensemble", "1", "--out", str(out)).returncode == 0
    snapshot, last = out / "checkpoints" / "epoch_002.npz", out / "checkpoints" / "last.npz"
    snapshot.write_bytes(snapshot.read_bytes()[:5000])
    scored = cli("avt_np.evaluate", str(out))
    assert scored.returncode == 2 and scored.stderr.count("\n") == 1, scored.stderr
    assert f"{snapshot}: unreadable .npz file" in scored.stderr

    (out / "metrics.json").unlink()                       # as if killed before the end
    last.write_bytes(b"")
    resumed = cli("avt_np.train", "--out", str(out), "--resume")
    errors = [line for line in resumed.stderr.splitlines() if line.startswith("error:")]
    assert resumed.returncode == 2 and len(errors) == 1, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert f"{last}: unreadable .npz file" in resumed.stderr
    assert f"mv {last.with_name('previous.npz')} {last}" in resumed.stderr   # the epoch before


def test_without_data_the_first_run_builds_the_default_set_and_the_next_reuses_it(tmp_path):
    env = dict(os.environ, AVT_NP_CACHE=str(tmp_path / "cache"))      # a fresh machine's cache
    tiny = ["--epochs", "1", "--batches-per-epoch", "1", "--batch-size", "4", "--ensemble", "1"]
    runs = [subprocess.run([sys.executable, "-m", "avt_np.train", *tiny, "--out",
                            str(tmp_path / name)], capture_output=True, text=True, env=env)
            for name in ("first", "second")]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr + runs[1].stderr
    assert "building the embedded default data set" in runs[0].stderr
    assert "building" not in runs[1].stderr
    assert len(list((tmp_path / "cache").iterdir())) == 1
    for name in ("first", "second"):
        assert json.loads((tmp_path / name / "config.json").read_text())["data"] == "embedded"


def test_a_loss_that_turns_nan_stops_the_run_with_one_line(tmp_path, data, monkeypatch, capsys):
    from avt_np import training_step
    calls = {"n": 0}
    real_half_step = training_step.half_step

    def nan_at_step_5(*args):
        calls["n"] += 1
        loss = real_half_step(*args)
        return float("nan") if calls["n"] == 5 else loss

    monkeypatch.setattr(training_step, "half_step", nan_at_step_5)
    out = tmp_path / "run"
    code = train.main(["--data", data, *SHORT, "--cores", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    line = [x for x in err.splitlines() if x.startswith("FAIL: ")]
    assert line == [line[0]] and "the training loss is nan at epoch 2, step 2 of 3" in line[0]
    assert "epochs 1-1 are kept" in line[0] and "--seed" in line[0]
    assert "Traceback" not in err and not (out / "metrics.json").exists()
    assert (out / "checkpoints" / "epoch_001.npz").is_file()
    assert not (out / "checkpoints" / "epoch_002.npz").exists()


def test_preset_detection_sets_its_flags_a_given_flag_wins_and_config_json_keeps_them(
        tmp_path, data, capsys):
    out = tmp_path / "run"
    train.main(["--data", data, *SHORT[:2], "--batches-per-epoch", "1", "--batch-size", "8",
                "--ensemble", "1", "--preset", "detection", "--pooling", "attention",
                "--out", str(out)])
    err = capsys.readouterr().err
    assert "--preset detection: --frame-skip on --self-window 1" in err   # not --pooling: given
    assert "attention pooling" in err and "frame skip" in err
    config = json.loads((out / "config.json").read_text())
    assert config["preset"] == "detection"
    assert config["settings"]["pooling"] == "attention" and config["settings"]["frame_skip"] == "on"
    assert config["model"]["frame_skip"] is True and config["model"]["pooling"] == "attention"


def test_preset_detection_alone_is_linear_softmax_pooling_and_the_frame_skip():
    args = train.build_parser().parse_args(["--preset", "detection"])
    train.apply_preset(args)
    assert (args.pooling, args.frame_skip, args.self_window) == ("linear-softmax", "on", "1")
    assert args.cross_window is None


@pytest.mark.parametrize("flags, message", [
    (["--self-window", "-1"], "--self-window -1: expected all or a number of frames >= 0"),
    (["--cross-window", "two"], "--cross-window two: expected all or a number"),
    (["--frame-skip", "yes"], "--frame-skip yes: expected on or off"),
    (["--pooling", "median"], "--pooling median: expected mean or max or linear-softmax or "
                              "attention"),
    (["--preset", "fast"], "invalid choice: 'fast'")])
def test_bad_time_options_are_one_line(tmp_path, flags, message, capsys):
    assert train.main([*flags, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_windows_reach_the_model_config(tmp_path, data):
    out = tmp_path / "run"
    train.main(["--data", data, "--epochs", "1", "--batches-per-epoch", "1", "--batch-size", "8",
                "--ensemble", "1", "--self-window", "1", "--cross-window", "0", "--out",
                str(out)])
    model = json.loads((out / "config.json").read_text())["model"]
    assert (model["self_window"], model["cross_window"], model["frame_skip"]) == (1, 0, False)
