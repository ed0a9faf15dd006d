"""Damaged run directories through evaluate, visualize and train --resume (tests/fuzz/harness.py
states the rule every case must keep)."""

from avt_np import evaluate, train
from avt_np.visualize import command as visualize
from tests.fuzz.harness import Kind, check

RUN_FILES = ["config.json", "log.csv", "metrics.json", "diagnostics.jsonl", "curves.png",
             "checkpoints/epoch_001.npz", "checkpoints/epoch_002.npz", "checkpoints/last.npz",
             "checkpoints/previous.npz"]


def test_evaluate_of_a_damaged_run_directory_scores_or_says_what_is_wrong(
        finished_run, fuzz, tmp_path, request):
    kind = Kind("evaluate", finished_run, RUN_FILES,
                command=lambda case: (evaluate.main, [str(case)]))
    check(kind, fuzz, tmp_path, request, cost=3)


def test_visualize_of_a_damaged_run_directory_draws_or_says_what_is_wrong(
        finished_run, fuzz, tmp_path, request):
    kind = Kind("visualize", finished_run, RUN_FILES, may_write=("attention-*.png",),
                command=lambda case: (visualize.main, [str(case), "--clip", "1"]))
    check(kind, fuzz, tmp_path, request, cost=3)


def test_visualize_sync_report_of_a_damaged_run_directory_reports_or_says_what_is_wrong(
        finished_run, fuzz, tmp_path, request):
    kind = Kind("sync_report", finished_run, RUN_FILES,
                command=lambda case: (visualize.main, [str(case), "--sync-report"]))
    check(kind, fuzz, tmp_path, request, cost=3)


def test_resume_of_a_damaged_finished_run_reports_or_says_what_is_wrong(
        finished_run, fuzz, tmp_path, request):
    kind = Kind("resume_finished", finished_run, RUN_FILES,
                command=lambda case: (train.main, ["--out", str(case), "--resume"]))
    check(kind, fuzz, tmp_path, request)


def test_resume_of_a_damaged_stopped_run_trains_on_or_says_what_is_wrong(
        stopped_run, fuzz, tmp_path, request):
    kind = Kind("resume_stopped", stopped_run,
                [f for f in RUN_FILES if f not in ("metrics.json", "curves.png")],
                may_write=("metrics.json", "curves.png", "log.csv", "checkpoints/last.npz",
                           "checkpoints/previous.npz", "checkpoints/epoch_003.npz",
                           "checkpoints/epoch_001.npz"),  # left the ensemble window: deleted
                command=lambda case: (train.main, ["--out", str(case), "--resume"]))
    check(kind, fuzz, tmp_path, request, cost=3)
