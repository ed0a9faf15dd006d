"""Grading one class of a learner's exercise file.

For each case of the catalogue, on the same random float64 inputs:
1. the package's layer and the learner's are built with the same constructor arguments and
   given the same parameters (the package's, moved off their initial values);
2. both run forward with the same dropout masks (every `rng` reseeded alike); the forward is
   given, so the outputs must agree, or the file is broken (a UsageError, exit code 2);
3. both run backward on the same random upstream gradient, from zeroed gradients: what the
   learner's backward returns must be one gradient per input, each of its input's shape (else
   the class fails with one line saying what came back);
4. avt_np.gradcheck checks the learner's layer in float64 (finite differences, and that a
   second backward ADDS: "ASSIGNS" otherwise), and every gradient is compared with the
   package's. A tensor passes when both agree; a failing one gets a hint (hints.py).
"""

import copy
import inspect
import math
import re
from dataclasses import dataclass, field

import numpy as np

from avt_np.cli import UsageError, first_line
from avt_np.exercises.hints import diagnose, relative_error, shape_hint
from avt_np.exercises.learner_file import line_in
from avt_np.gradcheck import PASSING, gradcheck
from avt_np.nn import Module

TOLERANCE = 1e-6                 # the checker's own (avt_np.gradcheck)
FORWARD_TOLERANCE = 1e-9         # a given forward may be written differently, not compute otherwise
LAYER_ERRORS = (Exception, SystemExit)      # what the learner's code may raise (exit() too)


@dataclass
class TensorGrade:
    name: str
    shape: tuple
    gradcheck_error: float
    package_error: float
    status: str                  # "ok", "both zero", "FAIL", "ASSIGNS", "NOT ADDED"
    hint: str = ""               # what is wrong, one line
    kind: str = ""               # the same in a few words (hints.py)

    @property
    def ok(self):
        return self.status in PASSING


@dataclass
class ClassGrade:
    name: str
    lesson: int
    package: str                 # e.g. "avt_np.nn.LayerNorm"
    inputs: str                  # e.g. "x 2x3x6"
    label: str = ""              # the case, e.g. "padded clips of 5 and 2 frames"
    tensors: list = field(default_factory=list)
    problem: str = ""            # a failure before any gradient could be compared
    short: str = ""              # the problem for the one-line summary, when shorter

    @property
    def ok(self):
        return not self.problem and all(t.ok for t in self.tensors)

    @property
    def summary(self):
        """One line: what failed."""
        if self.problem:
            return f"{self.name}: {self.short or self.problem}"
        by_kind = {}
        for t in self.tensors:
            if not t.ok:
                by_kind.setdefault(t.kind or t.status, []).append(t.name)
        return f"{self.name}: " + "; ".join(f"{', '.join(names)}: {kind}"
                                            for kind, names in by_kind.items())

    def __str__(self):
        case = f", {self.label}" if self.label else ""
        lines = [f"== {self.name} (lesson {self.lesson}) against {self.package}, "
                 f"inputs {self.inputs}{case}"]
        if self.problem:
            return "\n".join(lines + [f"FAIL: {self.problem}"])
        rows = [("gradient of", "shape", "gradcheck", "vs package", "status")]
        rows += [(t.name, "x".join(map(str, t.shape)) or "scalar", f"{t.gradcheck_error:.1e}",
                  f"{t.package_error:.1e}", t.status) for t in self.tensors]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        lines += [f"hint: {t.hint}" for t in self.tensors if not t.ok and t.hint]
        lines.append("PASS" if self.ok else f"FAIL ({', '.join(t.name for t in self.tensors if not t.ok)})")
        return "\n".join(lines)


class WithKeywords(Module):
    """A layer whose forward gets fixed keyword arguments (a mask), so the checker can run it."""

    def __init__(self, layer, keywords):
        super().__init__()
        self.layer, self.keywords = layer, keywords

    def forward(self, *inputs):
        return self.layer.forward(*inputs, **self.keywords)

    def backward(self, grad_output):
        return self.layer.backward(grad_output)


def reseed(module, seed):
    """Every `rng` of the module tree a fresh generator, by position: the same masks for two
    modules built alike."""
    for i, m in enumerate(module.modules()):
        if isinstance(getattr(m, "rng", None), np.random.Generator):
            m.rng = np.random.default_rng(seed + i)


def input_names(package_class, count):
    names = [p for p in inspect.signature(package_class.forward).parameters if p != "self"]
    return names[:count]


def as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def grade(graded, case, cls, exercise, path, seed=0):
    """ClassGrade of the learner's class `cls` on one case. Raises UsageError when the given
    parts of the file (constructor, parameters, forward) no longer work as the package's."""
    rng = np.random.default_rng(seed)
    kwargs = dict(case.kwargs)
    takes_rng = "rng" in inspect.signature(graded.package).parameters
    call = f"{graded.name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    package = graded.package(**kwargs, **({"rng": np.random.default_rng(seed)} if takes_rng else {}))
    try:
        learner = cls(**kwargs, **({"rng": np.random.default_rng(seed)} if takes_rng else {}))
        learner.astype(np.float64).train()
    except LAYER_ERRORS as e:
        raise UsageError(f"{path}{line_in(path, e)}: {call} failed: {type(e).__name__}: "
                         f"{first_line(e)} (the constructor is given: restore it)") from None
    package.astype(np.float64).train()
    for _, param, _ in package.parameters():               # off the trivial initial values
        param += 0.1 * rng.standard_normal(param.shape)
    try:
        learner.load_state_dict(package.state_dict())
        learner.zero_grad()
    except LAYER_ERRORS as e:
        raise UsageError(f"{path}: the parameters of {graded.name} are not the package's: "
                         f"{first_line(e)} (they are given: restore them)") from None
    inputs = case.inputs(rng)
    keywords = case.keywords(rng) if case.keywords else {}
    names = input_names(graded.package, len(inputs))
    result = ClassGrade(graded.name, exercise.lesson, f"avt_np.nn.{graded.package.__name__}",
                        ", ".join(f"{n} {'x'.join(map(str, x.shape))}" for n, x in zip(names, inputs)),
                        case.label)

    # forward, the same masks in both
    reseed(package, seed + 1)
    expected = as_tuple(package.forward(*inputs, **keywords))
    reseed(learner, seed + 1)
    try:
        outputs = as_tuple(learner.forward(*[x.copy() for x in inputs], **keywords))
        same = len(outputs) == len(expected) and all(
            np.shape(o) == np.shape(e) and relative_error(np.asarray(o, np.float64), e)
            <= FORWARD_TOLERANCE for o, e in zip(outputs, expected))
    except LAYER_ERRORS as e:
        raise UsageError(f"{path}{line_in(path, e)}: {graded.name}.forward raised "
                         f"{type(e).__name__}: {first_line(e)} (the forward is given: restore it)"
                         ) from None
    if not same:
        raise UsageError(f"{path}: {graded.name}.forward no longer computes what the package's "
                         "does on the same inputs (the forward is given: restore it)")

    # backward of both, from zero, on the same upstream gradient
    upstream = tuple(rng.standard_normal(np.shape(e)) for e in expected)

    def fresh():
        return tuple(u.copy() for u in upstream) if len(upstream) > 1 else upstream[0].copy()

    package.zero_grad()
    right = as_tuple(package.backward(fresh()))
    right_params = {name: grad.copy() for name, _, grad in package.parameters()}
    try:
        returned = learner.backward(fresh())
        gradients = returned_gradients(returned, inputs, names)
        params = parameter_gradients(learner, package)
    except Mistake as e:
        result.problem = str(e)
        return result
    except NotImplementedError as e:
        return not_implemented(result, path, e)
    except LAYER_ERRORS as e:
        result.problem = backward_raised(e, path)
        return result

    # the checker, on the learner's layer alone
    module = WithKeywords(learner, keywords) if keywords else learner
    try:
        checked = gradcheck(module, *inputs, seed=seed)
    except NotImplementedError as e:
        return not_implemented(result, path, e)
    except LAYER_ERRORS as e:         # BackwardFailed, or what a strange backward makes of it
        result.problem = (f"the gradient checker could not run backward: {type(e).__name__}: "
                          f"{first_line(e)}")
        return result
    by_checker = {c.name.removeprefix("layer."): c for c in checked.checks}

    tensors = [(name, f"input {i}", gradients[i], right[i], False)
               for i, name in enumerate(names)]
    tensors += [(name, name, params[name], right_params[name], True) for name in right_params]
    for shown, key, mine, theirs, is_parameter in tensors:
        check = by_checker[key]
        package_error = relative_error(mine, theirs)
        failed_package = not package_error < TOLERANCE
        status, hint, kind = check.status, "", ""
        if status in PASSING and failed_package:
            status = "FAIL"
        if status == "ASSIGNS":
            kind, hint = "assigns (`=` instead of `+=`)", f"`=` instead of `+=`? {check.problem}"
        elif status == "NOT ADDED":
            kind, hint = "not added (`+=`)", check.problem
        elif status not in PASSING or math.isnan(check.error):
            status = "FAIL"
            kind, hint = diagnose(shown, mine, theirs, is_parameter, TOLERANCE)
        result.tensors.append(TensorGrade(shown, tuple(np.shape(theirs)), check.error,
                                          package_error, status, hint, kind))
    return result


def not_implemented(result, path, error):
    where = line_in(path, error)
    result.problem = f"not implemented yet: write backward in {path}{where}"
    result.short = f"not implemented yet: write backward{where}"
    return result


class Mistake(Exception):
    """What backward returned or left in self.grads cannot be compared: one line why."""


def describe(value):
    return type(value).__name__


def returned_gradients(returned, inputs, names):
    """backward's return value as one float64 array per input, or Mistake."""
    wanted = ", ".join(f"d{n}" for n in names)
    if len(inputs) > 1:
        wanted = f"the tuple ({wanted})"
    if returned is None:
        raise Mistake(f"backward returned None: it must return {wanted}")
    if len(inputs) == 1 and isinstance(returned, tuple) and len(returned) == 1:
        returned = returned[0]
    if len(inputs) > 1:
        if isinstance(returned, list):
            raise Mistake(f"backward returned a list: return {wanted}")
        if not isinstance(returned, tuple):
            raise Mistake(f"backward returned one {describe(returned)}; forward takes "
                          f"{len(inputs)} inputs ({', '.join(names)}): return {wanted}")
        if len(returned) != len(inputs):
            raise Mistake(f"backward returned {len(returned)} gradients; forward takes "
                          f"{len(inputs)} inputs ({', '.join(names)}): return {wanted}")
    elif isinstance(returned, tuple):
        raise Mistake(f"backward returned {len(returned)} gradients; forward takes one input "
                      f"({names[0]}): return {wanted} alone")
    gradients = []
    for name, x, g in zip(names, inputs, as_tuple(returned) if len(inputs) > 1 else (returned,)):
        gradients.append(as_gradient(g, name, x.shape, False))
    return gradients


def as_gradient(g, name, shape, is_parameter):
    if g is None:
        raise Mistake(f"backward gave None as the gradient of {name}")
    try:
        array = np.asarray(g)
    except LAYER_ERRORS:
        array = None
    if array is None or array.dtype.kind not in "biuf":
        kind = "complex numbers" if array is not None and array.dtype.kind == "c" else \
            f"a {describe(g)}"
        raise Mistake(f"your gradient of {name} is {kind}: expected an array of real numbers "
                      f"of shape {tuple(shape)}")
    if array.shape != tuple(shape):
        raise Mistake(shape_hint(name, array.shape, shape, is_parameter))
    return np.array(array, dtype=np.float64)          # a copy: later calls cannot change it


def parameter_gradients(learner, package):
    """{name: gradient} after one backward from zero, or Mistake."""
    try:
        found = {name: grad for name, _, grad in learner.parameters()}
    except LAYER_ERRORS as e:
        raise Mistake(f"self.grads no longer has an entry per parameter "
                      f"({type(e).__name__}: {first_line(e)})") from None
    grads = {}
    for name, param, _ in package.parameters():
        if not isinstance(found.get(name), np.ndarray):
            leaf = name.rpartition(".")[2]
            raise Mistake(f"self.grads[{leaf!r}] of {name} is now a {describe(found.get(name))}: "
                          f"backward must add into the array that is there (+=)")
        grads[name] = as_gradient(found[name], name, param.shape, True)
    return grads


BROADCAST = re.compile(r"non-broadcastable output operand with shape (\([^)]*\)) doesn't match "
                       r"the broadcast shape (\([^)]*\))")


def backward_raised(error, path):
    where = line_in(path, error)
    text = f"backward raised {type(error).__name__}{where}: {first_line(error)}"
    match = BROADCAST.search(str(error))
    if match:
        text += (f": adding an array of shape {match.group(2)} into a gradient of shape "
                 f"{match.group(1)}? Every row shares the parameter: sum over every axis but "
                 "the last")
    return text
