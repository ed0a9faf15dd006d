"""Run one lesson script as a notebook: jupytext reads its `# %%` cells, nbclient runs them in a
fresh IPython kernel, cell by cell, so a failure names its cell. The lesson runs as it does for a
learner at the repository's root: `lesson_output/<lesson>/` relative to the working folder
(AVT_NP_LESSONS_OUT unset), and `avt_np.plot.save` shows each picture below its cell."""

import base64
import os
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from avt_np.book.lessons import ANNOUNCED_PICTURE, ROOT, LessonFailed, cell_lines
from avt_np.progress import QUIET

CELL_TIMEOUT = 1800          # seconds: a hang guard, 45x the longest lesson (~40 s idle)


def kernel_environment():
    """The kernel's environment: this one without AVT_NP_LESSONS_OUT (pictures go where a
    learner's do), with the repository on PYTHONPATH (avt_np imports without an install) and
    progress lines off (AVT_NP_PROGRESS=0, read by avt_np.progress): a page shows what a cell
    computed, not a line per batch."""
    env = {k: v for k, v in os.environ.items() if k != "AVT_NP_LESSONS_OUT"}
    env[QUIET] = "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_lesson(path, workdir, kernel_log):
    """Execute the lesson script `path` with `workdir` as its working folder. Returns
    (notebook with outputs, seconds). Raises LessonFailed. The kernel's own stderr (start-up
    notices) goes to the open file `kernel_log`."""
    path = Path(path)
    source = path.read_text(encoding="utf-8")
    notebook = jupytext.reads(source, fmt="py:percent")
    lines = cell_lines(source)
    client = NotebookClient(notebook, kernel_name="python3", timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    with client.setup_kernel(env=kernel_environment(), stderr=kernel_log):
        for index, cell in enumerate(notebook.cells):
            try:
                client.execute_cell(cell, index)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
                raise LessonFailed(failure_line(path, index, lines, notebook, error)) from None
            show_announced_pictures(cell, workdir)
            relative_to_workdir(cell, workdir)
    return notebook, time.perf_counter() - start


def relative_to_workdir(cell, workdir):
    """What `cell` printed, with the kernel's working folder (a temporary folder of the build)
    left out of every path: `lesson_output/...`, as a learner at the repository's root sees it,
    not `/tmp/avt_np_book_.../run/lesson_output/...` (a tool that makes its paths absolute,
    as train.py does for a resumable run, would print that)."""
    prefixes = {f"{Path(workdir)}/", f"{Path(workdir).resolve()}/"}
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            for prefix in prefixes:
                output.text = output.text.replace(prefix, "")


def show_announced_pictures(cell, workdir):
    """Add to `cell` an image output for each PNG it announced (printed the path of) without
    displaying it: a picture written by a tool rather than by avt_np.plot.save (lesson 13's
    training curves, written by the training run) still appears after its cell."""
    shown = {output.metadata.get("filename") for output in cell.get("outputs", [])
             if "image/png" in output.get("data", {})}
    printed = "".join(output.get("text", "") for output in cell.get("outputs", [])
                      if output.output_type == "stream")
    for name in ANNOUNCED_PICTURE.findall(printed):
        path = Path(workdir) / name                      # an absolute name stays absolute
        if path.name in shown or not path.is_file():
            continue
        shown.add(path.name)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        cell.outputs.append(nbformat.v4.new_output(
            "display_data", data={"image/png": data}, metadata={"filename": path.name}))


def failure_line(path, index, lines, notebook, error):
    """One line: which lesson, which cell (and its line in the script), what was raised."""
    where = f"cell {index + 1} of {len(notebook.cells)}"
    if len(lines) == len(notebook.cells):
        where += f" (line {lines[index]})"
    if isinstance(error, CellExecutionError):
        what = f"{error.ename}: {error.evalue}".strip().rstrip(":")
    elif isinstance(error, CellTimeoutError):
        what = f"no end after {CELL_TIMEOUT} s"
    else:
        what = "the kernel died"
    what = what.splitlines()[0] if what else type(error).__name__
    return f"lesson {path.name}, {where}: {what} (python {display_path(path)} shows the traceback)"


def display_path(path):
    """`path` relative to the working folder when it is inside it, else as given."""
    try:
        return Path(path).resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)
