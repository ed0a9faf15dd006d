"""The real DCASE 2017 Task 4 label statistics the embedded data set is drawn from.

Shipped compactly as `dcase2017_task4.json` next to this file (a few hundred kB), derived from
the organisers' label files:

- `training_label_sets`: every distinct label set of the 51,172 training clips with its clip
  count (so class frequencies, the ~139:1 imbalance and co-occurrences are the real ones);
- `validation_clips`, `test_clips`: per clip of the challenge's "testing" set (= the paper's
  validation set) and "evaluation" set (= the paper's test set), its labels and its real strong
  labels (onset, offset in seconds), so the embedded validation and test sets carry real event
  timing;
- `event_durations`: per class, every real strong-label event duration (seconds), used to time
  the events of synthetic training clips, which have no strong labels;
- `vggish_examples_per_clip`: how many 0.96 s VGGish examples (= frames) the real clips give,
  {"train": {examples: clips}, "validation": {...}}, from the organisers' duration files
  (many downloaded clips are shorter than the 10 s their names say); each validation clip
  also carries its own count as `vggish_examples`. No duration file exists for the
  evaluation set (= the paper's test set), so test clips carry none.

Rebuild it from the label files with
    python -m avt_np.data dcase2017-stats PATH/TO/dcase2017_task4 [--out FILE]

Attribution: the label files come from the DCASE 2017 Task 4 organisers' repository
(github.com/ankitshah009/Task-4-Large-scale-weakly-supervised-sound-event-detection-for-smart-cars,
commit 96dc262e3869580c0ff4c4de622995a8e3573ad9; Copyright 2017 CMU and INRIA, Apache License 2.0).
The weak labels are Google AudioSet annotations (CC BY 4.0). Please cite A. Mesaros et al.,
"DCASE 2017 challenge setup: tasks, datasets and baseline system", DCASE 2017 workshop.
"""

import json
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path


STATS_FILE = Path(__file__).with_name("dcase2017_task4.json")
ATTRIBUTION = ("labels: DCASE 2017 Task 4 (Mesaros et al. 2017; organisers' repository, Copyright "
               "2017 CMU and INRIA, Apache-2.0), weak labels from Google AudioSet (CC BY 4.0)")


@lru_cache(maxsize=1)
def load():
    """The shipped statistics as a dict (see the module docstring for the keys)."""
    with open(STATS_FILE) as f:
        return json.load(f)


def classes():
    """The 17 class names in the canonical order of the task."""
    return list(load()["classes"])


# -- building the JSON from the organisers' files -------------------------------------------
def strong_events(split):
    """{clip id: [(onset, offset, class)]}: the organisers' strong labels of every clip of the
    paper's "validation" (their testing set) or "test" split (their evaluation set); the clip
    id is the file name without ".wav". A label the annotators could not hear (their rows with
    onset = offset = 0) keeps such a zero-length event, which marks no segment when scored but
    keeps its clip in the reference."""
    stats, names = load(), classes()
    out = {}
    for clip in stats[{"validation": "validation_clips", "test": "test_clips"}[split]]:
        heard = {c for c, _, _ in clip["events"]}
        out[clip["file"].removesuffix(".wav")] = (
            [(on, off, names[c]) for c, on, off in clip["events"]]
            + [(0.0, 0.0, names[c]) for c in clip["labels"] if c not in heard])
    return out


def read_rows(path):
    """Tab-separated rows of a label file, with CRLF or LF line ends."""
    with open(path, newline="") as f:
        return [line.rstrip("\r\n").split("\t") for line in f if line.strip()]


def strong_clips(path, classes):
    """{file: {"labels": [...], "events": [[class index, onset, offset], ...]}} of a strong file.

    Rows with onset = offset = 0 mean the annotator could not hear the labelled sound: the clip
    keeps the label but gets no event."""
    clips = defaultdict(lambda: {"labels": set(), "events": []})
    for name, onset, offset, label in read_rows(path):
        c = classes.index(label)
        clips[name]["labels"].add(c)
        onset, offset = float(onset), float(offset)
        if offset > onset:
            clips[name]["events"].append([c, round(onset, 3), round(offset, 3)])
    return {name: {"labels": sorted(v["labels"]), "events": sorted(v["events"])}
            for name, v in sorted(clips.items())}


def vggish_examples(seconds, frames=10):
    """0.96 s VGGish examples of a clip of `seconds` (at most `frames`): the audio front end's
    count for floor(seconds * 16 kHz) samples, i.e. k examples need >= 0.96 k + 0.015 s."""
    from avt_np.features.audio import SAMPLE_RATE, example_count   # imported here: SciPy,
                                                                  # only the rebuild needs it
    return min(frames, example_count(int(seconds * SAMPLE_RATE)))


def durations(path):
    """{file: seconds} of an organisers' duration file (`Y<file>.wav  <TAB> seconds`)."""
    return {name.strip()[1:]: float(seconds) for name, seconds in read_rows(path)}


def examples_histogram(counts):
    """[k, ...] -> {"k": clips}, for k = 1..max, as JSON wants string keys."""
    found = Counter(counts)
    return {str(k): found[k] for k in range(1, max(found) + 1)}


def build(folder):
    folder = Path(folder)
    class_rows = read_rows(folder / "sound_event_list_17_classes.txt")[1:]
    classes = [row[2] for row in class_rows]
    training = defaultdict(set)
    for name, _, _, label in read_rows(folder / "groundtruth_weak_label_training_set.csv"):
        training[name].add(classes.index(label))
    label_sets = Counter(tuple(sorted(s)) for s in training.values())
    validation = strong_clips(folder / "groundtruth_strong_label_testing_set.csv", classes)
    test = strong_clips(folder / "groundtruth_strong_label_evaluation_set.csv", classes)
    event_durations = defaultdict(list)
    for clips in (validation, test):
        for clip in clips.values():
            for c, onset, offset in clip["events"]:
                event_durations[classes[c]].append(round(offset - onset, 3))
    train_seconds = durations(folder / "duration_of_files_in_training_set.csv")
    validation_seconds = durations(folder / "duration_of_files_in_testing_set.csv")
    if set(train_seconds) != set(training) or set(validation_seconds) != set(validation):
        raise ValueError(f"{folder}: the duration files do not list the labelled clips")
    for name, clip in validation.items():
        clip["vggish_examples"] = vggish_examples(validation_seconds[name])
    return {
        "classes": classes,
        "mids": [row[0] for row in class_rows],
        "attribution": ATTRIBUTION,
        "training_clips": len(training),
        "training_label_sets": [{"labels": list(s), "clips": n}
                                for s, n in sorted(label_sets.items(), key=lambda kv: -kv[1])],
        "validation_clips": [dict(file=k, **v) for k, v in validation.items()],
        "test_clips": [dict(file=k, **v) for k, v in test.items()],
        "event_durations": {name: sorted(event_durations[name]) for name in classes},
        "vggish_examples_per_clip": {
            "train": examples_histogram(vggish_examples(d) for d in train_seconds.values()),
            "validation": examples_histogram(c["vggish_examples"] for c in validation.values())},
        "paper_clips": {"train": 48883, "validation": 465, "test": 1050},
    }
