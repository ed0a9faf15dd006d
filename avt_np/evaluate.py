"""Score a run: epoch-level ensemble, global threshold on validation, micro-F1 on test.

    python -m avt_np.evaluate RUN_DIR [--data DIR] [--out FILE.json] [--events]

Re-scores a finished run from its saved epoch snapshots (on its own data, or on another data
set with the same classes) and prints the metrics as JSON. `avt_np.train` calls the same
`score_ensemble` when it finishes, so an unchanged re-score reproduces metrics.json.

--events adds DCASE 2017 Task 4 subtask B: the ensemble's frame probabilities become events
(avt_np/detection.py, its post-processing chosen on validation), scored with the segment-based
error rate and F1 on 1 s segments (avt_np/events.py) against the splits' strong labels
(SPLIT/events.tsv); on the run's own data the result is also added to RUN_DIR/metrics.json.
Training does the same at its end when the data set has strong labels.
"""

import json
import sys
from pathlib import Path

from avt_np import cli, data, detection, io
from avt_np import events as event_lists
from avt_np.cli import ArgumentParser, UsageError
from avt_np.metrics import best_global_threshold, micro_f1, per_class_scores
from avt_np.model import AudiovisualTransformer
from avt_np.predict import predict
from avt_np.progress import Progress
from avt_np.run_dir import existing_snapshot, load_snapshot, read_finished, snapshot_path
from avt_np.sync import model_sync_report


def score_ensemble(model, run_dir, epochs, dataset, config, classes, events=False):
    """Average the clip probabilities of the models saved after `epochs` (Sec. 3.2.9), choose
    one global threshold on validation (Sec. 3.2.10) and score the test split with it; the
    synchronization score of the last epoch's model on test (avt_np/sync.py) comes along, and
    with `events` the event detection scores of score_events."""
    val_probs, test_probs, val_frames, test_frames = 0.0, 0.0, 0.0, 0.0
    progress = Progress(len(epochs) + 1, "scoring: model")
    for i, epoch in enumerate(epochs, 1):
        load_snapshot(model, snapshot_path(run_dir, epoch))
        val = predict(model, dataset["validation"], config)
        test = predict(model, dataset["test"], config)
        val_probs, val_frames = val_probs + val.probabilities, val_frames + val.frame_probabilities
        test_probs = test_probs + test.probabilities
        test_frames = test_frames + test.frame_probabilities
        progress.update(i, f"(epoch {epoch} on validation and test)")
    val_probs, test_probs = val_probs / len(epochs), test_probs / len(epochs)
    val_frames, test_frames = val_frames / len(epochs), test_frames / len(epochs)
    val_true = dataset["validation"].labels > 0.5
    test_true = dataset["test"].labels > 0.5
    threshold, val_f1 = best_global_threshold(val_true, val_probs)
    test_pred = test_probs >= threshold
    sync = {"epoch": epochs[-1], **model_sync_report(model, dataset["test"], config)}
    progress.update(len(epochs) + 1, "(synchronization score)")
    metrics = {
        "test_micro_f1": micro_f1(test_true, test_pred),
        "val_micro_f1": val_f1,
        "threshold": threshold,
        "ensemble_epochs": list(epochs),
        "per_class": per_class_scores(test_true, test_pred, classes),
        "sync": sync,
    }
    if events:
        metrics["events"] = score_events(dataset, classes, threshold, val_probs, val_frames,
                                         test_probs, test_frames)
    return metrics


def has_strong_labels(dataset):
    return all(dataset[s].events is not None for s in ("validation", "test"))


def score_events(dataset, classes, threshold, val_probs, val_frames, test_probs, test_frames):
    """DCASE 2017 Task 4 subtask B on the ensemble's frame probabilities: the post-processing
    (avt_np/detection.py) with the lowest segment-based error rate on validation, then the
    test split's events scored with it against the strong labels (avt_np/events.py)."""
    val, test = dataset["validation"], dataset["test"]
    settings, val_scores = detection.choose(val_frames, val_probs >= threshold, val.lengths,
                                            val.clip_ids, classes, val.events, threshold)
    found = detection.detect(test_frames, test_probs >= threshold, test.lengths, test.clip_ids,
                             classes, settings)
    test_scores = event_lists.segment_based(test.events, found, labels=classes)
    return {"post_processing": settings.to_json(), "segment": event_lists.SEGMENT,
            "validation": overall(val_scores), "test": overall(test_scores),
            "test_class_wise": event_lists.json_safe(test_scores["class_wise"])}


def overall(scores):
    keys = ("error_rate", "substitution_rate", "deletion_rate", "insertion_rate", "f1",
            "precision", "recall", "n_reference", "n_estimated")
    return event_lists.json_safe({k: scores[k] for k in keys})


def run(argv=None):
    parser = ArgumentParser(prog="python -m avt_np.evaluate", description=__doc__)
    parser.add_argument("run_dir", help="a run directory written by python -m avt_np.train")
    parser.add_argument("--data", help="data set directory (default: the one the run used)")
    parser.add_argument("--out", help="also write the metrics to this JSON file")
    parser.add_argument("--events", action="store_true",
                        help="also score sound event detection (DCASE 2017 Task 4 subtask B) "
                             "against the splits' strong labels, and add it to the run's "
                             "metrics.json when scored on the run's own data")
    args = parser.parse_args(argv)
    saved, config, kept, _ = read_finished(args.run_dir)      # one-line errors for damage
    metrics_path = Path(args.run_dir) / "metrics.json"
    epochs = kept["ensemble_epochs"]
    for epoch in epochs:                                      # all there before any work
        existing_snapshot(args.run_dir, epoch, "re-scoring the ensemble")
    dataset = data.open(args.data or saved["data"], (config.first, config.second))
    if args.events and not has_strong_labels(dataset):
        raise UsageError(f"--events: the data set {args.data or saved['data']} has no strong "
                         "labels (validation/events.tsv and test/events.tsv) to score against")
    model = AudiovisualTransformer(config)
    metrics = score_ensemble(model, args.run_dir, epochs, dataset, config, dataset.classes,
                             events=args.events)
    metrics["data"] = args.data or saved["data"]
    if args.events and (args.data is None or data.same_data(args.data, saved["data"])):
        io.write_json(metrics_path, dict(kept, events=metrics["events"]))
    if args.out:
        io.write_json(args.out, metrics)
    print(json.dumps(metrics, indent=1))
    print(f"test micro-F1 {metrics['test_micro_f1']:.4f}", file=sys.stderr)
    if args.events:
        for split in ("validation", "test"):
            scores = metrics["events"][split]
            print(f"{split} events: segment-based error rate {scores['error_rate']:.3f}, "
                  f"F1 {scores['f1']:.3f} (1 s segments)", file=sys.stderr)
    return metrics


def main(argv=None):
    return cli.main(run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
