"""Fixtures of the fuzz suite: small good artefacts made once per session by the real code."""

import json
import os
import shutil
from dataclasses import dataclass

import pytest

from avt_np import train
from avt_np.data import synthetic
from tests.conftest import DEFAULT_FUZZ_CASES

# A 40/12/12-clip embedded set and a 2-epoch audio/audio run of 1 batch of 4: every file of a
# run directory in about a second, and cases that take a fraction of a second.
SIZES = {"train": 40, "validation": 12, "test": 12}
TINY_RUN = ["--first", "audio", "--second", "audio", "--epochs", "2", "--batches-per-epoch", "1", "--batch-size", "4", "--ensemble", "2",
            "--cores", "1"]


@dataclass
class FuzzSettings:
    cases: int
    seed: int
    long: bool


@pytest.fixture(scope="session")
def fuzz(request):
    cases = request.config.getoption("--fuzz-cases")
    if cases is None:
        cases = int(os.environ.get("AVT_NP_FUZZ_CASES", DEFAULT_FUZZ_CASES))
    return FuzzSettings(cases, request.config.getoption("--fuzz-seed"),
                        cases != DEFAULT_FUZZ_CASES)


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
