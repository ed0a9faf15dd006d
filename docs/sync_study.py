"""The README's attention study ("Does cross-modal attention find the event?"), re-runnable.

    python docs/sync_study.py --out studies/sync [--seeds 5] [--workers 2]

Trains the study's eight configurations (video first / audio second and the reverse; softmax,
sigmoid and normalized-sigmoid attention without positional encodings, and softmax with
encodings on video) for seeds 0..N-1 with a short protocol (5 epochs x 100 batches of 40, the
epoch-5 model alone: `--ensemble 1`), then prints the README's table with mean +- standard
deviation over seeds. Every run is `python -m avt_np.train` in OUT/runs/NAME with its output in
OUT/logs/NAME.log; finished runs (metrics.json) are skipped and half-finished ones resumed, so
the same command after a kill finishes only what is missing. Runs go `--workers` at a time, each
with cores // workers BLAS threads (several NumPy processes with two threads each on two cores
run many times slower than one at a time).

Columns: test micro-F1; from the run's own metrics.json (`"sync"`, avt_np/sync.py): chance,
share of attention on the frames where the event is present, gain over chance, top-1 hit rate,
all for the last decoder block, head-averaged; and two diagnostics computed here on 200 test
clips: the mean largest weight of a (normalised) cross-attention row (uniform over 10 key
frames = 0.100) and the standard deviation over the frames of the encoder's output, averaged
over clips and dimensions (how much the keys differ from frame to frame).
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

CONFIGS = [(first, second, "none", attention)
           for first, second in (("audio", "video"), ("video", "audio"))
           for attention in ("softmax", "sigmoid", "normalized-sigmoid")]
CONFIGS += [("audio", "video", "video", "softmax"), ("video", "audio", "video", "softmax")]
PROTOCOL = ["--epochs", "5", "--batches-per-epoch", "100", "--ensemble", "1"]


def run_name(first, second, pos_enc, attention, seed):
    return f"{first}-{second}_pe-{pos_enc}_{attention}_seed{seed}"


def train(out, config, seed, threads, extra):
    """One training run (resumed if half-finished); returns its name, exit code and state."""
    name = run_name(*config, seed)
    run_dir = out / "runs" / name
    if (run_dir / "metrics.json").is_file():
        return name, 0, "finished earlier"
    first, second, pos_enc, attention = config
    command = [sys.executable, "-m", "avt_np.train", "--first", first, "--second", second,
               "--pos-enc", pos_enc, "--attention", attention, "--seed", str(seed),
               "--out", str(run_dir), *PROTOCOL, *extra]
    if (run_dir / "config.json").is_file():
        command.append("--resume")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    (out / "logs").mkdir(parents=True, exist_ok=True)
    with open(out / "logs" / f"{name}.log", "a") as log:
        code = subprocess.run(command, stdout=log, stderr=log, env=env).returncode
    return name, code, "done" if code == 0 else f"failed (exit {code}), see its log"


def report(line):
    sys.stderr.write(line + "\n")             # one write: lines of parallel runs do not mix
    sys.stderr.flush()


def diagnostics(run_dir, clips=200):
    """Mean largest cross-attention weight (last decoder block) and the encoder output's
    standard deviation over frames, on the first `clips` test clips."""
    from avt_np.predict import predict                # imported here: the table needs no model
    from avt_np.visualize import load

    run = load(run_dir)
    run.model.eval()
    split, indices = run.dataset["test"], np.arange(clips)
    blocks = predict(run.model, split, run.config, indices, attention=True).cross_attention
    rows = blocks[-1] / np.maximum(blocks[-1].sum(-1, keepdims=True), 1e-30)  # sigmoid rows too
    memory = run.model.encoder_input(split.batch(indices)[run.config.first])
    for block in run.model.encoder:
        memory = block(memory)                                                 # (B, T, D)
    return float(rows.max(-1).mean()), float(memory.std(axis=1).mean())


def mean_sd(values, digits=3):
    values = np.asarray(values, float)
    text = f"{values.mean():.{digits}f}"
    return text + (f" ± {values.std(ddof=1):.{digits}f}" if len(values) > 1 else "")


def table(out, seeds):
    """The README table from the finished runs (a configuration's missing seeds are left out)."""
    lines = ["| first / second | PE | attention | runs | test micro-F1 | chance | share (last block) "
             "| gain over chance | top-1 | mean max weight | encoder output std over time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for config in CONFIGS:
        found = []
        for seed in range(seeds):
            run_dir = out / "runs" / run_name(*config, seed)
            if (run_dir / "metrics.json").is_file():
                metrics = json.loads((run_dir / "metrics.json").read_text())
                last = metrics["sync"]["last_block"]
                found.append([metrics["test_micro_f1"], metrics["sync"]["chance"], last["share"],
                              last["gain"], last["top1"], *diagnostics(run_dir)])
        if not found:
            continue
        columns = list(zip(*found))
        cells = [mean_sd(c) for c in columns[:5]] + [mean_sd(c, 4) for c in columns[5:]]
        first, second, pos_enc, attention = config
        lines.append(f"| {first} / {second} | {pos_enc} | {attention} | {len(found)} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="studies/sync", help="study directory (studies/sync)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per configuration (5)")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time (2)")
    parser.add_argument("--table-only", action="store_true",
                        help="train nothing; print the table of the finished runs")
    args, extra = parser.parse_known_args(argv)     # extra: passed on to avt_np.train (--data)
    if args.seeds < 1 or args.workers < 1:
        parser.error("--seeds and --workers must be at least 1")
    out = Path(args.out)
    if not args.table_only:
        threads = max(1, (os.cpu_count() or 1) // args.workers)
        jobs = [(config, seed) for seed in range(args.seeds) for config in CONFIGS]
        finished = itertools.count(1)

        def run(job):
            name, code, state = train(out, *job, threads, extra)
            report(f"[{next(finished)}/{len(jobs)}] {name}: {state}")
            return name, code
        with ThreadPoolExecutor(args.workers) as pool:
            codes = list(pool.map(run, jobs))
        failed = [name for name, code in codes if code != 0]
        if failed:
            print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
    text = table(out, args.seeds)
    tmp = out / "table.md.tmp"
    out.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text + "\n")
    os.replace(tmp, out / "table.md")
    print(text)


if __name__ == "__main__":
    main()
