"""The trained model `python -m avt_np.tag` uses: a finished run's epoch ensemble (Sec. 3.2.9),
its tagging threshold (Sec. 3.2.10) and the event post-processing chosen on validation, read
from its config.json, metrics.json and snapshots with one-line errors for any damage."""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from avt_np import cli
from avt_np.cli import UsageError
from avt_np.detection import PostProcessing
from avt_np.io import is_a
from avt_np.run_dir import Ensemble, load_ensemble, load_run, read_finished, run_classes


@dataclass
class TrainedRun:
    config: object                  # ModelConfig
    models: Ensemble                # the models of the ensemble, one at a time (run_dir.py)
    epochs: list
    threshold: float                # tagging threshold (Sec. 3.2.10)
    settings: object                # PostProcessing of the events
    classes: list                   # class names, in output order
    data: str                       # the run's --data


def run_model(run_dir, epoch=None, threshold=None):
    """A run's ensemble (or the snapshot of `epoch`), threshold and event post-processing, from
    its config.json and metrics.json. -> TrainedRun"""
    metrics_path = Path(run_dir) / "metrics.json"
    finished = metrics_path.is_file()
    if finished:
        saved, config, metrics, _ = read_finished(run_dir)      # one-line errors for damage
        run_epochs = metrics["ensemble_epochs"]
        run_threshold, chosen = tagging_settings(metrics_path, metrics)
    else:
        saved, config = load_run(run_dir)
        run_epochs = run_threshold = chosen = None
    classes = run_classes(run_dir, saved, config)
    if epoch is None and not finished:
        snapshots = sorted(int(p.stem[6:]) for p in Path(run_dir).glob("checkpoints/epoch_*.npz")
                           if p.stem[6:].isdigit())
        if not snapshots:
            raise UsageError(f"{run_dir}: no finished epoch (no checkpoints/epoch_NNN.npz); "
                             "train it first, or continue it with --resume")
        raise UsageError(f"{metrics_path}: not found: the run has not finished, so it has no "
                         f"ensemble and no threshold; tag with one snapshot: --epoch "
                         f"{snapshots[-1]} --threshold T")
    if threshold is None and not finished:
        raise UsageError(f"{metrics_path}: not found: give --threshold (the run has not chosen "
                         "one on validation)")
    epochs = [epoch] if epoch is not None else run_epochs
    threshold = run_threshold if threshold is None else threshold
    models = load_ensemble(run_dir, config, epochs, "tagging (--epoch K picks another)")
    if chosen:              # its frame threshold is a fraction of the run's tagging threshold
        settings = PostProcessing(**chosen)
        if threshold != run_threshold:
            settings = settings.scaled(threshold / run_threshold)
    else:
        settings = PostProcessing(threshold)
        print("tag: no event post-processing chosen on validation for this run (python -m "
              "avt_np.evaluate RUN --events chooses one); events are the frames above the "
              "threshold", file=sys.stderr)
    return TrainedRun(config, models, epochs, threshold, settings, classes, saved["data"])


def tagging_settings(path, metrics):
    """(threshold, event post-processing or None) of a finished run's metrics.json (read by
    run_dir.read_finished), checked; one-line errors."""
    threshold, events = metrics.get("threshold"), metrics.get("events")
    if not (is_a(threshold, (int, float)) and 0.0 < threshold < 1.0):
        raise UsageError(f"{path}: needs a threshold in (0, 1), got {json.dumps(threshold)[:60]}")
    chosen = events.get("post_processing") if isinstance(events, dict) else None
    if chosen is not None:
        try:
            PostProcessing(**chosen)
        except (TypeError, ValueError) as e:
            raise UsageError(f"{path}: events.post_processing: {cli.first_line(e)}") from None
    return threshold, chosen
