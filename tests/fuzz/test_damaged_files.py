"""One case per defect the fuzz suite found outside run directories (each failed before its
fix): feature caches, data sets, the organisers' label files, sweeps and tag's kept features."""

import json
import shutil

import numpy as np

from avt_np.tag import __main__ as tag
from avt_np.data import __main__ as data_command
from avt_np.features import __main__ as features_command
from avt_np.sweep import command as sweep_command
from tests.fuzz.conftest import SWEEP_ARGS, features_args, tag_args
from tests.fuzz.harness import copy_tree, run_in_process


def ran(main, argv):
    code, stdout, stderr, escaped, caught = run_in_process(main, argv, 120)
    assert escaped is None, escaped
    assert "Traceback" not in stderr
    return code, stdout, stderr


def test_a_cut_or_emptied_clip_in_the_feature_cache_is_extracted_again(
        features_project, tmp_path):
    project = tmp_path / "project"
    copy_tree(features_project, project)
    shutil.rmtree(project / "data")
    clip = project / "work" / "clips" / "tr_a.npz"
    good = np.load(clip)["audio"]
    clip.write_bytes(clip.read_bytes()[:700])                     # of 1.5 kB
    code, _, stderr = ran(features_command.main, features_args(
        project, project / "out", features_project / "vggish.onnx"))
    assert code == 0, stderr
    assert "4 clips already done" in stderr                      # the other four are kept
    np.testing.assert_allclose(np.load(clip)["audio"], good, rtol=1e-4, atol=1e-4)  # made again


def test_a_clip_damaged_inside_the_feature_cache_is_one_line_saying_what_to_do(
        features_project, tmp_path):
    project = tmp_path / "project"
    copy_tree(features_project, project)
    shutil.rmtree(project / "data")
    clip = project / "work" / "clips" / "te_a.npz"
    data = bytearray(clip.read_bytes())
    data[200] ^= 0xFF                                 # inside the first member: a bad CRC
    clip.write_bytes(bytes(data))
    code, _, stderr = ran(features_command.main, features_args(
        project, project / "out", features_project / "vggish.onnx"))
    last = stderr.strip().splitlines()[-1]
    assert code == 2 and last.startswith(f"error: {clip}: damaged cache file"), stderr
    assert "delete it" in last


def test_an_npy_file_with_a_garbled_header_is_one_short_line(tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    lengths = data / "validation" / "lengths.npy"
    raw = bytearray(lengths.read_bytes())
    raw[43:60] = b"(((((((((((((((((" # an unclosed bracket in the header's dict
    lengths.write_bytes(bytes(raw))
    code, _, stderr = ran(data_command.main, ["check", str(data)])
    last = stderr.strip().splitlines()[-1]
    assert code == 2 and last.startswith(f"error: {lengths}: unreadable as .npy"), stderr
    assert len(last.replace(str(data), "DATA")) < 250                 # paths aside


def test_dcase2017_stats_of_damaged_label_files_is_one_line(organiser_files, tmp_path):
    folder = tmp_path / "labels"
    shutil.copytree(organiser_files, folder)
    out = str(tmp_path / "stats.json")
    assert ran(data_command.main, ["dcase2017-stats", str(folder), "--out", out])[0] == 0
    weak = folder / "groundtruth_weak_label_training_set.csv"
    for damaged in (b"\xff\xfe", b"only-one-field\n", b""):
        weak.write_bytes(damaged)
        code, _, stderr = ran(data_command.main, ["dcase2017-stats", str(folder), "--out", out])
        assert code == 2 and stderr.startswith(f"error: {folder}: not the organisers'"), stderr


def test_a_sweep_leaves_a_damaged_metrics_json_out_of_its_tables_with_a_note(
        sweep_dir, tiny_data, tmp_path):
    sweep = tmp_path / "sweep"
    copy_tree(sweep_dir, sweep)
    damaged = sorted(sweep.glob("runs/*/metrics.json"))[1]
    damaged.write_bytes(damaged.read_bytes()[:100])
    code, stdout, stderr = ran(sweep_command.main, SWEEP_ARGS(sweep, tiny_data))
    assert code == 0, stderr
    assert f"sweep: {damaged}: unreadable JSON" in stderr and "left out of the tables" in stderr
    results = json.loads((sweep / "results.json").read_text())
    assert len(results["runs"]) == 1                            # the good run
    (sweep / "sweep.json").write_text('{"protocol": ')
    code, _, stderr = ran(sweep_command.main, SWEEP_ARGS(sweep, tiny_data))
    assert code == 2 and "sweep.json: unreadable JSON" in stderr and "results.json" in stderr


def test_tag_extracts_again_a_clip_whose_kept_features_are_damaged(
        finished_run, tag_project, tmp_path, monkeypatch):
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(tag_project / "weights"))
    project = tmp_path / "project"
    copy_tree(tag_project, project)
    kept = project / "out" / ".work" / "clips" / "bus.npz"
    arrays = dict(np.load(kept))
    del arrays["log_mel"]
    kept.unlink()
    np.savez(kept, **arrays)
    code, _, stderr = ran(tag.main, tag_args(finished_run, project))
    assert code == 0, stderr
    tags = (project / "out" / "tags.tsv").read_text()
    assert tags == (tag_project / "out" / "tags.tsv").read_text()
    assert "log_mel" in np.load(kept).files


def test_a_work_dir_settings_json_that_is_not_an_object_is_one_line(features_project, tmp_path):
    project = tmp_path / "project"
    copy_tree(features_project, project)
    shutil.rmtree(project / "data")
    (project / "work" / "settings.json").write_text("0")
    code, _, stderr = ran(features_command.main, features_args(
        project, project / "out", features_project / "vggish.onnx"))
    assert code == 2 and "settings.json: expected a JSON object of settings" in stderr, stderr


def test_a_cached_clip_of_complex_numbers_or_another_shape_is_one_line_not_a_warning(
        features_project, tmp_path):
    project = tmp_path / "project"
    copy_tree(features_project, project)
    shutil.rmtree(project / "data")
    clip = project / "work" / "clips" / "va_a.npz"
    arrays = dict(np.load(clip))
    for damaged in (arrays["audio"].astype(np.complex64), np.zeros(3, np.float32)):
        clip.unlink()
        np.savez(clip, **dict(arrays, audio=damaged))
        argv = features_args(project, project / "out", features_project / "vggish.onnx")
        code, stdout, stderr, escaped, caught = run_in_process(features_command.main, argv, 120)
        assert escaped is None and caught == [], (escaped, caught)
        assert code == 2 and f"{clip}: damaged cache file (audio of shape" in stderr, stderr


def test_an_npy_array_in_place_of_an_npz_archive_is_one_line(tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    shutil.copy(data / "test" / "labels.npy", data / "maps.npz")
    code, _, stderr = ran(data_command.main, ["check", str(data)])
    assert code == 2 and f"{data / 'maps.npz'}: unreadable .npz file" in stderr, stderr


def test_dcase2017_stats_of_an_infinite_duration_is_one_line(organiser_files, tmp_path):
    folder = tmp_path / "labels"
    shutil.copytree(organiser_files, folder)
    durations = folder / "duration_of_files_in_training_set.csv"
    durations.write_text(durations.read_text().replace("10.000000", "inf", 1))
    code, _, stderr = ran(data_command.main, ["dcase2017-stats", str(folder), "--out",
                                              str(tmp_path / "stats.json")])
    assert code == 2 and stderr.startswith(f"error: {folder}: not the organisers'"), stderr
