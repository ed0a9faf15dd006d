"""Feature extraction's work directory and label CSVs, the data sets it writes (with
not_found.csv) and the embedded set, and the organisers' label files (rule: harness.py)."""

import shutil

from avt_np.data import __main__ as data_command
from avt_np.features import __main__ as features_command
from tests.fuzz.conftest import features_args
from tests.fuzz.harness import Kind, check, copy_tree, files_of


def test_a_damaged_work_directory_or_label_csv_extracts_or_says_what_is_wrong(
        features_project, fuzz, tmp_path, request):
    fixture = tmp_path / "project"                 # without data/: the command writes out/
    copy_tree(features_project, fixture)
    shutil.rmtree(fixture / "data")
    targets = sorted(f for f in files_of(fixture) if f.startswith(("work/", "labels/")))
    vggish = features_project / "vggish.onnx"
    kind = Kind("features", fixture, targets, may_write=("out/*", "work/errors.log"),
                command=lambda case: (features_command.main,
                                      features_args(case, case / "out", vggish)))
    check(kind, fuzz, tmp_path / "cases", request)


def test_data_check_of_a_damaged_extracted_data_set_summarises_or_says_what_is_wrong(
        features_project, fuzz, tmp_path, request):
    data = features_project / "data"
    kind = Kind("data_check", data, sorted(files_of(data)),
                command=lambda case: (data_command.main, ["check", str(case)]))
    check(kind, fuzz, tmp_path, request)


def test_data_check_of_a_damaged_embedded_set_summarises_or_says_what_is_wrong(
        tiny_data, fuzz, tmp_path, request):
    kind = Kind("embedded_check", tiny_data, sorted(files_of(tiny_data)),
                command=lambda case: (data_command.main, ["check", str(case)]))
    check(kind, fuzz, tmp_path, request)


def test_dcase2017_stats_of_damaged_organiser_label_files_builds_or_says_what_is_wrong(
        organiser_files, fuzz, tmp_path, request):
    kind = Kind("dcase2017_stats", organiser_files, sorted(files_of(organiser_files)),
                may_write=("stats.json",),
                command=lambda case: (data_command.main, ["dcase2017-stats", str(case), "--out",
                                                          str(case / "stats.json")]))
    check(kind, fuzz, tmp_path, request)
