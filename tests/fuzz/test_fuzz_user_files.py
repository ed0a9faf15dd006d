"""Files users write by hand: a layer for gradcheck, event lists for events score, exercise
files for exercises check (rule: tests/fuzz/harness.py). An event list scored against itself,
one of the two damaged, scores as perfect exactly when the damage left the segments it marks
unchanged."""

import json
import math
import shutil
from pathlib import Path

from avt_np import events, gradcheck
from avt_np.exercises import command as exercises
from tests.fuzz.harness import Kind, check

EXERCISE = Path(__file__).parents[2] / "lessons" / "exercises" / "03_layer_norm.py"


def test_gradcheck_of_a_damaged_layer_file_checks_or_says_what_is_wrong(
        layer_file, fuzz, tmp_path, request):
    kind = Kind("gradcheck", layer_file, ["my_layers.py"],
                command=lambda case: (gradcheck.main, [f"{case}/my_layers.py:Scale", "--init",
                                                       "dim=4", "--shape", "2,3,4"]))
    check(kind, fuzz, tmp_path, request)


def test_events_score_of_damaged_event_files_scores_or_says_what_is_wrong(
        event_files, fuzz, tmp_path, request):
    kind = Kind("events", event_files, ["reference.tsv", "estimated.tsv"],
                command=lambda case: (events.main, ["score", str(case / "reference.tsv"),
                                                    str(case / "estimated.tsv")]))
    check(kind, fuzz, tmp_path, request)


def marked_segments(path, files=None, segment=1.0):
    """{(file, label, k)}: the segments an event list marks (the rule of
    docs/detection_metrics.md, written here again as the check's own oracle), of `files`
    only when given."""
    return {(e.file, e.label, k) for e in events.read_events(path)
            if e.label is not None and (files is None or e.file in files)
            for k in range(math.floor(e.onset / segment), math.ceil(e.offset / segment))}


def perfect_only_when_unchanged(case, damaged, code, stdout, stderr):
    if code != 0:
        return None
    reference_files = {e.file for e in events.read_events(case / "reference.tsv")}
    truth = marked_segments(case / "reference.tsv")
    found = marked_segments(case / "estimated.tsv", reference_files)
    scores = json.loads(stdout)["segment_based"]
    perfect = scores["error_rate"] == 0 and scores["f1"] == 1
    if truth and perfect != (truth == found):
        return (f"scored {'perfect' if perfect else 'not perfect'} (ER {scores['error_rate']}, "
                f"F1 {scores['f1']}) although the two lists mark "
                f"{'the same' if truth == found else 'different'} segments")
    return None


def test_events_score_of_an_event_file_against_itself_damaged_is_perfect_only_if_unchanged(
        event_files, fuzz, tmp_path, request):
    fixture = tmp_path / "self"
    fixture.mkdir()
    for name in ("reference.tsv", "estimated.tsv"):
        shutil.copy(event_files / "reference.tsv", fixture / name)
    kind = Kind("events_self", fixture, ["reference.tsv", "estimated.tsv"],
                extra_check=perfect_only_when_unchanged,
                command=lambda case: (events.main, ["score", "--json", str(case / "reference.tsv"),
                                                    str(case / "estimated.tsv")]))
    check(kind, fuzz, tmp_path / "cases", request)


def test_exercises_check_of_a_damaged_exercise_file_grades_or_says_what_is_wrong(
        fuzz, tmp_path, request):
    fixture = tmp_path / "exercise"
    fixture.mkdir()
    shutil.copy(EXERCISE, fixture / EXERCISE.name)
    kind = Kind("exercises", fixture, [EXERCISE.name],
                command=lambda case: (exercises.main, ["check", str(case / EXERCISE.name)]))
    check(kind, fuzz, tmp_path / "cases", request)
