"""DCASE 2017 Task 4 weak labels: `file<TAB>start<TAB>end<TAB>label` rows -> (17,) {0, 1} per clip.

Format of the DCASE 2017 Task 4 label lists, as the organisers' repository ships them:

    github.com/ankitshah009/Task-4-Large-scale-weakly-supervised-sound-event-detection-for-smart-cars

one row per (clip, label); the evaluation files end lines with CRLF; clip files are named
`<youtube id>_<start>_<end>.wav`. A clip id here is the file name without its extension.
"""

import re
from pathlib import Path

import numpy as np

from avt_np.cli import UsageError

# Canonical order of sound_event_list_17_classes.txt (DCASE 2017 Task 4), index 0-16.
DCASE2017_CLASSES = (
    "Train horn", "Air horn, truck horn", "Car alarm", "Reversing beeps", "Bicycle",
    "Skateboard", "Ambulance (siren)", "Fire engine, fire truck (siren)", "Civil defense siren",
    "Police car (siren)", "Screaming", "Car", "Car passing by", "Bus", "Truck", "Motorcycle",
    "Train",
)

SPLIT_BY_FILE = (("training", "train"), ("testing", "validation"), ("evaluation", "test"))
SPLITS = ("train", "validation", "test")


class LabelError(UsageError):
    """A label file that does not follow the DCASE weak-label format (one line, exit 2)."""


def clip_id_of(name):
    """'abc_30.000_40.000.wav' -> 'abc_30.000_40.000' (any extension, any folder)."""
    return Path(name).stem if Path(name).suffix.lower() in {".wav", ".flac", ".mp4", ".mkv",
                                                            ".webm", ".ogg", ".avi", ".mov"} \
        else Path(name).name


def read_lines(path):
    """The lines of a UTF-8 text file (a BOM, CRLF and CR endings are dropped), or a one-line
    LabelError naming the file and where its first non-UTF-8 byte is."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise LabelError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} on line {line}); "
                         "save it as UTF-8") from None
    return [ln.rstrip("\r") for ln in text.split("\n")]


def read_classes(path):
    """Class names from a file: DCASE's sound_event_list (MID<TAB>score<TAB>name, header) or
    one name per line."""
    lines = [ln for ln in read_lines(path) if ln.strip()]
    if lines and lines[0].startswith("Class_ID"):
        return tuple(ln.split("\t")[-1].strip() for ln in lines[1:])
    return tuple(ln.strip() for ln in lines)


def read_weak_labels(path, classes=DCASE2017_CLASSES):
    """{clip_id: (len(classes),) uint8 multi-hot} from a DCASE weak-label CSV."""
    index = {name: i for i, name in enumerate(classes)}
    labels = {}
    for lineno, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise LabelError(f"{path}:{lineno}: expected 4 tab-separated fields "
                             f"(file, start, end, label), got {len(fields)}")
        name, label = fields[0].strip(), fields[3].strip()
        if label not in index:
            raise LabelError(f"{path}:{lineno}: unknown class {label!r}; expected one of "
                             f"the {len(classes)} classes (see --classes)")
        row = labels.setdefault(clip_id_of(name), np.zeros(len(classes), np.uint8))
        row[index[label]] = 1
    if not labels:
        raise LabelError(f"{path}: no label rows")
    return labels


def parse_labels_arg(text):
    """'[SPLIT=]CSV' -> (split, path); without SPLIT= the split comes from DCASE's file name
    (training -> train, testing -> validation, evaluation -> test), else train."""
    m = re.match(r"^(train|validation|test)=(.+)$", text)
    if m:
        return m.group(1), Path(m.group(2))
    name = Path(text).name.lower()
    for key, split in SPLIT_BY_FILE:
        if key in name:
            return split, Path(text)
    return "train", Path(text)
