"""What the book is made of, found on disk: the lesson scripts, their exercises, the lesson table
of lessons/README.md and the cell a line of a lesson belongs to. Standard library only, so the
tests can use it without the docs extra."""

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]          # the repository: README.md, docs/, lessons/
LESSON_NAME = re.compile(r"^(\d\d)_\w+\.py$")       # 05_attention_functions.py
CELL_MARKER = re.compile(r"^# %%")                  # the percent format's cell separator
# how a lesson announces a picture it wrote: it prints the path, as tests/test_lessons.py reads it
ANNOUNCED_PICTURE = re.compile(r"(\S+\.png)\b")


class LessonFailed(Exception):
    """A lesson raised, its kernel died, or its outputs cannot be shown: the message is one line
    naming the lesson (and the cell, when one failed)."""


@dataclass(frozen=True)
class Lesson:
    path: Path              # lessons/05_attention_functions.py
    number: str             # "05"

    @property
    def stem(self):
        return self.path.stem

    @property
    def page(self):
        """The lesson's page in the site, relative to the site's root."""
        return f"lessons/{self.stem}.md"


def find_lessons(folder):
    """The lessons in `folder` (NN_name.py), in order."""
    return [Lesson(p, p.name[:2]) for p in sorted(Path(folder).glob("[0-9][0-9]_*.py"))
            if LESSON_NAME.match(p.name)]


def find_exercises(folder, number):
    """The exercise files of lesson `number` ("05"): folder/NN_*.py, in order. `folder` is
    lessons/exercises/ (it may not exist yet)."""
    return sorted(Path(folder).glob(f"{number}_*.py"))


def cell_lines(source):
    """The 1-based line each cell of a percent-format script starts on, in the order jupytext
    reads the cells: a header before the first `# %%` is a cell of its own."""
    lines = source.splitlines()
    markers = [i + 1 for i, line in enumerate(lines) if CELL_MARKER.match(line)]
    first = markers[0] if markers else len(lines) + 1
    header = any(line.strip() for line in lines[:first - 1])
    return ([1] if header else []) + markers


@dataclass(frozen=True)
class TableRow:
    teaches: str            # "what it teaches" (Markdown)
    time: str               # the lesson's promised time on an idle machine ("< 1 s")


def lesson_table(readme):
    """{lesson file name: TableRow} from the table of lessons/README.md whose header has the
    columns "lesson", "what it teaches" and "time"; {} when there is no such table."""
    path = Path(readme)
    rows, columns = {}, None
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        if not line.startswith("|"):
            columns = None                                      # a table ends
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns is None:
            if {"lesson", "what it teaches", "time"} <= set(cells):
                columns = {name: i for i, name in enumerate(cells)}
            continue
        if set("".join(cells)) <= set("-: "):
            continue                                            # the |---|---| line
        name = cells[columns["lesson"]].strip("`")
        rows[name] = TableRow(cells[columns["what it teaches"]], cells[columns["time"]])
    return rows
