"""`python -m avt_np.features` end to end: generated clips (wav + mp4) and stand-in weights ->
a data set that open_dataset accepts and `python -m avt_np.train --data` trains on."""

import os
import subprocess
import sys

import numpy as np
import pytest

from avt_np.data.format import open_dataset
from avt_np.features import audio as audio_fe
from avt_np.features.__main__ import main
from avt_np.features.labels import DCASE2017_CLASSES
from tests.features.conftest import SR, needs_ffmpeg, write_mp4, write_wav

# clip id, split, labels, audio seconds, video seconds
CLIPS = [
    ("aaa_0.000_10.000", "train", ["Car", "Bus"], 10.0, 10.0),
    ("bbb_10.000_20.000", "train", ["Train horn"], 4.0, 2.5),
    ("ccc_0.000_10.000", "train", ["Car"], 3.0, 3.0),
    ("ddd_30.000_40.000", "validation", ["Bus"], 3.0, 3.0),
    ("eee_0.000_10.000", "test", ["Train horn", "Car"], 2.0, 2.0),
]


def label_rows(split):
    return "".join(f"{cid}.wav\t0.000\t10.000\t{name}\n"
                   for cid, s, names, _, _ in CLIPS if s == split for name in names)


@pytest.fixture
def labelled(tmp_path):
    """tmp_path with clips/ holding one wav per clip (plus a stray file) and the label CSVs."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for i, (cid, _, _, a, _) in enumerate(CLIPS):
        write_wav(clips / f"{cid}.wav", a, 200.0 + 300 * i)
    (clips / "readme.txt").write_text("not a clip")
    for split in ("train", "validation", "test"):
        (tmp_path / f"{split}.csv").write_text(label_rows(split))
    return tmp_path


@pytest.fixture
def folder(labelled):
    """labelled plus an mp4 per clip (solid frames coloured by their index)."""
    for cid, _, _, _, v in CLIPS:
        write_mp4(labelled / "clips" / f"{cid}.mp4", v)
    return labelled


def flags(folder, out="data"):
    return ["--clips", str(folder / "clips"), "--labels", f"train={folder / 'train.csv'}",
            "--labels", f"validation={folder / 'validation.csv'}",
            "--labels", f"test={folder / 'test.csv'}", "--out", str(folder / out)]


def run(args, cwd, env_weights):
    env = dict(os.environ, AVT_NP_WEIGHTS=str(env_weights))
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@needs_ffmpeg
def test_generated_clips_become_a_data_set_the_training_cli_accepts(folder, weights, capsys):
    done = run(["avt_np.features", *flags(folder)], folder, weights)
    assert done.returncode == 0, done.stderr
    data = open_dataset(folder / "data", classes=DCASE2017_CLASSES)
    assert data.has_video and data.frames == 10
    assert [len(data[s]) for s in ("train", "validation", "test")] == [3, 1, 1]
    train = data["train"]
    assert train.clip_ids == ["aaa_0.000_10.000", "bbb_10.000_20.000", "ccc_0.000_10.000"]
    # bbb: 4 audio examples but video frames only at 0.48, 1.44, 2.40 s -> 3 real frames
    np.testing.assert_array_equal(train.lengths, [10, 3, 3])
    np.testing.assert_array_equal(np.flatnonzero(train.labels[0]),
                                  sorted(DCASE2017_CLASSES.index(c) for c in ("Car", "Bus")))
    b = train.batch(np.arange(3))
    assert (b["video"][1, 3:] == 0).all() and (b["audio"][1, 3:] == 0).all()
    assert (np.abs(b["video"][:, :3]).sum(-1) > 0).all()
    prov = data.meta["provenance"]
    assert prov["source"] == str((folder / "clips").resolve())
    assert prov["vggish_sha256"] and prov["vgg16_output"] == "vgg0_dense1_relu_fwd"
    assert prov["avt_np_version"] and prov["written_at"]
    # log-mel by default for validation and test only, zero past the clip's length
    assert train.log_mel is None and prov["log_mel_splits"] == ["validation", "test"]
    ddd = data["validation"]
    assert ddd.lengths[0] == 3 and (ddd.log_mel[0, 3:] == 0).all()
    np.testing.assert_array_equal(ddd.log_mel[0, :3],
                                  front_end_log_mel(folder / "clips" / f"{CLIPS[3][0]}.wav"))

    trained = run(["avt_np.train", "--data", str(folder / "data"), "--epochs", "1",
                   "--batches-per-epoch", "2", "--out", str(folder / "run")], folder, weights)
    assert trained.returncode == 0, trained.stderr
    assert (folder / "run" / "metrics.json").is_file()

    # the same command again, with --overwrite: every clip comes from the work dir
    assert main([*flags(folder), "--overwrite"]) == 0
    assert "5 clips already done" in capsys.readouterr().err


def front_end_log_mel(wav):
    """The float16 log-mel examples the front end makes of a wav file."""
    return audio_fe.waveform_to_examples(*audio_fe.read_audio(wav)).astype(np.float16)


def test_audio_only_extraction_needs_no_video(labelled, weights):
    assert main([*flags(labelled), "--audio-only", "--frames", "4"]) == 0
    data = open_dataset(labelled / "data")
    assert not data.has_video and data.frames == 4
    np.testing.assert_array_equal(data["train"].lengths, [4, 4, 3])
    assert data["train"].log_mel is None                       # default: validation,test
    for split, (cid, *_) in (("validation", CLIPS[3]), ("test", CLIPS[4])):
        log_mel, n = data[split].log_mel, data[split].lengths[0]
        assert log_mel.shape == (1, 4, 96, 64) and (log_mel[0, n:] == 0).all()
        np.testing.assert_array_equal(log_mel[0, :n],
                                      front_end_log_mel(labelled / "clips" / f"{cid}.wav")[:n])


def test_provenance_notes_only_clips_that_were_extracted(labelled, weights):
    import soundfile
    soundfile.write(labelled / "clips" / "quiet_0.000_10.000.wav", np.zeros(SR * 3, np.int16), SR)
    soundfile.write(labelled / "clips" / "short_0.000_10.000.wav", np.zeros(SR // 2, np.int16), SR)
    with open(labelled / "train.csv", "a") as f:
        f.write("quiet_0.000_10.000.wav\t0\t10\tCar\nshort_0.000_10.000.wav\t0\t10\tCar\n")
    assert main([*flags(labelled), "--audio-only"]) == 0
    prov = open_dataset(labelled / "data").meta["provenance"]
    assert list(prov["notes"]) == ["quiet_0.000_10.000"]
    assert "silence" in prov["notes"]["quiet_0.000_10.000"]
    assert "shorter than one VGGish example" in prov["skipped"]["short_0.000_10.000"]


def test_log_mel_flag_chooses_the_splits_or_none(labelled, weights, capsys):
    assert main([*flags(labelled), "--audio-only", "--log-mel", "train"]) == 0
    data = open_dataset(labelled / "data")
    assert data["train"].log_mel.shape == (3, 10, 96, 64)
    assert data["validation"].log_mel is None and data["test"].log_mel is None
    assert main([*flags(labelled, "data2"), "--audio-only", "--log-mel", "none",
                 "--work-dir", str(labelled / "data.work")]) == 0
    data = open_dataset(labelled / "data2")
    assert all(data[s].log_mel is None for s in ("train", "validation", "test"))
    assert "clips already done" in capsys.readouterr().err    # the same work dir serves both


def exit_code(argv):
    """main(argv)'s exit code, whether it returns it or argparse raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def error_line(capsys):
    """The run's one error line (progress lines before it are fine)."""
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize("extra, message", [
    (["--frames", "0"], "--frames must be at least 1"),
    (["--labels", "nowhere.csv"], "--labels nowhere.csv: no such file"),
    (["--classes", "nowhere.txt"], "--classes nowhere.txt: no such file"),
    (["--frames", "ten"], "invalid int value"),
    (["--vgg16-preprocess", "keras"], "invalid choice"),
    (["--clips"], "expected one argument"),
    (["--log-mel", "valid"], "--log-mel valid: expected a comma list of train, validation, "
                             "test, or none"),
])
def test_bad_input_is_one_line_and_exit_code_2(labelled, weights, capsys, extra, message):
    assert exit_code([*flags(labelled), "--audio-only", *extra]) == 2
    assert message in error_line(capsys)


def test_missing_weights_name_the_fetch_command(labelled, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(tmp_path / "empty"))
    assert exit_code([*flags(labelled), "--audio-only"]) == 2
    assert "python -m avt_np.weights fetch vggish" in error_line(capsys)


def test_existing_output_and_unlabelled_folders_are_refused(labelled, weights, capsys):
    (labelled / "data").mkdir()
    assert exit_code(flags(labelled)) == 2
    assert "already exists; pass --overwrite" in error_line(capsys)
    (labelled / "other.csv").write_text("zzz.wav\t0\t10\tCar\n")
    assert exit_code(["--clips", str(labelled / "clips"), "--labels", str(labelled / "other.csv"),
                      "--out", str(labelled / "d2"), "--audio-only"]) == 2
    assert "no clip file matches a labelled clip id" in error_line(capsys)


def test_a_split_without_clips_is_refused_before_extracting(labelled, weights, capsys):
    no_test = flags(labelled)[:-4] + ["--out", str(labelled / "data")]    # no --labels test=
    assert exit_code([*no_test, "--audio-only"]) == 2
    assert "the test split has no clip: pass --labels test=CSV" in error_line(capsys)
    (labelled / "other.csv").write_text("zzz.wav\t0\t10\tCar\n")
    assert exit_code([*no_test, "--labels", f"test={labelled / 'other.csv'}", "--audio-only"]) == 2
    line = error_line(capsys)
    assert "the test split has no clip" in line and f"--labels test={labelled / 'other.csv'}" in line
    assert not (labelled / "data.work").exists() and not (labelled / "data").exists()


def test_bad_label_file_names_its_line(labelled, weights, capsys):
    (labelled / "train.csv").write_text("aaa_0.000_10.000.wav\t0\t10\tDog\n")
    assert exit_code([*flags(labelled), "--audio-only"]) == 2
    assert "train.csv:1: unknown class 'Dog'" in error_line(capsys)


def test_frames_folder_and_wav_files_need_no_ffmpeg(labelled, weights, monkeypatch):
    from PIL import Image
    monkeypatch.setattr("shutil.which", lambda name: None)          # no ffmpeg, no ffprobe
    for cid, _, _, _, v in CLIPS:
        (labelled / "frames" / cid).mkdir(parents=True)
        for k in range(int(v / 0.96 + 0.5)):
            Image.new("RGB", (320, 240), (20 * k, 60, 90)).save(
                labelled / "frames" / cid / f"{0.48 + 0.96 * k:.2f}.jpg")
    assert main([*flags(labelled), "--frames-dir", str(labelled / "frames")]) == 0
    data = open_dataset(labelled / "data")
    assert data.has_video
    np.testing.assert_array_equal(data["train"].lengths, [10, 3, 3])   # bbb: 2.5 s of images
    assert data.meta["provenance"]["frames_dir"] == str(labelled / "frames")


def test_a_labelled_clip_without_a_file_is_counted_and_listed_in_not_found_csv(labelled,
                                                                                weights, capsys):
    with open(labelled / "train.csv", "a") as f:
        f.write("missing_0.000_10.000\t0.000\t10.000\tCar\n")
    short = labelled / "clips" / "short_0.000_10.000.wav"
    write_wav(short, 0.5)
    with open(labelled / "test.csv", "a") as f:
        f.write("short_0.000_10.000.wav\t0.000\t10.000\tBus\n")
    assert main([*flags(labelled), "--audio-only"]) == 0
    err = capsys.readouterr().err
    assert "labels: 1 labelled clip with no file in --clips" in err
    assert "(e.g. missing_0.000_10.000)" in err and "not_found.csv" in err
    rows = (labelled / "data" / "not_found.csv").read_text().splitlines()
    assert rows[0] == "split,clip_id,reason"
    assert rows[1] == "train,missing_0.000_10.000,no file in --clips"
    assert rows[2].startswith("test,short_0.000_10.000,") and "shorter than one" in rows[2]
    assert len(rows) == 3
    prov = open_dataset(labelled / "data").meta["provenance"]
    assert prov["no_file"] == 1 and prov["not_found"] == {"train": 1, "validation": 0, "test": 1}


def test_the_summary_names_the_log_only_when_a_clip_was_skipped(labelled, weights, capsys):
    assert main([*flags(labelled), "--audio-only"]) == 0
    err = capsys.readouterr().err
    summary = err.strip().splitlines()[-1]
    assert summary.startswith("wrote ") and "skipped" not in summary and "errors.log" not in summary
    assert "(1 clip)" in err and "(1 clips)" not in err                  # validation, test
    assert "not_found.csv" not in err                                   # nothing to list
    assert (labelled / "data" / "not_found.csv").read_text() == "split,clip_id,reason\n"
    prov = open_dataset(labelled / "data").meta["provenance"]
    assert prov["command"] == ("python -m avt_np.features " + " ".join(flags(labelled))
                               + " --audio-only")
    write_wav(labelled / "clips" / "short_0.000_10.000.wav", 0.5)
    with open(labelled / "train.csv", "a") as f:
        f.write("short_0.000_10.000.wav\t0.000\t10.000\tBus\n")
    assert main([*flags(labelled, "data2"), "--audio-only", "--work-dir",
                 str(labelled / "data.work")]) == 0
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"1 skipped (see {labelled / 'data.work' / 'errors.log'})" in summary


def test_the_batch_size_does_not_change_the_data_set(labelled, weights):
    assert main([*flags(labelled, "one"), "--audio-only", "--dtype", "float32", "--batch", "1",
                 "--prefetch", "0"]) == 0
    assert main([*flags(labelled, "many"), "--audio-only", "--dtype", "float32", "--batch",
                 "40", "--prefetch", "2"]) == 0
    one, many = open_dataset(labelled / "one"), open_dataset(labelled / "many")
    for split in ("train", "validation", "test"):
        a, b = one[split], many[split]
        assert a.clip_ids == b.clip_ids
        np.testing.assert_array_equal(a.lengths, b.lengths)
        idx = np.arange(len(a))
        np.testing.assert_allclose(b.batch(idx)["audio"], a.batch(idx)["audio"], rtol=1e-5,
                                   atol=1e-6)
    assert many.meta["provenance"]["batch"] == 40


@pytest.mark.parametrize("extra, message", [
    (["--batch", "0"], "--batch must be at least 1, got 0"),
    (["--prefetch", "-1"], "--prefetch must be at least 0, got -1"),
])
def test_bad_batch_flags_are_one_line_and_exit_code_2(labelled, weights, capsys, extra, message):
    assert exit_code([*flags(labelled), "--audio-only", *extra]) == 2
    assert message in error_line(capsys)


def test_dask_without_dask_installed_names_the_requirements_file(labelled, weights, capsys,
                                                                  monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)            # import fails
    assert exit_code([*flags(labelled), "--audio-only", "--dask", "tcp://127.0.0.1:1"]) == 2
    line = error_line(capsys)
    assert "requirements-scaleout.txt" in line
    assert not (labelled / "data.work").exists()
