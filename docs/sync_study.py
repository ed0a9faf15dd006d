"""When does cross-modal attention find the event? The study of docs/attention.md, re-runnable.

    python docs/sync_study.py --out studies/sync --seeds 5            # the short-protocol grid
    python docs/sync_study.py --out studies/sync --table-only         # the table of what finished
    python docs/sync_study.py --out studies/sync --full first=video,memory=3,pooling=mean,attention=softmax

The grid: video first / audio second and the reverse, x softmax and normalized-sigmoid
attention, x the encoder stage the decoder's cross-attention reads (`--memory-block` 0 = the
input stream, 1, 3 = the paper), x mean and max pooling; positional encodings on video (the
train default); seeds 0..N-1; the short protocol (5 epochs x 100 batches of 40, the epoch-5
model alone: `--ensemble 1`). `--full CELL` trains one cell with the full protocol of Sec. 3.2
instead (seed 0). Every run is `python -m avt_np.train` in OUT/runs/NAME, its output in
OUT/logs/NAME.log; finished runs are skipped and half-finished ones resumed, and each run's
probes are kept in OUT/runs/NAME/probes.json, so the same command after a kill redoes nothing.
Runs go `--workers` at a time with cores // workers BLAS threads each.

Columns (test split): micro-F1; from the run's metrics.json ("sync", avt_np/sync.py): chance,
share of attention on the key frames where the event is present, gain over chance, top-1 hit
rate, for the last decoder block, head-averaged; from avt_np/sync_probes.py: the standard
deviation over frames of the encoder output the decoder reads, and the frame-shuffle test
(micro-F1 with the first modality's frames permuted within each clip, and the mean change of
the frame probabilities).
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

ORDERS = (("video", "audio"), ("audio", "video"))
ATTENTIONS = ("softmax", "normalized-sigmoid")
MEMORY = (0, 1, 3)
POOLINGS = ("mean", "max")
CONFIGS = list(itertools.product(ORDERS, ATTENTIONS, MEMORY, POOLINGS))
SHORT = ["--epochs", "5", "--batches-per-epoch", "100", "--ensemble", "1"]


def run_name(config, seed, protocol="short"):
    (first, second), attention, memory, pooling = config
    return f"{protocol}_{first}-{second}_{attention}_memory{memory}_{pooling}_seed{seed}"


def train(out, config, seed, threads, extra, protocol="short"):
    """One training run (resumed if half-finished), then its probes; -> (name, exit code, state)."""
    name = run_name(config, seed, protocol)
    run_dir = out / "runs" / name
    (first, second), attention, memory, pooling = config
    state = "finished earlier"
    if not (run_dir / "metrics.json").is_file():
        command = [sys.executable, "-m", "avt_np.train", "--first", first, "--second", second,
                   "--attention", attention, "--memory-block", str(memory), "--pooling", pooling,
                   "--seed", str(seed), "--out", str(run_dir),
                   *(SHORT if protocol == "short" else []), *extra]
        if (run_dir / "config.json").is_file():
            command.append("--resume")
        env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
        (out / "logs").mkdir(parents=True, exist_ok=True)
        with open(out / "logs" / f"{name}.log", "a") as log:
            code = subprocess.run(command, stdout=log, stderr=log, env=env).returncode
        if code != 0:
            return name, code, f"failed (exit {code}), see its log"
        state = "done"
    if not (run_dir / "probes.json").is_file():
        env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
        code = subprocess.run([sys.executable, __file__, "--probe", str(run_dir)], env=env,
                              stdout=subprocess.DEVNULL).returncode
        if code != 0:
            return name, code, "probes failed"
    return name, 0, state


def probe(run_dir):
    """The run's probes on its test split, written to RUN_DIR/probes.json (atomically)."""
    from avt_np import io                                 # imported here: the table needs none
    from avt_np.visualize.sync_report import probes_for_run_dir
    io.write_json(Path(run_dir) / "probes.json", probes_for_run_dir(run_dir))


def row_values(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    probes = json.loads((run_dir / "probes.json").read_text())
    last = metrics["sync"]["last_block"]
    shuffle = probes["shuffle"]
    return [metrics["test_micro_f1"], metrics["sync"]["chance"], last["share"], last["gain"],
            last["top1"], probes["encoder_variation"][-1], shuffle["micro_f1_shuffled"],
            shuffle["frame_probability_change"]]


def mean_sd(values, digits=3):
    values = np.asarray(values, float)
    text = f"{values.mean():.{digits}f}"
    return text + (f" ± {values.std(ddof=1):.{digits}f}" if len(values) > 1 else "")


def table(out, seeds, protocol="short"):
    """The docs/attention.md table from the finished runs (missing seeds are left out)."""
    lines = ["| first / second | attention | memory | pooling | runs | test micro-F1 | chance "
             "| share | gain | top-1 | encoder std over frames | micro-F1, frames shuffled "
             "| frame probability change |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for config in CONFIGS:
        found = [row_values(out / "runs" / run_name(config, seed, protocol))
                 for seed in range(seeds)
                 if (out / "runs" / run_name(config, seed, protocol) / "probes.json").is_file()]
        if not found:
            continue
        columns = list(zip(*found))
        digits = [3, 3, 3, 3, 3, 4, 3, 4]
        (first, second), attention, memory, pooling = config
        lines.append(f"| {first} / {second} | {attention} | {memory} | {pooling} | {len(found)} | "
                     + " | ".join(mean_sd(c, d) for c, d in zip(columns, digits)) + " |")
    return "\n".join(lines)


def parse_cell(text):
    """'first=video,memory=3,pooling=mean,attention=softmax' -> a CONFIGS entry."""
    fields = dict(part.split("=", 1) for part in text.split(","))
    first = fields["first"]
    second = "audio" if first == "video" else "video"
    config = ((first, second), fields["attention"], int(fields["memory"]), fields["pooling"])
    if config not in CONFIGS:
        raise SystemExit(f"--full {text}: not a cell of the grid")
    return config


def report(line):
    sys.stderr.write(line + "\n")             # one write: lines of parallel runs do not mix
    sys.stderr.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="studies/sync", help="study directory (studies/sync)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per cell (5)")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time (2)")
    parser.add_argument("--table-only", action="store_true",
                        help="train nothing; print the table of the finished runs")
    parser.add_argument("--full", action="append", default=[], metavar="CELL",
                        help="train this cell with the full protocol, seed 0 (repeatable)")
    parser.add_argument("--probe", metavar="RUN_DIR", help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args(argv)     # extra: passed on to avt_np.train (--data)
    if args.probe:
        return probe(args.probe)
    if args.seeds < 1 or args.workers < 1:
        parser.error("--seeds and --workers must be at least 1")
    out = Path(args.out)
    if not args.table_only:
        threads = max(1, (os.cpu_count() or 1) // args.workers)
        jobs = ([(parse_cell(cell), 0, "full") for cell in args.full] if args.full else
                [(config, seed, "short") for seed in range(args.seeds) for config in CONFIGS])
        finished = itertools.count(1)

        def run(job):
            config, seed, protocol = job
            name, code, state = train(out, config, seed, threads, extra, protocol)
            report(f"[{next(finished)}/{len(jobs)}] {name}: {state}")
            return name, code
        with ThreadPoolExecutor(args.workers) as pool:
            codes = list(pool.map(run, jobs))
        failed = [name for name, code in codes if code != 0]
        if failed:
            print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
    text = table(out, args.seeds) + "\n\nFull protocol, seed 0:\n\n" + table(out, 1, "full")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "table.md.tmp"
    tmp.write_text(text + "\n")
    os.replace(tmp, out / "table.md")
    print(text)


if __name__ == "__main__":
    main()
