"""Build the book: run every lesson once (execute.py), write the Markdown pages (pages.py), let
mkdocs make the site (site.py), then move it into place: a failed or interrupted build leaves
the previous site as it was."""

import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

from avt_np.book.execute import run_lesson
from avt_np.book.lessons import ROOT, LessonFailed, find_exercises, find_lessons  # noqa: F401
# (LessonFailed and SiteBuildFailed: what build_book raises, for its callers)
from avt_np.book.pages import (Pages, exercise_page, landing_page, lesson_page, lesson_title,
                               lessons_readme_page)
from avt_np.book.site import SiteBuildFailed, build_site  # noqa: F401
from avt_np.io import partial_dir, write_json
from avt_np.model import ModelConfig
from avt_np.progress import Progress
from avt_np.visualize.architecture import draw as draw_architecture

ARCHITECTURE = "architecture.png"   # the landing page's picture of the model
MARKER = "book.json"          # in every built site: what was built; lets a rebuild replace it


def docs_pages(root):
    """docs/*.md in the order the README first links them, then the rest by name."""
    pages = sorted(p.relative_to(root).as_posix() for p in (Path(root) / "docs").glob("*.md"))
    readme = (Path(root) / "README.md").read_text(encoding="utf-8")
    order = {page: readme.find(f"]({page}") for page in pages}
    return sorted(pages, key=lambda p: (order[p] < 0, order[p], p))


def build_book(out, lessons_dir=None, root=ROOT, stream=None):
    """Execute the lessons in `lessons_dir` (default: the repository's lessons/) and write the
    site to `out`. Returns {"lessons": {stem: seconds}, "seconds": total}. Raises
    LessonFailed, SiteBuildFailed."""
    start = time.perf_counter()
    root = Path(root)
    lessons_dir = Path(lessons_dir) if lessons_dir else root / "lessons"
    lessons = find_lessons(lessons_dir)
    out = Path(out).absolute()
    with tempfile.TemporaryDirectory(prefix="avt_np_book_") as tmp:
        tmp = Path(tmp)
        pages = Pages(tmp / "pages", root)
        exercises_dir = lessons_dir / "exercises"
        for lesson in lessons:              # a link to a script goes to its page
            pages.pages_of[lesson.path.resolve()] = lesson.page
            for path in find_exercises(exercises_dir, lesson.number):
                pages.pages_of[path.resolve()] = exercise_page_name(path)
        (tmp / "run").mkdir()
        progress = Progress(len(lessons), "book: lesson", every_seconds=0.0, stream=stream)
        titles, seconds = {}, {}
        with open(tmp / "kernels.log", "w") as kernel_log:
            for k, lesson in enumerate(lessons):
                progress.update(k, f"running {lesson.path.name}")
                notebook, seconds[lesson.stem] = run_lesson(lesson.path, tmp / "run", kernel_log)
                progress.update(k + 1, f"{lesson.path.name} took {seconds[lesson.stem]:.1f} s")
                titles[lesson.stem] = lesson_title(notebook, lesson)
                text, pictures = lesson_page(notebook, lesson, lessons_dir / "exercises")
                pages.write(lesson.page, text, lessons_dir)
                for name, data in pictures.items():
                    pages.write_bytes(f"lessons/{name}", data)
                for path in find_exercises(exercises_dir, lesson.number):
                    pages.write(exercise_page_name(path),
                                exercise_page(path, lesson, titles[lesson.stem]), exercises_dir)
        lessons_readme = lessons_dir / "README.md"
        if lessons_readme.is_file():
            pages.write("lessons/README.md", lessons_readme_page(
                lessons_readme.read_text(encoding="utf-8"), lessons), lessons_dir)
        exercises = [exercise_page_name(p) for lesson in lessons
                     for p in find_exercises(exercises_dir, lesson.number)]
        if (exercises_dir / "README.md").is_file():
            text = (exercises_dir / "README.md").read_text(encoding="utf-8")
            for page in exercises:                  # each file name links its exercise's page
                name = Path(page).stem
                text = text.replace(f"| `{name}.py` |", f"| [`{name}.py`]({name}.md) |")
            pages.write("lessons/exercises/README.md", text, exercises_dir)
            exercises.insert(0, "lessons/exercises/README.md")
        docs = docs_pages(root)
        for page in docs:
            pages.add_file(page)
        pages.write_bytes(ARCHITECTURE, architecture_png())
        pages.write("index.md", landing_page(root, lessons, titles, seconds, lessons_readme,
                                             ARCHITECTURE), root)
        nav = [{"Home": "index.md"},
               {"Lessons": (["lessons/README.md"] if lessons_readme.is_file() else [])
                + [{titles[lesson.stem]: lesson.page} for lesson in lessons]}]
        if exercises:
            nav.append({"Exercises": exercises})
        nav.append({"Docs": docs})
        reference = [page for page in pages.linked_pages
                     if page not in docs and not page.startswith("lessons/")]
        if reference:
            nav.append({"Reference": reference})
        print(f"book: writing the site with mkdocs ({len(lessons)} lessons, {len(docs)} docs "
              "pages)", file=stream or sys.stderr, flush=True)
        staging = partial_dir(out)
        try:
            build_site(tmp / "pages", nav, staging / "site", tmp)
            total = time.perf_counter() - start
            summary = {"lessons": seconds, "seconds": round(total, 1)}
            write_json(staging / "site" / MARKER, summary)
            if out.exists():
                shutil.rmtree(out)
            (staging / "site").rename(out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return summary


def architecture_png():
    """The model's picture (avt_np/visualize/architecture.py), drawn from the default
    ModelConfig, as PNG bytes."""
    buffer = io.BytesIO()
    draw_architecture(ModelConfig()).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def exercise_page_name(path):
    """The page of the exercise file `path` (lessons/exercises/NN_name.py) in the site."""
    return f"lessons/exercises/{Path(path).stem}.md"


def replaceable(out):
    """Whether `out` may be written: missing, an empty folder, or a site this tool built."""
    out = Path(out).absolute()
    return not out.exists() or (out.is_dir() and (not any(out.iterdir())
                                                  or (out / MARKER).is_file()))
