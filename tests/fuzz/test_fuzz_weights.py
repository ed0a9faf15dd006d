"""The weights manifest, the lock file and the weight files through python -m avt_np.weights
verify and fetch (rule: tests/fuzz/harness.py). fetch may replace a damaged file that has a
public checksum with a verified download and add entries to the lock; nothing else may change."""

import json

from avt_np import weights
from tests.fuzz.conftest import use_weights
from tests.fuzz.harness import Kind, check

TARGETS = ["manifest.json", "weights/weights.lock.json", "weights/zoo.onnx",
           "weights/ailia.onnx"]


def weights_command(argv, monkeypatch):
    def command(case):
        use_weights(monkeypatch, case)
        return weights.main, argv
    return command


def test_weights_verify_of_damaged_files_reports_or_says_what_is_wrong(
        weights_folder, fuzz, tmp_path, request, monkeypatch):
    kind = Kind("weights_verify", weights_folder, TARGETS,
                command=weights_command(["verify"], monkeypatch))
    check(kind, fuzz, tmp_path, request)


def test_weights_fetch_over_damaged_files_fetches_or_says_what_is_wrong(
        weights_folder, fuzz, tmp_path, request, monkeypatch):
    lock = json.loads((weights_folder / "weights" / weights.LOCK_NAME).read_text())["files"]

    def lock_entries_kept(case, damaged, code, stdout, stderr):
        """fetch adds to the lock (a file whose public checksum was edited away is recorded
        as first seen) but never changes or drops an entry."""
        if damaged.endswith(weights.LOCK_NAME) or code != 0:
            return None
        now = json.loads((case / "weights" / weights.LOCK_NAME).read_text())["files"]
        changed = [name for name, entry in lock.items() if now.get(name) != entry]
        return f"lock entries changed: {changed}" if changed else None

    kind = Kind("weights_fetch", weights_folder, TARGETS,
                may_write=("weights/" + weights.LOCK_NAME,), extra_check=lock_entries_kept,
                command=weights_command(["fetch"], monkeypatch))
    check(kind, fuzz, tmp_path, request)
