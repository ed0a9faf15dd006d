"""Per-clip extraction: what a clip becomes, resuming after a kill, bad files skipped, the data set."""

import numpy as np
import pytest

from avt_np.cli import UsageError
from avt_np.data.format import open_dataset
from avt_np.features import audio as audio_fe
from avt_np.features import extract
from avt_np.features.extract import Clip, Extractor, WorkDir, extract_all, write_dataset
from avt_np.features.vgg16 import VGG16
from avt_np.features.vggish import VGGish
from tests.features import standins
from tests.features.conftest import needs_ffmpeg, write_frames, write_mp4, write_wav

CLASSES = ["a", "b", "c"]


@pytest.fixture
def models(weights):
    return VGGish("vggish"), VGG16("vgg16_fc7")


def audio_clips(folder, seconds=(3.0, 2.0, 4.0, 1.5)):
    folder.mkdir(exist_ok=True)
    return [Clip(f"c{i}", audio=write_wav(folder / f"c{i}.wav", s, 300.0 + 150 * i))
            for i, s in enumerate(seconds)]


class Counting:
    """Wraps an Extractor; counts the clips it decodes, and raises KeyboardInterrupt (a kill)
    on decoding clip number `kill_at`."""

    def __init__(self, inner, kill_at=None):
        self.inner, self.kill_at, self.calls = inner, kill_at, []
        self.notes = inner.notes

    def prepare(self, clip):
        if len(self.calls) == self.kill_at:
            raise KeyboardInterrupt
        self.calls.append(clip.clip_id)
        return self.inner.prepare(clip)

    def embed(self, batch):
        return self.inner.embed(batch)


def test_audio_frames_are_the_vggish_embeddings_of_the_front_ends_examples(tmp_path, models):
    clip = audio_clips(tmp_path / "clips", (3.5,))[0]
    out = Extractor(models[0], frames=5)(clip)
    examples = audio_fe.waveform_to_examples(*audio_fe.read_audio(clip.audio))   # 3 examples
    np.testing.assert_allclose(out["audio"][:3], standins.vggish_expected(examples), atol=1e-4)
    assert (out["audio"][3:] == 0).all()
    np.testing.assert_array_equal(out["valid"], [True, True, True, False, False])
    assert "video" not in out


@needs_ffmpeg
def test_a_video_shorter_than_its_audio_ends_the_valid_frames(tmp_path, models):
    wav = write_wav(tmp_path / "c.wav", 5.0)
    mp4 = write_mp4(tmp_path / "c.mp4", 2.0)               # frames at 0.48 and 1.44 s only
    out = Extractor(*models, frames=6)(Clip("c", audio=wav, video=mp4))
    np.testing.assert_array_equal(out["valid"], [1, 1, 0, 0, 0, 0])
    assert out["video"].shape == (6, 4096) and (out["video"][2:] == 0).all()
    assert extract.clip_length(out["valid"]) == 2


def test_a_killed_run_resumes_without_recomputing_finished_clips(tmp_path, models):
    clips = audio_clips(tmp_path / "clips")
    matched = [(c, "train", np.array([1, 0, 0], np.uint8)) for c in clips]
    work = WorkDir(tmp_path / "work", {"frames": 4})
    first = Counting(Extractor(models[0], frames=4), kill_at=2)
    with pytest.raises(KeyboardInterrupt):
        extract_all(matched, first, work, progress=False)
    assert first.calls == ["c0", "c1"] and [work.has(c.clip_id) for c in clips] == [1, 1, 0, 0]
    assert not list(work.clips.glob("*.tmp.npz"))          # no half-written cache file
    stamps = {c: work.file(c).stat().st_mtime_ns for c in ("c0", "c1")}

    second = Counting(Extractor(models[0], frames=4))
    assert extract_all(matched, second, work, progress=False) == {}
    assert second.calls == ["c2", "c3"]
    assert {c: work.file(c).stat().st_mtime_ns for c in ("c0", "c1")} == stamps
    third = Counting(Extractor(models[0], frames=4))
    extract_all(matched, third, WorkDir(tmp_path / "work", {"frames": 4}), progress=False)
    assert third.calls == []


def test_work_dir_made_with_other_settings_is_refused(tmp_path):
    WorkDir(tmp_path / "w", {"frames": 10, "vggish_sha256": "x"})
    with pytest.raises(UsageError, match="other settings \\(frames\\)"):
        WorkDir(tmp_path / "w", {"frames": 8, "vggish_sha256": "x"})


def test_a_bad_file_is_logged_and_skipped_and_the_rest_extracted(tmp_path, models):
    clips = audio_clips(tmp_path / "clips", (2.0, 2.0))
    junk = tmp_path / "clips" / "junk.wav"
    junk.write_bytes(b"RIFF but not really")
    short = write_wav(tmp_path / "clips" / "short.wav", 0.5)
    clips += [Clip("junk", audio=junk), Clip("short", audio=short)]
    matched = [(c, "train", np.zeros(3, np.uint8)) for c in clips]
    work = WorkDir(tmp_path / "work", {})
    failures = extract_all(matched, Extractor(models[0], frames=3), work, progress=False)
    assert sorted(failures) == ["junk", "short"]
    assert "cannot read audio" in failures["junk"] and "shorter than one" in failures["short"]
    assert [work.has(c.clip_id) for c in clips] == [1, 1, 0, 0]
    log = work.errors.read_text().splitlines()
    assert len(log) == 2 and all(line.count("\t") == 2 for line in log)


def test_written_data_set_opens_with_lengths_and_zero_padding(tmp_path, models):
    clips = audio_clips(tmp_path / "clips", (3.0, 2.0, 4.0, 1.5))
    splits = ["train", "train", "validation", "test"]
    labels = np.eye(3, dtype=np.uint8)[[0, 1, 2, 0]]
    matched = [(c, s, y) for c, s, y in zip(clips, splits, labels)]
    work = WorkDir(tmp_path / "work", {})
    extract_all(matched, Extractor(models[0], frames=4), work, progress=False)
    counts = write_dataset(tmp_path / "data", matched, work, CLASSES, frames=4, with_video=False,
                           dtype="float32", provenance={"source": "test"})
    assert counts == {"train": 2, "validation": 1, "test": 1}
    data = open_dataset(tmp_path / "data", classes=CLASSES)
    assert not data.has_video and data.meta["provenance"] == {"source": "test"}
    train = data["train"]
    assert train.clip_ids == ["c0", "c1"]
    np.testing.assert_array_equal(train.lengths, [3, 2])
    np.testing.assert_array_equal(data["test"].lengths, [1])
    np.testing.assert_array_equal(train.labels, labels[:2])
    a = train.audio_frames(np.arange(2))
    np.testing.assert_allclose(a[0, :3], work.load("c0")["audio"][:3], atol=1e-6)
    assert (a[0, 3:] == 0).all() and (a[1, 2:] == 0).all()
    with pytest.raises(Exception, match="already exists"):
        write_dataset(tmp_path / "data", matched, work, CLASSES, 4, False)


def test_clip_length_counts_valid_frames_up_to_the_first_gap():
    assert extract.clip_length(np.array([1, 1, 1], bool)) == 3
    assert extract.clip_length(np.array([1, 1, 0, 1], bool)) == 2
    assert extract.clip_length(np.array([0, 1], bool)) == 0


def test_frames_named_for_other_times_are_a_logged_clip_error_naming_the_expected_times(
        tmp_path, models):
    from PIL import Image
    clip = audio_clips(tmp_path / "clips", (3.0,))[0]
    folder = tmp_path / "frames" / clip.clip_id
    folder.mkdir(parents=True)
    for t in (0.5, 1.5, 2.5):                      # 1 fps from 0.5 s: nothing at or before 0.48
        Image.new("RGB", (64, 48), (90, 90, 90)).save(folder / f"{t:.2f}.jpg")
    work = WorkDir(tmp_path / "work", {})
    extractor = Extractor(*models, frames=3, frames_dir=tmp_path / "frames")
    failures = extract_all([(clip, "train", np.zeros(3, np.uint8))], extractor, work,
                           progress=False)
    assert not work.has(clip.clip_id)              # never written with length 0
    message = failures[clip.clip_id]
    assert "images at 0.5, 1.5, 2.5 s" in message and "0.48 + 0.96 k s" in message
    assert "0.48.jpg" in message
    assert message in work.errors.read_text()


def test_a_silent_clip_is_extracted_with_a_note_on_stderr_and_in_the_log(tmp_path, models,
                                                                        capsys):
    import soundfile
    silent = tmp_path / "quiet.wav"
    soundfile.write(silent, np.zeros(3 * 16000, np.int16), 16000, subtype="PCM_16")
    clips = [Clip("quiet", audio=silent)] + audio_clips(tmp_path / "clips", (2.0,))
    work = WorkDir(tmp_path / "work", {})
    extractor = Extractor(models[0], frames=3)
    matched = [(c, "train", np.zeros(3, np.uint8)) for c in clips]
    assert extract_all(matched, extractor, work, progress=False) == {}
    assert work.has("quiet") and list(extractor.notes) == ["quiet"]
    err = capsys.readouterr().err
    assert "note quiet:" in err and "silence" in err and "note c0" not in err
    log = work.errors.read_text().splitlines()
    assert len(log) == 1 and "\tquiet\tnote (extracted, not an error)" in log[0]
    expected = standins.vggish_expected(np.full((3, 96, 64), np.log(0.01)))
    np.testing.assert_allclose(work.load("quiet")["audio"], expected, atol=1e-5)


def test_a_silent_clip_that_then_fails_gets_no_note(tmp_path, models):
    import soundfile
    short = tmp_path / "short.wav"                     # silent and shorter than one example
    soundfile.write(short, np.zeros(8000, np.int16), 16000, subtype="PCM_16")
    no_frame = tmp_path / "no_frame.wav"               # silent, its frames folder has no 0.48 s
    soundfile.write(no_frame, np.zeros(3 * 16000, np.int16), 16000, subtype="PCM_16")
    from PIL import Image
    (tmp_path / "frames" / "no_frame").mkdir(parents=True)
    Image.new("RGB", (64, 48)).save(tmp_path / "frames" / "no_frame" / "1.50.jpg")
    extractor = Extractor(*models, frames=3, frames_dir=tmp_path / "frames")
    matched = [(Clip(p.stem, audio=p), "train", np.zeros(3, np.uint8)) for p in (short, no_frame)]
    work = WorkDir(tmp_path / "work", {})
    assert sorted(extract_all(matched, extractor, work, progress=False)) == ["no_frame", "short"]
    assert extractor.notes == {}
    assert "note" not in work.errors.read_text()


def front_end_log_mel(clip, frames):
    """The (frames, 96, 64) float16 log-mel of a clip's wav, zero past its examples."""
    examples = audio_fe.waveform_to_examples(*audio_fe.read_audio(clip.audio))[:frames]
    expected = np.zeros((frames, 96, 64), np.float16)
    expected[:len(examples)] = examples
    return expected


def test_log_mel_is_kept_for_the_chosen_splits_only_and_is_the_front_ends_examples(tmp_path,
                                                                                   models):
    clips = audio_clips(tmp_path / "clips", (3.0, 2.0, 4.0, 1.5))
    splits = ["train", "train", "validation", "test"]
    matched = [(c, s, np.eye(3, dtype=np.uint8)[i % 3]) for i, (c, s) in enumerate(zip(clips,
                                                                                        splits))]
    work = WorkDir(tmp_path / "work", {})
    extract_all(matched, Extractor(models[0], frames=4), work, progress=False,
                log_mel_splits=("validation", "test"))
    assert [work.has_log_mel(c.clip_id) for c in clips] == [False, False, True, True]
    cached = work.load("c3")["log_mel"]                        # 1.5 s: one example, 3 zeros
    assert cached.dtype == np.float16 and cached.shape == (4, 96, 64)
    np.testing.assert_array_equal(cached, front_end_log_mel(clips[3], 4))
    assert (cached[1:] == 0).all() and (cached[0] != 0).all()

    write_dataset(tmp_path / "data", matched, work, CLASSES, frames=4, with_video=False,
                  log_mel_splits=("validation", "test"))
    data = open_dataset(tmp_path / "data")
    assert data["train"].log_mel is None
    for split, clip in (("validation", clips[2]), ("test", clips[3])):
        np.testing.assert_array_equal(data[split].log_mel[0], front_end_log_mel(clip, 4))


def test_a_cached_clip_without_log_mel_is_extracted_again_when_its_split_wants_it(
        tmp_path, models, capsys):
    clips = audio_clips(tmp_path / "clips", (2.0, 3.0))
    matched = [(clips[0], "train", np.zeros(3, np.uint8)), (clips[1], "test", np.zeros(3, np.uint8))]
    work = WorkDir(tmp_path / "work", {})
    extract_all(matched, Extractor(models[0], frames=3), work, progress=False)   # an old run
    assert not work.has_log_mel("c1")
    again = Counting(Extractor(models[0], frames=3))
    extract_all(matched, again, work, progress=False, log_mel_splits=("test",))
    assert again.calls == ["c1"]                                 # c0 (train) is not redone
    assert "1 cached clip of the --log-mel splits lacks log-mel (e.g. c1) and is extracted again" in capsys.readouterr().err
    np.testing.assert_array_equal(work.load("c1")["log_mel"], front_end_log_mel(clips[1], 3))
    assert not work.has_log_mel("c0")


def test_a_clip_lacking_log_mel_that_now_fails_is_skipped_not_written_without_it(tmp_path,
                                                                                 models):
    clips = audio_clips(tmp_path / "clips", (2.0, 3.0))
    matched = [(c, "test", np.zeros(3, np.uint8)) for c in clips]
    work = WorkDir(tmp_path / "work", {})
    extract_all(matched, Extractor(models[0], frames=3), work, progress=False)
    clips[1].audio.write_bytes(b"RIFF but not really")          # the file changed since
    failures = extract_all(matched, Extractor(models[0], frames=3), work, progress=False,
                           log_mel_splits=("test",))
    assert list(failures) == ["c1"] and not work.has("c1") and work.has_log_mel("c0")
    counts = write_dataset(tmp_path / "data", matched, work, CLASSES, frames=3,
                           with_video=False, log_mel_splits=("test",))
    assert counts["test"] == 1


def test_writing_log_mel_from_a_cache_without_it_names_the_clip_file(tmp_path, models):
    clips = audio_clips(tmp_path / "clips", (2.0,))
    matched = [(clips[0], "test", np.zeros(3, np.uint8))]
    work = WorkDir(tmp_path / "work", {})
    extract_all(matched, Extractor(models[0], frames=3), work, progress=False)
    with pytest.raises(UsageError, match=r"c0.npz: no log_mel"):
        write_dataset(tmp_path / "data", matched, work, CLASSES, frames=3, with_video=False,
                      log_mel_splits=("test",))
    assert not (tmp_path / "data").exists()


# -- batching and overlap ---------------------------------------------------------------------
def clips_with_frames(folder, seconds=(3.0, 2.0, 4.0, 1.5, 5.0)):
    """audio_clips plus a frames folder per clip (as --frames-dir), one shade per clip."""
    clips = audio_clips(folder / "clips", seconds)
    for i, (clip, s) in enumerate(zip(clips, seconds)):
        write_frames(folder / "frames" / clip.clip_id, s - 1.0, (20 * i, 40, 200 - 20 * i))
    return clips


@pytest.mark.parametrize("batch, prefetch", [(4, 0), (8, 2), (50, 3)])
def test_batched_and_overlapped_extraction_equals_one_clip_at_a_time(tmp_path, models,
                                                                     batch, prefetch):
    clips = clips_with_frames(tmp_path)
    junk = tmp_path / "clips" / "junk.wav"
    junk.write_bytes(b"RIFF but not really")
    clips.insert(2, Clip("junk", audio=junk))                  # a failing clip in a group
    matched = [(c, "test", np.zeros(3, np.uint8)) for c in clips]

    def run(work, batch, group, prefetch):
        vggish, vgg16 = models
        extractor = Extractor(vggish, vgg16, frames=4, frames_dir=tmp_path / "frames")
        extractor.set_batch(batch)
        failures = extract_all(matched, extractor, WorkDir(tmp_path / work, {}), progress=False,
                               log_mel_splits=("test",), group=group, prefetch=prefetch)
        return failures, WorkDir(tmp_path / work, {})

    one_failures, one = run("one", 16, 1, 0)
    failures, work = run("batched", batch, extract.clips_per_group(batch, 4), prefetch)
    assert list(failures) == list(one_failures) == ["junk"]
    assert failures == one_failures
    for clip in clips[:2] + clips[3:]:
        a, b = one.load(clip.clip_id), work.load(clip.clip_id)
        assert sorted(a) == sorted(b) == ["audio", "log_mel", "valid", "video"]
        for k in a:                     # onnxruntime's kernels sum in another order per batch
            np.testing.assert_allclose(b[k].astype(np.float64), a[k], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{clip.clip_id} {k}")   # size: ~10 float32 ulps
    assert (one.load("c4")["video"] != 0).any()


def test_a_clip_whose_network_call_fails_fails_alone_in_its_group(tmp_path, models):
    clips = audio_clips(tmp_path / "clips")

    class FailsOnC1(Extractor):
        def embed(self, batch):
            if any(p.clip.clip_id == "c1" for p in batch):
                raise RuntimeError("onnxruntime failed on c1")
            return super().embed(batch)

    extractor = FailsOnC1(models[0], frames=4)
    work = WorkDir(tmp_path / "work", {})
    failures = extract_all([(c, "train", np.zeros(3, np.uint8)) for c in clips], extractor, work,
                           progress=False, group=4, prefetch=1)
    assert failures == {"c1": "onnxruntime failed on c1"}
    assert [work.has(c.clip_id) for c in clips] == [1, 0, 1, 1]
