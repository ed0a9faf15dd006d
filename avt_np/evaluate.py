"""Score a run: epoch-level ensemble, global threshold on validation, micro-F1 on test.

    python -m avt_np.evaluate RUN_DIR [--data DIR] [--out FILE.json]

Re-scores a finished run from its saved epoch snapshots (on its own data, or on another data
set with the same classes) and prints the metrics as JSON. `avt_np.train` calls the same
`score_ensemble` when it finishes, so an unchanged re-score reproduces metrics.json.
"""

import json
import sys
from pathlib import Path

from avt_np import cli, data, io
from avt_np.cli import ArgumentParser, UsageError
from avt_np.metrics import best_global_threshold, micro_f1, per_class_scores
from avt_np.model import AudiovisualTransformer
from avt_np.predict import predict
from avt_np.progress import Progress
from avt_np.run_dir import load_run, load_snapshot, snapshot_path
from avt_np.sync import model_sync_report


def score_ensemble(model, run_dir, epochs, dataset, config, classes):
    """Average the clip probabilities of the models saved after `epochs` (Sec. 3.2.9), choose
    one global threshold on validation (Sec. 3.2.10) and score the test split with it; the
    synchronization score of the last epoch's model on test (avt_np/sync.py) comes along."""
    val_probs, test_probs = 0.0, 0.0
    progress = Progress(len(epochs) + 1, "scoring: model")
    for i, epoch in enumerate(epochs, 1):
        load_snapshot(model, snapshot_path(run_dir, epoch))
        val_probs = val_probs + predict(model, dataset["validation"], config).probabilities
        test_probs = test_probs + predict(model, dataset["test"], config).probabilities
        progress.update(i, f"(epoch {epoch} on validation and test)")
    val_probs, test_probs = val_probs / len(epochs), test_probs / len(epochs)
    val_true = dataset["validation"].labels > 0.5
    test_true = dataset["test"].labels > 0.5
    threshold, val_f1 = best_global_threshold(val_true, val_probs)
    test_pred = test_probs >= threshold
    sync = {"epoch": epochs[-1], **model_sync_report(model, dataset["test"], config)}
    progress.update(len(epochs) + 1, "(synchronization score)")
    return {
        "test_micro_f1": micro_f1(test_true, test_pred),
        "val_micro_f1": val_f1,
        "threshold": threshold,
        "ensemble_epochs": list(epochs),
        "per_class": per_class_scores(test_true, test_pred, classes),
        "sync": sync,
    }


def run(argv=None):
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
    dataset = data.open(args.data or saved["data"], (config.first, config.second))
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
