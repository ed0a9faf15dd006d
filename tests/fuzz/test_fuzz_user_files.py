"""Files users write by hand: a layer for gradcheck, event lists for events score, exercise
files for exercises check (rule: tests/fuzz/harness.py)."""

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


def test_exercises_check_of_a_damaged_exercise_file_grades_or_says_what_is_wrong(
        fuzz, tmp_path, request):
    fixture = tmp_path / "exercise"
    fixture.mkdir()
    shutil.copy(EXERCISE, fixture / EXERCISE.name)
    kind = Kind("exercises", fixture, [EXERCISE.name],
                command=lambda case: (exercises.main, ["check", str(case / EXERCISE.name)]))
    check(kind, fuzz, tmp_path / "cases", request)
