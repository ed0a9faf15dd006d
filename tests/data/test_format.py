"""The on-disk data set format: round trip, atomic writing, and every validation error."""

import json
import subprocess
import sys

import numpy as np
import pytest

from avt_np.data.format import DataError, open_dataset
from avt_np.data.writer import DatasetWriter
from avt_np.data.npy_appender import NpyAppender

CLASSES = ["siren", "car", "horn"]
DIMS = {"audio": 4, "video": 6}
T = 5


def clips(rng, n):
    labels = np.zeros((n, 3), np.uint8)
    labels[np.arange(n), rng.integers(0, 3, n)] = 1
    audible = np.zeros((n, 3, T), bool)
    audible[:, :, 1] = labels.astype(bool)
    return dict(audio=rng.random((n, T, 4)), video=rng.random((n, T, 6)), labels=labels,
                clip_ids=[f"clip{i}" for i in range(n)], audible=audible, visible=audible.copy())


@pytest.fixture
def written(tmp_path):
    """A data set written in two appends per split; returns (path, what was written)."""
    rng = np.random.default_rng(0)
    path = tmp_path / "ds"
    given = {}
    with DatasetWriter(path, CLASSES, DIMS, frames=T, provenance={"source": "test"}) as writer:
        for split, n in (("train", 7), ("validation", 3), ("test", 4)):
            parts = [clips(rng, n - 2), clips(rng, 2)]
            for part in parts:
                writer.append(split, **part)
            given[split] = {k: (np.concatenate([p[k] for p in parts]) if k != "clip_ids"
                                else parts[0][k] + parts[1][k]) for k in parts[0]}
    return path, given


def test_round_trip_keeps_every_array_and_the_metadata(written):
    path, given = written
    dataset = open_dataset(path, CLASSES)
    assert dataset.classes == CLASSES and dataset.has_video and dataset.frames == T
    assert dataset.meta["provenance"] == {"source": "test"}
    assert dataset.meta["splits"] == {"train": 7, "validation": 3, "test": 4}
    for split, g in given.items():
        s = dataset[split]
        assert len(s) == len(g["labels"]) and s.clip_ids == g["clip_ids"]
        batch = s.batch(np.arange(len(s))[::-1])
        np.testing.assert_array_equal(batch["audio"], g["audio"][::-1].astype(np.float16))
        np.testing.assert_array_equal(batch["video"], g["video"][::-1].astype(np.float16))
        np.testing.assert_array_equal(batch["labels"], g["labels"][::-1])
        np.testing.assert_array_equal(batch["audible"], g["audible"][::-1])
        assert batch["audio"].dtype == np.float32 and batch["labels"].dtype == np.float32
        assert isinstance(s.audio, np.memmap)            # large arrays stay on disk


def test_audio_only_sets_and_lengths_of_padded_clips(tmp_path):
    rng = np.random.default_rng(1)
    with DatasetWriter(tmp_path / "a", CLASSES, {"audio": 4}, frames=T) as writer:
        c = clips(rng, 3)
        writer.append("train", audio=c["audio"], labels=c["labels"], clip_ids=c["clip_ids"],
                      lengths=[5, 2, 1])
    dataset = open_dataset(tmp_path / "a")
    assert not dataset.has_video and dataset["train"].batch([0])["video"] is None
    np.testing.assert_array_equal(dataset["train"].lengths, [5, 2, 1])
    np.testing.assert_array_equal(dataset["train"].batch([2, 0])["lengths"], [1, 5])
    with DatasetWriter(tmp_path / "b", CLASSES, {"audio": 4}, frames=T) as writer:
        with pytest.raises(DataError, match=r"lengths must be \(3,\) in 1\.\."):
            writer.append("train", audio=c["audio"], labels=c["labels"], clip_ids=c["clip_ids"],
                          lengths=[5, 2, 0])                       # no real frame: unscorable
    assert len(dataset["test"]) == 0 and dataset["test"].lengths is None


def log_mel_clips(rng, n):
    return rng.normal(-2.0, 3.0, (n, T, 96, 64))                  # log-mel values, float64


def test_log_mel_round_trips_as_float16_memmap_for_the_splits_given_it(tmp_path):
    rng = np.random.default_rng(2)
    given = [log_mel_clips(rng, 2), log_mel_clips(rng, 1)]
    with DatasetWriter(tmp_path / "m", CLASSES, {"audio": 4}, frames=T) as writer:
        for part in given:                                         # two appends to one split
            c = clips(rng, len(part))
            writer.append("test", audio=c["audio"], labels=c["labels"], clip_ids=c["clip_ids"],
                          log_mel=part)
        c = clips(rng, 2)
        writer.append("train", audio=c["audio"], labels=c["labels"], clip_ids=c["clip_ids"])
    dataset = open_dataset(tmp_path / "m")
    log_mel = dataset["test"].log_mel
    assert isinstance(log_mel, np.memmap) and log_mel.dtype == np.float16
    assert log_mel.shape == (3, T, 96, 64)
    np.testing.assert_array_equal(log_mel, np.concatenate(given).astype(np.float16))
    assert dataset["train"].log_mel is None and dataset["validation"].log_mel is None


@pytest.mark.parametrize("log_mel, message", [
    (np.zeros((2, T, 64, 96)), r"log_mel of shape \(2, 5, 64, 96\), expected \(2, 5, 96, 64\)"),
    (np.zeros((2, T - 1, 96, 64)), r"log_mel of shape \(2, 4, 96, 64\)"),
    (np.where(np.arange(2)[:, None, None, None] == 1, np.nan, np.zeros((2, T, 96, 64))),
     "log_mel of clip 'clip1' has NaN/inf values as float16"),
])
def test_the_writer_rejects_bad_log_mel(tmp_path, log_mel, message):
    c = clips(np.random.default_rng(0), 2)
    with DatasetWriter(tmp_path / "x", CLASSES, {"audio": 4}, frames=T) as writer:
        with pytest.raises(DataError, match=message) as error:
            writer.append("train", audio=c["audio"], labels=c["labels"], clip_ids=c["clip_ids"],
                          log_mel=log_mel)
        assert "\n" not in str(error.value)


def test_log_mel_for_some_appends_of_a_split_and_not_others_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / "x", CLASSES, {"audio": 4}, frames=T) as writer:
        c = clips(rng, 1)
        writer.append("train", audio=c["audio"], labels=c["labels"], clip_ids=c["clip_ids"],
                      log_mel=log_mel_clips(rng, 1))
        with pytest.raises(DataError, match="log_mel given for some appends and not others"):
            writer.append("train", audio=c["audio"], labels=c["labels"], clip_ids=c["clip_ids"])


def test_a_failed_write_leaves_nothing_and_an_existing_set_is_not_overwritten(tmp_path, written):
    path, _ = written
    with pytest.raises(DataError, match="already exists"):
        DatasetWriter(path, CLASSES, DIMS, frames=T)
    with pytest.raises(RuntimeError):
        with DatasetWriter(tmp_path / "new", CLASSES, DIMS, frames=T) as writer:
            writer.append("train", **clips(np.random.default_rng(0), 2))
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


@pytest.mark.parametrize("change, message", [
    (dict(audio=np.zeros((2, T, 5))), r"audio of shape \(2, 5, 5\), expected \(2, 5, 4\)"),
    (dict(audio=np.full((2, T, 4), np.nan)), "NaN/inf"),
    (dict(labels=np.full((2, 3), 2)), r"labels must be \(2, 3\) in \{0, 1\}"),
    # finite as float64, inf once stored as float16 (max 65504): caught before it is written
    (dict(audio=np.where(np.arange(2)[:, None, None] == 1, 1e5, np.ones((2, T, 4)))),
     r"audio of clip 'clip1' has NaN/inf values as float16 \(finite float16 lies within "
     r"\+-65504\)"),
    (dict(clip_ids=["a"]), "need 2 clip ids"),
    (dict(visible=None), "give audible and visible together"),
])
def test_the_writer_rejects_bad_clips(tmp_path, change, message):
    part = clips(np.random.default_rng(0), 2)
    part.update(change)
    with DatasetWriter(tmp_path / "x", CLASSES, DIMS, frames=T) as writer:
        with pytest.raises(DataError, match=message):
            writer.append("train", **part)


def save_like(file, array):
    np.save(file, array)


# Each case damages a written data set; the error must be one line naming the file.
CASES = {
    "missing meta": (lambda p: (p / "meta.json").unlink(), "meta.json: missing"),
    "bad json": (lambda p: (p / "meta.json").write_text("{oops"), "meta.json: not valid JSON"),
    "missing key": (lambda p: (p / "meta.json").write_text(json.dumps({"format": "avt_np-dataset"})),
                    "meta.json: missing key"),
    "missing labels": (lambda p: (p / "train" / "labels.npy").unlink(),
                       "train/labels.npy: missing"),
    "missing video": (lambda p: (p / "test" / "video.npy").unlink(), "test/video.npy: missing"),
    "wrong shape": (lambda p: save_like(p / "train" / "audio.npy", np.zeros((7, T, 3), np.float16)),
                    r"train/audio.npy: shape \(7, 5, 3\), expected \(7, 5, 4\)"),
    "wrong clip count": (lambda p: save_like(p / "validation" / "video.npy",
                                             np.zeros((2, T, 6), np.float16)),
                         r"validation/video.npy: shape \(2, 5, 6\), expected \(3, 5, 6\)"),
    "nan": (lambda p: save_like(p / "train" / "audio.npy",
                                np.where(np.arange(7)[:, None, None] == 4, np.nan,
                                         np.ones((7, T, 4))).astype(np.float16)),
            "train/audio.npy: 20 NaN/inf value.*first in clip 4"),
    "inf": (lambda p: save_like(p / "test" / "video.npy",
                                np.full((4, T, 6), np.inf, np.float32)), "test/video.npy: 120 NaN/inf"),
    "non-binary labels": (lambda p: save_like(p / "train" / "labels.npy",
                                              np.full((7, 3), 2, np.uint8)),
                          "train/labels.npy: labels must be 0 or 1, found 2"),
    "truncated": (lambda p: truncate(p / "train" / "video.npy", 100),
                  "train/video.npy: unreadable as .npy"),
    "not npy": (lambda p: (p / "train" / "audio.npy").write_bytes(b"hello"),
                "train/audio.npy: unreadable as .npy"),
    "ids": (lambda p: (p / "test" / "clip_ids.txt").write_text("a\nb\n"),
            "test/clip_ids.txt: 2 ids for 4 clips"),
    "lonely truth": (lambda p: (p / "train" / "visible.npy").unlink(),
                     "has audible.npy but not its partner"),
    "truth without label": (lambda p: save_like(p / "train" / "audible.npy",
                                                np.ones((7, 3, T), bool)),
                            "train/audible.npy: clip 0 has audible frames of class"),
    "count in meta": (lambda p: edit_meta(p, splits={"train": 8, "validation": 3, "test": 4}),
                      "meta.json: says 8 train clips"),
    "frames as text": (lambda p: edit_meta(p, frames="ten"),
                       "meta.json: frames must be a positive integer, got 'ten'"),
    "frames zero": (lambda p: edit_meta(p, frames=0), "meta.json: frames must be a positive"),
    "video dim as text": (lambda p: edit_meta(p, dims={"audio": 4, "video": "6"}),
                          "meta.json: dims must be .* positive integers"),
    "audio dim negative": (lambda p: edit_meta(p, dims={"audio": -4, "video": 6}),
                           "meta.json: dims must be"),
    "splits as a list": (lambda p: edit_meta(p, splits=[7, 3, 4]),
                         r"meta.json: splits must be \{name: clips\}"),
    "split count as float": (lambda p: edit_meta(p, splits={"train": 7.0, "validation": 3,
                                                            "test": 4}), "meta.json: splits must"),
    "ids not utf-8": (lambda p: (p / "train" / "clip_ids.txt").write_bytes(b"a\xff\n" * 7),
                      "train/clip_ids.txt: not UTF-8 text"),
    "float lengths": (lambda p: save_like(p / "train" / "lengths.npy", np.full(7, 3.5)),
                      "train/lengths.npy: dtype float64, expected integers"),
    "lengths too long": (lambda p: save_like(p / "train" / "lengths.npy", np.full(7, T + 1)),
                         "train/lengths.npy: lengths must lie in 1..5"),
    "log_mel shape": (lambda p: save_like(p / "test" / "log_mel.npy",
                                          np.zeros((3, T, 96, 64), np.float16)),
                      r"test/log_mel.npy: shape \(3, 5, 96, 64\), expected \(4, 5, 96, 64\)"),
    "log_mel bands": (lambda p: save_like(p / "test" / "log_mel.npy",
                                          np.zeros((4, T, 96, 128), np.float16)),
                      r"test/log_mel.npy: shape \(4, 5, 96, 128\), expected \(4, 5, 96, 64\)"),
    "log_mel nan": (lambda p: save_like(p / "validation" / "log_mel.npy",
                                        np.where(np.arange(3)[:, None, None, None] == 2, np.nan,
                                                 np.zeros((3, T, 96, 64))).astype(np.float16)),
                    "validation/log_mel.npy: 30720 NaN/inf value.*first in clip 2"),
    "log_mel truncated": (lambda p: (save_like(p / "train" / "log_mel.npy",
                                               np.zeros((7, T, 96, 64), np.float16)),
                                     truncate(p / "train" / "log_mel.npy", 100)),
                          "train/log_mel.npy: unreadable as .npy"),
}


def truncate(file, drop):
    data = file.read_bytes()
    file.write_bytes(data[:-drop])


def edit_meta(path, **changes):
    meta = json.loads((path / "meta.json").read_text())
    meta.update(changes)
    (path / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_damage_gives_one_line_naming_the_file(written, case):
    path, _ = written
    damage, message = CASES[case]
    damage(path)
    with pytest.raises(DataError, match=message) as error:
        open_dataset(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_class_names_must_match_the_expected_ones(written):
    path, _ = written
    with pytest.raises(DataError, match="classes differ .* first difference at index 1"):
        open_dataset(path, ["siren", "bus", "horn"])


def test_the_check_cli_summarises_a_good_set_and_fails_in_one_line_on_a_bad_one(written):
    path, _ = written
    ok = subprocess.run([sys.executable, "-m", "avt_np.data", "check", str(path)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "train" in ok.stdout and "7 clips" in ok.stdout
    (path / "train" / "labels.npy").unlink()
    bad = subprocess.run([sys.executable, "-m", "avt_np.data", "check", str(path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().count("\n") == 0 and "labels.npy: missing" in bad.stderr


def test_an_appended_npy_is_an_ordinary_npy_file(tmp_path):
    rows = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    appender = NpyAppender(tmp_path / "x.npy", (2, 3), np.float16)
    appender.append(rows[:1])
    appender.append(rows[1:])
    appender.close()
    loaded = np.load(tmp_path / "x.npy")
    assert loaded.dtype == np.float16
    np.testing.assert_array_equal(loaded, rows)
    with pytest.raises(ValueError, match="expected"):
        NpyAppender(tmp_path / "y.npy", (2, 3), np.float16).append(np.zeros((1, 3, 2)))


def test_a_new_build_removes_partial_directories_of_dead_processes_only(tmp_path):
    # kill -9 during a build leaves .NAME.partial-PID behind (up to gigabytes of arrays)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        target = tmp_path / "data"
        stale = tmp_path / f".data.partial-{int(dead.stdout)}"
        running = tmp_path / f".data.partial-{alive.pid}"
        other = tmp_path / f".other.partial-{int(dead.stdout)}"
        for d in (stale, running, other):
            d.mkdir()
            (d / "audio.npy").write_bytes(b"half written")
        with DatasetWriter(target, CLASSES, dims={"audio": 128}) as writer:
            writer.append("train", audio=np.zeros((1, 10, 128)), labels=np.zeros((1, 3)),
                          clip_ids=["a"])
        assert target.is_dir() and not stale.exists()
        assert running.exists() and other.exists()       # another live build; another data set
    finally:
        alive.kill()
        alive.wait()
