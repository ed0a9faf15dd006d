"""python -m avt_np.data: build, export and check data sets.

    python -m avt_np.data synth                       build the embedded default set (cached)
    python -m avt_np.data synth --materialize DIR     ... and write it in the on-disk format
    python -m avt_np.data check DIR                   validate a data set and summarise it
    python -m avt_np.data audioset --features DIR_OR_TAR --out DIR
                                                      DCASE 2017 Task 4 from Google's released
                                                      AudioSet embeddings (AUDIOSET.md)
    python -m avt_np.data dcase2017-stats FOLDER      rebuild the shipped DCASE statistics

The embedded set is built on first use by `python -m avt_np.train` anyway; `synth` lets you
build it ahead of time, with another seed, or into another cache directory.
"""

import json
import sys
import time
from pathlib import Path

from avt_np import cli
from avt_np.cli import ArgumentParser, first_line
from avt_np.data import audioset, dcase2017
from avt_np.data.format import SPLITS, DataError
from avt_np.data.opening import open as open_data
from avt_np.data.synthetic import default_cache_dir, default_dataset, materialize
from avt_np.io import write_text


def folder_bytes(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def summary(dataset):
    lines = [f"{dataset.path}: {len(dataset.classes)} classes, {dataset.frames} frames of "
             f"{dataset.meta.get('frame_hop_seconds', 0.96)} s, dims {dataset.dims}"]
    for name in SPLITS:
        split = dataset[name]
        counts = split.labels.sum(axis=0)
        ratio = counts.max() / max(counts.min(), 1)
        lines.append(f"  {name:10s} {len(split):6d} clips, {split.labels.sum() / max(len(split), 1):.3f} "
                     f"labels/clip, max/min class ratio {ratio:.1f}, frame-level ground truth: "
                     f"{'yes' if split.has_ground_truth else 'no'}")
    return "\n".join(lines)


def synth(args):
    start = time.perf_counter()
    dataset = default_dataset(seed=args.seed, cache=args.cache or default_cache_dir())
    print(f"{summary(dataset)}\n  {folder_bytes(dataset.path) / 1e6:.0f} MB on disk, "
          f"ready in {time.perf_counter() - start:.1f} s")
    if args.materialize:
        out = materialize(dataset, args.materialize, overwrite=args.overwrite)
        print(f"wrote {out} ({folder_bytes(out) / 1e9:.2f} GB)")


def dcase2017_stats(args):
    try:
        stats = dcase2017.build(args.folder)
    except (OSError, ValueError, IndexError, KeyError, OverflowError) as e:   # a damaged or edited
        raise DataError(f"{args.folder}: not the organisers' DCASE 2017 Task 4 label files "
                        f"({first_line(e)[:120]})") from None     # file, or another layout
    write_text(args.out, json.dumps(stats, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


def check(args):
    dataset = open_data(args.dir)
    print(summary(dataset))


def build_parser():
    parser = ArgumentParser(prog="python -m avt_np.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("synth", help="build the embedded default data set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", help="cache directory [default: $AVT_NP_CACHE or ~/.cache/avt_np]")
    p.add_argument("--materialize", metavar="DIR",
                   help="also write it in the on-disk format (4.28 GB, float16)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    p.set_defaults(run=synth)
    p = commands.add_parser("audioset", help="DCASE 2017 Task 4 clips from the AudioSet "
                            "embedding release (audio only; see avt_np/data/AUDIOSET.md)")
    audioset.add_arguments(p)
    p.set_defaults(run=audioset.run)
    p = commands.add_parser("dcase2017-stats", help="rebuild the shipped DCASE 2017 Task 4 "
                            "statistics (dcase2017_task4.json) from the organisers' label files")
    p.add_argument("folder", help="folder holding the organisers' label files")
    p.add_argument("--out", default=str(dcase2017.STATS_FILE),
                   help=f"[default: {dcase2017.STATS_FILE}]")
    p.set_defaults(run=dcase2017_stats)
    p = commands.add_parser("check", help="validate a data set directory and summarise it")
    p.add_argument("dir")
    p.set_defaults(run=check)
    return parser


def run(argv=None):
    args = build_parser().parse_args(argv)
    args.run(args)


def main(argv=None):
    return cli.main(run, argv,
                    interrupted="interrupted: nothing half-written is left behind, and a "
                                "conversion keeps its finished input files; run the same "
                                "command again to continue")


if __name__ == "__main__":
    raise SystemExit(main())
