"""Tag clips a trained model has never seen, and say when each event happens.

    python -m avt_np.tag RUN clip.mp4 more_clips/ [--out DIR] [--pictures]
    python -m avt_np.tag RUN --split test [--data DIR] [--out DIR]

The model is the run's own: the mean of its epoch ensemble (Sec. 3.2.9) and its global
threshold (Sec. 3.2.10), the ones its metrics.json came from; `--epoch K` uses one snapshot
(with the same threshold). DCASE 2017 Task 4's two subtasks come out of one forward pass:

    A, audio tagging:       a class is tagged when its clip probability >= the threshold;
    B, event detection:     the frame probabilities before pooling, thresholded, median-filtered,
                            gaps merged and short events dropped (avt_np/detection.py), with the
                            settings `python -m avt_np.evaluate RUN --events` chose on validation.

Inputs are video (or audio) files and folders of them, whose features come from the VGGish /
VGG16 ONNX exports as in `python -m avt_np.features` (no labels needed; finished clips are kept
in DIR/.work, so a stopped run resumes), or `--split NAME`, a split of the run's own data set
(or of `--data DIR`). Written to DIR, atomically:

    tags.tsv            file<TAB>label per tag (subtask A)
    events.tsv          file<TAB>onset<TAB>offset<TAB>label per event (subtask B, the organisers'
                        strong-label format; seconds on 0.96 s frame edges)
    probabilities.npz   files, classes, clip (N, C), frames (N, T, C), lengths (N,), threshold
    failed.tsv          file<TAB>reason of each input that could not be tagged (when any)
    pictures/FILE.png   with --pictures: frame probabilities of the top classes over time, the
                        threshold, detected events, the log-mel spectrogram and video frames
                        when known, and the ground truth when the data set has it
"""

import json
import sys
from pathlib import Path

import numpy as np

from avt_np import cli, data, io
from avt_np import events as event_lists
from avt_np.cli import ArgumentParser, UsageError
from avt_np.data import EMBEDDED
from avt_np.data.format import ArraySplit
from avt_np.detection import detect
from avt_np.predict import Predictions, predict_ensemble
from avt_np.progress import Progress
from avt_np.tag.inputs import clip_features
from avt_np.tag.trained import run_model
from avt_np.visualize.detection_view import detection_picture


def build_parser():
    p = ArgumentParser(prog="python -m avt_np.tag", description=__doc__)
    p.add_argument("run_dir", metavar="RUN", help="a run directory of python -m avt_np.train")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="video or audio files, or folders of them (files sharing a stem form "
                        "one clip)")
    p.add_argument("--split", help="tag a split of the data set instead: train, validation "
                                   "or test")
    p.add_argument("--data", help="with --split: the data set (default: the run's own)")
    p.add_argument("--out", help="output folder (default: RUN/tag-SPLIT with --split, else "
                                 "./tags)")
    p.add_argument("--epoch", type=int, help="use the snapshot of this epoch alone (default: "
                                             "the run's epoch ensemble, Sec. 3.2.9)")
    p.add_argument("--threshold", type=float,
                   help="tagging threshold (default: the run's, chosen on validation, "
                        "Sec. 3.2.10)")
    p.add_argument("--pictures", action="store_true",
                   help="draw one picture per clip into OUT/pictures/")
    p.add_argument("--top", type=int, default=5,
                   help="classes drawn in a picture: the tags, then the most probable (default 5)")
    p.add_argument("--vggish", metavar="ONNX", help="VGGish ONNX file (default: the fetched one, "
                                                    "python -m avt_np.weights fetch)")
    p.add_argument("--vgg16", metavar="ONNX", help="VGG16 ONNX file with fc7 as an output "
                                                   "(default: the fetched one)")
    p.add_argument("--vgg16-preprocess", choices=["gluon", "caffe"], default="gluon",
                   help="as python -m avt_np.features (default: gluon)")
    return p


EMBEDDED_WARNING = (
    "warning: {run} was trained on the embedded data set, whose features are invented (not "
    "VGGish / VGG16 outputs): its tags of real clips mean nothing; tag them with a run trained "
    "on features of real clips (python -m avt_np.features, docs/detection.md)")


# -- inputs ------------------------------------------------------------------------------------
def split_input(args, trained):
    """(split, file names, reference events or None) of --split."""
    dataset = data.open(args.data or trained.data, (trained.config.first, trained.config.second))
    if args.split not in dataset:
        raise UsageError(f"--split {args.split}: the data set has no such split (it has "
                         f"{', '.join(dataset.splits)})")
    if list(dataset.classes) != list(trained.classes):
        raise UsageError(f"--data {args.data or trained.data}: its classes are not the run's "
                         f"({len(dataset.classes)} vs {len(trained.classes)})")
    split = dataset[args.split]
    return split, list(split.clip_ids), split.events


def files_input(args, trained, out):
    """(split of the clips that could be read, their file names, failures [(file, reason)],
    video thumbnails for the pictures {file: (T, h, w, 3) uint8})."""
    clips, failures, frames = clip_features(args.inputs, trained.config, out / ".work", args,
                                            trained.data)
    if not clips:
        raise UsageError("no input could be tagged: " + "; ".join(
            reason if name in reason else f"{name}: {reason}" for name, reason in failures))
    names = [c["file"] for c in clips]
    stack = {m: np.stack([c[m] for c in clips]) for m in ("audio", "video") if m in clips[0]}
    lengths = np.array([c["length"] for c in clips], np.int64)
    split = ArraySplit("inputs", stack["audio"], stack.get("video"),
                       np.zeros((len(clips), len(trained.classes)), np.uint8), names)
    split.lengths = lengths
    split.log_mel = np.stack([c["log_mel"] for c in clips])
    return split, names, failures, frames


# -- outputs -----------------------------------------------------------------------------------
def write_outputs(out, names, classes, predictions, lengths, trained, failures):
    """tags.tsv, events.tsv, probabilities.npz (and failed.tsv) in `out`; -> (tagged (N, C),
    events)."""
    threshold, settings = trained.threshold, trained.settings
    tagged = predictions.probabilities >= threshold                        # (N, C)
    tags = [(names[i], classes[c]) for i, c in zip(*np.nonzero(tagged))]
    found = detect(predictions.frame_probabilities, tagged, lengths, names, classes, settings)
    event_lists.write_tags(out / "tags.tsv", tags)
    event_lists.write_events(out / "events.tsv", found)
    io.write_npz(out / "probabilities.npz", {
        "files": np.array(names), "classes": np.array(classes),
        "clip": predictions.probabilities, "frames": predictions.frame_probabilities,
        "lengths": lengths, "threshold": np.array(threshold),
        "epochs": np.array(trained.epochs),
        "post_processing": np.array(json.dumps(settings.to_json()))})
    failed = out / "failed.tsv"
    if failures:
        io.write_text(failed, "".join(f"{name}\t{reason}\n" for name, reason in failures))
    elif failed.exists():
        failed.unlink()                   # from an earlier run whose failures are now tagged
    return tagged, found


def print_tags(names, classes, probabilities, tagged):
    """One line per clip on stdout: the tags with their probabilities, most probable first."""
    for i, name in enumerate(names):
        order = [c for c in np.argsort(-probabilities[i]) if tagged[i, c]]
        text = ", ".join(f"{classes[c]} {probabilities[i, c]:.2f}" for c in order) or "-"
        print(f"{name}\t{text}")


def run(argv=None):
    args = build_parser().parse_intermixed_args(argv)     # RUN --split x INPUT is an error
    if bool(args.inputs) == bool(args.split):
        raise UsageError("python -m avt_np.tag: give INPUT files or folders, or --split NAME "
                         "(not both)")
    if args.data and not args.split:
        raise UsageError("--data goes with --split (INPUT files have no data set)")
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        raise UsageError(f"--threshold {args.threshold}: expected a probability in (0, 1)")
    if args.top < 1:
        raise UsageError(f"--top {args.top}: expected at least 1")
    trained = run_model(args.run_dir, args.epoch, args.threshold)
    classes = trained.classes
    if args.split:
        out = Path(args.out or Path(args.run_dir) / f"tag-{args.split}")
        split, names, reference = split_input(args, trained)
        failures, frames = [], {}
    else:
        out = Path(args.out or "tags")
        if trained.data == EMBEDDED:
            print(EMBEDDED_WARNING.format(run=args.run_dir), file=sys.stderr)
        split, names, failures, frames = files_input(args, trained, out)
        reference = None
    progress = Progress(len(names), "tag: clips")
    predictions = predict_with_progress(trained.models, split, trained.config, progress)
    tagged, found = write_outputs(out, names, classes, predictions, split.lengths, trained,
                                  failures)
    print_tags(names, classes, predictions.probabilities, tagged)
    if args.pictures:
        draw_pictures(out / "pictures", split, names, classes, predictions, tagged, found,
                      trained.threshold, reference, frames, args.top)
    for name, reason in failures:
        print(f"tag: not tagged: {reason if name in reason else f'{name}: {reason}'}",
              file=sys.stderr)
    print(f"tag: {len(names)} clips, {int(tagged.sum())} tags, {len(found)} events -> {out}"
          + (f"; {len(failures)} input(s) failed, listed in {out / 'failed.tsv'}"
             if failures else ""), file=sys.stderr)


def predict_with_progress(models, split, config, progress, chunk=500):
    """predict_ensemble in chunks of clips, reporting progress between them."""
    parts = []
    for start in range(0, len(split), chunk):
        idx = np.arange(start, min(start + chunk, len(split)))
        parts.append(predict_ensemble(models, split, config, idx))
        progress.update(idx[-1] + 1)
    return Predictions(np.concatenate([p.probabilities for p in parts]),
                       np.concatenate([p.frame_probabilities for p in parts]))


def draw_pictures(folder, split, names, classes, predictions, tagged, found, threshold,
                  reference, frames, top):
    """One picture per clip; frames: {file: (T, h, w, 3) video thumbnails} of video inputs."""
    progress = Progress(len(names), "tag: pictures")
    by_file = {}
    for event in found:
        by_file.setdefault(event[0], []).append(event)
    truth = {}
    for event in reference or ():
        truth.setdefault(event[0], []).append(event)
    for i, name in enumerate(names):
        log_mel = None if split.log_mel is None else np.asarray(split.log_mel[i], np.float32)
        length = None if split.lengths is None else int(split.lengths[i])
        picture = detection_picture(
            name, classes, predictions.probabilities[i], predictions.frame_probabilities[i],
            tagged[i], threshold, by_file.get(name, []), length=length, log_mel=log_mel,
            frames=frames.get(name),
            truth=truth.get(name) if reference is not None else None, top=top)
        io.atomic_write(folder / f"{Path(name).name}.png",
                        lambda f, p=picture: p.save(f, format="PNG"))
        progress.update(i + 1)


def main(argv=None):
    return cli.main(run, argv,
                    interrupted="interrupted: clips whose features were extracted are kept in "
                                "OUT/.work; run the same command again")


if __name__ == "__main__":
    raise SystemExit(main())
