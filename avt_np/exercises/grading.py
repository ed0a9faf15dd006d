"""Grading one class of a learner's exercise file.

For each case of the catalogue, on the same random float64 inputs:
1. build_pair: the package's layer and the learner's are built with the same constructor
   arguments and given the same parameters (the package's, moved off their initial values);
2. check_forward: both run forward with the same dropout masks (every `rng` reseeded alike);
   the forward is given, so the outputs must agree, or the file is broken (a UsageError, exit
   code 2);
3. run_backwards: both run backward on the same random upstream gradient, from zeroed
   gradients: what the learner's backward returns must be one gradient per input, each of its
   input's shape (else the class fails with one line saying what came back; a shape error
   raised by the learner's code is explained by shapes.py);
4. avt_np.gradcheck checks the learner's layer in float64 (finite differences, and that a
   second backward ADDS: "ASSIGNS" otherwise), and compare sets every gradient against the
   package's. A tensor passes when both agree; a failing one gets a hint: a catalogued mistake
   of that exercise when its gradient is the learner's (mistakes.py), the gradients in the
   wrong order, else what the two gradients show (hints.py).
"""

import copy
import inspect
import math
import re
from dataclasses import dataclass, field

import numpy as np

from avt_np.cli import UsageError, first_line
from avt_np.exercises import shapes
from avt_np.exercises.hints import diagnose, relative_error, shape_hint
from avt_np.exercises.mistakes import wrong_gradients
from avt_np.gradcheck import PASSING, BackwardFailed, as_tuple, gradcheck, line_in, reseed
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
        failed = ", ".join(t.name for t in self.tensors if not t.ok)
        lines.append("PASS" if self.ok else f"FAIL ({failed})")
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


def input_names(package_class, count):
    names = [p for p in inspect.signature(package_class.forward).parameters if p != "self"]
    return names[:count]


@dataclass
class Pair:
    """The package's layer and the learner's, built alike, and the case's inputs."""
    package: Module
    learner: Module
    inputs: list
    keywords: dict
    names: list


@dataclass
class Backwards:
    """Both backward passes on one upstream gradient: the package's (right) and the
    learner's, by input (in forward's order) and by parameter name."""
    upstream: tuple
    right: tuple
    right_params: dict
    mine: list
    mine_params: dict
    package_after_forward: Module


def grade(graded, case, cls, exercise, path, seed=0):
    """ClassGrade of the learner's class `cls` on one case. Raises UsageError when the given
    parts of the file (constructor, parameters, forward) no longer work as the package's."""
    rng = np.random.default_rng(seed)
    pair = build_pair(graded, case, cls, path, rng, seed)
    result = ClassGrade(graded.name, exercise.lesson, f"avt_np.nn.{graded.package.__name__}",
                        ", ".join(f"{n} {'x'.join(map(str, x.shape))}"
                                  for n, x in zip(pair.names, pair.inputs)), case.label)
    expected = check_forward(graded, pair, path, seed)
    try:
        backwards = run_backwards(pair, expected, rng)
        module = WithKeywords(pair.learner, pair.keywords) if pair.keywords else pair.learner
        checked = gradcheck(module, *pair.inputs, seed=seed)
    except NotImplementedError as e:
        return not_implemented(result, path, e)
    except Mistake as e:
        result.problem = str(e)
        return result
    except BackwardFailed as e:         # the checker's second backward
        result.problem = (f"the gradient checker could not run backward: {first_line(e)}")
        return result
    except LAYER_ERRORS as e:
        result.problem = backward_raised(e, path)
        return result
    result.tensors = compare(graded, pair, backwards, checked)
    return result


def build_pair(graded, case, cls, path, rng, seed):
    """Step 1: the package's layer and the learner's, built with the case's arguments, the
    learner's given the package's parameters (moved off their initial values)."""
    kwargs = dict(case.kwargs)
    if "rng" in inspect.signature(graded.package).parameters:
        kwargs_rng = {"rng": np.random.default_rng(seed)}
    else:
        kwargs_rng = {}
    call = f"{graded.name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    package = graded.package(**kwargs, **kwargs_rng)
    try:
        learner = cls(**kwargs, **({"rng": np.random.default_rng(seed)} if kwargs_rng else {}))
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
    return Pair(package, learner, inputs, keywords, input_names(graded.package, len(inputs)))


def check_forward(graded, pair, path, seed):
    """Step 2: both forwards, with the same dropout masks; the learner's (given) must compute
    the package's, else UsageError. Returns the package's outputs, as a tuple."""
    reseed(pair.package, seed + 1)
    expected = as_tuple(pair.package.forward(*pair.inputs, **pair.keywords))
    reseed(pair.learner, seed + 1)
    try:
        outputs = as_tuple(pair.learner.forward(*[x.copy() for x in pair.inputs],
                                                **pair.keywords))
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
    return expected


def run_backwards(pair, expected, rng):
    """Step 3: the package's backward and the learner's, from zeroed gradients, on the same
    random upstream gradient. Raises Mistake when what the learner's returns (or leaves in
    self.grads) cannot be compared; whatever the learner's code raises goes through."""
    upstream = tuple(rng.standard_normal(np.shape(e)) for e in expected)

    def fresh():
        return tuple(u.copy() for u in upstream) if len(upstream) > 1 else upstream[0].copy()

    after_forward = copy.deepcopy(pair.package)           # for the catalogued mistakes
    pair.package.zero_grad()
    right = as_tuple(pair.package.backward(fresh()))
    right_params = {name: grad.copy() for name, _, grad in pair.package.parameters()}
    returned = pair.learner.backward(fresh())
    mine = returned_gradients(returned, pair.inputs, pair.names)
    mine_params = parameter_gradients(pair.learner, pair.package)
    return Backwards(fresh(), right, right_params, mine, mine_params, after_forward)


def compare(graded, pair, backwards, checked):
    """Step 4: per tensor, the checker's verdict on the learner's gradient and its distance to
    the package's; a failing tensor gets a hint naming its mistake."""
    by_checker = {c.name.removeprefix("layer."): c for c in checked.checks}
    tensors = [(name, f"input {i}", backwards.mine[i], backwards.right[i], False)
               for i, name in enumerate(pair.names)]
    tensors += [(name, name, backwards.mine_params[name], right, True)
                for name, right in backwards.right_params.items()]
    known = None                              # computed at the first failing tensor
    grades = []
    for shown, key, mine, theirs, is_parameter in tensors:
        check = by_checker[key]
        package_error = relative_error(mine, theirs)
        status, hint, kind = check.status, "", ""
        if status in PASSING and not package_error < TOLERANCE:
            status = "FAIL"
        if status == "ASSIGNS":
            kind, hint = "assigns (`=` instead of `+=`)", f"`=` instead of `+=`? {check.problem}"
        elif status == "NOT ADDED":
            kind, hint = "not added (`+=`)", check.problem
        elif status not in PASSING or math.isnan(check.error):
            status = "FAIL"
            if known is None:
                known = wrong_gradients(graded.package, backwards.package_after_forward,
                                        backwards.upstream, pair.inputs[0].ndim, copy.deepcopy)
            kind, hint = (named_mistake(shown, mine, known)
                          or swapped(shown, mine, pair.names, backwards.right)
                          or diagnose(shown, mine, theirs, is_parameter, TOLERANCE))
        grades.append(TensorGrade(shown, tuple(np.shape(theirs)), check.error, package_error,
                                  status, hint, kind))
    return grades


def named_mistake(name, mine, known):
    """(kind, hint) of the catalogued mistake (mistakes.py) whose gradient of `name` equals
    the learner's, or None."""
    for mistake, grads in known:
        wrong = grads.get(name)
        if wrong is not None and wrong.shape == mine.shape and \
                relative_error(mine, wrong) < TOLERANCE:
            return mistake.kind, mistake.hint.format(name=name)
    return None


def swapped(name, mine, names, right):
    """(kind, hint) when the learner's gradient of `name` is the right gradient of another
    input: the gradients returned in the wrong order."""
    for other, theirs in zip(names, right):
        if other != name and np.shape(theirs) == mine.shape and \
                relative_error(mine, theirs) < TOLERANCE:
            order = ", ".join(f"d{n}" for n in names)
            return "outputs in the wrong order", (
                f"your gradient of {name} is the right gradient of {other}: return "
                f"({order}), in the order forward takes its inputs")
    return None


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
    values = as_tuple(returned) if len(inputs) > 1 else (returned,)
    order = shuffled_order(values, inputs, names)
    if order:
        raise Mistake(f"backward returned the gradients of ({order}), by their shapes: return "
                      f"({', '.join(f'd{n}' for n in names)}), in the order forward takes its "
                      "inputs")
    return [as_gradient(g, name, x.shape, False) for name, x, g in zip(names, inputs, values)]


def shuffled_order(values, inputs, names):
    """'q, v, k' when the returned gradients' shapes are the inputs' in another order (each
    shape belonging to one input only), else ''."""
    shapes = [tuple(x.shape) for x in inputs]
    got = [tuple(np.shape(g)) if isinstance(g, np.ndarray) else None for g in values]
    if len(inputs) < 2 or got == shapes or sorted(map(str, got)) != sorted(map(str, shapes)) \
            or len(set(shapes)) != len(shapes):
        return ""
    return ", ".join(names[shapes.index(g)] for g in got)


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
    explained = shapes.explain(error, path)
    if explained:
        return explained
    where = line_in(path, error)
    text = f"backward raised {type(error).__name__}{where}: {first_line(error)}"
    match = BROADCAST.search(str(error))
    if match:
        text += (f": adding an array of shape {match.group(2)} into a gradient of shape "
                 f"{match.group(1)}? Every row shares the parameter: sum over every axis but "
                 "the last")
    return text
