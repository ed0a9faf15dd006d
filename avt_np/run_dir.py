"""The run directory `python -m avt_np.train` writes and evaluate / visualize / sweep read.

    RUN_DIR/
      config.json                 {"settings": the train flags, "model": ModelConfig, "data",
                                   "classes": the class names, in the model's output order}
      log.csv                     one row per epoch: losses, validation micro-F1, seconds
      checkpoints/epoch_NNN.npz   the parameters after each epoch of the ensemble window
      checkpoints/last.npz        parameters + Adam state + history, for --resume
      checkpoints/previous.npz    the last.npz of the epoch before (a damaged last.npz costs one
                                  epoch: docs/damaged_input.md)
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
        model.load_state_dict(numbers_only(state))
    except ValueError as e:
        raise UsageError(f"{path}: not a checkpoint of this model ({e})") from None


def numbers_only(state):
    """`state` if every array holds real, finite numbers, else a ValueError naming the first
    that does not (a NaN, an inf, or text or complex numbers written by hand or by a training
    run that diverged: loaded, it would give silently wrong scores)."""
    for name, array in state.items():
        if array.dtype.kind not in "fiu":
            raise ValueError(f"{name} holds {array.dtype} values, expected real numbers")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"{name} holds NaN or infinite values")
    return state


def save_state(run_dir, model, adam, history):
    """checkpoints/last.npz: parameters, Adam state and the per-epoch history (for --resume).
    The one it replaces becomes checkpoints/previous.npz: a last.npz damaged later (a disk, a
    copy) costs one epoch, not the run."""
    arrays = {f"param.{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"adam.{k}": v for k, v in adam.state_dict().items()})
    arrays["history"] = np.array(json.dumps(history))
    last = Path(run_dir) / "checkpoints" / "last.npz"
    if last.is_file():
        io.keep_as(last, last.with_name("previous.npz"))     # a hard link, not a copy
    io.write_npz(last, arrays)


def resume_hint(run_dir):
    """How to go on when checkpoints/last.npz is damaged or missing."""
    previous = Path(run_dir) / "checkpoints" / "previous.npz"
    if previous.is_file():
        return (f"; to resume from the epoch before, mv {previous} {previous.with_name('last.npz')}"
                " and run --resume again")
    return "; start again in another --out directory"


def load_state(run_dir, model, adam):
    """The history saved by save_state, its parameters and Adam state loaded into model, adam."""
    path = Path(run_dir) / "checkpoints" / "last.npz"
    retry = resume_hint(run_dir)
    try:
        state = io.read_npz(path)                     # its errors name the file
    except ValueError as e:
        raise UsageError(f"{e}{retry}") from None
    try:
        numbers_only({k: v for k, v in state.items() if k != "history"})
        model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("param.")})
        adam.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("adam.")})
        return checked_history(json.loads(str(state["history"])))
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path}: not a checkpoint of this run ({first_line(e)}){retry}") from None


def checked_history(history):
    """The per-epoch history of last.npz: rows {"epoch": 1, 2, ..., and LOG_COLUMNS' numbers}."""
    if not isinstance(history, list):
        raise ValueError("history is not a list of epochs")
    for i, row in enumerate(history, 1):
        if not (isinstance(row, dict) and row.get("epoch") == i
                and all(io.is_a(row.get(c), (int, float)) for c in LOG_COLUMNS)):
            raise ValueError(f"history row {i} is not epoch {i} with {', '.join(LOG_COLUMNS)}")
    return history


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
        saved = io.read_json(path)
    except ValueError as e:
        raise UsageError(f"{e} (is {run_dir} a run directory of avt_np.train?)") from None
    try:
        if not isinstance(saved, dict) or not isinstance(saved.get("data"), str):
            raise ValueError("expected an object with the path of its \"data\"")
        return saved, checked_config(ModelConfig(**saved["model"]))
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path}: not a valid run configuration ({first_line(e)})") from None


def checked_config(config):
    """`config` if its sizes are positive whole numbers and its dropout a probability (a
    hand-edited config.json can hold anything), else a ValueError."""
    sizes = {name: getattr(config, name) for name in ("blocks", "heads", "d_model", "d_head",
                                                      "d_ff", "classes", "memory_block")}
    if not isinstance(config.dims, dict) or not config.dims:
        raise ValueError("dims must map modalities to widths")
    unread = sorted({config.first, config.second} - set(config.dims))
    if unread:
        raise ValueError(f"dims has no width for {', '.join(unread)}, which the model reads")
    sizes.update({f"dims.{m}": d for m, d in config.dims.items()})
    for name, value in sizes.items():
        if not io.is_a(value, int) or not 0 <= value < 2 ** 20 \
                or (value == 0 and name != "memory_block"):
            raise ValueError(f"{name} = {value!r}, expected a positive whole number")
    if not (isinstance(config.dropout, (int, float)) and 0 <= config.dropout < 1):
        raise ValueError(f"dropout = {config.dropout!r}, expected a probability below 1")
    if not isinstance(config.mask_padding, bool):
        raise ValueError(f"mask_padding = {config.mask_padding!r}, expected true or false")
    return config


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
        metrics = io.read_json(path)
    except ValueError as e:
        raise UsageError(f"{e}; to score the run again, remove it and run python -m "
                         f"avt_np.train --out {run_dir} --resume") from None
    epochs = metrics.get("ensemble_epochs") if isinstance(metrics, dict) else None
    if not (isinstance(epochs, list) and epochs and all(io.is_a(e, int) and e >= 1
                                                        for e in epochs)):
        raise UsageError(f"{path}: ensemble_epochs must be a list of epoch numbers, got "
                         f"{json.dumps(epochs)[:60]}")
    return saved, config, metrics, epochs[-1]


def existing_snapshot(run_dir, epoch, needed_for="the model"):
    """snapshot_path(run_dir, epoch), or a one-line UsageError when that file is missing,
    saying what needed it (a sweep's runs with --keep none keep no snapshot)."""
    snapshot = snapshot_path(run_dir, epoch)
    if not snapshot.is_file():
        raise UsageError(f"{snapshot}: snapshot missing; needed for {needed_for} (a run trained "
                         "by a sweep with --keep none keeps no snapshot)")
    return snapshot


def load_model(run_dir, config, epoch, needed_for="the model"):
    """The AudiovisualTransformer saved after `epoch` (the last of the ensemble); one-line
    errors for a missing or unreadable (e.g. truncated) snapshot."""
    model = AudiovisualTransformer(config)
    load_snapshot(model, existing_snapshot(run_dir, epoch, needed_for))
    return model


class Ensemble:
    """The models saved after several epochs (the epoch ensemble, Sec. 3.2.9) as one
    AudiovisualTransformer and each epoch's parameters: iterating loads each epoch's in turn
    into the one model and yields it, so a forward pass's caches are held once, not once per
    epoch (about 100 MB each for a batch of 100 clips of the paper's video/audio model).
    `predict.predict_ensemble(ensemble, ...)` takes it like a list of models."""

    def __init__(self, model, states):
        self.model, self.states = model, states

    def __len__(self):
        return len(self.states)

    def __iter__(self):
        for state in self.states:
            self.model.load_state_dict(state)
            yield self.model


def load_ensemble(run_dir, config, epochs, needed_for="the ensemble"):
    """The Ensemble of the snapshots saved after `epochs`, each checked as load_model checks
    it (one-line errors for a missing, unreadable or foreign snapshot) before any is used."""
    model = AudiovisualTransformer(config)
    states = []
    for epoch in epochs:
        load_snapshot(model, existing_snapshot(run_dir, epoch, needed_for))
        states.append(model.state_dict())
    return Ensemble(model, states)
