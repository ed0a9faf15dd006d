"""Score a run: epoch-level ensemble, global threshold on validation, micro-F1 on test.

    python -m avt_np.evaluate RUN_DIR [--data DIR] [--out FILE.json]

Re-scores a finished run from its saved epoch snapshots (on its own data, or on another data
set with the same classes) and prints the metrics as JSON. `avt_np.train` calls the same
`score_ensemble` when it finishes, so an unchanged re-score reproduces metrics.json.
"""

import json
import sys
from pathlib import Path

import numpy as np

from avt_np import io
from avt_np import cli
from avt_np.cli import ArgumentParser, UsageError
from avt_np.metrics import best_global_threshold, micro_f1, per_class_scores
from avt_np.model import AudiovisualTransformer, ModelConfig


def predict(model, split, config, batch_size=100):
    """Clip probabilities (N, classes) of `model` in eval mode on every clip of `split`."""
    model.eval()
    out = []
    for start in range(0, len(split), batch_size):
        batch = split.batch(np.arange(start, min(start + batch_size, len(split))))
        out.append(model(batch[config.first], batch[config.second]))
    model.train()
    return np.concatenate(out)


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


def score_ensemble(model, run_dir, epochs, dataset, config, classes):
    """Average the clip probabilities of the models saved after `epochs` (Sec. 3.2.9), choose
    one global threshold on validation (Sec. 3.2.10) and score the test split with it."""
    val_probs, test_probs = 0.0, 0.0
    for epoch in epochs:
        load_snapshot(model, snapshot_path(run_dir, epoch))
        val_probs = val_probs + predict(model, dataset["validation"], config)
        test_probs = test_probs + predict(model, dataset["test"], config)
    val_probs, test_probs = val_probs / len(epochs), test_probs / len(epochs)
    val_true = dataset["validation"].labels > 0.5
    test_true = dataset["test"].labels > 0.5
    threshold, val_f1 = best_global_threshold(val_true, val_probs)
    test_pred = test_probs >= threshold
    return {
        "test_micro_f1": micro_f1(test_true, test_pred),
        "val_micro_f1": val_f1,
        "threshold": threshold,
        "ensemble_epochs": list(epochs),
        "per_class": per_class_scores(test_true, test_pred, classes),
        "sync": sync_entry(model, dataset["test"], config, epochs[-1]),
    }


# -- synchronization score (issue 7; avt_np/sync.py) -----------------------------------------
def sync_entry(model, split, config, epoch):
    """The cross-attention synchronization score of the model saved after `epoch` (the last of
    the ensemble, already loaded in `model`) on `split`; {"skipped": why} for unimodal runs and
    splits without frame-level ground truth."""
    from avt_np.sync import model_sync_report
    return {"epoch": epoch, **model_sync_report(model, split, config)}


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


def run(argv=None):
    from avt_np.train import open_data

    parser = ArgumentParser(prog="python -m avt_np.evaluate", description=__doc__)
    parser.add_argument("run_dir", help="a run directory written by python -m avt_np.train")
    parser.add_argument("--data", help="data set directory (default: the one the run used)")
    parser.add_argument("--out", help="also write the metrics to this JSON file")
    args = parser.parse_args(argv)
    saved, config = load_run(args.run_dir)
    metrics_path = Path(args.run_dir) / "metrics.json"
    if not metrics_path.is_file():
        raise UsageError(f"{metrics_path}: not found: the run has not finished "
                         f"(continue it with python -m avt_np.train --out {args.run_dir} --resume)")
    epochs = json.loads(metrics_path.read_text())["ensemble_epochs"]
    missing = [str(snapshot_path(args.run_dir, e)) for e in epochs
               if not snapshot_path(args.run_dir, e).is_file()]
    if missing:
        raise UsageError(f"{missing[0]}: snapshot missing, cannot re-score the ensemble")
    dataset = open_data(args.data if args.data else saved["data"], config)
    model = AudiovisualTransformer(config)
    metrics = score_ensemble(model, args.run_dir, epochs, dataset, config, dataset.classes)
    metrics["data"] = args.data or saved["data"]
    if args.out:
        io.write_json(args.out, metrics)
    print(json.dumps(metrics, indent=1))
    print(f"test micro-F1 {metrics['test_micro_f1']:.4f}", file=sys.stderr)
    return metrics


def main(argv=None):
    return cli.main(run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
