"""python -m avt_np.tag reading a damaged run directory, damaged input files and a damaged
work directory of kept features (rule: tests/fuzz/harness.py)."""

from avt_np.tag import __main__ as tag
from tests.fuzz.conftest import tag_args
from tests.fuzz.harness import Kind, check, files_of
from tests.fuzz.test_fuzz_run_dir import RUN_FILES

OUTPUTS = ("out/*.tsv", "out/*.npz", "out/.work/errors.log")


def test_tag_of_a_split_with_a_damaged_run_directory_tags_or_says_what_is_wrong(
        finished_run, fuzz, tmp_path, request):
    kind = Kind("tag_run", finished_run, RUN_FILES, may_write=("tag/*",),
                command=lambda case: (tag.main, [str(case), "--split", "test", "--out",
                                                 str(case / "tag")]))
    check(kind, fuzz, tmp_path, request, cost=3)


def test_tag_of_damaged_inputs_or_kept_features_tags_or_says_what_is_wrong(
        finished_run, tag_project, fuzz, tmp_path, request, monkeypatch):
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(tag_project / "weights"))
    targets = sorted(f for f in files_of(tag_project) if f.startswith(("inputs/", "out/.work/")))
    kind = Kind("tag_inputs", tag_project, targets, may_write=OUTPUTS,
                command=lambda case: (tag.main, tag_args(finished_run, case)))
    check(kind, fuzz, tmp_path, request)
