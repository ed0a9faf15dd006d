import json
"""Frame probabilities -> events (avt_np/detection.py): each step on small cases worked by hand."""

import numpy as np
import pytest

from avt_np.detection import (PostProcessing, active_frames, detect, drop_short, fill_gaps,
                              median_filter, to_events)


def row(text):
    """'.##.#' -> a (1, 1, T) bool array (# = on)."""
    return np.array([[[c == "#" for c in text]]])


def text(active):
    return "".join("#" if a else "." for a in active[0, 0])


@pytest.mark.parametrize("before, width, after", [
    ("..#..", 3, "....."),          # a lone frame is outvoted
    (".##.#", 3, ".###."),          # a hole between two on frames is filled, a lone end dropped
    ("#####", 5, "#####"),          # a whole-clip event survives the clip's edges
    ("##...", 3, "##..."),          # at the edge: 2 of 3 (the outside frame counts as off)
    ("#.#.#", 1, "#.#.#"),          # width 1: unchanged
])
def test_median_filter_is_a_majority_vote_over_the_window(before, width, after):
    assert text(median_filter(row(before), width)) == after


@pytest.mark.parametrize("before, gap, after", [
    ("#..#.", 2, "####."),          # a gap of 2 filled, the open end stays off
    ("#...#", 2, "#...#"),          # a gap of 3 is too long
    ("..#..", 5, "..#.."),          # nothing on both sides: nothing to fill
    ("#.#.#", 1, "#####"),
])
def test_gaps_of_at_most_max_gap_frames_between_events_are_filled(before, gap, after):
    assert text(fill_gaps(row(before), gap)) == after


@pytest.mark.parametrize("before, length, after", [
    ("#.##.###", 2, "..##.###"),
    ("#.##.###", 3, ".....###"),
    ("########", 8, "########"),
])
def test_events_shorter_than_min_length_frames_are_dropped(before, length, after):
    assert text(drop_short(row(before), length)) == after


def test_a_run_of_frames_becomes_an_event_on_frame_edges():
    active = np.zeros((2, 2, 10), bool)
    active[0, 1, 2:5] = True                    # clip a, class y, frames 2..4
    active[0, 1, 7:] = True                     # and 7..9 (to the last frame)
    active[1, 0, 0] = True                      # clip b, class x, frame 0
    assert to_events(active, ["a", "b"], ["x", "y"]) == [
        ("a", 1.92, 4.8, "y"), ("a", 6.72, 9.6, "y"), ("b", 0.0, 0.96, "x")]


def test_only_tagged_classes_and_real_frames_give_events():
    probs = np.full((2, 4, 2), 0.9)                                     # (N, T, C)
    tagged = np.array([[True, False], [True, True]])
    active = active_frames(probs, tagged, np.array([4, 2]), PostProcessing(0.5))
    assert active[0, 0].all() and not active[0, 1].any()                # class 1 not tagged
    assert active[1, :, :2].all() and not active[1, :, 2:].any()        # 2 real frames only


def test_detect_applies_threshold_then_filters():
    p = np.array([0.1, 0.6, 0.7, 0.2, 0.8, 0.9, 0.1, 0.1, 0.55, 0.1])  # one clip, one class
    probs = p[None, :, None]                                            # (1, T, 1)
    tagged = np.ones((1, 1), bool)
    plain = detect(probs, tagged, None, ["c"], ["x"], PostProcessing(0.5))
    assert plain == [("c", 0.96, 2.88, "x"), ("c", 3.84, 5.76, "x"), ("c", 7.68, 8.64, "x")]
    merged = detect(probs, tagged, None, ["c"], ["x"],
                    PostProcessing(0.5, max_gap=1, min_length=2))
    assert merged == [("c", 0.96, 5.76, "x")]           # 1-2 and 4-5 joined; frame 8 too short


@pytest.mark.parametrize("kwargs", [dict(median=2), dict(median=0), dict(max_gap=-1),
                                    dict(min_length=0)])
def test_post_processing_refuses_impossible_settings(kwargs):
    with pytest.raises(ValueError):
        PostProcessing(0.5, **kwargs)


def test_double_threshold_follows_an_event_down_its_slopes_from_its_peak():
    from avt_np.detection import double_threshold
    probs = np.array([0.1, 0.35, 0.5, 0.8, 0.4, 0.2, 0.35, 0.45, 0.1])
    # runs >= 0.3: frames 1-4 (peak 0.8 >= 0.7: kept whole) and 6-7 (no frame >= 0.7: dropped)
    np.testing.assert_array_equal(double_threshold(probs, 0.7, 0.3),
                                  [0, 1, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(double_threshold(probs, 0.7, 0.7), probs >= 0.7)


def test_per_class_thresholds_apply_to_their_own_class():
    probs = np.array([[[0.5, 0.5], [0.2, 0.2]]])                # (N=1, T=2, C=2)
    tagged = np.ones((1, 2), bool)
    settings = PostProcessing(0.9, class_thresholds=(0.4, 0.6), class_lows=(0.1, 0.6))
    active = active_frames(probs, tagged, None, settings)       # (1, C, T)
    np.testing.assert_array_equal(active[0], [[True, True], [False, False]])


def test_post_processing_survives_json_and_scales_every_threshold():
    settings = PostProcessing(0.4, 3, 1, 2, low=0.2)
    assert PostProcessing(**json.loads(json.dumps(settings.to_json()))) == settings
    per_class = PostProcessing(0.4, class_thresholds=(0.4, 0.5), class_lows=(0.2, 0.5))
    again = PostProcessing(**json.loads(json.dumps(per_class.to_json())))
    assert again == per_class and again.class_thresholds == (0.4, 0.5)
    half = per_class.scaled(0.5)
    assert half.threshold == 0.2 and half.class_thresholds == (0.2, 0.25)
    assert half.class_lows == (0.1, 0.25)
    assert settings.scaled(2.0).low == 0.4


@pytest.mark.parametrize("kwargs", [dict(low=0.6), dict(class_lows=(0.1,)),
                                    dict(class_thresholds=(0.5, 0.5), class_lows=(0.6, 0.1)),
                                    dict(class_thresholds=(0.5, 0.5), class_lows=(0.1,))])
def test_impossible_thresholds_are_refused(kwargs):
    with pytest.raises(ValueError):
        PostProcessing(0.5, **kwargs)


def test_choose_takes_a_double_threshold_when_it_finds_whole_events_on_validation():
    from avt_np.detection import choose
    # one class, tag threshold 0.5. Each clip: an event over frames 2-5 rising to a peak and
    # falling (0.3 0.6 0.6 0.3), a bump without a peak over frames 7-9 (0.3), 0.2 elsewhere.
    # A single threshold keeps frames 3-4 (>= 0.375) or adds the bump (0.25); only the double
    # threshold 0.5 / 0.25 finds frames 2-5 alone.
    frames = np.full((4, 10, 1), 0.2)
    frames[:, 2:6, 0] = [0.3, 0.6, 0.6, 0.3]
    frames[:, 7:10, 0] = 0.3
    files = [f"c{i}" for i in range(4)]
    reference = [(f, 2 * 0.96, 6 * 0.96, "x") for f in files]
    settings, scores = choose(frames, np.ones((4, 1), bool), None, files, ["x"], reference, 0.5)
    assert scores["error_rate"] == 0.0
    assert (settings.highs(1)[0], settings.lows(1)[0]) == (0.5, 0.25)
