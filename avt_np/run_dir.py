"""The run directory `python -m avt_np.train` writes and evaluate / visualize / sweep read.

    RUN_DIR/
      config.json                 {"settings": the train flags, "model": ModelConfig, "data",
                                   "classes": the class names, in the model's output order}
      log.csv                     one row per epoch: losses, validation micro-F1, seconds
      checkpoints/epoch_NNN.npz   the parameters after each epoch of the ensemble window
      checkpoints/last.npz        parameters + Adam state + history, for --resume
      curves.png                  losses and validation micro-F1 per epoch
      metrics.json                test micro-F1, per-class scores, threshold, sync score

Every file is written atomically (avt_np.io), so a kill never leaves half a file.
"""

import csv
import io as text_io
import json
from pathlib import Path

import numpy as np

from avt_np import io
from avt_np.cli import UsageError, first_line
from avt_np.data import EMBEDDED, dcase2017
from avt_np.data.format import DataError, read_meta
from avt_np.model import AudiovisualTransformer, ModelConfig

LOG_COLUMNS = ["epoch", "train_loss", "val_loss", "val_micro_f1", "seconds"]


def snapshot_path(run_dir, epoch):
    return Path(run_dir) / "checkpoints" / f"epoch_{epoch:03d}.npz"


def load_snapshot(model, path):
    """Load the parameters saved in `path` into `model`; a one-line UsageError when the file is
    unreadable (e.g. truncated) or holds another model's parameters."""
    try:
        state = io.read_npz(path)                     # its errors name the file
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        model.load_state_dict(state)
    except ValueError as e:
        raise UsageError(f"{path}: not a checkpoint of this model ({e})") from None


def save_state(run_dir, model, adam, history):
    """checkpoints/last.npz: parameters, Adam state and the per-epoch history (for --resume)."""
    arrays = {f"param.{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"adam.{k}": v for k, v in adam.state_dict().items()})
    arrays["history"] = np.array(json.dumps(history))
    io.write_npz(Path(run_dir) / "checkpoints" / "last.npz", arrays)


def load_state(run_dir, model, adam):
    """The history saved by save_state, its parameters and Adam state loaded into model, adam."""
    path = Path(run_dir) / "checkpoints" / "last.npz"
    retry = "; start again in another --out directory"
    try:
        state = io.read_npz(path)                     # its errors name the file
    except ValueError as e:
        raise UsageError(f"{e}{retry}") from None
    try:
        model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("param.")})
        adam.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("adam.")})
        return json.loads(str(state["history"]))
    except (ValueError, KeyError) as e:
        raise UsageError(f"{path}: not a checkpoint of this run ({e}){retry}") from None


def write_log(run_dir, history):
    out = text_io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LOG_COLUMNS)
    for row in history:
        writer.writerow([row["epoch"]] + [f"{row[c]:.6f}" for c in LOG_COLUMNS[1:]])
    io.write_text(Path(run_dir) / "log.csv", out.getvalue())


def load_run(run_dir):
    """(config.json contents, ModelConfig) of a run directory, with one-line errors."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UsageError(f"{path}: not found (is {run_dir} a run directory of avt_np.train?)")
    try:
        saved = json.loads(path.read_text())
        return saved, ModelConfig(**saved["model"])
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path}: not a valid run configuration ({e})") from None


def run_classes(run_dir, saved, config):
    """The class names of a run's outputs: config.json's "classes" (runs since tag existed), else
    those of the data set it was trained on (read from its meta.json; the embedded set's are
    DCASE 2017 Task 4's)."""
    if "classes" in saved:
        classes = saved["classes"]
    elif saved.get("data") == EMBEDDED:
        classes = dcase2017.classes()
    else:
        try:
            classes = read_meta(saved["data"])["classes"]
        except (DataError, KeyError, TypeError) as e:
            raise UsageError(f"{Path(run_dir) / 'config.json'}: names no classes and its data "
                             f"set cannot tell them ({first_line(e)})") from None
    if not (isinstance(classes, list) and len(classes) == config.classes
            and all(isinstance(c, str) for c in classes)):
        raise UsageError(f"{Path(run_dir) / 'config.json'}: classes must be {config.classes} "
                         "names, the model's outputs")
    return classes


def read_finished(run_dir):
    """(config.json contents, ModelConfig, metrics.json contents, last ensemble epoch) of a
    finished run, without loading its model."""
    saved, config = load_run(run_dir)
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise UsageError(f"{path}: not found: the run has not finished (continue it with "
                         f"python -m avt_np.train --out {run_dir} --resume)")
    try:
        metrics = json.loads(path.read_text())
        epoch = int(metrics["ensemble_epochs"][-1])
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise UsageError(f"{path}: no ensemble_epochs ({e})") from None
    return saved, config, metrics, epoch


def load_model(run_dir, config, epoch, needed_for="the model"):
    """The AudiovisualTransformer saved after `epoch`; one-line errors for a missing or
    unreadable (e.g. truncated) snapshot."""
    snapshot = snapshot_path(run_dir, epoch)
    if not snapshot.is_file():
        raise UsageError(f"{snapshot}: snapshot of the last ensemble epoch missing; needed for "
                         f"{needed_for} (a run trained with --keep none keeps no snapshot)")
    model = AudiovisualTransformer(config)
    load_snapshot(model, snapshot)
    return model
