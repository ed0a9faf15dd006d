"""The on-disk data set format: a directory of memory-mappable .npy files.

    DATASET/
      meta.json                 format, version, classes (in order), frame_hop_seconds, frames,
                                dims {"audio": 128, "video": 4096}, dtype, splits {name: clips},
                                ground_truth {name: bool}, provenance {...}
      train/ validation/ test/
        audio.npy               (N, T, 128)     float16 or float32, VGGish embeddings per 0.96 s
        video.npy               (N, T, D_v)     fc7 embeddings at the window centres (optional:
                                                absent in every split when dims has no "video")
        labels.npy              (N, C)          uint8 in {0, 1}, clip-level (weak) labels
        clip_ids.txt            N lines
        audible.npy, visible.npy (N, C, T) bool  frame-level ground truth (optional, per split)
        lengths.npy             (N,) int16      real frames per clip when some were padded
                                                (optional; absent means all T are real)
        log_mel.npy             (N, T, 96, 64)  float16 VGGish log-mel example of each frame
                                                (96 x 10 ms, 64 bands; optional, per split;
                                                zeros for padded frames), for pictures
        events.tsv              strong-label reference (optional, per split): one event a line,
                                clip id<TAB>onset<TAB>offset<TAB>class, seconds within the clip,
                                the DCASE 2017 Task 4 organisers' format (avt_np/events.py)

Clips shorter than T frames are zero-padded by the writer's caller, who passes `lengths`.
`open_dataset` memory-maps everything, validates it (shapes agree, labels binary, no NaN/inf,
classes as expected) and raises DataError with one line naming the file and the problem. The
writing side is writer.py.
"""

import json
from pathlib import Path

import numpy as np

from avt_np import events as event_lists
from avt_np.cli import UsageError, first_line
from avt_np.io import NUMPY_FILE_ERRORS, is_a

FORMAT = "avt_np-dataset"
EMBEDDED_FORMAT = "avt_np-embedded"     # meta.json of a cached embedded set (synthetic.py)
VERSION = 1
SPLITS = ("train", "validation", "test")
FRAME_HOP_SECONDS = 0.96        # a frame: one VGGish example (Sec. 3.2.1)
CHUNK_BYTES = 64 << 20          # finite-value scans read the memory maps this much at a time
LOG_MEL_SHAPE = (96, 64)        # one VGGish example: avt_np.features.audio EXAMPLE_FRAMES x
                                # NUM_MEL_BANDS (not imported: reading needs no SciPy)


class DataError(UsageError):
    """A data set that cannot be used; the message is one line naming the file and problem."""


# -- reading ---------------------------------------------------------------------------------
class Split:
    """One split of a data set: labels and ground truth in memory, features on demand.

    Subclasses provide `audio_frames(idx)` and `video_frames(idx)` (float32 (B, T, D)); the
    embedded synthetic set computes them, a directory data set reads them from memory maps.
    """

    def __init__(self, name, labels, clip_ids, audible=None, visible=None):
        self.name = name
        self.labels = labels            # (N, C) uint8
        self.clip_ids = clip_ids        # list of N str
        self.audible = audible          # (N, C, T) bool or None
        self.visible = visible          # (N, C, T) bool or None
        self.lengths = None             # (N,) real frames per clip, None when all are real
        self.log_mel = None             # (N, T, 96, 64) log-mel examples, None when not stored
        self.events = None              # [(clip id, onset, offset, class)] strong-label
                                        # reference from events.tsv, None when not stored

    def __len__(self):
        return self.labels.shape[0]

    @property
    def has_ground_truth(self):
        return self.audible is not None and self.visible is not None

    def batch(self, idx):
        """Clips idx (B,) -> {"audio": (B, T, 128), "video": (B, T, D_v) or None,
        "labels": (B, C)}, all float32, "lengths" (B,) int64 real frames per clip (None when
        all are real), plus "audible"/"visible" (B, C, T) when known."""
        idx = np.asarray(idx, dtype=np.int64)
        out = {"audio": self.audio_frames(idx), "video": self.video_frames(idx),
               "labels": self.labels[idx].astype(np.float32),
               "lengths": None if self.lengths is None else self.lengths[idx].astype(np.int64)}
        if self.has_ground_truth:
            out["audible"], out["visible"] = self.audible[idx], self.visible[idx]
        return out

    def index_of(self, clip):
        """A clip id or an integer index (as text or int) -> integer index."""
        if isinstance(clip, (int, np.integer)) or str(clip).lstrip("-").isdigit():
            i = int(clip)
            if not -len(self) <= i < len(self):
                raise DataError(f"{self.name}: clip index {i} out of range (0..{len(self) - 1})")
            return i % len(self)
        try:
            return self.clip_ids.index(str(clip))
        except ValueError:
            raise DataError(f"{self.name}: no clip with id {clip!r}") from None


class ArraySplit(Split):
    """A split read from memory-mapped .npy files."""

    def __init__(self, name, audio, video, labels, clip_ids, audible=None, visible=None):
        super().__init__(name, labels, clip_ids, audible, visible)
        self.audio = audio              # (N, T, 128) memmap
        self.video = video              # (N, T, D_v) memmap or None

    def audio_frames(self, idx):
        return np.asarray(self.audio[idx], dtype=np.float32)

    def video_frames(self, idx):
        return None if self.video is None else np.asarray(self.video[idx], dtype=np.float32)


class Dataset:
    """Three splits plus what meta.json says about them."""

    def __init__(self, meta, splits, path=None):
        self.meta = meta
        self.splits = splits            # {"train": Split, "validation": Split, "test": Split}
        self.path = path

    classes = property(lambda self: list(self.meta["classes"]))
    dims = property(lambda self: dict(self.meta["dims"]))
    frames = property(lambda self: int(self.meta["frames"]))
    has_video = property(lambda self: "video" in self.meta["dims"])

    def __getitem__(self, name):
        return self.splits[name]

    def __contains__(self, name):
        return name in self.splits

    def __repr__(self):
        sizes = ", ".join(f"{k} {len(v)}" for k, v in self.splits.items())
        return f"Dataset({self.path or self.meta.get('provenance', {}).get('name')}: {sizes})"


def read_meta(path):
    file = Path(path) / "meta.json"
    if not Path(path).is_dir():
        raise DataError(f"{path}: not a directory (expected a data set directory with "
                        "meta.json and train/, validation/, test/)")
    if not file.is_file():
        raise DataError(f"{file}: missing (not an avt_np data set: expected meta.json and "
                        "train/, validation/, test/)")
    try:
        meta = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{file}: not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{file}: expected a JSON object")
    missing = [k for k in ("format", "classes", "frames", "dims", "splits") if k not in meta]
    if missing:
        raise DataError(f"{file}: missing key(s) {', '.join(missing)}")
    if meta["format"] not in (FORMAT, EMBEDDED_FORMAT):
        raise DataError(f"{file}: format is {meta['format']!r}, expected {FORMAT!r}")
    dims = meta["dims"]
    if not (isinstance(dims, dict) and "audio" in dims and set(dims) <= {"audio", "video"}
            and all(positive_int(d) for d in dims.values())):
        raise DataError(f"{file}: dims must be {{\"audio\": int[, \"video\": int]}} with "
                        f"positive integers, got {dims}")
    if not positive_int(meta["frames"]):
        raise DataError(f"{file}: frames must be a positive integer, got {meta['frames']!r}")
    if not (isinstance(meta["classes"], list) and meta["classes"]
            and all(isinstance(c, str) for c in meta["classes"])):
        raise DataError(f"{file}: classes must be a non-empty list of names")
    splits = meta["splits"]
    if not (isinstance(splits, dict) and set(splits) <= set(SPLITS)
            and all(is_a(n, int) and n >= 0 for n in splits.values())):
        raise DataError(f"{file}: splits must be {{name: clips}} with names among "
                        f"{', '.join(SPLITS)} and counts >= 0, got {splits!r}")
    return meta


def positive_int(x):
    """True for a JSON integer > 0 (not a bool, a float or a string)."""
    return is_a(x, int) and x > 0


def load_npy(file):
    """Memory-map an .npy file; one-line DataError when it is missing, truncated or not .npy."""
    if not file.is_file():
        raise DataError(f"{file}: missing")
    try:
        return np.load(file, mmap_mode="r", allow_pickle=False)
    except NUMPY_FILE_ERRORS as e:             # (a garbled header's message quotes the
                                               # header, so only its start is kept)
        raise DataError(f"{file}: unreadable as .npy (truncated or not an .npy file: "
                        f"{first_line(e)[:80]})") from None


def expect_shape(file, array, shape):
    """shape: a tuple with None for 'any'."""
    ok = array.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, array.shape))
    if not ok:
        wanted = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise DataError(f"{file}: shape {array.shape}, expected {wanted}")


def check_finite(file, array):
    """Scan a (possibly huge) memory-mapped float array in chunks for NaN / inf."""
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"{file}: dtype {array.dtype}, expected float16 or float32")
    rows = max(1, CHUNK_BYTES // max(1, array[:1].nbytes))
    for start in range(0, array.shape[0], rows):
        chunk = np.asarray(array[start:start + rows])
        bad = ~np.isfinite(chunk)
        if bad.any():
            clip = start + int(np.argwhere(bad)[0][0])
            raise DataError(f"{file}: {int(bad.sum())} NaN/inf value(s), the first in clip {clip}")


def read_lines(file):
    """The lines of a UTF-8 text file; one-line DataError when it is missing or not UTF-8."""
    if not file.is_file():
        raise DataError(f"{file}: missing")
    try:
        return file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{file}: not UTF-8 text (byte {e.start})") from None


def check_labels(file, labels):
    """(N, C) labels -> uint8; DataError unless every value is 0 or 1."""
    labels = np.asarray(labels)
    binary = np.isin(labels, (0, 1))
    if not binary.all():
        raise DataError(f"{file}: labels must be 0 or 1, found {labels[~binary][0].item()!r}")
    return labels.astype(np.uint8)


def read_split(path, name, meta):
    folder = Path(path) / name
    if not folder.is_dir():
        raise DataError(f"{folder}: missing split directory")
    classes, frames, dims = len(meta["classes"]), int(meta["frames"]), meta["dims"]
    labels_file = folder / "labels.npy"
    labels = load_npy(labels_file)
    expect_shape(labels_file, labels, (None, classes))
    n = labels.shape[0]
    labels = check_labels(labels_file, labels)

    arrays = {}
    for modality in ("audio", "video"):
        if modality in dims:
            file = folder / f"{modality}.npy"
            arrays[modality] = load_npy(file)
            expect_shape(file, arrays[modality], (n, frames, dims[modality]))
            check_finite(file, arrays[modality])

    ids_file = folder / "clip_ids.txt"
    clip_ids = read_lines(ids_file)
    if len(clip_ids) != n:
        raise DataError(f"{ids_file}: {len(clip_ids)} ids for {n} clips in labels.npy")

    truth = {}
    for kind in ("audible", "visible"):
        file = folder / f"{kind}.npy"
        if file.exists():
            truth[kind] = load_npy(file)
            expect_shape(file, truth[kind], (n, classes, frames))
            truth[kind] = np.asarray(truth[kind], dtype=bool)
            unlabelled = truth[kind].any(axis=2) & (labels == 0)
            if unlabelled.any():
                clip, c = np.argwhere(unlabelled)[0]
                raise DataError(f"{file}: clip {clip} has {kind} frames of class "
                                f"{meta['classes'][c]!r} but not its label")
    lengths = read_lengths(folder, n, frames)
    if len(truth) == 1:
        raise DataError(f"{folder}: has {next(iter(truth))}.npy but not its partner "
                        "(frame-level ground truth needs both audible.npy and visible.npy)")
    log_mel = None
    if (folder / "log_mel.npy").exists():
        log_mel = load_npy(folder / "log_mel.npy")
        expect_shape(folder / "log_mel.npy", log_mel, (n, frames, *LOG_MEL_SHAPE))
        check_finite(folder / "log_mel.npy", log_mel)
    split = ArraySplit(name, arrays["audio"], arrays.get("video"), labels, clip_ids,
                       truth.get("audible"), truth.get("visible"))
    split.lengths, split.log_mel = lengths, log_mel
    split.events = read_reference_events(folder, clip_ids, meta["classes"])
    return split


def read_reference_events(folder, clip_ids, classes):
    """folder/events.tsv checked against the split: every event of a clip of the split and of
    a known class (label None: a line with only a clip id, a clip without events). None when
    the file is absent (no strong labels for this split)."""
    file = Path(folder) / "events.tsv"
    if not file.exists():
        return None
    try:
        events = event_lists.read_events(file)
    except UsageError as e:
        raise DataError(str(e)) from None
    known_clips, known_classes = set(clip_ids), set(classes)
    for event in events:
        if event[0] not in known_clips:
            raise DataError(f"{file}: event of clip {event[0]!r}, which is not in this split")
        if event[3] is not None and event[3] not in known_classes:
            raise DataError(f"{file}: event of class {event[3]!r}, not one of the data set's "
                            "classes")
    return events


def read_lengths(folder, n, frames):
    """folder/lengths.npy checked: (n,) integers in 1..frames (a clip with no real frame has
    nothing to score); None when the file is absent (every frame is real)."""
    file = Path(folder) / "lengths.npy"
    if not file.exists():
        return None
    lengths = np.asarray(load_npy(file))
    expect_shape(file, lengths, (n,))
    if not np.issubdtype(lengths.dtype, np.integer):
        raise DataError(f"{file}: dtype {lengths.dtype}, expected integers")
    if n and (lengths.min() < 1 or lengths.max() > frames):
        raise DataError(f"{file}: lengths must lie in 1..{frames}")
    return lengths


def open_dataset(path, classes=None):
    """Open and validate the data set directory `path` (expected class names: optional).
    An embedded cache is opened by avt_np.data.open, which also knows this format."""
    meta = read_meta(path)
    if meta["format"] == EMBEDDED_FORMAT:
        raise DataError(f"{Path(path) / 'meta.json'}: an embedded data set cache; open it with "
                        "avt_np.data.open (or pass it as --data)")
    if classes is not None and list(classes) != list(meta["classes"]):
        diff = next((i for i, (a, b) in enumerate(zip(classes, meta["classes"])) if a != b),
                    min(len(classes), len(meta["classes"])))
        raise DataError(f"{Path(path) / 'meta.json'}: classes differ from those expected "
                        f"({len(meta['classes'])} vs {len(classes)} classes, first difference "
                        f"at index {diff})")
    splits = {name: read_split(path, name, meta) for name in SPLITS}
    for name, split in splits.items():
        if name in meta["splits"] and meta["splits"][name] != len(split):
            raise DataError(f"{Path(path) / 'meta.json'}: says {meta['splits'][name]} {name} "
                            f"clips, {name}/labels.npy has {len(split)}")
    return Dataset(meta, splits, path=Path(path))
