"""python -m avt_np.book build [--out site]: the lessons as a book in the browser.

Runs every lesson once in a Jupyter kernel and writes a static site (mkdocs-material): a
landing page, one page per lesson with its code, what each cell printed and each picture after
the cell that drew it, one page per docs/*.md, a contents sidebar, previous / next links and
search, all working offline. Needs `pip install -r requirements-docs.txt`. docs/book.md says
more."""

from pathlib import Path

from avt_np import cli

DOCS_EXTRA = ("jupytext", "nbclient", "nbconvert", "ipykernel", "mkdocs", "material")


def parser():
    p = cli.ArgumentParser(prog="python -m avt_np.book", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="build")
    build = sub.add_parser("build", help="execute the lessons and write the site",
                           description="Execute every lesson once and write the site.",
)
    build.add_argument("--out", default="site", type=Path,
                       help="folder the site is written to (default: site); replaced when it "
                            "holds a book built before; open OUT/index.html")
    build.add_argument("--lessons", type=Path, default=None,
                       help="folder of the lesson scripts NN_name.py (default: the "
                            "repository's lessons/)")
    return p


def missing_extra():
    """The first package of the docs extra that cannot be imported, or None."""
    # imported here: only the build needs importlib's finder
    from importlib.util import find_spec
    return next((name for name in DOCS_EXTRA if find_spec(name) is None), None)


def run(argv):
    args = parser().parse_args(argv)
    missing = missing_extra()
    if missing:
        raise cli.UsageError(f"the book needs the docs extra ({missing} is missing): "
                             "pip install -r requirements-docs.txt")
    # imported here: it needs the docs extra, which is optional (checked just above)
    from avt_np.book import build

    if args.lessons is not None and not args.lessons.is_dir():
        raise cli.UsageError(f"--lessons {args.lessons}: expected a folder of lesson scripts")
    lessons_dir = args.lessons or build.ROOT / "lessons"
    if not build.find_lessons(lessons_dir):
        raise cli.UsageError(f"--lessons {lessons_dir}: no lesson scripts NN_name.py in it")
    if not build.replaceable(args.out):
        raise cli.UsageError(f"--out {args.out}: exists and is not a book built by this tool "
                             f"(no {build.MARKER}); expected a new or empty folder")
    try:
        summary = build.build_book(args.out, lessons_dir)
    except (build.LessonFailed, build.SiteBuildFailed) as error:
        raise cli.CheckFailed(cli.first_line(error)) from None
    print(f"book: {len(summary['lessons'])} lessons in {summary['seconds']:.0f} s; open "
          f"{(args.out / 'index.html').as_posix()} or serve it: python -m http.server -d "
          f"{args.out.as_posix()}")


def main(argv=None):
    return cli.main(run, argv, interrupted="interrupted: the previous site, if any, is unchanged")


if __name__ == "__main__":
    raise SystemExit(main())
