"""Which of the paper's configurations localise events best? The study of docs/detection.md.

    python docs/detection_study.py --out studies/detection --seeds 3     # train, then the table
    python docs/detection_study.py --out studies/detection --table-only  # the table so far
    python docs/detection_study.py --ceiling                             # frame-resolution ceiling
    python docs/detection_study.py --run runs/video-audio-seed0          # one run, four detectors

Cells: the paper's best configuration (video first, audio second, softmax attention, mean
pooling, cross-attention on the last encoder block) and one change at a time: normalized-sigmoid
attention, max pooling, cross-attention on the input stream (`--memory-block 0`), and the last
two together with normalized sigmoid (the pair that found the visible frames in
docs/attention.md). Short protocol (5 epochs x 100 batches of 40, the epoch-5 model alone), seeds
0..N-1, on the embedded data. Each run is `python -m avt_np.train` in OUT/runs/NAME (finished
runs are skipped, half-finished ones resumed); training ends by scoring subtask A (micro-F1)
and subtask B (segment-based error rate and F1 on 1 s segments, post-processing chosen on
validation) into its metrics.json, which the table reads.

--ceiling scores the best any 0.96 s-frame system can do here: the frame-level ground truth
(audible.npy, a class audible where an event covers half a frame) turned into events on frame
edges and scored against the continuous strong labels (events.tsv), for validation and test.

--run RUN scores one finished run's ensemble four ways on validation and test: the events with
the post-processing chosen on validation (what `tag` writes), the frames above the tagging
threshold with no post-processing, the tags alone as events lasting the whole clip (no timing
at all), and the frame-level ground truth (the ceiling).
"""

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

CELLS = {
    "paper": [],
    "normalized-sigmoid": ["--attention", "normalized-sigmoid"],
    "max-pooling": ["--pooling", "max"],
    "memory-0": ["--memory-block", "0"],
    "memory-0+normalized-sigmoid": ["--memory-block", "0", "--attention", "normalized-sigmoid"],
}
SHORT = ["--epochs", "5", "--batches-per-epoch", "100", "--ensemble", "1", "--cores", "1"]


def train(out, cell, seed):
    """One run of `cell` (resumed if half-finished) -> (name, exit code)."""
    name = f"{cell}_seed{seed}"
    run_dir = out / "runs" / name
    if (run_dir / "metrics.json").is_file():
        return name, 0
    resume = ["--resume"] if (run_dir / "config.json").is_file() else []
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    with open(out / "logs" / f"{name}.log", "w") as log:
        code = subprocess.call([sys.executable, "-m", "avt_np.train", *SHORT, *CELLS[cell],
                                "--seed", str(seed), "--out", str(run_dir), *resume],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    return name, code


def mean_sd(values, digits=3):
    values = np.asarray(values, float)
    if values.size == 0:
        return "-"
    sd = f" +- {values.std(ddof=1):.{digits}f}" if values.size > 1 else ""
    return f"{values.mean():.{digits}f}{sd}"


def whole_clip_error_rate(run_dir):
    """Test ER of a run's tags as events lasting the whole clip: subtask B with no timing."""
    from avt_np import data
    from avt_np.detection import PostProcessing, detect
    from avt_np.events import segment_based
    from avt_np.predict import predict_ensemble
    from avt_np.tag import run_model
    trained = run_model(run_dir)
    split = data.open(trained.data)["test"]
    out = predict_ensemble(trained.models, split, trained.config)
    found = detect(np.ones_like(out.frame_probabilities), out.probabilities >= trained.threshold,
                   split.lengths, split.clip_ids, trained.classes, PostProcessing(0.5))
    return segment_based(split.events, found, labels=trained.classes)["error_rate"]


def table(out, seeds):
    """Markdown: per cell, subtask A micro-F1 and subtask B ER / F1 on test, mean +- sd, and
    what the frame probabilities' timing adds: the ER of the same tags as whole-clip events
    minus the ER of the events."""
    rows = ["| cell | runs | test micro-F1 (A) | test ER (B) | test F1 (B) | test ER of the tags "
            "as whole-clip events | ER gained by timing | post-processing chosen on validation "
            "(threshold / tag threshold, median, gap, min length) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for cell in CELLS:
        runs = [r for seed in range(seeds)
                if (r := out / "runs" / f"{cell}_seed{seed}" / "metrics.json").is_file()]
        metrics = [json.loads(r.read_text()) for r in runs]
        events_er = [m["events"]["test"]["error_rate"] for m in metrics]
        whole_er = [whole_clip_error_rate(r.parent) for r in runs]
        settings = "; ".join(
            f"{c['threshold'] / m['threshold']:.2f}, {c['median']}, {c['max_gap']}, "
            f"{c['min_length']}" for c, m in
            ((m["events"]["post_processing"], m) for m in metrics))
        rows.append(
            f"| {cell} | {len(metrics)} | {mean_sd([m['test_micro_f1'] for m in metrics])} "
            f"| {mean_sd(events_er)} | {mean_sd([m['events']['test']['f1'] for m in metrics])} "
            f"| {mean_sd(whole_er)} | {mean_sd(np.subtract(whole_er, events_er))} "
            f"| {settings} |")
    return "\n".join(rows)


def score_row(name, split, found, classes):
    from avt_np.events import segment_based                 # (the package, as the table needs)
    s = segment_based(split.events, found, labels=classes)
    return (f"| {name} | {s['error_rate']:.3f} | {s['substitution_rate']:.3f} | "
            f"{s['deletion_rate']:.3f} | {s['insertion_rate']:.3f} | {s['f1']:.3f} | "
            f"{s['precision']:.3f} | {s['recall']:.3f} |")


HEADER = ["| detector, split | ER | S | D | I | F1 | P | R |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]


def truth_events(split, classes):
    """The frame-level ground truth (audible.npy) as events on frame edges."""
    from avt_np.detection import PostProcessing, detect
    frames = np.moveaxis(split.audible, 1, 2).astype(float)                  # (N, T, C)
    return detect(frames, split.labels > 0, split.lengths, split.clip_ids, classes,
                  PostProcessing(0.5))


def ceiling():
    """Scores of the frame-level ground truth as events (the 0.96 s resolution's best)."""
    from avt_np import data
    dataset = data.open()
    return "\n".join(HEADER + [score_row(f"frame-level ground truth, {name}", dataset[name],
                                         truth_events(dataset[name], dataset.classes),
                                         dataset.classes) for name in ("validation", "test")])


def run_detectors(run_dir):
    """One run's ensemble as four detectors (module docstring), on validation and test."""
    from avt_np import data
    from avt_np.detection import PostProcessing, detect
    from avt_np.predict import predict_ensemble
    from avt_np.tag import run_model
    trained = run_model(run_dir)
    dataset = data.open(trained.data, (trained.config.first, trained.config.second))
    rows = []
    for name in ("validation", "test"):
        split = dataset[name]
        out = predict_ensemble(trained.models, split, trained.config)
        tagged = out.probabilities >= trained.threshold
        whole = np.ones_like(out.frame_probabilities)
        for label, probs, settings in (
                ("chosen post-processing", out.frame_probabilities, trained.settings),
                ("frames above the threshold", out.frame_probabilities,
                 PostProcessing(trained.threshold)),
                ("tags as whole-clip events", whole, PostProcessing(0.5))):
            found = detect(probs, tagged, split.lengths, split.clip_ids, trained.classes,
                           settings)
            rows.append(score_row(f"{label}, {name}", split, found, trained.classes))
        rows.append(score_row(f"frame-level ground truth, {name}", split,
                              truth_events(split, trained.classes), trained.classes))
    return "\n".join(HEADER + rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="studies/detection")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--table-only", action="store_true")
    p.add_argument("--ceiling", action="store_true")
    p.add_argument("--run", help="a finished run: its ensemble as four detectors")
    args = p.parse_args(argv)
    if args.ceiling:
        print(ceiling())
        return 0
    if args.run:
        print(run_detectors(args.run))
        return 0
    out = Path(args.out)
    if not args.table_only:
        jobs = [(cell, seed) for seed in range(args.seeds) for cell in CELLS]
        with ThreadPoolExecutor(args.workers) as pool:
            for name, code in pool.map(lambda job: train(out, *job), jobs):
                print(f"{name}: {'done' if code == 0 else f'FAILED (exit {code})'}",
                      file=sys.stderr, flush=True)
    print(table(out, args.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
