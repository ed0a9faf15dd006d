"""python -m avt_np.tag: a short real run tags a split and generated video files."""

import json
import shutil

import numpy as np
import pytest
import soundfile
from PIL import Image

from avt_np import data as data_sets
from avt_np import evaluate, train
from avt_np.data import EMBEDDED, synthetic
from avt_np.detection import PostProcessing, detect
from avt_np.events import read_events, read_tags, segment_based
from avt_np.features import extract
from avt_np.features import vgg16 as vgg16_module
from avt_np.features import vggish as vggish_module
from avt_np.io import read_npz
from avt_np.metrics import micro_f1
from avt_np.model import AudiovisualTransformer
from avt_np.predict import predict, predict_ensemble
from avt_np.run_dir import load_run, load_snapshot, snapshot_path
from avt_np.tag import __main__ as tag
from avt_np.tag import run_model
from tests.features import standins
from tests.features.conftest import needs_ffmpeg, write_mp4, write_wav

SHORT = ["--epochs", "3", "--batches-per-epoch", "3", "--batch-size", "8", "--ensemble", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A short video/audio run on a small embedded set (120/30/40 clips) with strong labels."""
    root = tmp_path_factory.mktemp("tag")
    sizes = {"train": 120, "validation": 30, "test": 40}
    synthetic.generate(root / "data", seed=1, recipe=synthetic.Recipe(sizes=sizes),
                       progress=False)
    train.run(["--data", str(root / "data"), *SHORT, "--out", str(root / "run")])
    return root / "run"


def tagged(run, tmp_path, *args):
    out = tmp_path / "out"
    assert tag.main([str(run), *args, "--out", str(out)]) == 0
    return out


def test_tags_of_the_test_split_score_exactly_the_runs_test_micro_f1(run, tmp_path, capsys):
    out = tagged(run, tmp_path, "--split", "test")
    metrics = json.loads((run / "metrics.json").read_text())
    split = data_sets.open(str(run.parent / "data"))["test"]
    classes = json.loads((run / "config.json").read_text())["classes"]
    predicted = np.zeros_like(split.labels, bool)
    for file, label in read_tags(out / "tags.tsv"):
        predicted[split.clip_ids.index(file), classes.index(label)] = True
    assert micro_f1(split.labels > 0.5, predicted) == metrics["test_micro_f1"]
    stored = read_npz(out / "probabilities.npz")
    assert stored["clip"].shape == (40, 17) and stored["frames"].shape == (40, 10, 17)
    assert list(stored["files"]) == split.clip_ids and float(stored["threshold"]) == \
        metrics["threshold"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 40 and lines[0].startswith("test-00000\t")    # one line per clip


def test_events_follow_the_post_processing_chosen_on_validation(run, tmp_path):
    out = tagged(run, tmp_path, "--split", "test")
    metrics = json.loads((run / "metrics.json").read_text())
    chosen = PostProcessing(**metrics["events"]["post_processing"])
    stored = read_npz(out / "probabilities.npz")
    split = data_sets.open(str(run.parent / "data"))["test"]
    classes = list(stored["classes"])
    expected = detect(stored["frames"], stored["clip"] >= metrics["threshold"], split.lengths,
                      split.clip_ids, classes, chosen)
    found = read_events(out / "events.tsv")
    assert [tuple(e) for e in found] == [tuple(e) for e in expected] and found
    tags = {tuple(t) for t in read_tags(out / "tags.tsv")}
    assert all((e.file, e.label) in tags for e in found)         # events never contradict tags
    scores = segment_based(split.events, found, labels=classes)
    assert scores["error_rate"] == pytest.approx(metrics["events"]["test"]["error_rate"])
    assert scores["f1"] == pytest.approx(metrics["events"]["test"]["f1"])


def test_evaluate_events_reproduces_the_scores_training_wrote(run, capsys):
    written = json.loads((run / "metrics.json").read_text())["events"]
    rescored = evaluate.run([str(run), "--events"])["events"]
    assert rescored == written
    assert "test events: segment-based error rate" in capsys.readouterr().err


def test_one_snapshot_alone_with_epoch(run, tmp_path):
    out = tagged(run, tmp_path, "--split", "validation", "--epoch", "3")
    _, config = load_run(run)
    model = AudiovisualTransformer(config)
    load_snapshot(model, snapshot_path(run, 3))
    split = data_sets.open(str(run.parent / "data"))["validation"]
    np.testing.assert_array_equal(read_npz(out / "probabilities.npz")["clip"],
                                  predict(model, split, config).probabilities)


def test_pictures_of_a_split_show_the_reference_events(run, tmp_path):
    out = tagged(run, tmp_path, "--split", "test", "--pictures", "--top", "3")
    pictures = sorted((out / "pictures").glob("*.png"))
    assert len(pictures) == 40 and pictures[0].name == "test-00000.png"
    image = np.asarray(Image.open(pictures[0]).convert("RGB"))
    assert image.shape[1] == 960
    assert (image == (150, 150, 150)).all(axis=2).sum() > 50          # grey reference bars


@pytest.mark.parametrize("args, says", [
    ([], "give INPUT files or folders, or --split NAME"),
    (["--split", "test", "x.mp4"], "not both"),
    (["--split", "nope"], "--split nope: the data set has no such split"),
    (["--split", "test", "--threshold", "1.5"], "--threshold 1.5"),
    (["x.mp4", "--data", "d"], "--data goes with --split"),
    (["--split", "test", "--epoch", "1"], "epoch_001.npz: snapshot missing"),
])
def test_bad_arguments_are_one_line_and_exit_code_2(run, tmp_path, capsys, args, says):
    assert tag.main([str(run), *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err


def unfinished_copy(run, tmp_path, snapshots=True):
    copy = tmp_path / "unfinished"
    (copy / "checkpoints").mkdir(parents=True)
    shutil.copy(run / "config.json", copy / "config.json")
    if snapshots:
        shutil.copy(snapshot_path(run, 2), snapshot_path(copy, 2))
    return copy


def test_a_run_without_a_finished_epoch_or_metrics_says_what_to_do(run, tmp_path, capsys):
    bare = unfinished_copy(run, tmp_path / "a", snapshots=False)
    assert tag.main([str(bare), "--split", "test"]) == 2
    assert "no finished epoch" in capsys.readouterr().err
    half = unfinished_copy(run, tmp_path / "b")
    assert tag.main([str(half), "--split", "test"]) == 2
    assert "--epoch 2 --threshold T" in capsys.readouterr().err
    out = tmp_path / "out"
    assert tag.main([str(half), "--split", "test", "--epoch", "2", "--threshold", "0.3",
                     "--out", str(out)]) == 0
    assert (out / "events.tsv").is_file()


@pytest.mark.parametrize("damage", [b"", b'{"ensemble_epochs": [2, 3], "thr', b"\xff\xfe{}",
                                    b'{"ensemble_epochs": "2", "threshold": 0.4}',
                                    b'{"ensemble_epochs": [2, 3], "threshold": 7}'])
def test_a_damaged_metrics_file_is_one_line_naming_it(run, tmp_path, capsys, damage):
    copy = unfinished_copy(run, tmp_path)
    shutil.copy(snapshot_path(run, 3), snapshot_path(copy, 3))
    (copy / "metrics.json").write_bytes(damage)
    assert tag.main([str(copy), "--split", "test"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "metrics.json" in err[0] and "Traceback" not in err[0], err


# -- video and audio files, through stand-in ONNX models -----------------------------------------
@pytest.fixture
def weights(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    standins.make_vggish(folder / "vggish.onnx")
    standins.make_vgg16(folder / "vgg16-7-fc7.onnx", expose_fc7=True)
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(folder))
    return folder


@needs_ffmpeg
def test_a_video_file_is_tagged_and_drawn_with_frames_and_log_mel(run, tmp_path, weights):
    clip = write_mp4(tmp_path / "street.mp4", 10.0, audio_freq=660)
    out = tagged(run, tmp_path, str(clip), "--pictures")
    stored = read_npz(out / "probabilities.npz")
    assert list(stored["files"]) == ["street.mp4"] and stored["frames"].shape == (1, 10, 17)
    assert int(stored["lengths"][0]) == 10
    picture = Image.open(out / "pictures" / "street.mp4.png")
    assert picture.size[0] == 960 and picture.size[1] > 560         # frames + log-mel bands
    assert (out / ".work" / "clips" / "street.npz").is_file()       # kept for a rerun


@needs_ffmpeg
def test_a_second_run_reads_the_kept_features_instead_of_extracting(run, tmp_path, weights,
                                                                     monkeypatch):
    clip = write_mp4(tmp_path / "street.mp4", 10.0, audio_freq=660)
    first = read_npz(tagged(run, tmp_path, str(clip)) / "probabilities.npz")["clip"]

    def refuse(*_, **__):
        raise AssertionError("extracted again, or a network loaded")
    monkeypatch.setattr(extract.Extractor, "prepare", refuse)
    monkeypatch.setattr(vggish_module.VGGish, "__init__", refuse)      # no ONNX session opened
    monkeypatch.setattr(vgg16_module.VGG16, "__init__", refuse)        # for kept features
    again = read_npz(tagged(run, tmp_path, str(clip)) / "probabilities.npz")["clip"]
    np.testing.assert_array_equal(first, again)


@needs_ffmpeg
def test_files_tagged_by_a_run_on_the_embedded_set_get_one_warning_line(run, tmp_path, weights,
                                                                       capsys):
    embedded = tmp_path / "embedded-run"
    shutil.copytree(run, embedded)
    config = json.loads((embedded / "config.json").read_text())
    (embedded / "config.json").write_text(json.dumps(dict(config, data=EMBEDDED)))
    clip = write_mp4(tmp_path / "street.mp4", 10.0, audio_freq=660)
    tagged(run, tmp_path, str(clip))
    assert "warning" not in capsys.readouterr().err                  # its own data: no word
    tagged(embedded, tmp_path, str(clip))
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "embedded data set" in warnings[0]
    assert "features are invented" in warnings[0]


def test_the_ensemble_holds_one_model_and_predicts_as_its_epochs_do(run):
    trained = run_model(run)
    assert len(trained.models) == 2 and len({id(m) for m in trained.models}) == 1
    split = data_sets.open(str(run.parent / "data"))["test"]
    together = predict_ensemble(trained.models, split, trained.config)
    _, config = load_run(run)
    separate = []
    for epoch in trained.epochs:
        model = AudiovisualTransformer(config)
        load_snapshot(model, snapshot_path(run, epoch))
        separate.append(model)
    apart = predict_ensemble(separate, split, trained.config)
    np.testing.assert_array_equal(together.probabilities, apart.probabilities)
    np.testing.assert_array_equal(together.frame_probabilities, apart.frame_probabilities)


@needs_ffmpeg
def test_in_a_folder_bad_clips_are_listed_and_the_others_tagged(run, tmp_path, weights, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    write_mp4(folder / "good.mp4", 10.0, audio_freq=440)
    write_mp4(folder / "short.mp4", 0.5, audio_freq=440)          # under one 0.96 s frame
    write_mp4(folder / "mute.mp4", 5.0)                            # no audio stream
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    write_mp4(folder / "silent.mp4", 5.0)                          # its audio: silent.wav
    soundfile.write(folder / "silent.wav", np.zeros(16000 * 5, np.float32), 16000)
    out = tagged(run, tmp_path, str(folder))
    assert list(read_npz(out / "probabilities.npz")["files"]) == ["good.mp4"]
    failed = dict(line.split("\t") for line in (out / "failed.tsv").read_text().splitlines())
    assert sorted(failed) == ["broken.mp4", "mute.mp4", "short.mp4", "silent.mp4"]
    assert "silence" in failed["silent.mp4"] and "shorter than one" in failed["short.mp4"]
    err = capsys.readouterr().err
    assert "4 input(s) failed" in err and "Traceback" not in err


@needs_ffmpeg
def test_a_single_bad_file_is_one_line_and_exit_code_2(run, tmp_path, weights, capsys):
    short = write_mp4(tmp_path / "short.mp4", 0.5, audio_freq=440)
    assert tag.main([str(run), str(short), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "short.mp4" in err[0] and "shorter than one" in err[0], err


def test_an_audio_file_for_a_video_model_and_missing_weights_are_one_line(run, tmp_path,
                                                                           monkeypatch, capsys):
    wav = write_wav(tmp_path / "horn.wav", 3.0)
    assert tag.main([str(run), str(wav), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the model reads video" in err[0], err
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(tmp_path / "empty"))
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"")
    assert tag.main([str(run), str(clip), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vggish" in err[0].lower(), err
