"""Reproduce docs/sigmoid_attention.md (issue 21): short runs of the paper's best cell with each
attention function, then Table 1's video-first mean-pooling cells.

    OPENBLAS_NUM_THREADS=1 python docs/sigmoid_study.py --out /tmp/sigmoid_study [--jobs 2]
    python docs/sigmoid_study.py --out /tmp/sigmoid_study --table     # the tables only

Resumable: a run whose metrics.json exists is skipped; an unfinished one is resumed. Run one
driver per --out at a time (two would resume the same unfinished run side by side). Short
protocol: --epochs 3 --batches-per-epoch 100 (300 steps), seeds 0-2.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SHORT = ["--epochs", "3", "--batches-per-epoch", "100"]          # 300 steps; Sec. 3.2.2: 30 x 300
FUNCTIONS = ["softmax", "sigmoid", "sigmoid-scaled", "sigmoid-bias"]
SEEDS = [0, 1, 2]
# (first, second, pos_enc): the best cell first, then the rest of Table 1's video-first rows
CELLS = [("video", "audio", "video"), ("video", "video", "video"), ("video", "audio", "none"),
         ("video", "video", "none"), ("video", "audio", "audio,video")]


def runs():
    """Run name -> arguments, in the order they are run (seed 0 of everything first)."""
    plan = {}
    for cell_index, (first, second, pos) in enumerate(CELLS):
        for seed in SEEDS:
            for function in FUNCTIONS:
                if cell_index > 0 and function == "sigmoid-scaled":
                    continue                     # Table 1's cells: softmax, sigmoid, remedy
                name = f"{first}-{second}-pe{pos.replace(',', '+')}-{function}-seed{seed}"
                plan[name] = ["--first", first, "--second", second, "--pos-enc", pos,
                              "--attention", function, "--seed", str(seed)] + SHORT
    return plan


# Diagnostics (seed 0, 40 steps, a record every 10): which models stall, and where
DIAGNOSE = {f"diag-{first}-{second}-{function}": ["--first", first, "--second", second,
                                                  "--attention", function, "--seed", "0",
                                                  "--epochs", "1", "--batches-per-epoch", "40",
                                                  "--diagnostics", "10"]
            for first, second, function in [
                ("video", "audio", "softmax"), ("video", "audio", "sigmoid"),
                ("video", "audio", "sigmoid-scaled"), ("video", "audio", "sigmoid-bias"),
                ("audio", "video", "sigmoid"), ("audio", "audio", "sigmoid"),
                ("video", "video", "sigmoid"), ("video", "video", "softmax")]}
# the best cell without positional encodings: does the encoder's PE drive the saturation?
DIAGNOSE["diag-video-audio-sigmoid-pe_none"] = DIAGNOSE["diag-video-audio-sigmoid"] + [
    "--pos-enc", "none"]


def input_statistics(seed=0, clips=200):
    """Per modality, after the model's initial input map (seed 0): the share of the variance
    of the projected frames that is common to every frame of every clip (the global mean
    vector), clip-constant, and frame-varying; and the mean cosine of two frames of a clip."""
    from avt_np import data
    from avt_np.data import EMBEDDED
    from avt_np.model import AudiovisualTransformer, ModelConfig
    dataset = data.open(data.resolved(EMBEDDED), ("audio", "video"))
    batch = dataset["train"].batch(np.arange(clips))
    real = np.arange(batch["audio"].shape[1]) < batch["lengths"][:, None]       # (N, T)
    stats = {}
    for first, second in (("video", "audio"), ("audio", "video")):
        model = AudiovisualTransformer(ModelConfig(first=first, second=second, pos_enc=()),
                                       seed=seed)
        model.eval()
        h = model.encoder_input.project(batch[first]).astype(np.float64)[real]   # (frames, D)
        clip = np.repeat(np.arange(clips), real.sum(1))
        clip_mean = np.stack([h[clip == c].mean(0) for c in range(clips)])[clip]
        total = np.sum(h ** 2)
        common = np.sum(h.mean(0) ** 2) * len(h)
        unit = h / np.linalg.norm(h, axis=1, keepdims=True)
        cos = [np.mean((unit[clip == c] @ unit[clip == c].T)[np.triu_indices((clip == c).sum(), 1)])
               for c in range(clips) if (clip == c).sum() > 1]
        stats[first] = {"common": common / total,
                        "clip_constant": (np.sum(clip_mean ** 2) - common) / total,
                        "frame_varying": np.sum((h - clip_mean) ** 2) / total,
                        "frame_cosine_within_clip": float(np.mean(cos)),
                        "std": float(h.std())}
    return stats


def launch(out, name, args):
    run_dir = out / name
    resume = ["--resume"] if (run_dir / "config.json").is_file() else []
    log = open(out / f"{name}.log", "a")
    return subprocess.Popen([sys.executable, "-m", "avt_np.train", "--out", str(run_dir)]
                            + resume + args, stdout=log, stderr=log)


def table(out):
    """Markdown: run, seeds, test micro-F1 mean +- sd."""
    groups = {}
    for name in runs():
        path = out / name / "metrics.json"
        if path.is_file():
            groups.setdefault(name.rsplit("-seed", 1)[0], []).append(
                json.loads(path.read_text())["test_micro_f1"])
    lines = ["| run | seeds | test micro-F1 |", "| --- | --- | --- |"]
    for group, f1 in groups.items():
        sd = np.std(f1, ddof=1) if len(f1) > 1 else float("nan")
        lines.append(f"| {group} | {len(f1)} | {np.mean(f1):.3f} ± {sd:.3f} "
                     f"({', '.join(f'{x:.3f}' for x in f1)}) |")
    return "\n".join(lines)


def diagnostics_table(out):
    """Markdown: per diagnostics run, the first and last record (steps 1 and 40)."""
    from avt_np.diagnostics import summary

    def mean(record, prefix, sublayer):
        keys = [k for k in record if k.startswith(prefix)]
        return np.mean([record[k]["residual"][sublayer] for k in keys])

    lines = ["| run | step | loss | enc. row sum | share > 0.99 | enc. attn / skip | "
             "dec. self / skip | dec. cross / skip | enc. output std over frames (rel.) | "
             "grad first input map | grad second input map |",
             "| --- |" + " --- |" * 10]
    for name in DIAGNOSE:
        path = out / name / "diagnostics.jsonl"
        if not path.is_file():
            continue
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for r in (records[0], records[-1]):
            s = summary(r)
            g = r["grad_norm"]
            lines.append(f"| {name[5:]} | {r['step']} | {r['loss']:.3f} | {s['enc_row_sum']:.2f} | "
                         f"{s['enc_near_1']:.2f} | {s['enc_attn_residual']:.2f} | "
                         f"{mean(r, 'decoder.', 'self_attn'):.2f} | "
                         f"{mean(r, 'decoder.', 'cross_attn'):.2f} | "
                         f"{s['enc_out_relative_std']:.3f} | {g['encoder_input.project']:.1e} | "
                         f"{g['decoder_input.project']:.1e} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="/tmp/sigmoid_study", help="directory of the runs")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time [default: 2]")
    parser.add_argument("--only", default="", help="run only names containing this text")
    parser.add_argument("--table", action="store_true", help="print the table and stop")
    parser.add_argument("--diagnose", action="store_true",
                        help="the diagnostics runs and input statistics instead of the F1 runs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan = DIAGNOSE if args.diagnose else runs()
    if args.diagnose:
        print(json.dumps(input_statistics(), indent=1))
    if not args.table:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        todo = [(n, a) for n, a in plan.items()
                if args.only in n and not (out / n / "metrics.json").is_file()]
        running = []
        while todo or running:
            while todo and len(running) < args.jobs:
                running.append(launch(out, *todo.pop(0)))
            running[0].wait()
            running = [p for p in running if p.poll() is None]
    print(diagnostics_table(out) if args.diagnose else table(out))


if __name__ == "__main__":
    main()
