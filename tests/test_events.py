"""avt_np/events.py: DCASE 2017 Task 4 strong-label files and the segment-based metrics of its
subtask B (sed_eval's SegmentBasedMetrics, 1 s segments, clip by clip over the reference's
files). Every expected number below is worked out by hand from the definition in a comment:
per segment, Nref / Nsys active classes and Ntp in both; S = min(Nref, Nsys) - Ntp,
D = max(0, Nref - Nsys), I = max(0, Nsys - Nref); ER = (S + D + I) / Nref summed over all
segments; F1 = 2 Ntp / (Nref + Nsys)."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avt_np import events
from avt_np.cli import UsageError
from avt_np.data import dcase2017
from avt_np.events import Event, read_events, read_tags, segment_based, write_events, write_tags

# The organisers' strong-label files, if at hand: DCASE2017_TASK4_DIR=/path/to/them pytest
DCASE_FOLDER = Path(os.environ.get("DCASE2017_TASK4_DIR", "/nonexistent"))
STRONG = {"validation": "groundtruth_strong_label_testing_set.csv",
          "test": "groundtruth_strong_label_evaluation_set.csv"}


def write(tmp_path, text, name="events.tsv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# -- the metric, case by case ------------------------------------------------------------------
def test_a_wrong_class_in_the_right_segment_is_one_substitution_not_a_deletion_and_an_insertion():
    reference = [("a.wav", 0.0, 1.0, "Car")]
    estimated = [("a.wav", 0.0, 1.0, "Bus")]
    r = segment_based(reference, estimated, labels=["Bus", "Car"])
    # one segment: Nref = 1, Nsys = 1, Ntp = 0 -> S = 1, D = 0, I = 0; ER = 1/1; F1 = 0
    assert (r["n_substitutions"], r["n_deletions"], r["n_insertions"]) == (1, 0, 0)
    assert r["error_rate"] == r["substitution_rate"] == 1.0
    assert r["f1"] == 0.0 and r["precision"] == 0.0 and r["recall"] == 0.0
    # class-wise there are no substitutions: Car is a false negative, Bus a false positive
    car, bus = r["class_wise"]["Car"], r["class_wise"]["Bus"]
    assert (car["n_deletions"], car["n_insertions"], car["error_rate"]) == (1, 0, 1.0)
    assert (bus["n_reference"], bus["n_insertions"]) == (0, 1)
    assert math.isnan(bus["error_rate"])                       # (0 + 1) / Nref = 0: undefined


def test_an_event_across_a_segment_edge_marks_both_segments():
    # 0.5-1.5 s marks segments floor(0.5) = 0 .. ceil(1.5) - 1 = 1
    reference = [("a.wav", 0.5, 1.5, "Car")]
    assert segment_based(reference, [])["n_reference"] == 2
    # an estimate of 0.0-0.9 s hits segment 0 only: Ntp 1, D 1 (segment 1); ER 1/2, F1 2/3
    r = segment_based(reference, [("a.wav", 0.0, 0.9, "Car")])
    assert (r["n_correct"], r["n_deletions"], r["n_insertions"]) == (1, 1, 0)
    assert r["error_rate"] == 0.5 and r["f1"] == pytest.approx(2 / 3)
    # an event ending exactly on an edge does not touch the next segment: 0-2 s is 2 segments
    assert segment_based([("a.wav", 0.0, 2.0, "Car")], [])["n_reference"] == 2
    # a zero-length event marks nothing on an edge (0-0: the organisers' "not heard" marker),
    # but inside a segment it marks that segment: 2.5-2.5 s -> floor 2 .. ceil(2.5) - 1 = 2
    assert segment_based([("a.wav", 3.0, 3.0, "Car")], [])["n_reference"] == 0
    assert segment_based([("a.wav", 2.5, 2.5, "Car")], [])["n_reference"] == 1


def test_an_empty_estimate_is_all_deletions():
    reference = [("a.wav", 0.0, 3.0, "Car"), ("b.wav", 2.5, 4.0, "Bus")]
    r = segment_based(reference, [])
    # a: segments 0, 1, 2 of Car; b: segments 2, 3 of Bus -> Nref 5, all deleted: ER 5/5
    assert (r["n_reference"], r["n_estimated"], r["n_deletions"]) == (5, 0, 5)
    assert r["error_rate"] == r["deletion_rate"] == 1.0
    assert r["f1"] == 0.0 and r["recall"] == 0.0
    assert math.isnan(r["precision"])                          # 0 / Nsys = 0 / 0


def test_an_estimate_past_the_clips_end_lengthens_the_clip_and_counts_insertions():
    reference = [("a.wav", 0.0, 10.0, "Car")]
    estimated = [("a.wav", 0.0, 12.0, "Car")]
    r = segment_based(reference, estimated)
    # evaluated length max(10, 12) = 12 s: segments 0-9 correct, 10 and 11 inserted
    assert r["n_segments"] == 12
    assert (r["n_correct"], r["n_insertions"], r["n_deletions"]) == (10, 2, 0)
    assert r["error_rate"] == pytest.approx(2 / 10)
    assert r["f1"] == pytest.approx(2 * 10 / (10 + 12))


def test_a_reference_clip_without_events_makes_every_estimate_there_an_insertion():
    # b.wav is listed with no event (a line with only the file, or the organisers' 0-0 marker)
    for marker in (Event("b.wav", 0.0, 0.0, None), Event("b.wav", 0.0, 0.0, "Car")):
        reference = [Event("a.wav", 0.0, 2.0, "Car"), marker]
        estimated = [Event("a.wav", 0.0, 2.0, "Car"), Event("b.wav", 1.2, 2.5, "Car")]
        r = segment_based(reference, estimated)
        # a: 2 segments correct; b: segments 1, 2 inserted -> Nref 2, I 2: ER 2/2, F1 4/6
        assert (r["n_reference"], r["n_correct"], r["n_insertions"]) == (2, 2, 2)
        assert r["error_rate"] == 1.0 and r["f1"] == pytest.approx(4 / 6)
        assert r["n_files"] == 2 and r["n_segments"] == 2 + 3


def test_a_file_only_in_the_estimate_is_not_scored_but_reported():
    reference = [("a.wav", 0.0, 2.0, "Car")]
    estimated = [("a.wav", 0.0, 2.0, "Car"), ("stray.wav", 0.0, 5.0, "Car")]
    r = segment_based(reference, estimated)
    assert r["error_rate"] == 0.0 and r["f1"] == 1.0 and r["n_estimated"] == 2
    assert r["ignored_files"] == ["stray.wav"]


def test_a_reference_file_missing_from_the_estimate_is_all_deletions():
    reference = [("a.wav", 0.0, 2.0, "Car"), ("b.wav", 0.0, 3.0, "Bus")]
    r = segment_based(reference, [("a.wav", 0.0, 2.0, "Car")])
    # a: 2 correct; b: 3 deleted -> ER 3/5, P 2/2, R 2/5
    assert r["error_rate"] == pytest.approx(3 / 5)
    assert (r["precision"], r["recall"]) == (1.0, pytest.approx(2 / 5))


def test_class_wise_numbers_by_hand():
    reference = [("a.wav", 0.0, 4.0, "Car"), ("a.wav", 2.0, 3.0, "Bus")]
    estimated = [("a.wav", 1.0, 5.0, "Car"), ("a.wav", 0.0, 1.0, "Bus")]
    r = segment_based(reference, estimated)
    # segments 0..4 (estimate to 5 s). Car ref {0,1,2,3}, est {1,2,3,4}; Bus ref {2}, est {0}
    # seg 0: ref {Car}, est {Bus} -> S 1       seg 1: {Car} / {Car} -> Ntp 1
    # seg 2: {Car, Bus} / {Car} -> Ntp 1, D 1  seg 3: Ntp 1      seg 4: {} / {Car} -> I 1
    assert (r["n_reference"], r["n_estimated"], r["n_correct"]) == (5, 5, 3)
    assert (r["n_substitutions"], r["n_deletions"], r["n_insertions"]) == (1, 1, 1)
    assert r["error_rate"] == pytest.approx(3 / 5) and r["f1"] == pytest.approx(6 / 10)
    car, bus = r["class_wise"]["Car"], r["class_wise"]["Bus"]
    # Car: TP 3 (1, 2, 3), FN 1 (0), FP 1 (4): ER 2/4, F1 6/8, P 3/4, R 3/4
    assert (car["n_correct"], car["n_deletions"], car["n_insertions"]) == (3, 1, 1)
    assert car["error_rate"] == 0.5 and car["f1"] == 0.75 and car["precision"] == 0.75
    # Bus: TP 0, FN 1 (2), FP 1 (0): ER 2/1, F1 0
    assert (bus["error_rate"], bus["f1"], bus["recall"]) == (2.0, 0.0, 0.0)
    assert r["class_wise_average"]["error_rate"] == pytest.approx((0.5 + 2.0) / 2)
    assert list(r["class_wise"]) == ["Bus", "Car"]                 # sorted, as sed_eval


def test_shorter_segments_by_hand():
    # 0.5 s segments: 0.2-0.7 s marks segments floor(0.4) = 0 .. ceil(1.4) - 1 = 1
    r = segment_based([("a.wav", 0.2, 0.7, "Car")], [("a.wav", 0.6, 0.9, "Car")], segment=0.5)
    # estimate marks segment 1 only: Ntp 1, D 1 -> ER 1/2
    assert (r["n_reference"], r["n_correct"], r["error_rate"]) == (2, 1, 0.5)


def test_an_empty_reference_leaves_the_rates_undefined():
    r = segment_based([], [("a.wav", 0.0, 1.0, "Car")], labels=["Car"])
    assert r["n_files"] == 0 and r["ignored_files"] == ["a.wav"]
    assert all(math.isnan(r[k]) for k in ("error_rate", "f1", "precision", "recall"))
    assert json.loads(json.dumps(events.json_safe(r)))["error_rate"] is None


def test_labels_outside_the_scored_ones_and_impossible_times_are_errors():
    with pytest.raises(ValueError, match="'Dog' is not among the scored labels"):
        segment_based([("a.wav", 0.0, 1.0, "Car")], [("a.wav", 0.0, 1.0, "Dog")])
    # with every class given, the same event is an insertion
    r = segment_based([("a.wav", 0.0, 1.0, "Car")], [("a.wav", 0.0, 1.0, "Dog")],
                      labels=["Car", "Dog"])
    assert r["n_substitutions"] == 1
    for onset, offset in ((2.0, 1.0), (-1.0, 1.0), (0.0, math.nan), (0.0, math.inf)):
        with pytest.raises(ValueError, match="expected 0 <= onset <= offset"):
            segment_based([("a.wav", onset, offset, "Car")], [])
    with pytest.raises(ValueError, match="segment"):
        segment_based([], [], segment=0.0)
    with pytest.raises(ValueError, match="given twice"):
        segment_based([], [], labels=["Car", "Car"])


# -- an independent, loop-based implementation: the definition read literally ----------------
def segment_metrics_by_loops(reference, estimated, segment=1.0):
    """sed_eval's segment-based counts, one segment at a time: a segment [t s, (t+1) s) holds
    a class when an event of that class overlaps it (onset < end of segment, offset > start)."""
    totals = dict.fromkeys(["Nref", "Nsys", "Ntp", "S", "D", "I"], 0)
    class_counts = {}
    for file in sorted({e[0] for e in reference}):
        ref = [e for e in reference if e[0] == file and e[3] is not None]
        est = [e for e in estimated if e[0] == file and e[3] is not None]
        length = max([e[2] for e in ref + est] + [0.0])
        for t in range(math.ceil(length / segment)):
            start, end = t * segment, (t + 1) * segment
            truth = {e[3] for e in ref if e[1] < end and e[2] > start}
            system = {e[3] for e in est if e[1] < end and e[2] > start}
            correct = len(truth & system)
            totals["Nref"] += len(truth)
            totals["Nsys"] += len(system)
            totals["Ntp"] += correct
            totals["S"] += min(len(truth), len(system)) - correct
            totals["D"] += max(0, len(truth) - len(system))
            totals["I"] += max(0, len(system) - len(truth))
            for label in truth | system:
                c = class_counts.setdefault(label, {"tp": 0, "fn": 0, "fp": 0})
                c["tp"] += label in truth and label in system
                c["fn"] += label in truth and label not in system
                c["fp"] += label in system and label not in truth
    return totals, class_counts


def assert_matches_loops(reference, estimated, segment=1.0, labels=None):
    r = segment_based(reference, estimated, segment, labels)
    totals, class_counts = segment_metrics_by_loops(reference, estimated, segment)
    assert (r["n_reference"], r["n_estimated"], r["n_correct"]) == (
        totals["Nref"], totals["Nsys"], totals["Ntp"])
    assert (r["n_substitutions"], r["n_deletions"], r["n_insertions"]) == (
        totals["S"], totals["D"], totals["I"])
    if totals["Nref"]:
        assert r["error_rate"] == pytest.approx(
            (totals["S"] + totals["D"] + totals["I"]) / totals["Nref"], abs=1e-12)
    for label, c in class_counts.items():
        mine = r["class_wise"][label]
        assert (mine["n_correct"], mine["n_deletions"], mine["n_insertions"]) == (
            c["tp"], c["fn"], c["fp"]), label
    return r


def test_random_event_lists_agree_with_the_loop_implementation():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    for trial in range(30):
        def random_events(n_files):
            out = []
            for f in range(n_files):
                for _ in range(rng.integers(0, 4)):
                    onset = float(np.round(rng.uniform(0, 10), int(rng.integers(0, 3))))
                    offset = onset + float(np.round(rng.uniform(0, 4), int(rng.integers(0, 3))))
                    out.append((f"f{f}.wav", onset, offset, str(rng.choice(labels))))
                if rng.random() < 0.2:
                    out.append((f"f{f}.wav", 0.0, 0.0, None))
            return out
        segment = [1.0, 0.5, 0.25, 2.0][trial % 4]
        assert_matches_loops(random_events(6), random_events(8), segment, labels)


# -- the real DCASE 2017 Task 4 timing, as shipped in the embedded data set --------------------
def embedded_reference(split):
    """The organisers' strong labels of the "testing" (our validation) or "evaluation" (our
    test) set, rebuilt from avt_np/data/dcase2017_task4.json: each clip's real events, plus a
    0-0 marker for a label of the clip without events (the JSON drops those markers)."""
    stats = dcase2017.load()
    classes = stats["classes"]
    reference = []
    for clip in stats[{"validation": "validation_clips", "test": "test_clips"}[split]]:
        timed = {k for k, _, _ in clip["events"]}
        reference += [Event(clip["file"], float(on), float(off), classes[k])
                      for k, on, off in clip["events"]]
        reference += [Event(clip["file"], 0.0, 0.0, classes[k])
                      for k in clip["labels"] if k not in timed]
    return reference


def one_second_later(reference):
    """Every row moved 1 s later, onset and offset (a detector 1 s late); offsets may pass the
    clip's end (the format has no clip length: sed_eval scores the extra segments)."""
    return [Event(e.file, e.onset + 1.0, e.offset + 1.0, e.label) for e in reference]


@pytest.mark.parametrize("split, n_files", [("validation", 488), ("test", 1103)])
def test_the_real_strong_labels_score_perfectly_against_themselves(split, n_files):
    reference = embedded_reference(split)
    r = segment_based(reference, reference)
    assert r["n_files"] == n_files and len(r["class_wise"]) == 17
    assert r["error_rate"] == 0.0 and r["f1"] == 1.0 and r["n_reference"] > 4000


@pytest.mark.parametrize("split", ["validation", "test"])
def test_the_real_strong_labels_one_second_late_agree_with_the_loop_implementation(split):
    reference = embedded_reference(split)
    r = assert_matches_loops(reference, one_second_later(reference))
    assert 0.1 < r["error_rate"] < 1.0 and 0.5 < r["f1"] < 1.0


def test_real_clips_one_second_late_by_hand():
    reference = [e for e in embedded_reference("validation")
                 if e.file in ("--0w1YA1Hm4_30.000_40.000.wav", "2aBV6AZt5nk_570.000_580.000.wav")]
    # --0w1YA1Hm4: Bus 0.81-3.22 s and 7.2-8.8 s -> segments {0,1,2,3, 7,8}; one second later
    # 1.81-4.22 and 8.2-9.8 -> {1,2,3,4, 8,9}; 10 segments (last offset 9.8 s).
    # Correct 1,2,3,8; deleted 0,7; inserted 4,9: Nref 6, Ntp 4, S 0, D 2, I 2.
    one = segment_based([e for e in reference if e.file.startswith("--0w")],
                        one_second_later([e for e in reference if e.file.startswith("--0w")]))
    assert (one["n_reference"], one["n_correct"], one["n_deletions"], one["n_insertions"],
            one["n_segments"]) == (6, 4, 2, 2, 10)
    assert one["error_rate"] == pytest.approx(4 / 6) and one["f1"] == pytest.approx(8 / 12)
    # 2aBV6AZt5nk: Train horn 3.841-4.682 s -> {3,4}, Train 5.0-6.0 -> {5}; one second later
    # Train horn {4,5}, Train {6}; 7 segments. seg 3: ref {horn} est {} -> D;
    # seg 4: {horn}/{horn} -> Ntp; seg 5: {Train}/{horn} -> S; seg 6: {}/{Train} -> I.
    # Nref 3: ER (1 + 1 + 1) / 3 = 1.0, F1 2*1/(3 + 3) = 1/3.
    two = segment_based([e for e in reference if e.file.startswith("2aBV")],
                        one_second_later([e for e in reference if e.file.startswith("2aBV")]))
    assert (two["n_substitutions"], two["n_deletions"], two["n_insertions"]) == (1, 1, 1)
    assert two["error_rate"] == 1.0 and two["f1"] == pytest.approx(1 / 3)
    # class-wise: Train horn TP 1 (4), FN 1 (3), FP 1 (5): ER 2/2; Train FN 1, FP 1: ER 2/1
    assert two["class_wise"]["Train horn"]["error_rate"] == 1.0
    assert two["class_wise"]["Train"]["error_rate"] == 2.0
    # both clips together: counts add, then the ratios: ER (4 + 3) / (6 + 3)
    both = segment_based(reference, one_second_later(reference))
    assert both["error_rate"] == pytest.approx(7 / 9) and both["n_files"] == 2


def test_scoring_every_test_clip_is_fast():
    reference = embedded_reference("test")
    shifted = one_second_later(reference)
    start = time.process_time()          # this process's CPU time: other jobs on the machine
    segment_based(reference, shifted)    # do not count, as they would in wall-clock time
    assert time.process_time() - start < 2.0               # a hang guard; ~0.05 s measured


@pytest.mark.skipif(not DCASE_FOLDER.is_dir(), reason="set DCASE2017_TASK4_DIR to the "
                    "organisers' label files to compare with them")
@pytest.mark.parametrize("split", ["validation", "test"])
def test_the_organisers_strong_label_files_score_as_the_embedded_reference(split):
    """The shipped JSON keeps times to the millisecond (4 of the 1,706 evaluation rows have a
    fourth decimal, e.g. 0.5001) and drops 0-0 markers (one testing clip, -oCvKmNbhl0, has a
    marker and a real event of Truck): neither changes a 1 s segment."""
    real, embedded = read_events(DCASE_FOLDER / STRONG[split]), embedded_reference(split)

    def timed(rows):
        return sorted((e.file, round(e.onset, 3), round(e.offset, 3), e.label)
                      for e in rows if e.offset > 0)

    assert timed(real) == timed(embedded)
    assert {(e.file, e.label) for e in real} == {(e.file, e.label) for e in embedded}
    assert (segment_based(real, one_second_later(real))
            == segment_based(embedded, one_second_later(embedded)))


# -- files ---------------------------------------------------------------------------------------
def test_the_organisers_format_reads_with_crlf_markers_and_a_file_alone(tmp_path):
    path = write(tmp_path, "a.wav\t0.917\t2.029\tTrain horn\r\n"
                           "b.wav\t0\t0\tTruck\r\n\r\n"
                           "c.wav\r\n")
    assert read_events(path) == [("a.wav", 0.917, 2.029, "Train horn"),
                                 ("b.wav", 0.0, 0.0, "Truck"), ("c.wav", 0.0, 0.0, None)]


def test_written_events_read_back_exactly(tmp_path):
    rows = [Event("a.wav", 0.96 * 3, 10.0, "Car"), Event("b.wav", 0.0, 0.0, None),
            Event("c.wav", 0.1, 0.30000000000000004, "Air horn, truck horn")]
    write_events(tmp_path / "e.tsv", rows)
    assert read_events(tmp_path / "e.tsv") == rows
    write_tags(tmp_path / "t.tsv", [("a.wav", "Car"), ("b.wav", None)])
    assert (tmp_path / "t.tsv").read_text() == "a.wav\tCar\nb.wav\n"
    with pytest.raises(ValueError, match="tab"):
        write_events(tmp_path / "x.tsv", [("a\tb.wav", 0.0, 1.0, "Car")])


def test_tags_read_in_two_or_four_columns(tmp_path):
    path = write(tmp_path, "a.wav\tCar\nb.wav\t30.000\t40.000\tBus\r\nc.wav\n")
    assert read_tags(path) == [("a.wav", "Car"), ("b.wav", "Bus"), ("c.wav", None)]
    with pytest.raises(UsageError, match=r"tags.tsv:1: 3 tab-separated fields"):
        read_tags(write(tmp_path, "a\tb\tc\n", "tags.tsv"))
    with pytest.raises(UsageError, match=r"tags.tsv:1: start 'x' is not a finite number"):
        read_tags(write(tmp_path, "a\tx\t1\tCar\n", "tags.tsv"))


@pytest.mark.parametrize("text, line, message", [
    ("a.wav\t0\t1\tCar\nb.wav\t0\t1\n", 2, "3 tab-separated fields"),
    ("a.wav\tCar\n", 1, "2 tab-separated fields"),
    ("a.wav\t0\t1\tCar\textra\n", 1, "5 tab-separated fields"),
    ("a.wav\tzero\t1\tCar\n", 1, "onset 'zero' is not a number"),
    ("a.wav\t0\t1,5\tCar\n", 1, "offset '1,5' is not a number"),
    ("a.wav\tnan\t1\tCar\n", 1, "onset is 'nan'"),
    ("a.wav\t0\tinf\tCar\n", 1, "offset is 'inf'"),
    ("a.wav\t-0.5\t1\tCar\n", 1, "outside 0..86400"),
    ("a.wav\t0\t1e300\tCar\n", 1, "outside 0..86400"),
    ("a.wav\t2\t1\tCar\n", 1, "offset 1 s is before onset 2 s"),
    ("a.wav\t0\t1\t\n", 1, "empty label"),
    ("\t0\t1\tCar\n", 1, "empty file name"),
    (b"a.wav\t0\t1\tCar\n\xff\xfe\n", 2, "not UTF-8"),
])
def test_every_reader_error_names_file_and_line_in_one_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(UsageError, match=message) as error:
        read_events(path)
    assert str(error.value).startswith(f"{path}:{line}: ") and "\n" not in str(error.value)


# -- the command line ----------------------------------------------------------------------------
def run_tool(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "avt_np.events", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)  # hang guard


def test_score_prints_a_table_and_json(tmp_path):
    reference = write(tmp_path, "a.wav\t0\t4\tCar\na.wav\t2\t3\tBus\n", "ref.tsv")
    estimated = write(tmp_path, "a.wav\t1\t5\tCar\na.wav\t0\t1\tBus\nz.wav\t0\t1\tCar\n",
                      "est.tsv")
    table = run_tool("score", reference, estimated)
    assert table.returncode == 0, table.stderr
    assert "error rate  0.600" in table.stdout and "F1          60.0 %" in table.stdout
    assert "1 estimated files are not in the reference" in table.stderr
    done = run_tool("score", reference, estimated, "--json")
    scores = json.loads(done.stdout)["segment_based"]
    assert scores["error_rate"] == pytest.approx(0.6) and scores["f1"] == pytest.approx(0.6)
    assert scores["class_wise"]["Bus"]["error_rate"] == 2.0


@pytest.mark.parametrize("estimated_text, message", [
    ("a.wav\t0\tx\tCar\n", "est.tsv:1: offset 'x' is not a number"),
    ("a.wav\t0\t1\tCar\na.wav\t0\t1\tDog\n", "est.tsv:2: label 'Dog' is not a label of the "
                                           "reference"),
])
def test_score_of_bad_input_is_one_line_and_exit_code_2(tmp_path, estimated_text, message):
    reference = write(tmp_path, "a.wav\t0\t4\tCar\n", "ref.tsv")
    estimated = write(tmp_path, estimated_text, "est.tsv")
    done = run_tool("score", reference, estimated)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    for args in (["score", tmp_path / "missing.tsv", estimated],
                 ["score", write(tmp_path, "\n", "empty.tsv"), estimated],
                 ["score", reference, estimated, "--segment", "0"]):
        done = run_tool(*args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr


# -- sed_eval itself, when installed (pip install -r requirements-sed-eval.txt) ---------------
def sed_eval_counts(reference, estimated, labels):
    """sed_eval's summed counts, called as the organisers' subtask B script calls it: one
    evaluate() per reference file, 1.0 s segments."""
    sed_eval = pytest.importorskip("sed_eval", reason="sed_eval is optional: pip install -r "
                                   "requirements-sed-eval.txt")
    from dcase_util.containers import MetaDataContainer      # sed_eval's own dependency

    def items(rows, file):
        return MetaDataContainer([{"filename": f, "onset": on, "offset": off, "event_label": l}
                                  for f, on, off, l in rows if f == file and l is not None])

    metrics = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=list(labels),
                                                       time_resolution=1.0)
    for file in sorted({e[0] for e in reference}):
        metrics.evaluate(items(reference, file), items(estimated, file))
    return metrics.overall, metrics.class_wise


def test_the_counts_are_sed_evals_on_random_and_real_event_lists():
    rng = np.random.default_rng(1)
    labels = ["a", "b", "c"]
    cases = []
    for _ in range(10):
        rows = [(f"f{int(rng.integers(5))}.wav", on, on + float(rng.uniform(0, 5)),
                 str(rng.choice(labels)))
                for on in np.round(rng.uniform(0, 10, 12), 2).tolist()]
        cases.append((rows[:6], rows[6:] + [("f0.wav", 0.0, 12.5, "a")], labels))
    real = embedded_reference("validation")
    cases.append((real, one_second_later(real), sorted({e.label for e in real})))
    for reference, estimated, case_labels in cases:
        overall, class_wise = sed_eval_counts(reference, estimated, case_labels)
        r = segment_based(reference, estimated, labels=case_labels)
        assert [r[k] for k in ("n_reference", "n_estimated", "n_correct", "n_substitutions",
                               "n_deletions", "n_insertions")] == [
            overall[k] for k in ("Nref", "Nsys", "Ntp", "S", "D", "I")]
        for label in case_labels:
            mine = r["class_wise"][label]
            assert [mine["n_correct"], mine["n_deletions"], mine["n_insertions"]] == [
                class_wise[label][k] for k in ("Ntp", "Nfn", "Nfp")], label
