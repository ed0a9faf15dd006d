"""From frame probabilities to events: DCASE 2017 Task 4 subtask B without changing the model.

The model already gives a sigmoid output per class per 0.96 s frame before pooling (Sec. 2.2.4):
`frame_probabilities` (N, T, C). Four steps turn them into events `(file, onset, offset, label)`:

1. threshold: a class is active in a frame when its probability is at least `threshold`, and
   only in clips tagged with that class (clip probability >= the run's tagging threshold), so
   the events of subtask B never contradict the tags of subtask A. With mean or max pooling a
   tagged class always has a frame at or above the tagging threshold (mean <= max).
2. median filter over `median` frames (odd): a frame is active when most of the window around
   it is (frames outside the clip's real frames count as inactive);
3. gap merge: two events of a class separated by at most `max_gap` inactive frames become one;
4. minimum length: events shorter than `min_length` frames are dropped.

These are the usual post-processing steps of DCASE 2017 Task 4 subtask B systems (see
docs/detection.md for who used which); `choose` picks them on validation, never on test. Events
start and end on frame edges, k x 0.96 s: the resolution docs/detection.md measures.
"""

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from avt_np import events as event_metrics

FRAME_HOP_SECONDS = 0.96        # one VGGish example (Sec. 3.2.1); data.format says the same


@dataclass(frozen=True)
class PostProcessing:
    threshold: float            # frame threshold
    median: int = 1             # median filter width in frames (odd; 1 = none)
    max_gap: int = 0            # gaps of at most this many frames are filled
    min_length: int = 1         # events of fewer frames are dropped

    def __post_init__(self):
        if not (self.median >= 1 and self.median % 2 == 1):
            raise ValueError(f"median must be an odd number of frames >= 1, got {self.median}")
        if self.max_gap < 0 or self.min_length < 1:
            raise ValueError(f"max_gap >= 0 and min_length >= 1 frames, got {self.max_gap}, "
                             f"{self.min_length}")

    def to_json(self):
        return asdict(self)


def real_frames(lengths, n, frames):
    """(N, T) bool: frame t of clip i is real (t < lengths[i]; every frame when None)."""
    if lengths is None:
        return np.ones((n, frames), bool)
    return np.arange(frames) < np.asarray(lengths)[:, None]


def last_index_where(mask):
    """(..., T) bool -> (..., T) int: the index of the latest True at or before t, -1 if none."""
    index = np.where(mask, np.arange(mask.shape[-1]), -1)
    return np.maximum.accumulate(index, axis=-1)


def median_filter(active, width):
    """Majority vote over `width` frames (odd) along the last axis; outside frames are off."""
    if width == 1:
        return active
    half = width // 2
    padded = np.pad(active, [(0, 0)] * (active.ndim - 1) + [(half + 1, half)])
    counts = np.cumsum(padded, axis=-1, dtype=np.int32)                     # (..., T + w)
    window = counts[..., width:] - counts[..., :-width]                     # (..., T)
    return window > half


def fill_gaps(active, max_gap):
    """Turn on every run of at most `max_gap` off frames that has on frames on both sides."""
    if max_gap == 0:
        return active
    T = active.shape[-1]
    before = last_index_where(active)                                       # (..., T)
    after = T - 1 - last_index_where(active[..., ::-1])[..., ::-1]   # first at or after; T: none
    gap = after - before - 1
    return active | ((before >= 0) & (after < T) & (gap <= max_gap))


def drop_short(active, min_length):
    """Turn off every run of on frames shorter than `min_length` frames."""
    if min_length == 1:
        return active
    T = active.shape[-1]
    run_start = last_index_where(~active) + 1                               # (..., T)
    run_end = T - 2 - last_index_where(~active[..., ::-1])[..., ::-1]      # before the next off
    return active & (run_end - run_start + 1 >= min_length)


def active_frames(frame_probabilities, tagged, lengths, settings):
    """(N, T, C) probabilities, (N, C) bool tags, (N,) lengths -> (N, C, T) bool active."""
    probs = np.moveaxis(frame_probabilities, 1, 2)                          # (N, C, T)
    real = real_frames(lengths, probs.shape[0], probs.shape[2])[:, None, :]  # (N, 1, T)
    active = (probs >= settings.threshold) & np.asarray(tagged, bool)[:, :, None] & real
    active = median_filter(active, settings.median) & real
    active = fill_gaps(active, settings.max_gap) & real
    return drop_short(active, settings.min_length)


def to_events(active, files, classes, hop=FRAME_HOP_SECONDS):
    """(N, C, T) bool -> [(file, onset, offset, label)], a run of frames a..b becoming
    [a hop, (b + 1) hop), sorted by file order, onset, label."""
    padded = np.pad(active, [(0, 0), (0, 0), (1, 1)]).astype(np.int8)
    edges = np.diff(padded, axis=-1)                                        # (N, C, T + 1)
    clip, cls, start = np.nonzero(edges == 1)
    _, _, stop = np.nonzero(edges == -1)                # same order: runs never overlap
    order = np.lexsort((cls, start, clip))
    return [(files[i], round(float(a) * hop, 3), round(float(b) * hop, 3), classes[c])
            for i, c, a, b in zip(clip[order], cls[order], start[order], stop[order])]


def detect(frame_probabilities, tagged, lengths, files, classes, settings):
    """The events of N clips. frame_probabilities (N, T, C); tagged (N, C) bool; lengths (N,)
    real frames or None; files: N names for the event lists; settings: PostProcessing."""
    return to_events(active_frames(frame_probabilities, tagged, lengths, settings), files,
                     classes)


# Candidates tried on validation. The threshold is a fraction of the run's tagging threshold
# (1 = the same decision level as the tags; lower = longer events inside tagged clips).
THRESHOLD_FRACTIONS = (1.0, 0.75, 0.5)
MEDIANS = (1, 3, 5)
MAX_GAPS = (0, 1, 2)
MIN_LENGTHS = (1, 2)


def candidates(tag_threshold):
    for fraction, median, gap, length in itertools.product(THRESHOLD_FRACTIONS, MEDIANS,
                                                           MAX_GAPS, MIN_LENGTHS):
        yield PostProcessing(round(tag_threshold * fraction, 6), median, gap, length)


def choose(frame_probabilities, tagged, lengths, files, classes, reference, tag_threshold):
    """The candidate with the lowest segment-based error rate on these (validation) clips,
    F1 breaking ties, the first candidate (the least post-processing) breaking those.
    -> (PostProcessing, its segment_based scores)."""
    best = None
    for settings in candidates(tag_threshold):
        estimated = detect(frame_probabilities, tagged, lengths, files, classes, settings)
        scores = event_metrics.segment_based(reference, estimated, labels=classes)
        key = (scores["error_rate"], -scores["f1"])
        if best is None or key < best[0]:
            best = (key, settings, scores)
    return best[1], best[2]
