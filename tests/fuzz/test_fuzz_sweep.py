"""A damaged sweep directory through python -m avt_np.sweep (the rule: tests/fuzz/harness.py).
Finished runs are never touched; a run whose metrics.json is gone is trained again."""

from avt_np.sweep import command as sweep_command
from tests.fuzz.conftest import SWEEP_ARGS
from tests.fuzz.harness import Kind, check, files_of

TABLES = ("table1.md", "table1.csv", "results.json", "logs/*")


def may_write(damaged):
    parts = damaged.split("/")
    if parts[0] == "runs" and parts[-1] == "metrics.json":          # no longer finished
        return TABLES + (f"runs/{parts[1]}/*",)
    return TABLES


def test_a_damaged_sweep_directory_finishes_or_says_what_is_wrong(
        sweep_dir, tiny_data, fuzz, tmp_path, request):
    kind = Kind("sweep", sweep_dir, sorted(files_of(sweep_dir)), may_write=may_write,
                command=lambda case: (sweep_command.main, SWEEP_ARGS(case, tiny_data)))
    check(kind, fuzz, tmp_path, request)
