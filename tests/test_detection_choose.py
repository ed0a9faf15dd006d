"""detection.choose on a validation set built by hand, where exactly one post-processing scores
a perfect segment-based error rate, so the choice it must make is known in advance.

Frames are 0.96 s and segments 1 s, so a setting only shows in the score when it changes a
whole segment: a filled gap of 2 frames (1.92 s) does, one of 1 frame (0.96 s) does not.
Checked when written: from the chosen settings, threshold 0.5 or 0.25, median 3, min_length
2, max_gap 1 or 3 each score an error rate above 0 on this set (only detection.choose is used
here: the rest of detection.py may change).
"""

import numpy as np

from avt_np import detection

T, HOP = 10, 0.96
CLASSES = ["A", "B"]
ON, OFF = 0.9, 0.1
TAG_THRESHOLD = 0.5


def frames_of(pattern):
    """'##..' -> (T,) probabilities of class A: ON at '#', OFF at '.', or a digit d: d / 10."""
    return np.array([ON if c == "#" else OFF if c == "." else int(c) / 10 for c in pattern])


def event(file, first, last):
    """The reference event covering frames first..last of class A."""
    return (file, round(first * HOP, 3), round((last + 1) * HOP, 3), "A")


# clip: (class A's frame probabilities, its reference events)
CLIPS = {
    # frames at 0.4 are the event, those at 0.3 are not: the threshold lies in (0.3, 0.4]
    "threshold.wav": ("4444433333", [event("threshold.wav", 0, 4)]),
    # one event with a gap of two frames: filled only with max_gap >= 2
    "gap.wav": ("###..###..", [event("gap.wav", 0, 7)]),
    # two events three frames apart: bridged (wrongly) with max_gap >= 3
    "apart.wav": ("##...##...", [event("apart.wav", 0, 1), event("apart.wav", 5, 6)]),
    # an event of one frame: removed (wrongly) by a median filter of 3 or more, or by
    # min_length >= 2
    "short.wav": (".....#....", [event("short.wav", 5, 5)]),
}


def validation_set():
    files = list(CLIPS)
    probabilities = np.full((len(files), T, len(CLASSES)), OFF)            # (N, T, C)
    for i, (pattern, _) in enumerate(CLIPS.values()):
        probabilities[i, :, 0] = frames_of(pattern)
    tagged = np.array([[True, False]] * len(files))                        # A tagged, B not
    lengths = np.full(len(files), T)
    reference = [e for _, events in CLIPS.values() for e in events]
    return probabilities, tagged, lengths, files, reference


def test_choose_picks_the_only_post_processing_that_scores_perfectly():
    probabilities, tagged, lengths, files, reference = validation_set()
    settings, scores = detection.choose(probabilities, tagged, lengths, files, CLASSES,
                                        reference, TAG_THRESHOLD)
    assert 0.3 < settings.threshold <= 0.4
    assert (settings.median, settings.max_gap, settings.min_length) == (1, 2, 1)
    assert scores["error_rate"] == 0.0 and scores["f1"] == 1.0
