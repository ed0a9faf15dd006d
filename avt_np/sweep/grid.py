"""The grid of the paper's Table 1: 10 rows x 6 columns = 60 configurations, and its values.

Rows are (first modality, second modality, modalities with positional encodings): the two
audiovisual pairings with encodings on both, on video only or on none, and the unimodal models
with encodings on their one modality or none (Sec. 2.2.6, Table 1). Columns are pooling (Sec.
2.2.4) x attention function (Sec. 2.2.5). The paper's numbers live in paper_table1.json.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from avt_np.cli import UsageError

ROWS = (                                    # (first, second, pos_enc as avt_np.train --pos-enc)
    ("audio", "video", "audio,video"),
    ("audio", "video", "video"),
    ("audio", "video", "none"),
    ("video", "audio", "audio,video"),
    ("video", "audio", "video"),
    ("video", "audio", "none"),
    ("video", "video", "video"),
    ("video", "video", "none"),
    ("audio", "audio", "audio"),
    ("audio", "audio", "none"),
)
COLUMNS = tuple((pooling, attention) for pooling in ("mean", "max")
                for attention in ("softmax", "sigmoid", "normalized-sigmoid"))
PAPER_TABLE = Path(__file__).with_name("paper_table1.json")


@dataclass(frozen=True)
class Cell:
    """One configuration of Table 1 (one cell: the paper averages 25 runs of it)."""
    first: str
    second: str
    pos_enc: str
    pooling: str
    attention: str

    @property
    def row(self):
        return (self.first, self.second, self.pos_enc)

    @property
    def column(self):
        return (self.pooling, self.attention)

    def run_name(self, seed):
        """Directory name of one run, e.g. video-audio_pe-audio+video_mean_softmax_seed0."""
        return (f"{self.first}-{self.second}_pe-{self.pos_enc.replace(',', '+')}_"
                f"{self.pooling}_{self.attention}_seed{seed}")


def cells():
    """The 60 cells, row by row, in the paper's order."""
    return [Cell(*row, *column) for row in ROWS for column in COLUMNS]


def paper_table():
    """{cell: {"f1": percent, "f1_complete_dcase2017": percent or None}} and the table's notes."""
    data = json.loads(PAPER_TABLE.read_text())
    columns = [(c["pooling"], c["attention"]) for c in data["columns"]]
    values = {}
    for row in data["rows"]:
        complete = row["f1_complete_dcase2017"] or [None] * len(columns)
        for column, f1, f1_complete in zip(columns, row["f1"], complete):
            cell = Cell(row["first"], row["second"], row["pos_enc"], *column)
            values[cell] = {"f1": f1, "f1_complete_dcase2017": f1_complete}
    notes = {k: v for k, v in data.items() if k not in ("rows", "columns")}
    return values, notes


# -- --only 'first=video,pooling=max' ---------------------------------------------------------
FILTER_KEYS = {"first": "first", "second": "second", "pos_enc": "pos_enc", "pos-enc": "pos_enc",
               "pooling": "pooling", "attention": "attention", "seed": "seed"}


def parse_only(text):
    """'first=video,pos_enc=audio+video,attention=softmax|sigmoid' -> {field: set of values}.

    Conditions are separated by commas and all must hold; `|` separates alternatives. Positional
    encodings on both modalities are written audio+video (or the paper's audio/video)."""
    allowed = {f: {getattr(c, f) for c in cells()} for f in
               ("first", "second", "pos_enc", "pooling", "attention")}
    wanted = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, values = part.partition("=")
        field = FILTER_KEYS.get(key.strip())
        if not sep or field is None or not values:
            raise UsageError(f"--only {text}: '{part}' is not KEY=VALUE with KEY one of first, "
                             "second, pos_enc, pooling, attention, seed")
        for value in values.split("|"):
            value = value.strip()
            if field == "pos_enc":
                value = value.replace("+", ",").replace("/", ",")
            if field == "seed":
                if not value.isdigit():
                    raise UsageError(f"--only {text}: seed={value} is not a seed number")
                value = int(value)
            elif value not in allowed[field]:
                raise UsageError(f"--only {text}: {key.strip()}={value} is not in Table 1 "
                                 f"(expected {' or '.join(sorted(allowed[field]))})")
            wanted.setdefault(field, set()).add(value)
    return wanted


def select(wanted, seeds):
    """(cell, seed) pairs of the grid x range(seeds) that match every condition of `wanted`."""
    return [(cell, seed) for cell in cells() for seed in range(seeds)
            if all(({**asdict(cell), "seed": seed}[f] in values) for f, values in wanted.items())]
