"""Writing a data set in the on-disk format of format.py.

`DatasetWriter` streams clips into a hidden sibling directory (`.NAME.partial-PID`) and renames
it into place only when complete, so a crash never leaves a half-written data set behind. Clips
shorter than T frames are zero-padded by the caller, who passes their `lengths`.
"""

import os
import shutil
from pathlib import Path

import numpy as np

from avt_np import events as event_lists
from avt_np.data.format import FORMAT, FRAME_HOP_SECONDS, LOG_MEL_SHAPE, SPLITS, VERSION, DataError
from avt_np.data.npy_appender import NpyAppender
from avt_np.io import partial_dir, write_json


class SplitWriter:
    """The appenders of one split, opened on its first clips."""

    def __init__(self, folder, classes, frames, dims, dtype, ground_truth, lengths,
                 log_mel=False):
        folder.mkdir(parents=True)
        self.ground_truth, self.lengths, self.log_mel = ground_truth, lengths, log_mel
        self.files = {m: NpyAppender(folder / f"{m}.npy", (frames, d), dtype)
                      for m, d in dims.items()}
        self.files["labels"] = NpyAppender(folder / "labels.npy", (classes,), np.uint8)
        if ground_truth:
            for kind in ("audible", "visible"):
                self.files[kind] = NpyAppender(folder / f"{kind}.npy", (classes, frames), bool)
        if lengths:
            self.files["lengths"] = NpyAppender(folder / "lengths.npy", (), np.int16)
        if log_mel:
            self.files["log_mel"] = NpyAppender(folder / "log_mel.npy", (frames, *LOG_MEL_SHAPE),
                                                np.float16)
        self.ids = open(folder / "clip_ids.txt", "w", encoding="utf-8")
        self.count = 0

    def close(self):
        for appender in self.files.values():
            appender.close()
        self.ids.close()


class DatasetWriter:
    """Stream clips into a new data set directory; it appears at `path` only on `close()`.

        with DatasetWriter(out, classes, dims={"audio": 128, "video": 4096}) as writer:
            writer.append("train", audio=a, video=v, labels=y, clip_ids=ids)   # any batch size
            ...

    Clips are (B, T, D) arrays; labels (B, C) in {0, 1}; audible / visible (B, C, T) bool,
    lengths (B,) (real frames of zero-padded clips) and log_mel (B, T, 96, 64) (the VGGish
    examples, stored as float16, zeros for padded frames) are each given for every append of a
    split or for none. A split never appended is written empty. `add_events(split, events)`
    gives a split its strong-label reference (events.tsv).
    On an exception inside the `with`, nothing is left behind.
    """

    def __init__(self, path, classes, dims, frames=10, dtype="float16", provenance=None,
                 overwrite=False):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise DataError(f"{self.path}: already exists (refusing to overwrite a data set)")
        self.classes, self.frames, self.dims = list(classes), int(frames), dict(dims)
        self.dtype = np.dtype(dtype)
        self.provenance = dict(provenance or {})
        self.overwrite = overwrite
        self.tmp = partial_dir(self.path)
        self.splits = {}
        self.events = {}                # split -> [(clip id, onset, offset, class)]

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self.abort()

    def append(self, split, audio, labels, clip_ids, video=None, audible=None, visible=None,
               lengths=None, log_mel=None):
        if split not in SPLITS:
            raise DataError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
        given = {"audio": audio, "video": video}
        arrays = {m: np.asarray(given[m]) for m in self.dims}       # checked, then stored cast
        if video is not None and "video" not in self.dims:
            raise DataError(f"{self.path}: video given but dims has no 'video'")
        labels = np.asarray(labels)
        b = labels.shape[0]
        for m, x in arrays.items():
            if x.shape != (b, self.frames, self.dims[m]):
                raise DataError(f"{self.path}/{split}: {m} of shape {x.shape}, expected "
                                f"({b}, {self.frames}, {self.dims[m]})")
            arrays[m] = self.stored_finite(split, m, x, self.dtype, clip_ids)
        if labels.shape != (b, len(self.classes)) or not np.isin(labels, (0, 1)).all():
            raise DataError(f"{self.path}/{split}: labels must be ({b}, {len(self.classes)}) "
                            f"in {{0, 1}}, got shape {labels.shape}")
        clip_ids = [str(c) for c in clip_ids]
        if len(clip_ids) != b or any("\n" in c or "\r" in c for c in clip_ids):
            raise DataError(f"{self.path}/{split}: need {b} clip ids without line breaks")
        ground_truth = audible is not None
        if (visible is not None) != ground_truth:
            raise DataError(f"{self.path}/{split}: give audible and visible together")
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.shape != (b,) or (b and (lengths.min() < 1 or lengths.max() > self.frames)):
                raise DataError(f"{self.path}/{split}: lengths must be ({b},) in 1..{self.frames} "
                                "(a clip with no real frame has nothing to score)")
        if log_mel is not None:
            log_mel = self.checked_log_mel(split, log_mel, clip_ids)
        optional = (ground_truth, lengths is not None, log_mel is not None)
        if split not in self.splits:
            self.splits[split] = SplitWriter(self.tmp / split, len(self.classes), self.frames,
                                             self.dims, self.dtype, *optional)
        writer = self.splits[split]
        if (writer.ground_truth, writer.lengths, writer.log_mel) != optional:
            raise DataError(f"{self.path}/{split}: ground truth, lengths or log_mel given for "
                            "some appends and not others")
        for m, x in arrays.items():
            writer.files[m].append(x)
        writer.files["labels"].append(labels)
        if ground_truth:
            writer.files["audible"].append(np.asarray(audible, bool))
            writer.files["visible"].append(np.asarray(visible, bool))
        if lengths is not None:
            writer.files["lengths"].append(lengths)
        if log_mel is not None:
            writer.files["log_mel"].append(log_mel)
        writer.ids.write("".join(c + "\n" for c in clip_ids))
        writer.count += b

    def add_events(self, split, events):
        """Strong-label events (clip id, onset, offset, class) of clips of `split`, written to
        split/events.tsv on close (its clips must have been appended by then)."""
        if split not in SPLITS:
            raise DataError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
        for clip, onset, offset, label in events:
            if label not in self.classes:
                raise DataError(f"{self.path}/{split}: event of unknown class {label!r}")
            if not 0 <= onset <= offset:
                raise DataError(f"{self.path}/{split}: event of clip {clip!r} from {onset} to "
                                f"{offset} s (need 0 <= onset <= offset)")
        self.events.setdefault(split, []).extend(events)

    def checked_log_mel(self, split, log_mel, clip_ids):
        """(B, T, 96, 64) log-mel examples -> float16; DataError for a wrong shape or NaN/inf."""
        log_mel = np.asarray(log_mel)
        expected = (len(clip_ids), self.frames, *LOG_MEL_SHAPE)
        if log_mel.shape != expected:
            raise DataError(f"{self.path}/{split}: log_mel of shape {log_mel.shape}, expected "
                            f"{expected}")
        return self.stored_finite(split, "log_mel", log_mel, np.dtype(np.float16), clip_ids)

    def stored_finite(self, split, what, x, dtype, clip_ids):
        """x (B, ...) cast to the stored dtype; DataError naming the clip if a value is NaN/inf
        as stored. Checked after the cast: 1e5 is finite but overflows float16 (max 65504)."""
        with np.errstate(over="ignore", invalid="ignore"):
            stored = np.asarray(x, dtype=dtype)
        bad = ~np.isfinite(stored)
        if bad.any():
            clip = str(clip_ids[int(np.argwhere(bad)[0][0])])
            raise DataError(f"{self.path}/{split}: {what} of clip {clip!r} has NaN/inf values "
                            f"as {dtype.name} (finite {dtype.name} lies within "
                            f"+-{float(np.finfo(dtype).max):g})")
        return stored

    def close(self):
        """Finish every file, write meta.json, and move the directory into place."""
        for name in SPLITS:
            if name not in self.splits:
                self.splits[name] = SplitWriter(self.tmp / name, len(self.classes), self.frames,
                                                self.dims, self.dtype, False, False)
        for writer in self.splits.values():
            writer.close()
        for split, events in self.events.items():
            event_lists.write_events(self.tmp / split / "events.tsv", events)
        write_json(self.tmp / "meta.json", {
            "format": FORMAT, "version": VERSION, "classes": self.classes,
            "frame_hop_seconds": FRAME_HOP_SECONDS, "frames": self.frames, "dims": self.dims,
            "dtype": self.dtype.name,
            "splits": {name: w.count for name, w in self.splits.items()},
            "ground_truth": {name: w.ground_truth for name, w in self.splits.items()},
            "provenance": self.provenance})
        old = self.path.parent / f".{self.path.name}.old-{os.getpid()}"
        if self.path.exists() and self.overwrite:
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        shutil.rmtree(old, ignore_errors=True)

    def abort(self):
        for writer in self.splits.values():
            try:
                writer.close()
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)
