"""Clips -> per-clip features in a resumable work directory -> the data set.

A clip is every file sharing one stem: audio from a file soundfile reads (.wav, .flac, ...)
or else from the video container (ffmpeg); video from .mp4/.mkv/.webm/... (ffmpeg) or from
`<frames_dir>/<clip id>/<seconds>.jpg`. Each clip becomes T = 10 frames (Sec. 3.2.1: 10 s
clips, one VGGish example and one video frame per 0.96 s window):

    audio    (T, 128)      VGGish embedding of example k (optionally PCA + 8-bit, dequantised)
    video    (T, 4096)     VGG16 fc7 of the frame at 0.48 + 0.96 k s
    valid    (T,)          True where frame k exists in every modality; padded frames are zeros
    log_mel  (T, 96, 64)   float16 VGGish input example k (the log-mel spectrogram VGGish saw),
                           kept only for the clips of the --log-mel splits (pictures)

Longer clips keep their first T windows. Finished clips are saved one file each in
`<work>/clips/<clip id>.npz`, so a stopped run resumes where it was; a cached clip of a
--log-mel split without log_mel (cached by a run that did not keep it) is extracted again (if
that fails, its old cache file is removed and the clip skipped), so a data set never has a clip
without its log-mel. A clip that fails (an
unreadable or too-short file, a broken video, no video frame for the first window, i.e. no
usable frame) is logged to `<work>/errors.log` and skipped; a silent (all-zero) clip is kept,
with a note on stderr and in errors.log; the data set is written once at the end.
"""

import csv
import io
import sys
import time
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avt_np.cli import UsageError, first_line
from avt_np.data.writer import DatasetWriter
from avt_np.features import audio as audio_fe
from avt_np.features import video as video_io
from avt_np.features.audio import AudioError
from avt_np.features.labels import SPLITS
from avt_np.features.video import VideoError
from avt_np.io import NUMPY_FILE_ERRORS, read_npz, settings_changed, write_text

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3", ".opus"}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv"}
CACHE_VERSION = 1


@dataclass
class Clip:
    clip_id: str
    audio: Path = None      # a file soundfile reads; None -> the video container's audio
    video: Path = None


def discover_clips(spec):
    """A folder of media files, or a text file listing paths (one a line, '#' comments)
    -> [Clip] sorted by id. Files of other types are ignored."""
    spec = Path(spec)
    if spec.is_dir():
        paths = sorted(p for p in spec.iterdir() if p.is_file())
    elif spec.is_file():
        base = spec.parent
        paths = []
        for line in spec.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line)
                paths.append(p if p.is_absolute() else base / p)
    else:
        raise FileNotFoundError(f"--clips {spec}: no such folder or list file")
    clips = {}
    for p in paths:
        suffix = p.suffix.lower()
        if suffix not in AUDIO_SUFFIXES | VIDEO_SUFFIXES:
            continue
        clip = clips.setdefault(p.stem, Clip(p.stem))
        if suffix in AUDIO_SUFFIXES:
            clip.audio = p
        else:
            clip.video = p
    return [clips[k] for k in sorted(clips)]


def match_labels(clips, labels_by_split):
    """Pair clips with labels. labels_by_split: {split: {clip_id: multi-hot}}.

    A clip file may carry AudioSet's 'Y' prefix ('Yabc_30.000_40.000.mp4'). Returns
    ([(clip, split, label)], [clips without labels]).
    """
    where = {}
    for split, table in labels_by_split.items():
        for cid, row in table.items():
            if cid in where:
                raise UsageError(f"clip {cid} is labelled in both {where[cid][0]} and {split}")
            where[cid] = (split, row)
    matched, unlabelled = [], []
    for clip in clips:
        key = clip.clip_id if clip.clip_id in where else clip.clip_id[1:] \
            if clip.clip_id.startswith("Y") and clip.clip_id[1:] in where else None
        if key is None:
            unlabelled.append(clip)
        else:
            clip.clip_id = key
            matched.append((clip, *where[key]))
    return matched, unlabelled


@dataclass
class Prepared:
    """A clip decoded and ready for the networks (Extractor.prepare)."""
    clip: Clip
    examples: np.ndarray            # (n, 96, 64) float32 log-mel, n <= frames
    note: str = None                # a silence note, or None
    frames: np.ndarray = None       # (frames, 224, 224, 3) uint8, or None (audio only)
    present: np.ndarray = None      # (frames,) bool


class Extractor:
    """One clip -> {'audio': (T, 128), 'video': (T, 4096) or absent, 'valid': (T,),
    'log_mel': (T, 96, 64)} float32 / bool / float16 (log_mel zero past the audio's examples).

    vggish: a VGGish runner; vgg16: a VGG16 runner or None (audio only); frames_dir: folder
    of per-clip image folders used instead of ffmpeg; pca: a PCAQuantizer or None;
    dequantize: the convention turning its uint8 back into floats.

    Two steps, so that several clips share a network call: `prepare(clip)` decodes and makes
    the log-mel (no network; safe to run in threads), `embed([prepared])` runs VGGish and VGG16
    once over the examples and frames of all of them (in calls of at most `set_batch` items).
    `extractor(clip)` is both for one clip.
    """

    def __init__(self, vggish, vgg16=None, frames=10, frames_dir=None, pca=None,
                 dequantize="yt8m"):
        self.vggish, self.vgg16, self.frames = vggish, vgg16, frames
        self.frames_dir = Path(frames_dir) if frames_dir else None
        self.pca, self.dequantize = pca, dequantize
        self.notes = {}         # clip_id of an extracted clip -> a remark, not an error (silence)

    def set_batch(self, batch):
        """Frames (VGG16) and examples (VGGish) per onnxruntime call."""
        self.vggish.max_batch = batch
        if self.vgg16 is not None:
            self.vgg16.max_batch = batch

    def audio_examples(self, clip):
        """clip -> ((n, 96, 64) examples, n <= frames; a silence note or None)."""
        if clip.audio is not None:
            samples, rate = audio_fe.read_audio(clip.audio)
            source = clip.audio
        elif clip.video is not None:
            samples, rate = video_io.read_audio_ffmpeg(clip.video)
            source = clip.video
        else:
            raise AudioError(f"clip {clip.clip_id}: no audio file")
        note = None if np.any(samples) else (f"{source}: every sample is zero (silence); its "
                                             f"log-mel is log({audio_fe.LOG_OFFSET}) everywhere")
        examples = audio_fe.waveform_to_examples(samples, rate)
        if examples.shape[0] == 0:
            raise AudioError(f"{source}: {samples.shape[0] / rate:.3f} s of audio is shorter than "
                             f"one VGGish example ({audio_fe.MIN_SAMPLES / audio_fe.SAMPLE_RATE} s)")
        return examples[: self.frames], note

    def video_frames(self, clip):
        times = video_io.frame_times(self.frames)
        folder = self.frames_dir / clip.clip_id if self.frames_dir else None
        if folder is not None and folder.is_dir():
            return video_io.read_frames_folder(folder, times)
        if clip.video is not None:
            return video_io.read_frames_ffmpeg(clip.video, times)
        raise VideoError(f"clip {clip.clip_id}: no video file"
                         + (f" and no folder {folder}" if folder is not None else ""))

    def no_first_frame(self, clip):
        """The message for a clip without a video frame at 0.48 s (so with no usable frame)."""
        folder = self.frames_dir / clip.clip_id if self.frames_dir else None
        if folder is not None and folder.is_dir():
            return f"clip {clip.clip_id}: " + video_io.folder_times_hint(
                folder, video_io.frame_times(self.frames))
        return (f"clip {clip.clip_id}: {clip.video} has no frame at {video_io.FIRST_CENTRE} s "
                "(the first window's centre), so the clip has no usable frame")

    def prepare(self, clip):
        """Decode a clip: its log-mel examples and (with VGG16) its frames -> Prepared."""
        examples, note = self.audio_examples(clip)                      # (n, 96, 64)
        prepared = Prepared(clip, examples, note)
        if self.vgg16 is not None:
            prepared.frames, prepared.present = self.video_frames(clip)
            if not prepared.present[0]:         # the clip would have length 0 (clip_length)
                raise VideoError(self.no_first_frame(clip))
        return prepared

    def embed(self, batch):
        """[Prepared] -> [arrays] (one dict per clip, as __call__): VGGish once over every
        clip's examples, VGG16 once over every present frame."""
        T = self.frames
        counts = [p.examples.shape[0] for p in batch]
        emb = self.vggish(np.concatenate([p.examples for p in batch]))
        if self.pca is not None:
            from avt_np.features.vggish import dequantize  # imported here: onnxruntime, slow
            emb = dequantize(self.pca(emb), self.dequantize)
        fc7 = None
        if self.vgg16 is not None:
            fc7 = self.vgg16(np.concatenate([p.frames[p.present] for p in batch]))
        outs, a, v = [], 0, 0
        for p, n in zip(batch, counts):
            audio = np.zeros((T, emb.shape[1]), np.float32)
            audio[:n] = emb[a:a + n]
            a += n
            log_mel = np.zeros((T, *p.examples.shape[1:]), np.float16)
            log_mel[:n] = p.examples
            valid = np.arange(T) < n
            out = {"audio": audio, "valid": valid, "log_mel": log_mel}
            if fc7 is not None:
                m = int(p.present.sum())
                video = np.zeros((T, fc7.shape[1]), np.float32)
                video[p.present] = fc7[v:v + m]
                v += m
                out["video"] = video
                out["valid"] = valid & p.present
            outs.append(out)
        for p in batch:
            if p.note:                          # only now: a clip that failed has no note
                self.notes[p.clip.clip_id] = p.note
        return outs

    def __call__(self, clip):
        return self.embed([self.prepare(clip)])[0]


class ClipProgress:
    """'extract: 12/40 clips, 1 failed, 2.1 clips/s, ETA 13 s' on stderr; redrawn on a terminal,
    a line every 5 s otherwise."""

    def __init__(self, total, stream=None):
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self.last = -1e9

    def step(self, failed=False):
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if now - self.last >= (0.2 if self.tty else 5.0) or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / max(rate, 1e-9)
            end = "\r" if self.tty and self.done < self.total else "\n"
            self.stream.write(f"extract: {self.done}/{self.total} clips, {self.failed} failed, "
                              f"{rate:.2f} clips/s, ETA {eta:.0f} s{end}")
            self.stream.flush()


CACHED_AXES = {"audio": 2, "valid": 1, "video": 2, "log_mel": 3}   # arrays of a cached clip


class DamagedCache(UsageError):
    """A clip's cache file damaged inside: one line saying to delete it (exit 2)."""


class WorkDir:
    """The resumable cache: settings.json, clips/<id>.npz, errors.log."""

    def __init__(self, path, settings):
        self.path = Path(path)
        self.clips = self.path / "clips"
        self.clips.mkdir(parents=True, exist_ok=True)
        self.errors = self.path / "errors.log"
        settings = dict(settings, cache_version=CACHE_VERSION)
        try:
            changed = settings_changed(self.path / "settings.json", settings)
        except ValueError as e:                    # a damaged settings.json: its one line
            raise UsageError(str(e)) from None
        if changed:
            raise UsageError(f"work dir {self.path} was made with other settings "
                             f"({', '.join(changed)}); use another --work-dir or delete it")

    def file(self, clip_id):
        return self.clips / f"{clip_id}.npz"

    def has(self, clip_id):
        """Is clip_id cached? A cache file cut short, emptied or without its arrays counts as
        not cached (the clip is extracted again); only the .npz's index is read."""
        return {"audio", "valid"} <= self.arrays_in(clip_id)

    def arrays_in(self, clip_id):
        """The array names in clip_id's cache file; empty when it is missing or unreadable."""
        try:
            with open(self.file(clip_id), "rb") as f:
                npz = np.load(f, allow_pickle=False)
                return set(npz.files) if hasattr(npz, "files") else set()   # not an .npz
        except NUMPY_FILE_ERRORS:
            return set()

    def has_log_mel(self, clip_id):
        """Is clip_id cached with its log-mel examples? (reads the .npz's index, not its data)"""
        return self.has(clip_id) and "log_mel" in self.arrays_in(clip_id)

    def save(self, clip_id, arrays):
        tmp = self.clips / f"{clip_id}.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(self.file(clip_id))             # never a half-written cache file

    def load(self, clip_id, needed=(), frames=None):
        """The arrays of a cached clip, checked: each of audio, valid, video, log_mel present
        has its axes, one row per frame (`frames` of them when given, else as many as valid)
        and real finite numbers, and the arrays `needed` are there. DamagedCache, saying to
        delete the file, when it is damaged inside (a bad CRC, a garbled header, arrays of
        other shapes or types, one missing)."""
        try:
            arrays = read_npz(self.file(clip_id))
            T = len(arrays["valid"]) if frames is None else frames
            missing = [name for name in needed if name not in arrays]
            if missing:
                raise ValueError(f"no {missing[0]}")
            for name, ndim in CACHED_AXES.items():
                a = arrays.get(name)
                if a is not None and (a.ndim != ndim or a.shape[0] != T
                                      or a.dtype.kind not in "fiub"
                                      or not np.isfinite(a.astype(np.float32)).all()):
                    raise ValueError(f"{name} of shape {a.shape}, {a.dtype}, expected "
                                     f"{ndim} axes of real finite numbers, {T} frames")
            return arrays
        except (ValueError, KeyError, TypeError) as e:
            why = first_line(e).removeprefix(f"{self.file(clip_id)}: ")[:120]
            raise DamagedCache(f"{self.file(clip_id)}: damaged cache file ({why}); "
                             "delete it and run the same command again to extract the clip "
                             "again") from None

    def log_error(self, clip_id, message):
        with open(self.errors, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{clip_id}\t{message}\n")


CLIP_ERRORS = (AudioError, VideoError, OSError, ValueError, RuntimeError)
DEFAULT_BATCH = 20          # frames / examples per onnxruntime call: two clips (docs/features.md)
DEFAULT_PREFETCH = 2        # clips decoded ahead in threads while the networks run


def clips_per_group(batch, frames):
    """Clips whose frames fill one network call of `batch` frames (at least one clip)."""
    return max(1, batch // frames)


def prepared_clips(todo, extractor, prefetch):
    """Yield (item, Prepared or the exception prepare raised) for each (clip, split, label)
    in order; with prefetch > 0 that many threads decode the next clips meanwhile (ffmpeg,
    soundfile, the FFTs and onnxruntime all release the GIL)."""
    def prepare(item):
        try:
            return item, extractor.prepare(item[0])
        except Exception as e:                  # judged by the caller, in order
            return item, e

    if prefetch <= 0:
        yield from map(prepare, todo)
        return
    pool = ThreadPoolExecutor(prefetch, thread_name_prefix="avt_np-decode")
    try:
        ahead = deque()
        items = iter(todo)
        for item in items:
            ahead.append(pool.submit(prepare, item))
            if len(ahead) > 2 * prefetch:       # bounded: frames are 1.5 MB a clip
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def to_extract(matched, work, log_mel_splits=(), lacking=False):
    """The (clip, split, label) items of `matched` to extract: those not in the work dir, and
    cached clips of the `log_mel_splits` without log-mel; says how many are skipped or redone.
    lacking=True: also return the set of ids of the latter."""
    cached = {c.clip_id for c, _, _ in matched if work.has(c.clip_id)}
    redo = {c.clip_id for c, s, _ in matched if c.clip_id in cached and s in log_mel_splits
            and not work.has_log_mel(c.clip_id)}
    todo = [m for m in matched if m[0].clip_id not in cached or m[0].clip_id in redo]
    if len(todo) < len(matched):
        print(f"extract: {plural(len(matched) - len(todo), 'clip')} already done in {work.path}",
              file=sys.stderr)
    if redo:
        one = len(redo) == 1
        print(f"extract: {plural(len(redo), 'cached clip')} of the --log-mel splits "
              f"{'lacks' if one else 'lack'} log-mel (e.g. {min(redo)}) and "
              f"{'is' if one else 'are'} extracted again", file=sys.stderr)
    return (todo, redo) if lacking else todo


def extract_all(matched, extractor, work, progress=True, log_mel_splits=(), group=1,
                prefetch=0):
    """Extract every (clip, split, label) not already in the work dir, keeping the log-mel
    examples of the clips of `log_mel_splits` only. A cached clip of those splits without
    log-mel is extracted again. Returns {clip_id: error}.

    group: clips whose frames share network calls (clips_per_group); prefetch: threads that
    decode the next clips while the networks run. Each clip is saved as soon as its group is
    done, and a failing clip fails alone: when a group's network call fails, its clips are
    run one by one so that the error lands on the clip that caused it. The features do not
    depend on group or prefetch (up to float32 rounding of onnxruntime's batched kernels).
    """
    failures = {}
    todo, lacking = to_extract(matched, work, log_mel_splits, lacking=True)
    bar = ClipProgress(len(todo)) if progress and todo else None

    def failed(clip, e):
        from avt_np.features.onnx_model import ModelFileError  # imported here: onnxruntime, slow
        if isinstance(e, ModelFileError):
            raise e                                    # the model is wrong for every clip
        if isinstance(e, CLIP_ERRORS):
            message = first_line(e)
            failures[clip.clip_id] = message
            work.log_error(clip.clip_id, f"{type(e).__name__}: {message}")
            print(f"skip {clip.clip_id}: {message}", file=sys.stderr)
        else:                                          # a bug or an unexpected library error:
            tb = "".join(traceback.format_exception(e)).replace("\n", " | ")   # never abort
            failures[clip.clip_id] = f"{type(e).__name__}: {e}"
            work.log_error(clip.clip_id, tb)
            print(f"skip {clip.clip_id}: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        extractor.notes.pop(clip.clip_id, None)        # provenance notes list saved clips only
        if clip.clip_id in lacking:                    # its old cache lacks log-mel: the clip
            work.file(clip.clip_id).unlink()           # is skipped like any failed clip
        if bar:
            bar.step(True)

    def save(item, arrays):
        clip, split, _ = item
        try:
            if split not in log_mel_splits:
                arrays.pop("log_mel", None)             # 123 kB a clip: kept only where asked
            work.save(clip.clip_id, arrays)
        except Exception as e:                          # e.g. extracted but not saved
            return failed(clip, e)
        note = extractor.notes.get(clip.clip_id)
        if note:                                       # extracted; worth knowing, not an error
            work.log_error(clip.clip_id, f"note (extracted, not an error): {note}")
            print(f"note {clip.clip_id}: {note}", file=sys.stderr)
        if bar:
            bar.step(False)

    def run_group(batch):
        try:
            outs = extractor.embed([p for _, p in batch])
        except Exception as e:
            from avt_np.features.onnx_model import ModelFileError  # imported here: onnxruntime, slow
            if isinstance(e, ModelFileError) or len(batch) == 1:
                return failed(batch[0][0][0], e)
            for one in batch:                          # find the clip that fails
                run_group([one])
            return
        for (item, _), arrays in zip(batch, outs):
            save(item, arrays)

    batch = []
    for item, prepared in prepared_clips(todo, extractor, prefetch):
        if isinstance(prepared, Exception):
            failed(item[0], prepared)
            continue
        batch.append((item, prepared))
        if len(batch) >= group:
            run_group(batch)
            batch = []
    if batch:
        run_group(batch)
    return failures


def plural(n, noun):
    """'1 clip', '2 clips'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def labelled_without_file(matched, labels_by_split):
    """[(split, clip_id)] of labelled clips no file in --clips matched, sorted by split, id."""
    have = {c.clip_id for c, _, _ in matched}
    return [(split, cid) for split in SPLITS for cid in sorted(labels_by_split.get(split, {}))
            if cid not in have]


def not_found_rows(matched, no_file, work, failures):
    """not_found.csv's rows [(split, clip_id, reason)]: every labelled clip the data set lacks,
    no file first, then clips that failed (reason: their error), in split order."""
    reasons = {cid: failures.get(cid, "not extracted (see errors.log)") for c, _, _ in matched
               if not work.has(cid := c.clip_id)}
    rows = [(s, cid, "no file in --clips") for s, cid in no_file]
    rows += [(s, c.clip_id, reasons[c.clip_id]) for c, s, _ in matched if c.clip_id in reasons]
    order = {s: k for k, s in enumerate(SPLITS)}
    return sorted(rows, key=lambda r: order[r[0]])       # stable: no file first in each split


def not_found_csv(rows):
    """The text of not_found.csv, in the AudioSet converter's format (avt_np.data.audioset):
    a header `split,clip_id,reason`, one labelled clip a row."""
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerow(["split", "clip_id", "reason"])
    out.writerows(rows)
    return text.getvalue()


def clip_length(valid):
    """Real frames of a clip: the frames before its first invalid one (valid: (T,) bool)."""
    valid = np.asarray(valid, bool)
    return int(np.argmin(valid)) if not valid.all() else valid.size


def write_dataset(out_dir, matched, work, classes, frames, with_video, dtype="float16",
                  provenance=None, overwrite=False, chunk=256, log_mel_splits=(),
                  not_found=None):
    """Write every cached clip through avt_np.data.format.DatasetWriter; returns clips per split.
    The splits in `log_mel_splits` get log_mel.npy (every clip of theirs must be cached with it).
    not_found: rows of not_found.csv (not_found_rows), written beside the splits; None: no file.

    The format marks padding by a per-clip length, not a mask: a clip's length is its run of
    valid frames from the start, and every frame from there on is written as zeros (a frame
    missing from one modality in the middle of a clip, e.g. a stale image in a frames folder,
    ends the clip there). Splits without clips are written empty.
    """

    dims = {"audio": 128, "video": 4096} if with_video else {"audio": 128}
    counts = {}
    with DatasetWriter(out_dir, list(classes), dims=dims, frames=frames, dtype=dtype,
                       provenance=provenance, overwrite=overwrite) as writer:
        for split in SPLITS:
            items = [(c.clip_id, lab) for c, s, lab in matched if s == split and work.has(c.clip_id)]
            counts[split] = len(items)
            for start in range(0, len(items), chunk):
                part = items[start:start + chunk]
                cached = [work.load(cid) for cid, _ in part]
                lengths = np.array([clip_length(c["valid"]) for c in cached], np.int16)
                padding = np.arange(frames)[None, :] >= lengths[:, None]       # (B, T)
                audio = np.stack([c["audio"] for c in cached])
                audio[padding] = 0
                video = log_mel = None
                if with_video:
                    video = np.stack([c["video"] for c in cached])
                    video[padding] = 0
                if split in log_mel_splits:
                    missing = [cid for (cid, _), c in zip(part, cached) if "log_mel" not in c]
                    if missing:
                        raise UsageError(f"{work.file(missing[0])}: no log_mel (cached without "
                                         f"it; extract_all with log_mel_splits recomputes it)")
                    log_mel = np.stack([c["log_mel"] for c in cached])    # (B, T, 96, 64)
                    log_mel[padding] = 0
                writer.append(split, audio=audio,
                              labels=np.stack([lab for _, lab in part]).astype(np.uint8),
                              clip_ids=[cid for cid, _ in part], video=video, lengths=lengths,
                              log_mel=log_mel)
        if not_found is not None:
            write_text(Path(writer.tmp) / "not_found.csv", not_found_csv(not_found))
    return counts


