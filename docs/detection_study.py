"""Which configurations localise events best? The two studies of docs/detection.md.

    python docs/detection_study.py --out studies/detection --seeds 3     # train, then the table
    python docs/detection_study.py --out studies/detection --table-only  # the table so far
    python docs/detection_study.py --study remedies --out studies/remedies --seeds 3
    python docs/detection_study.py --frame-baseline --seeds 3   # per-frame logistic regression
    python docs/detection_study.py --ceiling                             # frame-resolution ceiling
    python docs/detection_study.py --run runs/video-audio-seed0          # one run, four detectors

Study "configurations" (the default): the paper's best configuration (video first, audio second,
softmax attention, mean pooling, cross-attention on the last encoder block) and one change at a
time: normalized-sigmoid attention, max pooling, cross-attention on the input stream
(`--memory-block 0`), and the last two together with normalized sigmoid (the pair that found the
visible frames in docs/attention.md). Study "remedies": the paper's configuration and each of
our options for keeping time alone (linear-softmax and attention pooling, local self- and
cross-attention, the frame skip), the best pair, and `--preset detection`. Short protocol (5 epochs x 100 batches of 40, the epoch-5 model alone), seeds
0..N-1, on the embedded data. Each run is `python -m avt_np.train` in OUT/runs/NAME (finished
runs are skipped, half-finished ones resumed); training ends by scoring subtask A (micro-F1)
and subtask B (segment-based error rate and F1 on 1 s segments, post-processing chosen on
validation) into its metrics.json, which the table reads.

"ER gained by timing" is the test ER of the run's events without their timing minus the ER of
its events: each clip's frame probabilities replaced, class by class, by their maximum over the
clip, then the same post-processing (the same thresholds, per class or not), so the same
classes come out per clip, as events lasting the whole clip (with a single threshold at most
the tagging threshold: the tags as whole-clip events). The table adds the frame probabilities'
variation within a clip (their standard deviation over a test clip's real frames, averaged
over clips and classes; 0 when every frame of a clip says the same) and cross-attention's
synchronization gain over chance in the last decoder block (metrics.json "sync").

--frame-baseline trains the reference the transformer should at least match: a logistic
regression on each 128-d audio frame alone (no context), on the same weak labels, sampler and
protocol, with mean and with linear-softmax pooling, and prints the same columns.

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

STUDIES = {
    "configurations": {
        "paper": [],
        "normalized-sigmoid": ["--attention", "normalized-sigmoid"],
        "max-pooling": ["--pooling", "max"],
        "memory-0": ["--memory-block", "0"],
        "memory-0+normalized-sigmoid": ["--memory-block", "0", "--attention",
                                        "normalized-sigmoid"],
    },
    "remedies": {
        "paper": [],
        "linear-softmax": ["--pooling", "linear-softmax"],
        "attention-pooling": ["--pooling", "attention"],
        "self-window-1": ["--self-window", "1"],
        "cross-window-1": ["--cross-window", "1"],
        "frame-skip": ["--frame-skip", "on"],
        "linear-softmax+frame-skip": ["--pooling", "linear-softmax", "--frame-skip", "on"],
        "linear-softmax+self-window-1": ["--pooling", "linear-softmax", "--self-window", "1"],
        "frame-skip+self-window-1": ["--frame-skip", "on", "--self-window", "1"],
        "linear-softmax+frame-skip+self-window-1": ["--pooling", "linear-softmax", "--frame-skip",
                                                    "on", "--self-window", "1"],
    },
}
SHORT = ["--epochs", "5", "--batches-per-epoch", "100", "--ensemble", "1", "--cores", "1"]


def train(out, cells, cell, seed):
    """One run of `cell` (resumed if half-finished) -> (name, exit code)."""
    name = f"{cell}_seed{seed}"
    run_dir = out / "runs" / name
    if (run_dir / "metrics.json").is_file():
        return name, 0
    resume = ["--resume"] if (run_dir / "config.json").is_file() else []
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    with open(out / "logs" / f"{name}.log", "w") as log:
        code = subprocess.call([sys.executable, "-m", "avt_np.train", *SHORT, *cells[cell],
                                "--seed", str(seed), "--out", str(run_dir), *resume],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    return name, code


def mean_sd(values, digits=3):
    values = np.asarray(values, float)
    if values.size == 0:
        return "-"
    sd = f" +- {values.std(ddof=1):.{digits}f}" if values.size > 1 else ""
    return f"{values.mean():.{digits}f}{sd}"


def within_clip_sd(frame_probabilities, lengths):
    """The standard deviation of each clip's frame probabilities over its real frames, per
    class, averaged over clips and classes: (N, T, C), (N,) -> float (0: no timing at all)."""
    real = np.arange(frame_probabilities.shape[1]) < np.asarray(lengths)[:, None]   # (N, T)
    weight = real[:, :, None] / real.sum(1)[:, None, None]                         # (N, T, 1)
    mean = (frame_probabilities * weight).sum(1, keepdims=True)
    variance = (((frame_probabilities - mean) ** 2) * weight).sum(1)                # (N, C)
    return float(np.sqrt(variance).mean())


def timing_removed(frame_probabilities, lengths):
    """Each clip's frame probabilities replaced, class by class, by their maximum over the
    clip's real frames: whatever passes a threshold somewhere in the clip passes it
    everywhere. The same post-processing then gives the same classes per clip, as events
    lasting the whole clip: the events without their timing."""
    real = np.arange(frame_probabilities.shape[1]) < np.asarray(lengths)[:, None]   # (N, T)
    peak = np.where(real[:, :, None], frame_probabilities, -np.inf).max(1, keepdims=True)
    return np.broadcast_to(peak, frame_probabilities.shape)


def whole_clip_events(frame_probabilities, tagged, split, classes, settings):
    """The events of `settings` with their timing removed (timing_removed)."""
    from avt_np.detection import detect
    return detect(timing_removed(frame_probabilities, split.lengths), tagged, split.lengths,
                  split.clip_ids, classes, settings)


def run_timing(run_dir):
    """(test ER of a run's events without their timing, within-clip SD of its test frames)."""
    from avt_np import data
    from avt_np.events import segment_based
    from avt_np.predict import predict_ensemble
    from avt_np.tag import run_model
    trained = run_model(run_dir)
    split = data.open(trained.data)["test"]
    out = predict_ensemble(trained.models, split, trained.config)
    found = whole_clip_events(out.frame_probabilities, out.probabilities >= trained.threshold,
                              split, trained.classes, trained.settings)
    whole = segment_based(split.events, found, labels=trained.classes)["error_rate"]
    return whole, within_clip_sd(out.frame_probabilities, split.lengths)


TABLE_HEADER = ["| cell | runs | test micro-F1 (A) | test ER (B) | test F1 (B) | test ER of the "
                "events without their timing | ER gained by timing | within-clip SD of the frame "
                "probabilities | cross-attention's gain over chance (last block) | "
                "post-processing chosen on validation |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]


def sync_gain(metrics):
    """The last decoder block's synchronization gain over chance (metrics.json "sync"), or
    None when it was not scored."""
    sync = metrics.get("sync") or {}
    if not sync.get("blocks"):
        return None
    return (sync["blocks"][-1]["share"] - sync["chance"]) / (1 - sync["chance"])


def table_row(cell, metrics, whole_er, frame_sd):
    """One Markdown row from per-seed metrics.json dicts, ERs without timing and frame SDs."""
    events_er = [m["events"]["test"]["error_rate"] for m in metrics]
    chosen = "; ".join(describe(m["events"]["post_processing"], m["threshold"]) for m in metrics)
    return (f"| {cell} | {len(metrics)} | {mean_sd([m['test_micro_f1'] for m in metrics])} "
            f"| {mean_sd(events_er)} | {mean_sd([m['events']['test']['f1'] for m in metrics])} "
            f"| {mean_sd(whole_er)} | {mean_sd(np.subtract(whole_er, events_er))} "
            f"| {mean_sd(frame_sd, 4)} "
            f"| {mean_sd([g for m in metrics if (g := sync_gain(m)) is not None])} | {chosen} |")


def describe(post, tag_threshold):
    """A chosen post-processing in a few characters: thresholds as fractions of the tagging
    threshold, then median, gap, minimum length."""
    from avt_np.detection import PostProcessing
    settings = PostProcessing.from_json(post)
    return f"{settings.describe(tag_threshold)}"


def table(out, cells, seeds):
    """Markdown: per cell, subtask A micro-F1 and subtask B ER / F1 on test, mean +- sd, and
    what the frame probabilities' timing adds: the ER of the same events without their timing
    (timing_removed) minus the ER of the events; the frame probabilities' within-clip SD; the
    synchronization gain of cross-attention."""
    rows = list(TABLE_HEADER)
    for cell in cells:
        runs = [r for seed in range(seeds)
                if (r := out / "runs" / f"{cell}_seed{seed}" / "metrics.json").is_file()]
        metrics = [json.loads(r.read_text()) for r in runs]
        timing = [run_timing(r.parent) for r in runs]
        rows.append(table_row(cell, metrics, [t[0] for t in timing], [t[1] for t in timing]))
    return "\n".join(rows)


def frame_baseline(seeds, pooling, epochs=5, batches=100, batch_size=40):
    """The per-frame logistic regression of the module docstring, trained like a short-protocol
    run (balanced batches, Adam, BCE on the pooled clip probabilities), its threshold and
    post-processing chosen on validation as a run's are -> metrics like a run's metrics.json
    ("test_micro_f1", "threshold", "events"), the whole-clip ER and the within-clip SD."""
    from avt_np import data
    from avt_np import nn
    from avt_np.data.sampler import BalancedSampler
    from avt_np.detection import PostProcessing
    from avt_np.evaluate import score_events
    from avt_np.events import segment_based
    from avt_np.metrics import best_global_threshold, micro_f1
    from avt_np.optim import Adam

    class FrameClassifier(nn.Module):
        """p_t = sigmoid(W a_t + b) for each audio frame a_t alone, pooled over the clip."""

        def __init__(self, rng):
            super().__init__()
            self.linear, self.sigmoid = nn.Linear(128, 17, rng), nn.Sigmoid()
            self.pool = nn.POOLING[pooling]()

        def forward(self, audio, lengths):
            self.frame_probabilities = self.sigmoid(self.linear(audio))
            return self.pool(self.frame_probabilities, np.arange(audio.shape[1]) < lengths[:, None])

        def backward(self, dp):
            self.linear.backward(self.sigmoid.backward(self.pool.backward(dp)), False)

    dataset = data.open(modalities=("audio",))
    train_split, loss = dataset["train"], nn.BinaryCrossEntropy()

    def predict(model, split):
        batch = split.batch(np.arange(len(split)))
        return model(batch["audio"], batch["lengths"]), model.frame_probabilities

    rows = []
    for seed in range(seeds):
        model = FrameClassifier(np.random.default_rng(seed))
        adam = Adam(model)
        sampler = BalancedSampler(train_split.labels, batch_size=batch_size,
                                  batches_per_epoch=batches, seed=seed)
        for epoch in range(1, epochs + 1):
            for indices in sampler.epoch(epoch):
                batch = train_split.batch(indices)
                model.zero_grad()
                probs = model(batch["audio"], batch["lengths"])
                loss(probs, batch["labels"].astype(probs.dtype))
                model.backward(loss.backward()[0])
                adam.step()
        (val_probs, val_frames), (test_probs, test_frames) = (
            predict(model, dataset[s]) for s in ("validation", "test"))
        threshold, _ = best_global_threshold(dataset["validation"].labels > 0.5, val_probs)
        test = dataset["test"]
        metrics = {"threshold": threshold,
                   "test_micro_f1": micro_f1(test.labels > 0.5, test_probs >= threshold),
                   "events": score_events(dataset, dataset.classes, threshold, val_probs,
                                          val_frames, test_probs, test_frames)}
        chosen = PostProcessing.from_json(metrics["events"]["post_processing"])
        found = whole_clip_events(test_frames, test_probs >= threshold, test, dataset.classes,
                                  chosen)
        whole = segment_based(test.events, found, labels=dataset.classes)["error_rate"]
        rows.append((metrics, whole, within_clip_sd(test_frames, test.lengths)))
    return table_row(f"per-frame logistic regression, {pooling} pooling",
                     [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


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
    p.add_argument("--study", choices=list(STUDIES), default="configurations")
    p.add_argument("--frame-baseline", action="store_true",
                   help="train and score the per-frame logistic regression (mean and "
                        "linear-softmax pooling), --seeds seeds")
    args = p.parse_args(argv)
    if args.ceiling:
        print(ceiling())
        return 0
    if args.run:
        print(run_detectors(args.run))
        return 0
    if args.frame_baseline:
        print("\n".join(TABLE_HEADER + [frame_baseline(args.seeds, pooling)
                                         for pooling in ("mean", "linear-softmax")]))
        return 0
    out, cells = Path(args.out), STUDIES[args.study]
    if not args.table_only:
        jobs = [(cell, seed) for seed in range(args.seeds) for cell in cells]
        with ThreadPoolExecutor(args.workers) as pool:
            for name, code in pool.map(lambda job: train(out, cells, *job), jobs):
                print(f"{name}: {'done' if code == 0 else f'FAILED (exit {code})'}",
                      file=sys.stderr, flush=True)
    print(table(out, cells, args.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
