"""DCASE 2017 Task 4 weak-label CSVs: file<TAB>start<TAB>end<TAB>label, one row per (clip, label)."""

import os
from pathlib import Path

import numpy as np
import pytest

from avt_np.cli import UsageError
from avt_np.features.extract import Clip, match_labels
from avt_np.features.labels import (DCASE2017_CLASSES, LabelError, parse_labels_arg,
                                    read_classes, read_weak_labels)

# The organisers' files (DCASE 2017 Task 4's sound_event_list_17_classes.txt and
# groundtruth_weak_label_*.csv), if at hand: DCASE2017_TASK4_DIR=/path/to/them pytest
DCASE_FOLDER = Path(os.environ.get("DCASE2017_TASK4_DIR", "/nonexistent"))


def write(tmp_path, text, name="labels.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def test_rows_of_one_clip_make_one_multi_hot_row_and_crlf_is_stripped(tmp_path):
    path = write(tmp_path, "a_0.000_10.000.wav\t0.000\t10.000\tCar\r\n"
                           "a_0.000_10.000.wav\t0.000\t10.000\tTrain\r\n\r\n"
                           "b_5.000_15.000.wav\t5.000\t15.000\tBus\r\n")
    labels = read_weak_labels(path)
    assert sorted(labels) == ["a_0.000_10.000", "b_5.000_15.000"]
    car, train, bus = (DCASE2017_CLASSES.index(c) for c in ("Car", "Train", "Bus"))
    assert labels["a_0.000_10.000"].dtype == np.uint8
    assert np.flatnonzero(labels["a_0.000_10.000"]).tolist() == sorted([car, train])
    assert np.flatnonzero(labels["b_5.000_15.000"]).tolist() == [bus]


@pytest.mark.parametrize("text, message", [
    ("a.wav\t0\t10\tCar\textra\n", "expected 4 tab-separated fields"),
    ("a.wav 0 10 Car\n", "expected 4 tab-separated fields"),
    ("a.wav\t0\t10\tDog\n", "unknown class 'Dog'"),
    ("\n\n", "no label rows"),
])
def test_malformed_files_are_one_line_errors_naming_file_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(LabelError, match=message) as e:
        read_weak_labels(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_split_comes_from_the_argument_or_from_dcases_file_name():
    assert parse_labels_arg("test=x/any.csv") == ("test", Path("x/any.csv"))
    assert parse_labels_arg("groundtruth_weak_label_training_set.csv")[0] == "train"
    assert parse_labels_arg("groundtruth_weak_label_testing_set.csv")[0] == "validation"
    assert parse_labels_arg("groundtruth_weak_label_evaluation_set.csv")[0] == "test"
    assert parse_labels_arg("mine.csv")[0] == "train"


def test_clip_files_match_labels_with_or_without_audiosets_y_prefix():
    table = {"train": {"abc_0.000_10.000": np.ones(3, np.uint8)},
             "test": {"xyz_1.000_11.000": np.zeros(3, np.uint8)}}
    clips = [Clip("Yabc_0.000_10.000"), Clip("xyz_1.000_11.000"), Clip("stray")]
    matched, unlabelled = match_labels(clips, table)
    assert [(c.clip_id, s) for c, s, _ in matched] == [("abc_0.000_10.000", "train"),
                                                      ("xyz_1.000_11.000", "test")]
    assert [c.clip_id for c in unlabelled] == ["stray"]
    with pytest.raises(UsageError, match="labelled in both"):
        match_labels([], {"train": {"a": 1}, "test": {"a": 1}})


@pytest.mark.skipif(not (DCASE_FOLDER / "groundtruth_weak_label_testing_set.csv").is_file(),
                    reason="organisers' label files not given (set DCASE2017_TASK4_DIR)")
def test_the_real_dcase_files_parse_to_the_published_clip_counts():
    assert read_classes(DCASE_FOLDER / "sound_event_list_17_classes.txt") == DCASE2017_CLASSES
    assert len(read_weak_labels(DCASE_FOLDER / "groundtruth_weak_label_testing_set.csv")) == 488
    assert len(read_weak_labels(DCASE_FOLDER / "groundtruth_weak_label_evaluation_set.csv")) == 1103


def test_a_label_file_that_is_not_utf8_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a.wav\t0\t10\tCar\nb\xe9.wav\t0\t10\tBus\n".encode("latin-1"))
    with pytest.raises(LabelError) as e:
        read_weak_labels(path)
    assert str(e.value) == f"{path}: not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8"
    with pytest.raises(LabelError, match="not UTF-8 text"):
        read_classes(path)


def test_a_utf8_bom_is_not_part_of_the_first_clip_id(tmp_path):
    path = write(tmp_path, "\ufeffa_0.000_10.000.wav\t0\t10\tCar\n")
    assert list(read_weak_labels(path)) == ["a_0.000_10.000"]
