"""Building exercise files for the tests: the shipped file with one class's backward replaced,
by the package's own (inspect.getsource) or by a planted mistake."""

import ast
import inspect
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXERCISE_FOLDER = ROOT / "lessons" / "exercises"


def backward_source(package_class):
    """The package class's backward, dedented."""
    return textwrap.dedent(inspect.getsource(package_class.backward))


def replace_backward(source, class_name, new_backward):
    """`source` with class_name.backward replaced by `new_backward` (a def, any indentation)."""
    tree = ast.parse(source)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    assert classes, f"no class {class_name}"
    methods = [n for n in classes[0].body
               if isinstance(n, ast.FunctionDef) and n.name == "backward"]
    assert methods, f"{class_name} has no backward"
    method = methods[0]
    start = min([method.lineno] + [d.lineno for d in method.decorator_list]) - 1
    lines = source.splitlines(keepends=True)
    indent = lines[method.lineno - 1][:method.col_offset]
    body = textwrap.indent(textwrap.dedent(new_backward).rstrip() + "\n", indent)
    return "".join(lines[:start]) + body + "".join(lines[method.end_lineno:])


def planted(package_class, old, new):
    """The package's backward with `old` replaced by `new` (which must occur)."""
    source = backward_source(package_class)
    assert old in source, f"{package_class.__name__}.backward no longer contains {old!r}"
    return source.replace(old, new)


def write_exercise(tmp_path, file, replacements):
    """Write lessons/exercises/`file` into tmp_path with {class name: backward source}."""
    source = (EXERCISE_FOLDER / file).read_text()
    for class_name, new_backward in replacements.items():
        source = replace_backward(source, class_name, new_backward)
    path = Path(tmp_path) / file
    path.write_text(source)
    return path
