"""Cross-modal attention pictures in the layout of the paper's Figs. 4-7, and the
synchronization score (avt_np/sync.py).

    python -m avt_np.visualize RUN_DIR --clip 3                     # test clip 3, last block
    python -m avt_np.visualize RUN_DIR --split validation --clip validation-00012 \\
        --query-frame 4 --block -1 --out fig.png
    python -m avt_np.visualize RUN_DIR --clip 3 --all-queries       # every query x key matrix
    python -m avt_np.visualize RUN_DIR --sync-report                # the score, per block
    python -m avt_np.visualize RUN_DIR --collapse-report            # where frames collapse

The model is the run's ensemble's last snapshot (checkpoints/epoch_XXX.npz of the last epoch in
metrics.json "ensemble_epochs"), on the run's own data (config.json "data") unless --data says
otherwise. --sync-report reads the score from metrics.json when it was computed on the asked
split of the run's own data (no snapshot needed: runs trained with --keep none work); on other
data or another split it runs that snapshot. It then prints the probes of
avt_np/sync_probes.py (encoder variation per stage, the score of every decoder block against
every encoder stage, the frame-shuffle test), which need the snapshot. Queries come from the decoder (the second
modality), keys from the encoder (the first): for the paper's video/audio model an audio frame
asks which video frames to read. What the picture shows: avt_np/visualize/picture.py.
--collapse-report prints avt_np/collapse.py's report of the same snapshot on the validation
split (or --split): size and within-clip variation of skip, branch and output of every
sub-layer, and writes its picture (RUN_DIR/collapse-SPLIT.png, or --out).
"""

import sys
from pathlib import Path

from avt_np import cli
from avt_np.cli import ArgumentParser, UsageError
from avt_np.collapse import collapse_picture, collapse_report, format_collapse
from avt_np.data import open as open_data
from avt_np.run_dir import load_model, read_finished
from avt_np.sync import skip_reason
from avt_np.visualize.clip_view import clip_view, load
from avt_np.visualize.picture import render, save_png
from avt_np.sync_probes import format_probes
from avt_np.visualize.clip_view import split_of
from avt_np.visualize.sync_report import format_sync, probes_for_run_dir, sync_for_run_dir


def picture_name(view, all_queries=False):
    """attention-CLIP.png, with the split in front only when the clip id does not start with it
    (test-00007 -> attention-test-00007.png, abc_30.000_40.000 -> attention-test-abc_...)."""
    name = view.clip_id if view.clip_id.startswith(view.split) else f"{view.split}-{view.clip_id}"
    return f"attention-{name}{'-all' if all_queries else ''}.png"


def build_parser():
    parser = ArgumentParser(prog="python -m avt_np.visualize", description=__doc__)
    parser.add_argument("run_dir", help="a finished run directory of python -m avt_np.train")
    parser.add_argument("--split", default=None,
                        help="split the clip comes from: train, validation or test [default: "
                             "test; validation for --collapse-report]")
    parser.add_argument("--clip", default="0",
                        help="clip id (e.g. test-00012) or index in the split [default: 0]")
    parser.add_argument("--query-frame", type=int, default=None,
                        help="query frame to show (0-based; the second modality's frames) "
                             "[default: the middle of the frames where a labelled event is "
                             "present, or the most confident frame]")
    parser.add_argument("--block", type=int, default=-1,
                        help="decoder block whose cross-attention is drawn, 0-based, negative "
                             "counts from the end [default: -1, the last, as in Sec. 4.2]")
    parser.add_argument("--all-queries", action="store_true",
                        help="draw the full query x key weight matrix of every head")
    parser.add_argument("--out", help="PNG to write [default: RUN_DIR/attention-CLIP.png, the "
                                      "split in front when the clip id does not start with it]")
    parser.add_argument("--data", help="data set directory [default: the one the run used]")
    parser.add_argument("--sync-report", action="store_true",
                        help="print the synchronization score of the run on --split instead of "
                             "drawing: from metrics.json for the run's own test split, else "
                             "computed with the last ensemble snapshot; then the probes of "
                             "avt_np/sync_probes.py (they need that snapshot)")
    parser.add_argument("--collapse-report", action="store_true",
                        help="print where the frames of a clip stop differing, sub-layer by "
                             "sub-layer (avt_np/collapse.py), on up to 200 clips of --split "
                             "with the last ensemble snapshot, and draw it (--out or "
                             "RUN_DIR/collapse-SPLIT.png)")
    return parser


def collapse_cli(args):
    """--collapse-report: the table on stdout, the picture's path after it."""
    saved, config, _, epoch = read_finished(args.run_dir)
    split = split_of(open_data(args.data or saved["data"], (config.first, config.second)),
                     args.split or "validation")
    model = load_model(args.run_dir, config, epoch, needed_for="the collapse report")
    report = collapse_report(model, split, config)
    print(format_collapse(report))
    out = Path(args.out or Path(args.run_dir) / f"collapse-{split.name}.png")
    try:
        save_png(collapse_picture(report), out)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from None
    print(out)
    return report


def run_cli(argv=None):
    args = build_parser().parse_args(argv)
    if args.out is not None and not args.out.lower().endswith(".png"):
        raise UsageError(f"--out {args.out}: expected a .png file name")
    if args.collapse_report:
        return collapse_cli(args)
    args.split = args.split or "test"
    if args.sync_report:
        report = sync_for_run_dir(args.run_dir, args.split, args.data)
        print(format_sync(report))
        probes = probes_for_run_dir(args.run_dir, args.split, args.data)
        print(format_probes(probes) if "skipped" not in probes
              else f"probes skipped: {probes['skipped']}")
        return report
    run = load(args.run_dir, args.data)
    view = clip_view(run, args.split, args.clip)
    n_blocks, (_, T_q, _) = len(view.weights), view.weights[0].shape
    if not -n_blocks <= args.block < n_blocks:
        raise UsageError(f"--block {args.block}: the model has {n_blocks} decoder blocks "
                         f"(0..{n_blocks - 1}, or negative from the end)")
    if args.query_frame is not None and not 0 <= args.query_frame < T_q:
        raise UsageError(f"--query-frame {args.query_frame}: expected 0..{T_q - 1}")
    reason = skip_reason(run.dataset[args.split], run.config)
    if reason:
        print(f"note: {reason}" + ("; drawing it anyway" if view.unimodal else
                                   "; no synchronization score for this clip"), file=sys.stderr)
    image, layout = render(view, args.block, args.query_frame, args.all_queries)
    out = Path(args.out or Path(args.run_dir) / picture_name(view, args.all_queries))
    try:
        save_png(image, out)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from None
    print(out)
    return out


def main(argv=None):
    return cli.main(run_cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
