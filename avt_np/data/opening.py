"""Opening a data set by the name a user gives `--data`: the embedded default set or a directory.

    from avt_np import data
    dataset = data.open()                                   # the embedded default set
    dataset = data.open("data/mine", modalities=("video", "audio"))

Every tool that takes `--data` opens it here, so every tool says the same thing about a data set
it cannot use: one DataError line (exit code 2 on the command line).
"""

from pathlib import Path

from avt_np.data.format import EMBEDDED_FORMAT, SPLITS, DataError, open_dataset, read_meta
from avt_np.data.synthetic import default_dataset, open_embedded

EMBEDDED = "embedded"           # the --data value naming the built-in synthetic default set


def open(data=EMBEDDED, modalities=()):               # noqa: A001 (data.open reads well)
    """The data set named `data` (EMBEDDED, an embedded cache directory, or a directory in the
    avt_np format), checked for what training and scoring need: every modality in
    `modalities` present and the three splits non-empty."""
    if data == EMBEDDED:
        dataset = default_dataset()
    elif read_meta(data)["format"] == EMBEDDED_FORMAT:    # e.g. --data ~/.cache/avt_np/...
        dataset = open_embedded(data)
    else:
        dataset = open_dataset(data)
    if "video" in modalities and not dataset.has_video:
        raise DataError(f"--data {data}: this data set has no video; train an audio/audio model "
                        f"(--first audio --second audio --pos-enc none)")
    for split in SPLITS:
        if split not in dataset:
            raise DataError(f"--data {data}: no {split} split")
        if len(dataset[split]) == 0:
            raise DataError(f"--data {data}: the {split} split is empty")
    return dataset


def same_data(a, b):
    """Do two --data values name the same data set (EMBEDDED, or the same directory)?"""
    if EMBEDDED in (a, b):
        return a == b
    return Path(a).resolve() == Path(b).resolve()


def resolved(data):
    """A --data value as stored in a run's config: EMBEDDED, or an absolute path (a resumed
    run may be started from another directory)."""
    return data if data in (None, EMBEDDED) else str(Path(data).resolve())
