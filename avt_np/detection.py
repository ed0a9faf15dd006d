"""From frame probabilities to events: DCASE 2017 Task 4 subtask B without changing the model.

The model already gives a sigmoid output per class per 0.96 s frame before pooling (Sec. 2.2.4):
`frame_probabilities` (N, T, C). Four steps turn them into events `(file, onset, offset, label)`:

1. threshold: a class is active in a frame when its probability is at least `threshold`, and
   only in clips tagged with that class (clip probability >= the run's tagging threshold), so
   the events of subtask B never contradict the tags of subtask A. With any of the poolings a
   tagged class has a frame at or above the tagging threshold (each pools to at most the max).
   Two refinements of Kong, Xu, Wang and Plumbley ("Sound event detection of weakly labelled
   data with CNN-Transformer and automatic threshold optimization", IEEE/ACM TASLP 2020): a
   double threshold, where frames down to `low` belong to an event when their run of frames
   >= low reaches `threshold` somewhere (an event is found by its peak and followed down its
   slopes); and per-class thresholds (`class_thresholds`, `class_lows`) in place of the global
   ones.
2. median filter over `median` frames (odd): a frame is active when most of the window around
   it is (frames outside the clip's real frames count as inactive);
3. gap merge: two events of a class separated by at most `max_gap` inactive frames become one;
4. minimum length: events shorter than `min_length` frames are dropped.

These are the usual post-processing steps of DCASE 2017 Task 4 subtask B systems (see
docs/detection.md for who used which); `choose` picks them on validation, never on test:
first the global threshold and the three filters, then a double threshold, then per-class
thresholds, each kept only when it lowers the validation error rate. Events
start and end on frame edges, k x 0.96 s: the resolution docs/detection.md measures.
"""

import itertools
from dataclasses import asdict, dataclass, replace

import numpy as np

from avt_np import events as event_metrics
from avt_np.data.format import FRAME_HOP_SECONDS


@dataclass(frozen=True)
class PostProcessing:
    threshold: float            # frame threshold (the high one of a double threshold)
    median: int = 1             # median filter width in frames (odd; 1 = none)
    max_gap: int = 0            # gaps of at most this many frames are filled
    min_length: int = 1         # events of fewer frames are dropped
    low: float = None           # double threshold: frames >= low joined to a frame >= threshold
    class_thresholds: tuple = None   # per class, in place of threshold
    class_lows: tuple = None         # per class, in place of low

    def __post_init__(self):
        if not (self.median >= 1 and self.median % 2 == 1):
            raise ValueError(f"median must be an odd number of frames >= 1, got {self.median}")
        if self.max_gap < 0 or self.min_length < 1:
            raise ValueError(f"max_gap >= 0 and min_length >= 1 frames, got {self.max_gap}, "
                             f"{self.min_length}")
        for name in ("class_thresholds", "class_lows"):       # JSON gives lists
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(float(t) for t in getattr(self, name)))
        if self.class_lows is not None and (self.class_thresholds is None or
                                            len(self.class_lows) != len(self.class_thresholds)):
            raise ValueError("class_lows needs class_thresholds, one value per class")
        highs = np.array(self.class_thresholds or [self.threshold], float)
        if (self.lows(len(highs)) > highs).any():
            raise ValueError("a low threshold above its high threshold")

    def highs(self, classes):
        """The (high) frame threshold of each class: (classes,)."""
        if self.class_thresholds is None:
            return np.full(classes, self.threshold)
        if len(self.class_thresholds) != classes:
            raise ValueError(f"class_thresholds: {len(self.class_thresholds)} values for "
                             f"{classes} classes")
        return np.array(self.class_thresholds)

    def lows(self, classes):
        """The low frame threshold of each class (its high one without a double threshold)."""
        if self.class_lows is not None:
            return np.array(self.class_lows)
        return self.highs(classes) if self.low is None else np.full(classes, self.low)

    def scaled(self, factor):
        """Every threshold times `factor` (a tagging threshold other than the run's)."""
        def times(values):
            return None if values is None else tuple(v * factor for v in values)
        return replace(self, threshold=self.threshold * factor,
                       low=None if self.low is None else self.low * factor,
                       class_thresholds=times(self.class_thresholds),
                       class_lows=times(self.class_lows))

    def describe(self, tag_threshold):
        """The thresholds as fractions of the tagging threshold, then median, gap, length."""
        if self.class_thresholds is not None:
            highs = np.array(self.class_thresholds) / tag_threshold
            text = f"per class {highs.min():.2f}-{highs.max():.2f}"
            if self.class_lows is not None:
                lows = np.array(self.class_lows) / tag_threshold
                text += f" / {lows.min():.2f}-{lows.max():.2f}"
        else:
            text = f"{self.threshold / tag_threshold:.2f}"
            if self.low is not None:
                text += f" / {self.low / tag_threshold:.2f}"
        return f"{text}, {self.median}, {self.max_gap}, {self.min_length}"

    def to_json(self):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d):
        return cls(**d)


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


def double_threshold(probs, high, low):
    """(..., T) probabilities, thresholds broadcastable to (..., 1) -> (..., T) bool: the frames
    >= low whose run of frames >= low holds at least one frame >= high (hysteresis)."""
    above_low, above_high = probs >= low, probs >= high
    if np.array_equal(np.broadcast_to(low, np.shape(high)), high):
        return above_high
    T = probs.shape[-1]
    run_start = last_index_where(~above_low) + 1                             # (..., T)
    run_end = T - 2 - last_index_where(~above_low[..., ::-1])[..., ::-1]
    high_before = last_index_where(above_high)                              # at or before t
    high_after = T - 1 - last_index_where(above_high[..., ::-1])[..., ::-1]  # at or after t
    return above_low & ((high_before >= run_start) | (high_after <= run_end))


def active_frames(frame_probabilities, tagged, lengths, settings):
    """(N, T, C) probabilities, (N, C) bool tags, (N,) lengths -> (N, C, T) bool active."""
    probs = np.moveaxis(frame_probabilities, 1, 2)                          # (N, C, T)
    real = real_frames(lengths, probs.shape[0], probs.shape[2])[:, None, :]  # (N, 1, T)
    C = probs.shape[1]
    high, low = settings.highs(C)[:, None], settings.lows(C)[:, None]        # (C, 1)
    active = double_threshold(probs, high, low) & np.asarray(tagged, bool)[:, :, None] & real
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
    """The post-processing with the lowest segment-based error rate on these (validation)
    clips, F1 breaking ties, the least post-processing breaking those, in three stages, each
    kept only when it lowers the error rate: (1) global threshold and filters, (2) a double
    threshold, (3) per-class thresholds. -> (PostProcessing, its segment_based scores)."""
    def score(settings):
        estimated = detect(frame_probabilities, tagged, lengths, files, classes, settings)
        return event_metrics.segment_based(reference, estimated, labels=classes)

    def better(settings, best):
        scores = score(settings)
        key = (scores["error_rate"], -scores["f1"])
        return (key, settings, scores) if best is None or key < best[0] else best

    best = None
    for settings in candidates(tag_threshold):                           # (1)
        best = better(settings, best)
    pairs = double_thresholds(tag_threshold)
    for high, low in pairs:                                              # (2)
        best = better(replace(best[1], threshold=high, low=low), best)
    best = better(per_class(score, best[1], pairs, classes), best)       # (3)
    return best[1], best[2]


# Stage 2: high thresholds (fractions of the tagging threshold, kept below 1) with a low one
# at a fraction of the high one.
HIGH_FRACTIONS = (1.5, 1.0, 0.75, 0.5)
LOW_FRACTIONS = (1.0, 0.5, 0.25)                # 1.0: a single threshold


def double_thresholds(tag_threshold):
    """[(high, low or None)] candidates of stage 2."""
    pairs = []
    for high_fraction, low_fraction in itertools.product(HIGH_FRACTIONS, LOW_FRACTIONS):
        high = round(min(tag_threshold * high_fraction, 0.99), 6)
        pairs.append((high, None if low_fraction == 1.0 else round(high * low_fraction, 6)))
    return pairs


def per_class(score, settings, pairs, classes):
    """Stage 3: for each class, the (high, low) pair of `pairs` whose events of that class
    have the fewest errors (false negatives + false positives, segment-based) on these clips,
    the filters of `settings` kept; a class without reference or estimate keeps `settings`'."""
    C = len(classes)
    highs, lows = list(settings.highs(C)), list(settings.lows(C))
    fewest = [None] * C
    for high, low in pairs:
        class_wise = score(replace(settings, threshold=high, low=low))["class_wise"]
        for c, label in enumerate(classes):
            counts = class_wise[label]
            errors = counts["n_deletions"] + counts["n_insertions"]
            if counts["n_reference"] + counts["n_estimated"] == 0:
                continue
            if fewest[c] is None or (errors, -counts["n_correct"]) < fewest[c]:
                fewest[c] = (errors, -counts["n_correct"])
                highs[c], lows[c] = high, high if low is None else low
    return replace(settings, low=None, class_thresholds=tuple(highs), class_lows=tuple(lows))
