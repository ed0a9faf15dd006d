"""The AudioSet -> DCASE 2017 Task 4 converter, on small fake releases written from the spec."""

import csv
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from avt_np.data import audioset, dcase2017, dcase2017_task4_clips as clip_table
from avt_np.data.format import open_dataset

try:
    from tests.data import tfrecord_writer as tw
except ImportError:                      # pytest run with tests/data itself on sys.path
    import tfrecord_writer as tw

# The organisers' label files (the folder of DCASE 2017 Task 4's groundtruth_*.csv), if at hand:
# DCASE2017_TASK4_DIR=/path/to/them pytest tests/data/test_audioset.py
DCASE_FOLDER = os.environ.get("DCASE2017_TASK4_DIR")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table():
    return audioset.ClipTable()


def pick(table, split, k):
    """The first k DCASE clips of a split (real ids, real labels)."""
    code = audioset.SPLITS.index(split)
    return [i for i in range(len(table)) if table.split[i] == code][:k]


def seconds(clip_id):
    start, end = clip_id.rsplit("_", 2)[1:]
    return float(start), float(end)


def example(table, i, frames, **kw):
    """The AudioSet record of DCASE clip i, with uint8 embeddings `frames` (n, 128)."""
    start, end = seconds(table.clip_ids[i])
    return tw.audioset_example(table.clip_ids[i].rsplit("_", 2)[0], start, end, [300, 7],
                               frames, **kw)


def other(k, n=10, seed=0):
    """A clip that is not in DCASE 2017 Task 4."""
    f = np.random.default_rng(seed).integers(0, 256, (n, 128), dtype=np.uint8)
    return tw.audioset_example(f"notdcase{k:03d}", 30.0, 40.0, [0], f)


def emb(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 128), dtype=np.uint8)


@pytest.fixture
def release(tmp_path, table):
    """A fake release: 3 files, 6 DCASE clips among non-DCASE ones, 2 DCASE clips left out.

    Returns (folder, {clip id: (uint8 embeddings, real frames)}, [clip ids left out])."""
    tr, va, te = pick(table, "train", 4), pick(table, "validation", 2), pick(table, "test", 2)
    clips = {tr[0]: emb(10, 1), tr[1]: emb(7, 2), tr[2]: emb(12, 3),     # 7: padded, 12: cut
             va[0]: emb(10, 4), te[0]: emb(9, 5), te[1]: emb(10, 6)}
    ytid, start = table.clip_ids[tr[0]].rsplit("_", 2)[:2]
    wrong_start = tw.audioset_example(ytid, float(start) + 10, float(start) + 20, [1], emb(10, 9))
    files = {
        "bal_train/2c.tfrecord": [other(0), example(table, tr[0], clips[tr[0]]), wrong_start,
                                  example(table, tr[1], clips[tr[1]]), other(1)],
        "eval/2h.tfrecord": [example(table, va[0], clips[va[0]]), other(2),
                             example(table, te[0], clips[te[0]], packed=False)],
        "unbal_train/zz.tfrecord": [other(3), example(table, tr[2], clips[tr[2]]),
                                    example(table, te[1], clips[te[1]])],
    }
    root = tmp_path / "audioset_v1_embeddings"
    for name, payloads in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        tw.write_tfrecord(root / name, payloads)
    expected = {table.clip_ids[i]: (f, min(len(f), 10)) for i, f in clips.items()}
    return root, expected, [table.clip_ids[tr[3]], table.clip_ids[va[1]]]


def convert(features, out, *extra):
    return audioset.main(["--features", str(features), "--out", str(out), "--quiet", *extra])


def error_lines(capsys):
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]


def check_clips(dataset, expected):
    """Every expected clip is in the data set with dequantised frames, zero padding, length."""
    found = 0
    for name in audioset.SPLITS:
        split = dataset[name]
        for j, cid in enumerate(split.clip_ids):
            q, n = expected[cid]
            x = split.batch([j])["audio"][0]
            want = q[:n].astype(np.float32) * (4 / 255) + (4 / 512 - 2)
            assert np.allclose(x[:n], want, atol=2e-3), cid          # float16 storage
            assert not x[n:].any(), cid
            assert split.lengths[j] == n
            found += 1
    assert found == len(expected)


def test_dequantisation_inverts_vggish_quantiser_and_float16_keeps_every_level():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 10000)
    q = ((np.clip(x, -2, 2) + 2) * (255 / 4)).astype(np.uint8)     # VGGish's post-processor
    back = audioset.dequantize(q)
    assert np.abs(back - x).max() <= 4 / 255 / 2 + 1e-3           # half a bin, bias 4/512
    levels = audioset.dequantize(np.arange(256, dtype=np.uint8))
    assert np.unique(levels.astype(np.float16)).size == 256


# -- the clip table ----------------------------------------------------------------------------

def test_shipped_clip_table_has_every_dcase_clip_with_the_canonical_classes():
    classes, clips = clip_table.load()
    assert classes == dcase2017.classes()
    sizes = {s: sum(c.split == s for c in clips) for s in audioset.SPLITS}
    assert sizes == {"train": 51172, "validation": 488, "test": 1103}
    assert len({(c.ytid, c.start) for c in clips}) == len(clips)   # the join key is unique
    assert clip_table.parse_clip_id("a_b-c_55.200_65.200") == ("a_b-c", 55200)


@pytest.mark.skipif(not (DCASE_FOLDER and Path(DCASE_FOLDER).is_dir()),
                    reason="organisers' label files not given (set DCASE2017_TASK4_DIR)")
def test_clip_table_rebuilds_byte_for_byte_from_the_organisers_files(tmp_path):
    out = tmp_path / "clips.csv.gz"
    clip_table.write(clip_table.build(Path(DCASE_FOLDER)), out)
    assert out.read_bytes() == clip_table.CLIPS_FILE.read_bytes()


# -- converting ------------------------------------------------------------------------------

def test_fake_release_converts_to_a_dataset_that_opens(release, tmp_path, capsys):
    root, expected, left_out = release
    assert convert(root, tmp_path / "data") == 0
    assert error_lines(capsys) == []
    dataset = open_dataset(tmp_path / "data", classes=dcase2017.classes())
    assert {s: len(dataset[s]) for s in audioset.SPLITS} == {"train": 3, "validation": 1, "test": 2}
    check_clips(dataset, expected)
    table = audioset.ClipTable()
    for name in audioset.SPLITS:                   # labels from the DCASE lists, not AudioSet's
        for j, cid in enumerate(dataset[name].clip_ids):
            assert (dataset[name].labels[j] == table.labels[table.clip_ids.index(cid)]).all()
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert meta["provenance"]["not_found"]["train"] == 51172 - 3
    assert meta["provenance"]["dequantize"].startswith("youtube8m")
    not_found = (tmp_path / "data" / "not_found.csv").read_text().splitlines()
    assert len(not_found) == 1 + 52763 - 6
    assert any(line.startswith(f"train,{left_out[0]},not in the input") for line in not_found)


def test_validation_and_test_carry_the_organisers_strong_labels_of_the_converted_clips(
        release, tmp_path):
    root, _, _ = release
    assert convert(root, tmp_path / "data") == 0
    dataset = open_dataset(tmp_path / "data")
    assert dataset["train"].events is None                  # no strong labels for training
    for name, source in (("validation", "validation_clips"), ("test", "test_clips")):
        split = dataset[name]
        real = {c["file"][:-4]: c for c in dcase2017.load()[source]}
        for cid, label in zip(split.clip_ids, split.labels):
            mine = [(e.onset, e.offset, e.label) for e in split.events if e.file == cid]
            clip = real[cid]
            heard = [(on, off, dcase2017.classes()[c]) for c, on, off in clip["events"]]
            assert sorted(e for e in mine if e[1] > 0) == sorted(heard)
            assert {e[2] for e in mine} == {dcase2017.classes()[c] for c in np.flatnonzero(label)}



@pytest.mark.parametrize("method, scale, offset", [("centered", 1 / 128, -1.0), ("raw", 1 / 255, 0.0)])
def test_other_dequantisations_can_be_chosen(release, tmp_path, method, scale, offset):
    root, expected, _ = release
    convert(root, tmp_path / "data", "--dequantize", method, "--dtype", "float32")
    split = open_dataset(tmp_path / "data")["validation"]
    q, n = expected[split.clip_ids[0]]
    assert np.allclose(split.batch([0])["audio"][0], q * scale + offset, atol=1e-6)


def test_tar_gz_input_gives_the_same_dataset_as_the_folder(release, tmp_path):
    root, expected, _ = release
    archive = tmp_path / "features.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="audioset_v1_embeddings")
    convert(root, tmp_path / "a")
    convert(archive, tmp_path / "b")
    a, b = open_dataset(tmp_path / "a"), open_dataset(tmp_path / "b")
    for name in audioset.SPLITS:
        assert a[name].clip_ids == b[name].clip_ids
        assert np.array_equal(np.asarray(a[name].audio), np.asarray(b[name].audio))


def test_truncated_archive_keeps_the_members_before_the_cut_and_rereads_the_cut_one(
        release, tmp_path, capsys, monkeypatch):
    root, expected, _ = release
    archive = tmp_path / "features.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname="audioset_v1_embeddings")
    blob = archive.read_bytes()
    cut = blob.index(b"unbal_train/zz.tfrecord") + 700    # inside the last member's data
    archive.write_bytes(blob[:cut])
    assert convert(archive, tmp_path / "data") == 0
    errors = error_lines(capsys)
    assert len(errors) == 2
    assert "unbal_train/zz.tfrecord: read error" in errors[0] and "read again" in errors[0]
    assert "features.tar: archive unreadable" in errors[1]
    dataset = open_dataset(tmp_path / "data")
    assert len(dataset["train"]) == 2 and len(dataset["validation"]) == 1
    # the download completed: only the member that was cut short is read again
    archive.write_bytes(blob)
    seen = count_conversions(monkeypatch)
    assert convert(archive, tmp_path / "data", "--overwrite") == 0
    assert seen == ["audioset_v1_embeddings/unbal_train/zz.tfrecord"]
    check_clips(open_dataset(tmp_path / "data"), expected)


# -- per-file errors: one line each, the other files still converted -----------------------------

def bad_file(table, kind):
    """Records of a file with one problem; returns (payloads, the DCASE clip it spoils or None)."""
    i = pick(table, "train", 6)[5]
    good = [other(10), other(11)]
    if kind == "missing video_id":
        return [good[0], tw.audioset_example("x", 0.0, 1.0, [0], emb(10, 0), drop=("video_id",)),
                good[1]], None
    if kind == "missing start_time_seconds":
        return [example(table, i, emb(10, 0), drop=("start_time_seconds",))], None
    if kind == "missing audio_embedding":
        return [good[0], example(table, i, emb(10, 0), drop=("audio_embedding",))], i
    if kind == "wrong embedding length":
        frames = [bytes(128)] * 4 + [bytes(127)] + [bytes(128)] * 5
        return [example(table, i, frames), good[0]], i
    if kind in ("nan start time", "infinite start time"):      # CRC-valid, content wrong
        start = float("nan") if kind == "nan start time" else float("inf")
        return [good[0], tw.audioset_example("abcdefghijk", start, 10.0, [0], emb(10, 0)),
                good[1]], None
    raise ValueError(kind)


@pytest.mark.parametrize("kind, message", [
    ("missing video_id", "missing context feature 'video_id'"),
    ("missing start_time_seconds", "missing context feature 'start_time_seconds'"),
    ("missing audio_embedding", "missing feature list 'audio_embedding'"),
    ("wrong embedding length", "audio_embedding frame 4 has 127 bytes, expected 128"),
    ("nan start time", "start_time_seconds is nan, expected a finite number"),
    ("infinite start time", "start_time_seconds is inf, expected a finite number"),
])
def test_bad_record_is_one_error_line_and_the_rest_is_converted(release, tmp_path, capsys, table,
                                                                kind, message):
    root, expected, _ = release
    payloads, spoiled = bad_file(table, kind)
    tw.write_tfrecord(root / "bal_train" / "3a.tfrecord", payloads)
    assert convert(root, tmp_path / "data") == 0
    errors = error_lines(capsys)
    assert len(errors) == 1
    assert "bal_train/3a.tfrecord: byte" in errors[0] and message in errors[0]
    check_clips(open_dataset(tmp_path / "data"), expected)
    if spoiled is not None:
        with open(tmp_path / "data" / "not_found.csv", newline="") as f:
            not_found = list(csv.reader(f))
        assert ["train", table.clip_ids[spoiled], message] in not_found


def test_a_huge_corrupt_length_in_a_tar_member_is_one_line_even_without_crc_checks(
        release, tmp_path, capsys, table):
    root, expected, _ = release
    records, _ = framed(table)
    huge = bytearray(records[2])
    huge[7] = 0x3F                                   # length ~ 2**62, header CRC now wrong
    (root / "bal_train" / "3a.tfrecord").write_bytes(records[0] + bytes(huge))
    features = tmp_path / "features.tar.gz"
    with tarfile.open(features, "w:gz") as tar:      # a tar member: size from the archive
        tar.add(root, arcname="audioset_v1_embeddings")
    assert convert(features, tmp_path / "data", "--no-crc") == 0
    errors = error_lines(capsys)
    assert len(errors) == 1
    length = int.from_bytes(huge[:8], "little")
    assert (f"bal_train/3a.tfrecord: byte {len(records[0])}: file ends inside a record: its "
            f"header announces {length} bytes") in errors[0]
    check_clips(open_dataset(tmp_path / "data"), expected)


def framed(table):
    i = pick(table, "train", 6)[5]
    return [tw.frame(p) for p in (other(10), example(table, i, emb(10, 0)), other(11))], i


@pytest.mark.parametrize("kind, message", [
    ("corrupt length", "length CRC mismatch"),
    ("truncated file", "file ends inside a record"),
])
def test_framing_error_is_one_line_and_keeps_earlier_records(release, tmp_path, capsys, table,
                                                            kind, message):
    root, expected, _ = release
    records, i = framed(table)
    (q, n) = (emb(10, 0), 10)
    if kind == "corrupt length":                    # the third record's length field
        blob = records[0] + records[1] + bytes([records[2][0] ^ 1]) + records[2][1:]
    else:
        blob = records[0] + records[1] + records[2][:30]
    (root / "bal_train" / "3a.tfrecord").write_bytes(blob)
    assert convert(root, tmp_path / "data") == 0
    errors = error_lines(capsys)
    assert len(errors) == 1
    offset = len(records[0]) + len(records[1])
    assert f"bal_train/3a.tfrecord: byte {offset}: {message}" in errors[0]
    expected[table.clip_ids[i]] = (q, n)             # the DCASE clip before the damage is kept
    check_clips(open_dataset(tmp_path / "data"), expected)


def damaged_release(root, table, which, where="embedding"):
    """bal_train/3a.tfrecord: 5 records, DCASE clips at 1 and 3, one payload byte of record
    `which` flipped: in an embedding (the clip id still readable) or its first byte (unreadable).

    Returns ({clip id: (uint8 embeddings, frames)} of the DCASE clips kept, offsets, DCASE index
    of the damaged record or None)."""
    dcase = pick(table, "train", 8)[6:8]
    clips = {1: (dcase[0], emb(10, 20)), 3: (dcase[1], emb(8, 21))}
    payloads = [other(20 + k) if k not in clips else example(table, *clips[k]) for k in range(5)]
    records = [tw.frame(p) for p in payloads]
    at = 12 + (len(payloads[which]) - 40 if where == "embedding" else 0)
    records[which] = tw.flip_byte(records[which], at)
    (root / "bal_train" / "3a.tfrecord").write_bytes(b"".join(records))
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in records])[:-1]]).tolist()
    kept = {table.clip_ids[i]: (f, min(len(f), 10)) for k, (i, f) in clips.items() if k != which}
    return kept, offsets, clips[which][0] if which in clips else None


@pytest.mark.parametrize("which", [0, 3, 4])                  # first, middle (DCASE), last
def test_a_damaged_record_is_skipped_alone_and_named_by_file_offset_and_clip(
        release, tmp_path, capsys, table, which):
    root, expected, _ = release
    kept, offsets, lost = damaged_release(root, table, which)
    assert convert(root, tmp_path / "data") == 0
    errors = error_lines(capsys)
    assert len(errors) == 1
    if lost is None:
        clip = f"clip notdcase{20 + which:03d} at 30.000 s"
    else:
        ytid, start = table.clip_ids[lost].rsplit("_", 2)[:2]
        clip = f"clip {ytid} at {float(start):.3f} s"
    assert errors[0].startswith(f"error: bal_train/3a.tfrecord: byte {offsets[which]}: data CRC "
                                "mismatch in a record of")
    assert f"(record skipped; {clip}, as read from the damaged data)" in errors[0]
    check_clips(open_dataset(tmp_path / "data"), {**expected, **kept})   # every other record kept
    work = tmp_path / "data.work"
    assert errors[0][len("error: "):] in (work / "errors.log").read_text()
    entry = [json.loads(ln) for ln in (work / "done.jsonl").read_text().splitlines()
             if json.loads(ln)["name"] == "bal_train/3a.tfrecord"][0]
    assert (entry["records"], entry["damaged_records"], entry["error"]) == (4, 1, None)
    assert entry["damaged"][0]["offset"] == offsets[which]
    provenance = json.loads((tmp_path / "data" / "meta.json").read_text())["provenance"]
    assert provenance["damaged_records_skipped"] == 1
    assert provenance["input_files_with_errors"] == 1
    if lost is not None:                            # not_found.csv says why the clip is missing
        with open(tmp_path / "data" / "not_found.csv", newline="") as f:
            assert ["train", table.clip_ids[lost],
                    f"damaged record (data CRC mismatch at byte {offsets[which]})"] in list(
                        csv.reader(f))


def test_a_damaged_record_whose_clip_cannot_be_read_is_named_by_offset(release, tmp_path, capsys,
                                                                       table):
    root, expected, _ = release
    kept, offsets, _ = damaged_release(root, table, 2, where="first byte")
    assert convert(root, tmp_path / "data") == 0
    errors = error_lines(capsys)
    assert len(errors) == 1
    assert f"bal_train/3a.tfrecord: byte {offsets[2]}: data CRC mismatch" in errors[0]
    assert errors[0].endswith("(record skipped; no clip id can be read from it)")
    check_clips(open_dataset(tmp_path / "data"), {**expected, **kept})


def test_a_broken_header_after_a_damaged_record_still_ends_the_file(release, tmp_path, capsys,
                                                                    table):
    root, expected, _ = release
    kept, offsets, _ = damaged_release(root, table, 0)
    blob = bytearray((root / "bal_train" / "3a.tfrecord").read_bytes())
    blob[offsets[2]] ^= 1                           # the third record's length field
    (root / "bal_train" / "3a.tfrecord").write_bytes(bytes(blob))
    assert convert(root, tmp_path / "data") == 0
    errors = error_lines(capsys)
    assert len(errors) == 2
    assert f"byte {offsets[0]}: data CRC mismatch" in errors[0]
    assert f"bal_train/3a.tfrecord: byte {offsets[2]}: length CRC mismatch" in errors[1]
    assert errors[1].endswith("corrupt record header (file ends here; 1 record(s) before it kept, "
                              "1 damaged one(s) skipped)")
    first = table.clip_ids[pick(table, "train", 8)[6]]
    check_clips(open_dataset(tmp_path / "data"), {**expected, first: kept[first]})


def test_a_work_dir_entry_cut_short_by_an_older_version_is_converted_again(
        release, tmp_path, table, monkeypatch):
    root, expected, _ = release
    kept, offsets, _ = damaged_release(root, table, 0)
    convert(root, tmp_path / "data")
    log = tmp_path / "data.work" / "done.jsonl"
    entries = [json.loads(ln) for ln in log.read_text().splitlines()]
    for e in entries:                               # as the version that stopped at the damage
        if e["name"] == "bal_train/3a.tfrecord":
            del e["damaged_records"], e["damaged"]
            e.update(records=0, clips=0, part=None,
                     error="bal_train/3a.tfrecord: byte 0: data CRC mismatch in a record of ...")
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    seen = count_conversions(monkeypatch)
    assert convert(root, tmp_path / "data", "--overwrite") == 0
    assert seen == ["bal_train/3a.tfrecord"]
    check_clips(open_dataset(tmp_path / "data"), {**expected, **kept})


# -- resuming ------------------------------------------------------------------------------------

def count_conversions(monkeypatch, fail_at=None):
    """Record which files convert_file reads; raise KeyboardInterrupt on call number fail_at."""
    seen = []
    real = audioset.convert_file

    def spy(f, name, *args, **kw):
        seen.append(name)
        if fail_at is not None and len(seen) == fail_at:
            raise KeyboardInterrupt
        return real(f, name, *args, **kw)
    monkeypatch.setattr(audioset, "convert_file", spy)
    return seen


@pytest.mark.parametrize("as_tar", [False, True])
def test_killed_run_resumes_without_redoing_finished_files(release, tmp_path, monkeypatch, as_tar):
    root, expected, _ = release
    features = root
    if as_tar:
        features = tmp_path / "features.tar.gz"
        with tarfile.open(features, "w:gz") as tar:
            tar.add(root, arcname="audioset_v1_embeddings")
    out = tmp_path / "data"
    first = count_conversions(monkeypatch, fail_at=3)
    assert convert(features, out) == 130 and not out.exists()       # Ctrl-C: avt_np.cli's code
    assert len(first) == 3                            # two finished, the third interrupted
    second = count_conversions(monkeypatch)
    assert convert(features, out) == 0
    assert second == [first[2]]                       # only the interrupted file again
    check_clips(open_dataset(out), expected)
    monkeypatch.undo()
    convert(root, tmp_path / "fresh")
    for name in audioset.SPLITS:                      # same as an uninterrupted run
        assert open_dataset(out)[name].clip_ids == open_dataset(tmp_path / "fresh")[name].clip_ids


def test_a_line_cut_by_a_kill_or_a_replaced_file_is_converted_again(release, tmp_path, monkeypatch):
    root, expected, _ = release
    convert(root, tmp_path / "data")
    work = tmp_path / "data.work"
    log = (work / "done.jsonl").read_text().splitlines()
    (work / "done.jsonl").write_text("\n".join(log[:2]) + "\n" + log[2][:25])   # torn last line
    tw.write_tfrecord(root / "bal_train" / "2c.tfrecord", [other(0)])          # new size
    seen = count_conversions(monkeypatch)
    convert(root, tmp_path / "again", "--work-dir", str(work))
    assert sorted(seen) == ["bal_train/2c.tfrecord", "unbal_train/zz.tfrecord"]
    assert len(open_dataset(tmp_path / "again")["train"]) == 1


def test_work_dir_of_other_settings_and_existing_output_are_one_line_errors(release, tmp_path,
                                                                          capsys):
    root, _, _ = release
    convert(root, tmp_path / "data")
    capsys.readouterr()
    assert convert(root, tmp_path / "data") == 2
    assert capsys.readouterr().err.strip().endswith("already exists (pass --overwrite to replace it)")
    assert convert(root, tmp_path / "data", "--overwrite", "--frames", "5") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other settings (frames)" in err
    assert convert(tmp_path / "nowhere", tmp_path / "x") == 2
    assert "no such file or directory" in capsys.readouterr().err


# -- training on the result ----------------------------------------------------------------------

def test_the_documented_commands_convert_and_train(release, tmp_path):
    root, _, _ = release
    made = subprocess.run([sys.executable, "-m", "avt_np.data", "audioset", "--features",
                           str(root), "--out", str(tmp_path / "data")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-2000:]
    again = subprocess.run([sys.executable, "-m", "avt_np.data", "audioset", "--features",
                            str(root), "--out", str(tmp_path / "data")],
                           cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "already exists" in again.stderr
    run = subprocess.run(
        [sys.executable, "-m", "avt_np.train", "--data", str(tmp_path / "data"), "--first",
         "audio", "--second", "audio", "--pos-enc", "none", "--epochs", "1",
         "--batches-per-epoch", "2", "--out", str(tmp_path / "run")],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "run" / "metrics.json").exists()
