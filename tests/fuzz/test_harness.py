"""The fuzz harness itself: a command that breaks the rule in one way must fail its check, and
a check that knows the answer must fail when the code under test gives a wrong one.

Planted fakes stand in for a command; tests/fuzz/harness.py states the rule they break.
"""

import json
import sys
import time

import pytest

from avt_np import events, weights
from tests.fuzz import harness
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.harness import Kind
from tests.fuzz.test_fuzz_user_files import perfect_only_when_unchanged
from tests.fuzz.test_fuzz_weights import fetch_kind, verify_kind

SEEDS = range(6)


@pytest.fixture
def fixture(tmp_path):
    """A good artefact: data.txt (the file damaged), keep.txt (which nothing may change)."""
    root = tmp_path / "fixture"
    root.mkdir()
    (root / "data.txt").write_text("good data\n")
    (root / "keep.txt").write_text("keep me\n")
    return root


def fake(body):
    """A Kind whose command is `body(case_dir, argv)` in place of a tool's main."""
    return lambda case: ((lambda argv: body(case, argv)), [])


def well_behaved(case, argv):
    """What every tool does: exit 0 on good data, else one error line and exit 2."""
    if (case / "data.txt").is_file() and (case / "data.txt").read_bytes() == b"good data\n":
        return 0
    print("note: reading data.txt", file=sys.stderr)            # progress lines are fine
    print("error: data.txt: damaged (expected 'good data')", file=sys.stderr)
    return 2


def raises(case, argv):
    raise RuntimeError("a bug")


def prints_two_error_lines(case, argv):
    print("error: data.txt: damaged", file=sys.stderr)
    print("error: and a second line about it", file=sys.stderr)
    return 2


def error_of_two_lines(case, argv):
    print("error: data.txt: damaged\n  because of this", file=sys.stderr)
    return 2


def edits_a_file_it_may_not(case, argv):
    (case / "keep.txt").write_text("changed\n")
    return well_behaved(case, argv)


def hangs(case, argv):
    time.sleep(30)
    return 0


def hangs_and_swallows_the_stop(case, argv):
    try:
        time.sleep(30)
    except BaseException:                      # as a loader of a user's file may do
        print("error: could not load it", file=sys.stderr)
        return 2
    return 0


def problems(kind, work):
    """The problems of every case of SEEDS, one list per case."""
    return [harness.run_case(kind, seed, work)[2] for seed in SEEDS]


def test_a_well_behaved_command_passes_every_case(fixture, tmp_path):
    kind = Kind("good", fixture, ["data.txt"], command=fake(well_behaved), timeout=5)
    assert problems(kind, tmp_path / "cases") == [[]] * len(SEEDS)


@pytest.mark.parametrize("body, expected", [
    (raises, "traceback: RuntimeError: a bug"),
    (prints_two_error_lines, "2 error lines, expected one"),
    (error_of_two_lines, "exit 2 without an error line"),
    (edits_a_file_it_may_not, "keep.txt changed"),
], ids=["raises", "prints two error lines", "an error of two lines", "edits keep.txt"])
def test_a_command_that_breaks_the_rule_fails_every_case(fixture, tmp_path, body, expected):
    kind = Kind("bad", fixture, ["data.txt"], command=fake(body), timeout=5)
    for found in problems(kind, tmp_path / "cases"):
        assert any(expected in p for p in found), found


@pytest.mark.parametrize("body", [hangs, hangs_and_swallows_the_stop])
def test_a_command_that_hangs_fails_even_when_it_catches_the_stop(fixture, tmp_path, body):
    kind = Kind("hang", fixture, ["data.txt"], command=fake(body), timeout=0.3)
    damaged, what, found, code, last = harness.run_case(kind, 0, tmp_path / "cases")
    assert code == "hang" and found == ["hang: still running after 0 s"], found


def test_fuzz_cases_n_runs_n_cases_whatever_the_kinds_cost(fixture, tmp_path, request):
    calls = []

    def counted(case, argv):
        calls.append(case)
        return 0
    kind = Kind("counted", fixture, ["data.txt"], command=fake(counted), timeout=5)
    harness.check(kind, fuzz_settings(24, {}, 0), tmp_path / "a", request, cost=3)
    assert len(calls) == 24                                  # --fuzz-cases 24 means 24
    calls.clear()
    harness.check(kind, fuzz_settings(None, {"AVT_NP_FUZZ_CASES": "7"}, 0), tmp_path / "b",
                  request, cost=3)
    assert len(calls) == 7
    calls.clear()
    harness.check(kind, fuzz_settings(None, {}, 0), tmp_path / "c", request, cost=3)
    assert len(calls) == 8                                   # the default: 24 // cost


# -- the correctness checks fail on a wrong answer --------------------------------------------
def test_the_weights_verify_fuzz_fails_when_verify_never_reports_a_mismatch(
        weights_folder, tmp_path, monkeypatch):
    check_file = weights.check_file

    def never_mismatch(*args, **kwargs):
        status, detail, digest = check_file(*args, **kwargs)
        return (weights.OK if status == weights.MISMATCH else status), detail, digest
    monkeypatch.setattr(weights, "check_file", never_mismatch)
    failures, tally, _ = harness.fuzz(verify_kind(weights_folder, monkeypatch), 24, 0, tmp_path)
    assert failures and all("expected 1 (MISMATCH or MISSING)" in f for f in failures), failures


def test_the_weights_fetch_fuzz_fails_when_a_failing_fetch_rewrites_the_lock(
        weights_folder, tmp_path, monkeypatch):
    fetch = weights.fetch

    def fetch_that_damages_the_lock(names, **kwargs):
        fetch(names, **kwargs)
        lock = weights.lock_path()
        data = json.loads(lock.read_text())
        data["files"]["ailia.onnx"]["sha256"] = "0" * 64
        lock.write_text(json.dumps(data))
        return ["zoo: every URL failed"]                      # exit 2
    monkeypatch.setattr(weights, "fetch", fetch_that_damages_the_lock)
    failures, tally, _ = harness.fuzz(fetch_kind(weights_folder, monkeypatch), 8, 0, tmp_path)
    assert tally.get(2) and failures
    assert all("lock entries changed: ['ailia.onnx']" in f for f in failures
               if "weights.lock.json:" not in f.split("->")[0]), failures


def test_the_events_fuzz_fails_when_a_damaged_list_scores_as_perfect(
        event_files, tmp_path, monkeypatch):
    segment_based = events.segment_based

    def always_perfect(*args, **kwargs):
        return dict(segment_based(*args, **kwargs), error_rate=0.0, f1=1.0)
    monkeypatch.setattr(events, "segment_based", always_perfect)
    fixture = tmp_path / "self"
    fixture.mkdir()
    for name in ("reference.tsv", "estimated.tsv"):
        (fixture / name).write_bytes((event_files / "reference.tsv").read_bytes())
    kind = Kind("events_self", fixture, ["reference.tsv", "estimated.tsv"],
                extra_check=perfect_only_when_unchanged,
                command=lambda case: (events.main, ["score", "--json", str(case / "reference.tsv"),
                                                    str(case / "estimated.tsv")]))
    failures, tally, _ = harness.fuzz(kind, 24, 0, tmp_path / "cases")
    assert failures and all("scored perfect" in f for f in failures), failures
