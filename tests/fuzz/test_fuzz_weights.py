"""The weights manifest, the lock file and the weight files through python -m avt_np.weights
verify and fetch (rule: tests/fuzz/harness.py). fetch may replace a damaged file that has a
public checksum with a verified download; nothing else may change."""

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
    kind = Kind("weights_fetch", weights_folder, TARGETS,
                command=weights_command(["fetch"], monkeypatch))
    check(kind, fuzz, tmp_path, request)
