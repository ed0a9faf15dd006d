"""Fixtures of the fuzz suite: small good artefacts made once per session by the real code."""

import hashlib
import json
import os
import shutil
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile

from avt_np import train, weights
from avt_np.data import synthetic
from avt_np.features import __main__ as features_command
from avt_np.features.labels import DCASE2017_CLASSES
from avt_np.sweep import command as sweep_command
from avt_np.tag import __main__ as tag
from tests.conftest import DEFAULT_FUZZ_CASES
from tests.features import standins

# A 40/12/12-clip embedded set and a 2-epoch audio/audio run of 1 batch of 4: every file of a
# run directory in about a second, and cases that take a fraction of a second.
SIZES = {"train": 40, "validation": 12, "test": 12}
TINY_RUN = ["--first", "audio", "--second", "audio", "--epochs", "2", "--batches-per-epoch", "1",
            "--batch-size", "4", "--ensemble", "2", "--cores", "1"]


@dataclass
class FuzzSettings:
    cases: int
    seed: int
    given: bool            # --fuzz-cases or $AVT_NP_FUZZ_CASES: every kind runs `cases` cases


def fuzz_settings(option, environ, seed):
    """FuzzSettings of --fuzz-cases `option` (None: not given) and the environment."""
    if option is not None:
        return FuzzSettings(option, seed, True)
    if environ.get("AVT_NP_FUZZ_CASES"):
        return FuzzSettings(int(environ["AVT_NP_FUZZ_CASES"]), seed, True)
    return FuzzSettings(DEFAULT_FUZZ_CASES, seed, False)


@pytest.fixture(scope="session")
def fuzz(request):
    return fuzz_settings(request.config.getoption("--fuzz-cases"), os.environ,
                         request.config.getoption("--fuzz-seed"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small embedded data set directory."""
    path = tmp_path_factory.mktemp("fuzz-data") / "embedded"
    synthetic.generate(path, seed=1, recipe=synthetic.Recipe(sizes=SIZES), progress=False)
    return path


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, tiny_data):
    """A finished run directory with every file train writes (diagnostics.jsonl too)."""
    out = tmp_path_factory.mktemp("fuzz-run") / "run"
    train.run(["--data", str(tiny_data), *TINY_RUN, "--diagnostics", "1", "--out", str(out)])
    return out


@pytest.fixture(scope="session")
def stopped_run(tmp_path_factory, finished_run):
    """A run stopped after epoch 2 of 3: the finished run without its scores and with
    --epochs 3 in its saved settings (what a kill after epoch 2 of a 3-epoch run leaves)."""
    out = tmp_path_factory.mktemp("fuzz-stopped") / "run"
    shutil.copytree(finished_run, out)
    (out / "metrics.json").unlink()
    (out / "curves.png").unlink()
    config = json.loads((out / "config.json").read_text())
    config["settings"]["epochs"] = 3
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return out


@pytest.fixture(scope="session")
def sweep_dir(tmp_path_factory, tiny_data):
    """A sweep directory of two finished runs (one audio/audio cell, seeds 0 and 1)."""
    out = tmp_path_factory.mktemp("fuzz-sweep") / "sweep"
    sweep_command.run(SWEEP_ARGS(out, tiny_data))
    return out


def SWEEP_ARGS(out, data):                           # noqa: N802 -- a constant with two blanks
    return ["--out", str(out), "--data", str(data), "--only",
            "first=audio,second=audio,pos_enc=none,pooling=mean,attention=softmax",
            "--seeds", "2", "--epochs", "1", "--batches-per-epoch", "1", "--batch-size", "4",
            "--ensemble", "1", "--workers", "1", "--threads", "1"]


CLIP_IDS = {"train": ["tr_a", "tr_b"], "validation": ["va_a"], "test": ["te_a", "te_b"]}


@pytest.fixture(scope="session")
def features_project(tmp_path_factory):
    """What python -m avt_np.features reads and writes: clips/ (1.5 s .wav files), labels/
    (DCASE weak-label CSVs, one labelled clip without a file), vggish.onnx (the stand-in of
    tests/features/standins.py), work/ (the finished per-clip cache) and data/ (the data set,
    with not_found.csv)."""
    root = tmp_path_factory.mktemp("fuzz-features")
    standins.make_vggish(root / "vggish.onnx")
    (root / "clips").mkdir()
    (root / "labels").mkdir()
    t = np.arange(24000) / 16000
    for split, ids in CLIP_IDS.items():
        rows = []
        for i, clip in enumerate(ids):
            tone = 0.3 * np.sin(2 * np.pi * (300 + 100 * i) * t)
            soundfile.write(root / "clips" / f"{clip}.wav", tone.astype(np.float32), 16000,
                            subtype="PCM_16")
            rows.append(f"{clip}.wav\t0.000\t1.500\t{DCASE2017_CLASSES[i + 11]}")
        rows.append(f"missing_{split}.wav\t0.000\t10.000\tCar")
        (root / "labels" / f"{split}.csv").write_text("\n".join(rows) + "\n")
    assert features_command.main(features_args(root, root / "data")) == 0
    return root


def features_args(root, out, vggish=None):
    """The command line of the fixture; `vggish`: the model file (the work directory's
    settings name it, so a copy of the project keeps the original's)."""
    return ["--clips", str(root / "clips"), "--audio-only", "--frames", "2",
            "--vggish", str(vggish or root / "vggish.onnx"), "--work-dir", str(root / "work"),
            "--out", str(out), "--prefetch", "0",
            *[f"--labels={s}={root / 'labels' / f'{s}.csv'}" for s in CLIP_IDS]]


@pytest.fixture(scope="session")
def organiser_files(tmp_path_factory):
    """A small folder in the layout of the DCASE 2017 Task 4 organisers' label files (made-up
    clip ids; the duration files name clips with a leading Y, as the organisers' do), as
    python -m avt_np.data dcase2017-stats reads it."""
    root = tmp_path_factory.mktemp("fuzz-dcase") / "labels"
    root.mkdir()
    classes = ["Class_ID\tConfidenceofAnnotation(by Google)\tClass_Label"] + [
        f"/m/{i:05d}\t9\t{name}" for i, name in enumerate(DCASE2017_CLASSES)]
    (root / "sound_event_list_17_classes.txt").write_text("\n".join(classes) + "\n")
    weak = [f"tr{i}_0.000_10.000.wav\t0.000\t10.000\t{DCASE2017_CLASSES[i % 17]}"
            for i in range(6)]
    (root / "groundtruth_weak_label_training_set.csv").write_text("\n".join(weak) + "\n")
    (root / "duration_of_files_in_training_set.csv").write_text(
        "".join(f"Ytr{i}_0.000_10.000.wav  \t 10.000000\n" for i in range(6)))
    for name, prefix in (("testing", "va"), ("evaluation", "ev")):
        strong = [f"{prefix}{i}_0.000_10.000.wav\t{i}.5\t{i + 2}.25\t{DCASE2017_CLASSES[i]}"
                  for i in range(4)] + [f"{prefix}9_0.000_10.000.wav\t0\t0\tTruck"]
        (root / f"groundtruth_strong_label_{name}_set.csv").write_text("\n".join(strong) + "\n")
    (root / "duration_of_files_in_testing_set.csv").write_text(
        "".join(f"Yva{i}_0.000_10.000.wav  \t 9.500000\n" for i in (0, 1, 2, 3, 9)))
    return root


LAYER_FILE = '''"""A user's layer, as in README's "Writing and checking your own layer"."""
import numpy as np
from avt_np.nn import Module


class Scale(Module):
    """y = x * w over the last axis.  x: (..., D) -> y: (..., D)"""

    def __init__(self, dim):
        super().__init__()
        self.add_param("w", np.linspace(0.5, 1.5, dim))

    def forward(self, x):
        self.x = x
        return x * self.params["w"]

    def backward(self, dy):
        self.grads["w"] += (dy * self.x).reshape(-1, dy.shape[-1]).sum(0)
        return dy * self.params["w"]
'''


@pytest.fixture(scope="session")
def layer_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-layer")
    (root / "my_layers.py").write_text(LAYER_FILE)
    return root


@pytest.fixture(scope="session")
def event_files(tmp_path_factory):
    """A strong-label reference and an estimate in the organisers' format (a clip without
    events, a zero-length row, CRLF line ends in one file)."""
    root = tmp_path_factory.mktemp("fuzz-events")
    (root / "reference.tsv").write_text(
        "a.wav\t0.917\t2.029\tTrain horn\na.wav\t3.0\t8.5\tCar\nb.wav\t0\t0\tTruck\n"
        "c.wav\t1.0\t9.9\tBus\nd.wav\n")
    (root / "estimated.tsv").write_bytes(
        b"a.wav\t0.96\t1.92\tTrain horn\r\na.wav\t2.88\t9.6\tCar\r\nc.wav\t0.0\t4.8\tTruck\r\n"
        b"e.wav\t1.0\t2.0\tBus\r\n")
    return root


@pytest.fixture(scope="session")
def tag_project(tmp_path_factory, finished_run):
    """Inputs of python -m avt_np.tag (three 2 s .wav files), the stand-in VGGish in weights/,
    and out/ of a first tag run (tags, events, probabilities and the features kept in
    out/.work for a rerun)."""
    root = tmp_path_factory.mktemp("fuzz-tag")
    (root / "weights").mkdir()
    standins.make_vggish(root / "weights" / "vggish.onnx")
    (root / "inputs").mkdir()
    t = np.arange(32000) / 16000
    for i, name in enumerate(["horn", "car", "bus"]):
        soundfile.write(root / "inputs" / f"{name}.wav",
                        (0.3 * np.sin(2 * np.pi * (330 + 220 * i) * t)).astype(np.float32),
                        16000, subtype="PCM_16")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AVT_NP_WEIGHTS", str(root / "weights"))
        assert tag.main(tag_args(finished_run, root)) == 0
    return root


def tag_args(run, root):
    return [str(run), str(root / "inputs"), "--out", str(root / "out")]


@pytest.fixture(scope="session")
def weights_folder(tmp_path_factory):
    """What python -m avt_np.weights reads: manifest.json (a file with a public SHA-256 and
    one without, both served from remote/ over file://), weights/ as fetch left it, with
    weights.lock.json recording the second."""
    root = tmp_path_factory.mktemp("fuzz-weights")
    (root / "remote").mkdir()
    rng = np.random.default_rng(0)
    for name in ("zoo", "ailia"):
        (root / "remote" / f"{name}.onnx").write_bytes(rng.integers(0, 256, 3000, np.uint8)
                                                       .tobytes())
    zoo = (root / "remote" / "zoo.onnx").read_bytes()
    entries = [dict(name=name, filename=f"{name}.onnx", description=name,
                    urls=[(root / "remote" / f"{name}.onnx").as_uri()])
               for name in ("zoo", "ailia")]
    entries[0].update(sha256=hashlib.sha256(zoo).hexdigest(), bytes=len(zoo))
    (root / "manifest.json").write_text(json.dumps({"about": "fuzz", "files": entries}, indent=1))
    with pytest.MonkeyPatch.context() as env:
        use_weights(env, root)
        assert weights.main(["fetch"]) == 0
    return root


def use_weights(env, root):
    env.setenv("AVT_NP_WEIGHTS_MANIFEST", str(root / "manifest.json"))
    env.setenv("AVT_NP_WEIGHTS", str(root / "weights"))
