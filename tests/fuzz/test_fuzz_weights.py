"""The weights manifest, the lock file and the weight files through python -m avt_np.weights
verify and fetch (rule: tests/fuzz/harness.py). verify of a damaged weight file must report it
(exit 1). fetch may replace a damaged file that has a public checksum with a verified download
and add entries to the lock, whatever its exit code; nothing else may change."""

import json

from avt_np.io import read_json

from avt_np import weights
from tests.fuzz.conftest import use_weights
from tests.fuzz.harness import Kind, check

WEIGHT_FILES = ["weights/zoo.onnx", "weights/ailia.onnx"]
TARGETS = ["manifest.json", "weights/weights.lock.json", *WEIGHT_FILES]


def weights_command(argv, monkeypatch):
    def command(case):
        use_weights(monkeypatch, case)
        return weights.main, argv
    return command


def damaged_weights_reported(case, damaged, code, stdout, stderr):
    """Every damage changes a weight file's bytes (or deletes it): verify must say MISMATCH or
    MISSING and exit 1."""
    if damaged in WEIGHT_FILES and code != 1:
        return f"verify exit {code} with {damaged} damaged, expected 1 (MISMATCH or MISSING)"
    return None


def verify_kind(weights_folder, monkeypatch):
    return Kind("weights_verify", weights_folder, TARGETS,
                extra_check=damaged_weights_reported,
                command=weights_command(["verify"], monkeypatch))


def test_weights_verify_of_damaged_files_reports_or_says_what_is_wrong(
        weights_folder, fuzz, tmp_path, request, monkeypatch):
    check(verify_kind(weights_folder, monkeypatch), fuzz, tmp_path, request)


def fetch_kind(weights_folder, monkeypatch):
    lock = json.loads((weights_folder / "weights" / weights.LOCK_NAME).read_text())["files"]

    def lock_entries_kept(case, damaged, code, stdout, stderr):
        """fetch adds to the lock (a file whose public checksum was edited away is recorded
        as first seen) but never changes or drops an entry, whether it succeeds or fails."""
        if damaged.endswith(weights.LOCK_NAME):
            return None
        try:
            now = read_json(case / "weights" / weights.LOCK_NAME)["files"]
        except (ValueError, KeyError, TypeError) as e:
            return f"lock file no longer readable ({e})"
        changed = [name for name, entry in lock.items() if now.get(name) != entry]
        return f"lock entries changed: {changed}" if changed else None

    return Kind("weights_fetch", weights_folder, TARGETS,
                may_write=("weights/" + weights.LOCK_NAME,), extra_check=lock_entries_kept,
                command=weights_command(["fetch"], monkeypatch))


def test_weights_fetch_over_damaged_files_fetches_or_says_what_is_wrong(
        weights_folder, fuzz, tmp_path, request, monkeypatch):
    check(fetch_kind(weights_folder, monkeypatch), fuzz, tmp_path, request)
