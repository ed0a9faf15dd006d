"""Every clip of DCASE 2017 Task 4 with its split and weak labels, shipped as a small gzip file.

`dcase2017_task4_clips.csv.gz` next to this file (544 kB; tab-separated, named .csv.gz so the
package data pattern ships it) holds one line per clip:

    split<TAB>clip id<TAB>class indices (comma-separated, canonical order of the 17 classes)
    train	2ceUOv8A3FE_20.000_30.000	0

after a few `#` comment lines (attribution, and the class names in order). The clip id is the
organisers' file name without `.wav`: `<YouTube id>_<start>_<end>`, times in seconds with three
decimals; YouTube ids contain `_` and `-`, so the name is split from the right. Splits follow the
paper: the challenge's training set (51,172 clips) is "train", its testing set (488) is
"validation", its evaluation set (1,103) is "test".

Rebuild it from the organisers' label files (their repository, named below) with

    python -m avt_np.data.dcase2017_task4_clips PATH/TO/dcase2017_task4 [--out FILE]

Attribution. The label files come from the DCASE 2017 Task 4 organisers' repository
(github.com/ankitshah009/Task-4-Large-scale-weakly-supervised-sound-event-detection-for-smart-cars,
commit 96dc262e3869580c0ff4c4de622995a8e3573ad9): Copyright 2017 CMU and INRIA, licensed under
the Apache License, Version 2.0. The weak labels are Google AudioSet annotations, made available
by Google Inc. under CC BY 4.0. Please cite A. Mesaros, T. Heittola, A. Diment, B. Elizalde,
A. Shah, E. Vincent, B. Raj, T. Virtanen, "DCASE 2017 challenge setup: tasks, datasets and
baseline system", Proc. DCASE 2017 Workshop.
"""

import gzip
import io
import sys
from collections import namedtuple
from functools import lru_cache
from pathlib import Path

from avt_np import cli
from avt_np.io import atomic_write

CLIPS_FILE = Path(__file__).with_name("dcase2017_task4_clips.csv.gz")
LABEL_FILES = (("train", "groundtruth_weak_label_training_set.csv"),
               ("validation", "groundtruth_weak_label_testing_set.csv"),
               ("test", "groundtruth_weak_label_evaluation_set.csv"))
NOTICE = (
    "DCASE 2017 Task 4 weak labels (Mesaros et al., DCASE 2017 workshop). Label files: "
    "Copyright 2017 CMU and INRIA, Apache License 2.0 (organisers' repository ankitshah009/"
    "Task-4-Large-scale-weakly-supervised-sound-event-detection-for-smart-cars @ 96dc262e). "
    "Weak labels: Google AudioSet, CC BY 4.0.")

Clip = namedtuple("Clip", "split clip_id ytid start labels")   # labels: tuple of class indices


def parse_clip_id(clip_id):
    """'a_b-c_30.000_40.000' -> ('a_b-c', 30000): the YouTube id and the start in milliseconds
    (AudioSet stores start times as float32 seconds: milliseconds make an exact join key)."""
    ytid, start, _end = clip_id.rsplit("_", 2)
    return ytid, int(round(float(start) * 1000))


# -- reading the shipped table ---------------------------------------------------------------
@lru_cache(maxsize=2)
def load(path=CLIPS_FILE):
    """(classes, clips): the class names in order and a list of Clip, in file order."""
    classes, clips = None, []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# classes: "):
                classes = line[len("# classes: "):].split("|")
            if not line or line.startswith("#"):
                continue
            split, clip_id, labels = line.split("\t")
            ytid, start = parse_clip_id(clip_id)
            clips.append(Clip(split, clip_id, ytid, start, tuple(int(c) for c in labels.split(","))))
    return classes, clips


# -- building it from the organisers' files --------------------------------------------------
def read_rows(path):
    """Tab-separated rows of a DCASE label file, LF or CRLF line ends."""
    with open(path, newline="") as f:
        return [line.rstrip("\r\n").split("\t") for line in f if line.strip()]


def build(folder):
    """The table's text from the organisers' folder (sound_event_list + three weak-label files)."""
    folder = Path(folder)
    classes = [row[2].strip() for row in read_rows(folder / "sound_event_list_17_classes.txt")[1:]]
    lines = [f"# {NOTICE}", f"# classes: {'|'.join(classes)}", "# split\tclip id\tclass indices"]
    for split, name in LABEL_FILES:
        labels = {}
        for row in read_rows(folder / name):
            if len(row) != 4 or row[3] not in classes or not row[0].endswith(".wav"):
                raise ValueError(f"{folder / name}: unexpected row {row!r}")
            labels.setdefault(row[0][:-len(".wav")], set()).add(classes.index(row[3]))
        for clip_id, c in labels.items():             # first-appearance order of the file
            parse_clip_id(clip_id)                    # every name must parse
            lines.append(f"{split}\t{clip_id}\t{','.join(map(str, sorted(c)))}")
    return "\n".join(lines) + "\n"


def write(text, out):
    def dump(f):
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, compresslevel=9) as z:   # reproducible
            z.write(text.encode("utf-8"))
    atomic_write(out, dump)


def run(argv=None):
    parser = cli.ArgumentParser(prog="python -m avt_np.data.dcase2017_task4_clips",
                                description="Rebuild the clip table from the DCASE 2017 Task 4 "
                                            "label files.")
    parser.add_argument("folder", help="folder holding the organisers' label files")
    parser.add_argument("--out", default=str(CLIPS_FILE), help=f"[default: {CLIPS_FILE}]")
    args = parser.parse_args(argv)
    out = Path(args.out)
    text = build(args.folder)
    write(text, out)
    counts = {}
    for line in io.StringIO(text):
        if not line.startswith("#"):
            counts[line.split("\t")[0]] = counts.get(line.split("\t")[0], 0) + 1
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()) + " clips", file=sys.stderr)


def main(argv=None):
    return cli.main(run, argv, errors=(OSError, ValueError))


if __name__ == "__main__":
    raise SystemExit(main())
