"""A shape or broadcast error raised by a learner's backward, explained in one line: which
expression on which line, the shapes of its two operands, and the likely cause (a missing
transpose, a reduction that lost its axis without keepdims=True), instead of NumPy's message.

The failing statement is found in the file's syntax tree from the traceback's line; each binary
operation in it (`a @ b`, `a - b`, ...) has its operands evaluated again in the frame that
raised, when they are plain names, attributes and side-effect-free calls (`.swapaxes`, `.mean`,
`row_sum`, ...), never the learner's own backward or a child's.
"""

import ast
import re
from pathlib import Path

import numpy as np

SHAPE_ERROR = re.compile(r"could not be broadcast|matmul: Input operand|shapes .* not aligned"
                         r"|non-broadcastable output operand")
SAFE_CALLS = {"swapaxes", "transpose", "reshape", "mean", "sum", "max", "min", "var", "std",
              "sqrt", "exp", "log", "abs", "row_sum", "row_mean", "column_sum", "asarray",
              "squeeze", "expand_dims"}
OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@"}


def innermost_frame(error, path):
    """(frame, line) of the innermost traceback entry inside the file `path`, or (None, 0)."""
    found, tb = (None, 0), error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            found = (tb.tb_frame, tb.tb_lineno)
        tb = tb.tb_next
    return found


def statement_at(tree, line):
    """The innermost statement of `tree` spanning `line`."""
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= line <= node.end_lineno:
            if best is None or node.lineno >= best.lineno:
                best = node
    return best


def is_safe(expr):
    """Whether evaluating `expr` again can change nothing: no call but to SAFE_CALLS."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in SAFE_CALLS:
                return False
        elif isinstance(node, (ast.NamedExpr, ast.Lambda, ast.Await, ast.Yield)):
            return False
    return True


def evaluate(expr, frame):
    if not is_safe(expr):
        return None
    try:
        value = eval(compile(ast.Expression(expr), "<operand>", "eval"),
                     frame.f_globals, dict(frame.f_locals))
    except Exception:
        return None
    return value if isinstance(value, np.ndarray) else None


def lost_axis(small, big):
    """The axis of `big` that `small` lacks (a reduction without keepdims=True), or None."""
    if len(small) != len(big) - 1:
        return None
    for axis in range(len(big)):
        if big[:axis] + big[axis + 1:] == small:
            return axis - len(big)
    return None


def mismatch(op, left, right, a, b):
    """Why `left op right` fails on shapes a and b, or None when it does not."""
    shapes = f"`{left}` {a} {OPERATORS[op]} `{right}` {b}"
    if op is ast.MatMult:
        if len(a) == 0 or len(b) == 0:
            return None
        inner_b = b[-2] if len(b) > 1 else b[0]
        if a[-1] == inner_b:
            return None
        text = (f"{shapes}: a matrix product needs the last axis of the left ({a[-1]}) to equal "
                f"the second-to-last of the right ({inner_b})")
        if len(b) > 1 and a[-1] == b[-1]:
            return text + f": a missing transpose, `{right}.swapaxes(-1, -2)`?"
        if len(a) > 1 and a[-2] == inner_b:
            return text + f": a missing transpose, `{left}.swapaxes(-1, -2)`?"
        return text
    try:
        np.broadcast_shapes(a, b)
        return None
    except ValueError:
        pass
    text = f"{shapes}: these shapes do not broadcast"
    for small, big, name in ((a, b, left), (b, a, right)):
        axis = lost_axis(small, big)
        if axis is not None:
            return text + (f": `{name}` lost axis {axis} in a reduction (a sum or mean without "
                           "keepdims=True?)")
    return text


def explain(error, path):
    """One line explaining a shape error of the learner's code, or None when `error` is not
    one (or its line cannot be read)."""
    if not isinstance(error, ValueError) or not SHAPE_ERROR.search(str(error)):
        return None
    frame, line = innermost_frame(error, path)
    if frame is None:
        return None
    try:
        source = Path(path).read_text(encoding="utf-8")
        statement = statement_at(ast.parse(source), line)
    except (OSError, SyntaxError, ValueError):
        return None
    if statement is None:
        return None
    for node in ast.walk(statement):
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            left_node, right_node, op = node.left, node.right, type(node.op)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "matmul"
              and len(node.args) >= 2):
            left_node, right_node, op = node.args[0], node.args[1], ast.MatMult
        else:
            continue
        a, b = evaluate(left_node, frame), evaluate(right_node, frame)
        if a is None or b is None:
            continue
        why = mismatch(op, ast.get_source_segment(source, left_node),
                       ast.get_source_segment(source, right_node), a.shape, b.shape)
        if why:
            return f"a shape error (line {line}): {why}"
    return None
