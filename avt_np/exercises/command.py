"""python -m avt_np.exercises: grade your own backward passes.

    python -m avt_np.exercises list                                      the exercises
    python -m avt_np.exercises check lessons/exercises/03_layer_norm.py  grade one (or more)

Exit code: 0 every class passes, 1 some fail (including a backward not written yet), 2 usage
error (no such file, a syntax error, a file that is not an exercise or whose given forward no
longer works).
"""

import warnings
from pathlib import Path

import numpy as np

from avt_np import cli
from avt_np.cli import ArgumentParser, CheckFailed
from avt_np.exercises.catalogue import EXERCISES
from avt_np.exercises.grading import grade
from avt_np.exercises.learner_file import load

FOLDER = "lessons/exercises"

USAGE = f"""Grade your own backward passes: each file in {FOLDER}/ gives a layer's forward and
leaves its backward to you. `check` runs the gradient checker on your layer (float64) and
compares every gradient with the package's layer on the same random inputs, with a hint for
the usual mistakes (a wrong sign, a missing term, `=` instead of `+=`, a wrong shape).

  python -m avt_np.exercises list
  python -m avt_np.exercises check {FOLDER}/03_layer_norm.py

Exit code: 0 all pass, 1 some fail (a backward not written yet too), 2 usage error (no such
file, a syntax error, not an exercise file, its given forward changed)."""


def check_file(path, seed=0):
    """Grade every class of one exercise file: (ok, [ClassGrade]). UsageError when the file
    cannot be graded."""
    exercise, classes = load(path)
    grades = []
    # A wrong gradient may overflow or divide by zero in the checker's arithmetic: that is
    # reported in the table, not as warnings on stderr.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for graded in exercise.classes:
            for case in graded.cases:
                grades.append(grade(graded, case, classes[graded.name], exercise, path, seed))
    return all(g.ok for g in grades), grades


def list_exercises():
    rows = [("file", "lesson", "classes")]
    rows += [(f"{FOLDER}/{e.file}", str(e.lesson), ", ".join(g.name for g in e.classes))
             for e in EXERCISES.values()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    print(f"\ngrade one: python -m avt_np.exercises check {FOLDER}/{EXERCISES['layer_norm'].file}")


def run(argv=None):
    parser = ArgumentParser(prog="python -m avt_np.exercises", description=USAGE)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the exercises, their lessons and classes")
    check = commands.add_parser("check", help="grade exercise files")
    check.add_argument("files", nargs="+", metavar="FILE",
                       help=f"an exercise file, e.g. {FOLDER}/03_layer_norm.py")
    check.add_argument("--seed", type=int, default=0,
                       help="seed of the random inputs, parameters and masks (0)")
    args = parser.parse_args(argv)
    if args.command == "list":
        list_exercises()
        return
    failed = []
    for path in args.files:
        ok, grades = check_file(Path(path), args.seed)
        for g in grades:
            print(f"{g}\n")
        if ok:
            print(f"{path}: PASS ({', '.join(dict.fromkeys(g.name for g in grades))})")
        else:
            summaries = dict.fromkeys(g.summary for g in grades if not g.ok)   # once per class
            failed.append(f"{path}: {'; '.join(summaries)}")
    if failed:
        raise CheckFailed("; ".join(failed))


def main(argv=None):
    return cli.main(run, argv)
