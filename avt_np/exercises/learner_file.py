"""Loading a learner's exercise file: every way it can be broken is one line naming the file
(and the line, where there is one), raised as a UsageError; never a traceback.

The file is run by avt_np.gradcheck.run_user_file, as the gradient checker's command runs a
user's layer: as Python source whatever its name, with its folder on sys.path (so it can import
its neighbours) and an exit() of its own caught. It is compiled here first, so that a syntax
error names its line.
"""

from pathlib import Path

from avt_np.cli import UsageError, first_line
from avt_np.exercises.catalogue import EXERCISES
from avt_np.gradcheck import run_user_file
from avt_np.nn import Module


def read_source(path):
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a file (expected an exercise file, e.g. "
                         "lessons/exercises/03_layer_norm.py)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot be read: {e.strerror or first_line(e)}") from None
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (byte {e.start}): expected a Python "
                         "exercise file") from None
    if not source.strip():
        raise UsageError(f"{path}: the file is empty: expected a Python exercise file "
                         "(restore it from lessons/exercises/)")
    return source


def compile_source(path, source):
    try:
        return compile(source, str(path), "exec")
    except SyntaxError as e:
        where = f" line {e.lineno}" if e.lineno else ""
        raise UsageError(f"{path}{where}: {type(e).__name__}: {e.msg}") from None
    except ValueError as e:                       # e.g. a null byte (Python < 3.12)
        raise UsageError(f"{path}: not Python source: {first_line(e)}") from None


def run_file(path):
    """The file's namespace after running it, as a module."""
    path = Path(path)
    return run_user_file(path, compile_source(path, read_source(path)), failed="could not be run")


def load(path):
    """(exercise, {class name: class}) of an exercise file: its `EXERCISE = "..."` line names
    the exercise, which names the classes the file must define."""
    module = run_file(path)
    known = ", ".join(EXERCISES)
    key = getattr(module, "EXERCISE", None)
    if key is None:
        raise UsageError(f"{path}: no line EXERCISE = \"...\" saying which exercise this is "
                         f"(one of {known})")
    if not isinstance(key, str) or key not in EXERCISES:
        raise UsageError(f"{path}: EXERCISE = {key!r} is not an exercise: expected one of {known}")
    exercise = EXERCISES[key]
    classes = {}
    for graded in exercise.classes:
        cls = getattr(module, graded.name, None)
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            expected = ", ".join(g.name for g in exercise.classes)
            raise UsageError(f"{path}: no class {graded.name} derived from avt_np.nn.Module "
                             f"(exercise '{key}' grades {expected})")
        classes[graded.name] = cls
    return exercise, classes
