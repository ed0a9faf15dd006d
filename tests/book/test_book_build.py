"""avt_np/book without a browser: finding lessons, exercises, cells and the lesson table; links
made to resolve in the site; a lesson that raises stops the build with one line naming it and
its cell; avt_np.plot.save shows its picture inside a kernel and imports nothing outside one."""

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from avt_np.book.lessons import (ANNOUNCED_PICTURE, ROOT, cell_lines, find_exercises,
                                 find_lessons, lesson_table)
from tests.test_lessons import ANNOUNCED_PICTURE as LESSONS_TEST_PICTURE

DOCS_EXTRA = ("jupytext", "nbclient", "nbconvert", "ipykernel", "mkdocs", "material")
MISSING = [name for name in DOCS_EXTRA if importlib.util.find_spec(name) is None]
needs_docs_extra = pytest.mark.skipif(
    bool(MISSING), reason=f"the docs extra is not installed ({', '.join(MISSING)}): "
                          "pip install -r requirements-docs.txt")
HANG_GUARD = 300          # seconds: a hang guard; these builds take a few seconds


def write_lessons(folder, lessons):
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in lessons.items():
        (folder / name).write_text(textwrap.dedent(source).lstrip())
    return folder


def build(argv, cwd):
    return subprocess.run([sys.executable, "-m", "avt_np.book", "build", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=HANG_GUARD)


def test_the_book_reads_pictures_as_the_lessons_test_does():
    assert ANNOUNCED_PICTURE.pattern == LESSONS_TEST_PICTURE.pattern


def test_lessons_and_their_exercises_are_found_in_order(tmp_path):
    write_lessons(tmp_path, {"02_b.py": "x = 1\n", "01_a.py": "x = 1\n", "notes.py": "",
                             "1_short.py": ""})
    write_lessons(tmp_path / "exercises", {"01_first.py": "", "01_second.py": "",
                                           "02_other.py": ""})
    assert [lesson.path.name for lesson in find_lessons(tmp_path)] == ["01_a.py", "02_b.py"]
    assert [p.name for p in find_exercises(tmp_path / "exercises", "01")] == [
        "01_first.py", "01_second.py"]
    assert find_exercises(tmp_path / "missing", "01") == []


def test_cell_lines_count_a_header_before_the_first_marker_as_a_cell():
    assert cell_lines("# %%\nx = 1\n\n# %% [markdown]\n# text\n") == [1, 4]
    assert cell_lines('"""doc"""\n\n# %%\nx = 1\n') == [1, 3]
    assert cell_lines("\n\n# %%\nx\n") == [3]


def test_the_lesson_table_of_the_lessons_readme_is_read():
    table = lesson_table(ROOT / "lessons" / "README.md")
    lessons = find_lessons(ROOT / "lessons")
    assert set(table) == {lesson.path.name for lesson in lessons}
    assert "LayerNorm" in table["03_layer_normalisation.py"].teaches
    assert table["01_linear_and_gradient_checking.py"].time == "< 1 s"


@needs_docs_extra
def test_links_to_repository_files_are_added_and_readme_links_go_to_the_landing_page(tmp_path):
    from avt_np.book.pages import Pages
    pages = Pages(tmp_path / "pages")
    text = ("[model](model.md) [top](../README.md#lessons) [data](../avt_np/data/README.md) "
            "[table](../avt_np/sweep/paper_table1.json) [web](https://example.org/x.md) "
            "`[code](gone.md)`\n```\n[fenced](gone.md)\n```\n")
    pages.write("docs/page.md", text, ROOT / "docs")
    written = (tmp_path / "pages" / "docs" / "page.md").read_text()
    assert "[top](../index.md#lessons)" in written and "[model](model.md)" in written
    assert (tmp_path / "pages" / "docs" / "model.md").is_file()
    assert (tmp_path / "pages" / "avt_np" / "data" / "README.md").is_file()
    assert (tmp_path / "pages" / "avt_np" / "sweep" / "paper_table1.json").read_bytes() == (
        ROOT / "avt_np" / "sweep" / "paper_table1.json").read_bytes()
    assert not (tmp_path / "pages" / "docs" / "gone.md").exists()
    assert "docs/model.md" in pages.linked_pages and "avt_np/data/README.md" in pages.linked_pages


@needs_docs_extra
def test_a_list_right_below_a_paragraph_line_becomes_a_list():
    from avt_np.book.pages import separate_lists
    assert separate_lists("You learn:\n- a\n  more\n- b\n\n    - code") == (
        "You learn:\n\n- a\n  more\n- b\n\n    - code")


@needs_docs_extra
def test_a_lesson_that_raises_stops_the_build_with_one_line_naming_lesson_and_cell(tmp_path):
    lessons = write_lessons(tmp_path / "lessons", {
        "01_fine.py": """
            # %% [markdown]
            # # Lesson 1
            # %%
            print("fine")
            """,
        "02_broken.py": """
            # %% [markdown]
            # # Lesson 2
            # %%
            x = 1
            # %%
            raise ValueError("planted mistake")
            # %%
            print("never")
            """})
    done = build(["--lessons", str(lessons), "--out", "site"], tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    failures = [line for line in done.stderr.splitlines() if line.startswith("FAIL")]
    assert failures == ["FAIL: lesson 02_broken.py, cell 3 of 4 (line 5): ValueError: planted "
                        "mistake (python lessons/02_broken.py shows the traceback)"]
    assert "lesson 1/2" in done.stderr                     # progress: lesson k of n
    assert not (tmp_path / "site").exists()


@needs_docs_extra
def test_an_out_folder_that_is_not_a_book_is_refused_in_one_line(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "precious.txt").write_text("keep me")
    done = build(["--out", "site"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --out site: exists and is not a book built by this tool (no book.json); "
        "expected a new or empty folder"]
    assert (tmp_path / "site" / "precious.txt").read_text() == "keep me"


@needs_docs_extra
def test_a_small_book_has_its_exercise_box_its_pictures_and_a_landing_page(tmp_path):
    lessons = write_lessons(tmp_path / "lessons", {
        "01_draws.py": """
            # %% [markdown]
            # # Lesson 1: drawing
            # What you learn:
            # - a list item
            # %%
            import numpy as np
            from avt_np import plot
            out = plot.lesson_output("01_draws")
            print(f"pictures go to {out}")
            # %%
            print("  ->", plot.save(plot.heatmap(np.eye(3)), out, "eye.png"))
            # %%
            print("next-cell-marker")
            # %%
            import os, sys
            from avt_np.progress import Progress
            bar = Progress(2, "lesson: step", every_seconds=0.0)
            for i in (1, 2):
                print(f"line {i} of one stream", file=sys.stderr, flush=True)
                bar.update(i)
            print(os.path.abspath("lesson_output/01_draws/data"))
            """})
    write_lessons(lessons / "exercises", {"01_fill_in.py": "raise NotImplementedError\n",
                                          "02_other.py": ""})
    done = build(["--lessons", str(lessons), "--out", "site"], tmp_path)
    assert done.returncode == 0, done.stderr
    site = tmp_path / "site"
    page = (site / "lessons" / "01_draws.html").read_text()
    assert "<li>a list item</li>" in page
    # the picture and the path printed sit after the cell that saved it, before the next cell
    cell, picture, after = (page.index("eye.png&quot;"), page.index('<img alt="eye.png"'),
                            page.index("next-cell-marker"))
    assert cell < picture < after and cell < page.index("lesson_output/01_draws/eye.png") < after
    assert (site / "lessons" / "01_draws_files" / "eye.png").read_bytes()[:4] == b"\x89PNG"
    assert 'href="exercises/01_fill_in.html"' in page
    text = re.sub(r"<[^>]+>", "", page)                        # highlighting splits words
    assert "python -m avt_np.exercises check lessons/exercises/01_fill_in.py" in text
    assert "02_other" not in page
    exercise = (site / "lessons" / "exercises" / "01_fill_in.html").read_text()
    assert "raise NotImplementedError" in re.sub(r"<[^>]+>", "", exercise)
    assert 'href="../01_draws.html"' in exercise                 # back to its lesson
    # no progress line, each stream's lines in one box, no path of the build's own folder
    assert "lesson: step 1/2" not in text and "avt_np_book_" not in text
    boxes = [re.sub(r"<[^>]+>", "", b) for b in page.split('class="output')]
    assert any("line 1 of one stream" in b and "line 2 of one stream" in b for b in boxes)
    assert "\nlesson_output/01_draws/data" in text
    landing = (site / "index.html").read_text()
    assert 'href="lessons/01_draws.html"' in landing and "Lesson 1: drawing" in landing
    assert 'href="docs/attention.html"' in landing
    assert not Path(tmp_path / "lesson_output").exists()      # the lesson ran elsewhere


@needs_docs_extra
def test_save_displays_the_picture_in_a_kernel_under_its_own_name(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from PIL import Image\nfrom avt_np import plot\n"
        "path = plot.save(Image.new('RGB', (3, 2)), '.', 'tiny.png')")])
    NotebookClient(notebook, kernel_name="python3", timeout=HANG_GUARD,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data"]
    assert outputs[0].metadata["filename"] == "tiny.png" and "image/png" in outputs[0].data
    assert (tmp_path / "tiny.png").is_file()


def test_save_outside_a_kernel_writes_the_file_and_imports_no_ipython(tmp_path):
    code = ("import sys\nfrom PIL import Image\nfrom avt_np import plot\n"
            "path = plot.save(Image.new('RGB', (3, 2)), '.', 'tiny.png')\n"
            "print(path.is_file(), 'IPython' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=HANG_GUARD)
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_without_the_docs_extra_the_build_says_what_to_install_in_one_line(tmp_path):
    hide = tmp_path / "hide"                               # a Python where jupytext is missing
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['jupytext'] = None\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hide), str(ROOT)]))
    lessons = write_lessons(tmp_path / "lessons", {"01_one.py": "# %%\nx = 1\n"})
    done = subprocess.run([sys.executable, "-m", "avt_np.book", "build", "--out", "site",
                           "--lessons", str(lessons)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: the book needs the docs extra (jupytext is missing): "
        "pip install -r requirements-docs.txt"]
    assert not (tmp_path / "site").exists()
