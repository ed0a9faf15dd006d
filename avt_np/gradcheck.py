"""Gradient checking: compare a module's hand-written backward with centred finite differences.

    from avt_np.gradcheck import gradcheck
    result = gradcheck(MyLayer(), x)          # any module written against avt_np.nn.Module
    print(result)                             # one row per input and parameter
    assert result.ok, result

How it works. The module and its inputs are copied to float64. The scalar checked is
f = sum(out * R) for a fixed random R, so every output element matters (with R = 1, a softmax or
LayerNorm gradient is exactly zero and any bug would pass). The analytic gradient is backward(R);
the numeric one is (f(x + h e) - f(x - h e)) / 2h along each coordinate e of small tensors, or
along a few random dense directions e of large ones (the check compares e . grad). The error of a
tensor is max|a - n| / max(max|a| + max|n|, floor), over the whole tensor (one ratio per
tensor: an entry-by-entry ratio, as in CS231n's checker, is noisy near zeros). The
floor is the finite difference's own rounding noise, noise = 10 * float64 eps * sum|out * R| / h,
divided by the tolerance: a gradient far smaller than f (e.g. a normalized sigmoid over one key,
whose derivative is about eps_attention) is judged by whether the difference exceeds what a
finite difference can measure, not by a ratio of two rounding errors. A tensor whose analytic and
numeric gradients are both below the noise is reported as "both zero": not a failure (e.g. a
softmax attention's key bias), but visible, so nobody loosens a tolerance to hide it; so is a
tensor whose two gradients are exactly zero when every output is zero (noise 0). A NaN or
infinite gradient is a FAIL with error NaN.
The module protocol is checked, not trusted: backward must ADD parameter gradients into
`self.grads` (avt_np/nn/module.py), so from zeroed gradients, forward + backward(R) done twice
must leave every parameter gradient exactly doubled, in the same array. A backward that assigns
(`self.grads["w"] = ...`) fails with status "ASSIGNS", whatever its numbers; one that neither
adds nor assigns (a second call changes the gradient by anything but the first) with "NOT ADDED".
Each pass runs forward again and gets its own copy of R, so a backward that consumes its cache
or writes into its upstream gradient is still called correctly.
Dropout is made deterministic: before every evaluation each module's `rng` attribute is replaced
by a generator with the same fixed seed, so every evaluation draws the same masks.
"""

import ast
import copy
import math
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avt_np import cli, nn
from avt_np.cli import ArgumentParser, CheckFailed, UsageError
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.model.blocks import DecoderBlock, EncoderBlock
from avt_np.nn import Module


PASSING = ("ok", "both zero")


@dataclass
class TensorCheck:
    name: str
    shape: tuple
    mode: str            # "entries" or "N directions"
    error: float
    status: str          # "ok", "both zero", "FAIL", or for a parameter "ASSIGNS" / "NOT ADDED"
    problem: str = ""    # why a status other than "FAIL" fails, in one line


@dataclass(repr=False)
class GradcheckResult:
    checks: list = field(default_factory=list)
    tolerance: float = 1e-6

    @property
    def ok(self):
        return all(c.status in PASSING and not math.isnan(c.error) for c in self.checks)

    @property
    def worst_error(self):
        """The largest error, or NaN if any error is NaN (plain max would hide it)."""
        errors = [c.error for c in self.checks]
        if any(math.isnan(e) for e in errors):
            return math.nan
        return max(errors, default=0.0)

    @property
    def failed(self):
        return [c.name for c in self.checks if c.status not in PASSING or math.isnan(c.error)]

    def __str__(self):
        rows = [("tensor", "shape", "checked", "rel. error", "status")]
        rows += [(c.name, "x".join(map(str, c.shape)) or "scalar", c.mode, f"{c.error:.2e}", c.status)
                 for c in self.checks]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        lines += [f"{c.name}: {c.problem}" for c in self.checks if c.problem]
        verdict = "PASS" if self.ok else f"FAIL ({', '.join(self.failed)})"
        lines.append(f"{verdict}: worst relative error {self.worst_error:.2e} "
                     f"(tolerance {self.tolerance:.0e})")
        return "\n".join(lines)

    __repr__ = __str__


def as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def reseed(module, seed):
    """Every `rng` of the module tree a fresh generator, by position: the same masks for two
    modules built alike."""
    for i, m in enumerate(module.modules()):
        if isinstance(getattr(m, "rng", None), np.random.Generator):
            m.rng = np.random.default_rng(seed + i)


class BackwardFailed(ValueError):
    """The module's backward raised, or returned None or the wrong number or shapes of
    gradients."""


ADD_TOLERANCE = 1e-9     # float64: g + g is exact; an assigning backward is off by 1/2


def accumulation(name, first, second, same_array, noise):
    """(status or None, problem) of a parameter gradient after one backward (`first`) and after
    a second identical forward + backward (`second`), from zero. same_array: self.grads kept its
    array; noise: the finite-difference noise, below which a gradient is not told from zero."""
    leaf, _, owner = name.rpartition(".")[::-1]
    where = f"self.grads[{leaf!r}]" + (f" (of {owner})" if owner else "")
    scale = max(2 * np.abs(first).max(initial=0.0), np.abs(second).max(initial=0.0))
    if scale <= noise or not np.isfinite(scale):      # nothing to tell apart (or NaN: a FAIL)
        doubled = True
    else:
        doubled = np.abs(second - 2 * first).max() <= ADD_TOLERANCE * scale
    if doubled and same_array:
        return None, ""
    if doubled:
        return "ASSIGNS", (f"backward assigns {where} a new array instead of adding into it "
                           "(+=): an optimizer holding the old array (flatten_parameters) never "
                           "sees the gradient")
    if np.abs(second - first).max() <= ADD_TOLERANCE * scale:
        return "ASSIGNS", (f"backward assigns {where} instead of adding (+=): a second backward "
                           "on the same gradient left it unchanged instead of doubling it")
    return "NOT ADDED", (f"a second backward on the same gradient did not double {where} "
                         "(backward must add its gradient to what is there, +=)")


def compare(a, n, noise, tolerance):
    """(error, status) of analytic `a` against numeric `n`, given the finite-difference noise."""
    if not (np.isfinite(a).all() and np.isfinite(n).all()):
        return math.nan, "FAIL"
    a_max, n_max = np.abs(a).max(initial=0.0), np.abs(n).max(initial=0.0)
    if max(a_max, n_max) <= noise:             # "<=": noise is 0 when every output is 0
        return 0.0, "both zero"
    error = float(np.abs(a - n).max() / max(a_max + n_max, noise / tolerance))
    return error, "ok" if error < tolerance else "FAIL"


def gradcheck(module, *inputs, eps=1e-5, tolerance=1e-6, max_entries=200, directions=6,
              seed=0):
    """Check `module.backward` against finite differences for every input and every parameter.

    module:      an avt_np.nn.Module (it is deep-copied and cast to float64; yours is untouched)
    inputs:      arrays passed to forward; floating arrays are checked, others passed as they are
    eps:         relative finite-difference step (scaled by each tensor's largest magnitude)
    max_entries: tensors up to this size are checked entry by entry, larger ones along
                 `directions` random dense directions
    Returns a GradcheckResult: `.ok`, `.worst_error`, `print(result)` for the table. A
    parameter whose gradient a second backward does not double is "ASSIGNS" or "NOT ADDED".
    Raises BackwardFailed (a ValueError) when backward raises or returns None or the wrong
    number or shapes of gradients; errors of forward propagate unchanged.
    """
    module = copy.deepcopy(module).astype(np.float64)
    inputs = [np.array(x, dtype=np.float64) if np.issubdtype(np.asarray(x).dtype, np.floating)
              else x for x in inputs]
    rng = np.random.default_rng(seed)

    def run():
        reseed(module, seed + 1)
        return as_tuple(module.forward(*inputs))

    outputs = run()
    projections = tuple(rng.standard_normal(np.shape(o)) for o in outputs)

    def f():
        return sum(float(np.sum(o * r)) for o, r in zip(run(), projections))

    # Rounding noise of f, and so of a finite difference (noise / h): below that, a gradient
    # cannot be told from zero.
    f_noise = 10 * np.finfo(np.float64).eps * sum(float(np.abs(o * r).sum())
                                                    for o, r in zip(outputs, projections))

    def forward_backward(call):
        """forward, then backward(R) on a fresh copy of R -> what backward returned."""
        run()
        grad_out = tuple(r.copy() for r in projections)
        try:
            return module.backward(grad_out if len(grad_out) > 1 else grad_out[0])
        except Exception as e:
            raise BackwardFailed(f"backward raised {type(e).__name__}{call}: {e}") from e

    # analytic gradients
    module.zero_grad()
    returned = forward_backward("")
    if returned is None:
        raise BackwardFailed("backward returned None; it must return the gradient of each "
                             "forward input (a tuple when forward takes several)")
    input_grads = as_tuple(returned)
    float_inputs = [i for i, x in enumerate(inputs) if isinstance(x, np.ndarray)
                    and x.dtype == np.float64]
    if len(input_grads) != len(inputs):
        raise BackwardFailed(f"backward returned {len(input_grads)} gradient(s) for "
                             f"{len(inputs)} input(s) of forward; it must return one per "
                             "input (a tuple when forward takes several)")
    for i in float_inputs:
        if input_grads[i] is None:
            raise BackwardFailed(f"backward returned None for input {i}; it must return the "
                                 "gradient of each floating forward input")

    tensors = [(f"input {i}", inputs[i], np.asarray(input_grads[i])) for i in float_inputs]
    tensors += [(name, param, np.array(grad)) for name, param, grad in module.parameters()]
    for name, x, analytic in tensors:
        if analytic.shape != x.shape:
            raise BackwardFailed(f"gradient of {name} has shape {analytic.shape}, "
                                 f"expected {x.shape}")

    # the protocol: a second identical pass ADDS, so every parameter gradient doubles in place
    arrays = {name: grad for name, _, grad in module.parameters()}
    forward_backward(" when called a second time (after the same forward)")
    second = {}
    for name, param, grad in module.parameters():
        if np.shape(grad) != param.shape:
            raise BackwardFailed(f"after a second backward the gradient of {name} has shape "
                                 f"{np.shape(grad)}, expected {param.shape}")
        second[name] = (np.array(grad), grad is arrays.get(name))

    def finite_differences(x, vectors, h):
        """(f(x + h v) - f(x - h v)) / 2h for each v; x is perturbed in place and restored."""
        original = x.copy()
        n = np.empty(len(vectors))
        for j, v in enumerate(vectors):
            x[...] = original + h * v
            f_plus = f()
            x[...] = original - h * v
            f_minus = f()
            x[...] = original
            n[j] = (f_plus - f_minus) / (2 * h)
        return n

    result = GradcheckResult(tolerance=tolerance)
    for name, x, analytic in tensors:
        if x.size <= max_entries:
            mode = "entries"
            vectors = [np.eye(1, x.size, j).reshape(x.shape) for j in range(x.size)]
        else:
            mode = f"{directions} directions"
            vectors = [rng.standard_normal(x.shape) for _ in range(directions)]
        a = np.array([np.sum(v * analytic) for v in vectors])
        h = eps * max(1.0, float(np.abs(x).max(initial=0.0)))
        error, status = compare(a, finite_differences(x, vectors, h), f_noise / h, tolerance)
        if status == "FAIL":
            # A ReLU or max-pooling kink within the step spoils a centred difference; a wrong
            # backward disagrees at every step, so retry once with a step ten times smaller.
            h /= 10
            error, status = compare(a, finite_differences(x, vectors, h), f_noise / h, tolerance)
            mode += " (h/10)"
        not_added, problem = None, ""
        if name in second:
            not_added, problem = accumulation(name, analytic, *second[name], f_noise / h)
        if not_added and status in PASSING:
            status = not_added
        result.checks.append(TensorCheck(name, x.shape, mode, error, status, problem))
    return result


# -- built-in layers ---------------------------------------------------------------------------

def builtin_checks():
    """(name, build) pairs: build() -> (module, inputs), small float64 cases of every layer."""

    def case(make, *shapes, seed=0):
        def build():
            rng = np.random.default_rng(seed)
            module = make(rng)
            for _, param, _ in module.parameters():            # move off the trivial init values
                param += 0.1 * rng.standard_normal(param.shape)
            return module, [rng.standard_normal(s) for s in shapes]
        return build

    def bce_case():
        rng = np.random.default_rng(0)
        return nn.BinaryCrossEntropy(), [rng.uniform(0.02, 0.98, (4, 17)),
                                         (rng.random((4, 17)) < 0.3).astype(np.float64)]

    checks = [
        ("Linear", case(lambda r: nn.Linear(6, 5, r), (2, 3, 6))),
        ("ReLU", case(lambda r: nn.ReLU(), (2, 3, 6))),
        ("Dropout", case(lambda r: nn.Dropout(0.3, r), (2, 3, 6))),
        ("LayerNorm", case(lambda r: nn.LayerNorm(6), (2, 3, 6))),
        ("SinusoidalPositionalEncoding", case(lambda r: nn.SinusoidalPositionalEncoding(),
                                              (2, 3, 6))),
        ("FeedForward", case(lambda r: nn.FeedForward(6, 7, 0.2, r), (2, 3, 6))),
        ("BinaryCrossEntropy", bce_case),
    ]
    for name in nn.ATTENTION_FUNCTIONS:
        checks += [
            (f"attention function {name}", case(lambda r, n=name: nn.attention_function(n),
                                                (2, 3, 4, 5))),
            (f"ScaledDotProductAttention {name}",
             case(lambda r, n=name: nn.ScaledDotProductAttention(n, 0.2, r),
                  (2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7))),
            (f"MultiHeadAttention self {name}",
             case(lambda r, n=name: nn.MultiHeadAttention(6, 3, 4, n, 0.2, r), (2, 5, 6))),
            (f"MultiHeadAttention cross {name}",
             case(lambda r, n=name: nn.MultiHeadAttention(6, 3, 4, n, 0.2, r),
                  (2, 4, 6), (2, 7, 6))),
        ]
    checks += [
        ("MeanPool", case(lambda r: nn.MeanPool(), (2, 5, 3))),
        ("MaxPool", case(lambda r: nn.MaxPool(), (2, 5, 3))),   # random inputs: no ties
        ("LinearSoftmaxPool", lambda: (nn.LinearSoftmaxPool(),     # of probabilities in (0, 1)
                                       [np.random.default_rng(0).uniform(0.05, 0.95, (2, 5, 3))])),
        ("AttentionPool", case(lambda r: nn.AttentionPool(), (2, 5, 3), (2, 5, 3))),
        ("EncoderBlock (small widths)",
         case(lambda r: EncoderBlock(6, 2, 3, 5, "softmax", 0.2, r), (2, 4, 6))),
        ("DecoderBlock (small widths)",
         case(lambda r: DecoderBlock(6, 2, 3, 5, "softmax", 0.2, r), (2, 4, 6), (2, 5, 6))),
        ("AudiovisualTransformer video/audio, mean pooling, softmax (small widths)",
         lambda: model_case("video", "audio", "mean", "softmax")),
        ("AudiovisualTransformer audio/video, max pooling, normalized-sigmoid (small widths)",
         lambda: model_case("audio", "video", "max", "normalized-sigmoid")),
    ]
    for pooling, options in (("linear-softmax", {"frame_skip": True}),
                             ("attention", {"self_window": 1, "cross_window": 0}),
                             ("mean", {"self_window": 0, "cross_window": 1, "frame_skip": True})):
        text = ", ".join(f"{k} {v}" for k, v in options.items())
        checks.append((f"AudiovisualTransformer video/audio, {pooling} pooling, {text}, padded "
                       f"clips of lengths [3, 1] (small widths)",
                       lambda p=pooling, o=options: model_case("video", "audio", p, "softmax",
                                                               lengths=[3, 1], **o)))
    for pooling, attention, lengths in (("mean", "softmax", [3, 1]), ("max", "sigmoid", [1, 2]),
                                        ("mean", "normalized-sigmoid", [2, 3])):
        checks.append((f"AudiovisualTransformer video/audio, {pooling} pooling, {attention}, "
                       f"padded clips of lengths {lengths} (small widths)",
                       lambda p=pooling, a=attention, n=lengths: model_case("video", "audio", p,
                                                                            a, lengths=n)))
    return checks


def model_case(first, second, pooling, attention, lengths=None, **options):
    """The full model at small widths, positional encodings on both streams. With `lengths`,
    each clip's real frames (the rest padding, masked): a third, integer input, passed through.
    options: further ModelConfig fields (self_window, cross_window, frame_skip)."""
    dims = {"audio": 5, "video": 9}
    config = ModelConfig(first=first, second=second, pos_enc=(first, second), pooling=pooling,
                         attention=attention, blocks=2, heads=2, d_model=6, d_head=3, d_ff=5,
                         dims=dims, **options)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((2, 3, dims[first])), rng.standard_normal((2, 4, dims[second]))]
    if lengths is not None:
        inputs.append(np.array(lengths))
    return AudiovisualTransformer(config, seed=0), inputs


# -- command line ------------------------------------------------------------------------------

USAGE = """Check hand-written backward passes against finite differences (float64).

  python -m avt_np.gradcheck                       check every built-in layer
  python -m avt_np.gradcheck my_layers.py:Scale --init dim=16 --shape 4,10,16
      check your own layer: it is built as Scale(dim=16) (one --init per constructor
      argument; none for a constructor without arguments) and fed one random input per --shape

Exit code: 0 all pass, 1 a check failed (including a backward that raises or returns the wrong
number or shapes of gradients), 2 usage error (bad arguments, or the file, the constructor or
forward fails with the given shapes)."""


def parse_init(items):
    """['dim=16', 'p=0.1'] -> {'dim': 16, 'p': 0.1}; values are Python literals."""
    kwargs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--init {item}: expected NAME=VALUE, e.g. --init dim=16")
        try:
            kwargs[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise UsageError(f"--init {item}: VALUE must be a Python literal, "
                             f"e.g. 16, 0.1, 'softmax' or (2, 3)") from None
    return kwargs


def line_in(path, error):
    """' (line N)' of the innermost frame of `error`'s traceback inside the file `path`, or ''."""
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if frame.filename == str(path)]
    return f" (line {lines[-1]})" if lines else ""


def run_user_file(path, code=None, failed="could not be imported"):
    """The Python file `path` run as a module (any file name is read as Python source), with its
    folder on sys.path while it runs, so it can import its neighbours. `code`: the file already
    compiled (default: compiled here). Anything it raises, its own exit() too, is a one-line
    UsageError "PATH (line N): FAILED: Type: message"; an interrupt is not caught (and neither is
    a BaseException that is not an exit, such as a test harness's time-out)."""
    path = Path(path)
    if code is None:
        code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    module = types.ModuleType(path.stem.replace(".", "_") or "user_layers")
    module.__file__ = str(path)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as e:       # SystemExit too: a script's exit() is not ours
        raise UsageError(f"{path}{line_in(path, e)}: {failed}: {type(e).__name__}: "
                         f"{cli.first_line(e)}") from None
    finally:
        sys.path.remove(folder)
    return module


def load_user_module(target, kwargs=None):
    """'path/to/file.py:ClassName' -> ClassName(**kwargs), the file run by run_user_file."""
    kwargs = kwargs or {}
    path, sep, class_name = target.rpartition(":")
    if not sep or not path or not class_name:
        raise UsageError(f"{target}: expected FILE.py:ClassName")
    if not Path(path).is_file():
        raise UsageError(f"{path}: no such file")
    try:
        source = run_user_file(path)
    except (SyntaxError, ValueError) as e:    # not Python source; ValueError: a null byte
        raise UsageError(f"{path}: could not be imported: SyntaxError: {e}") from None
    cls = getattr(source, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise UsageError(f"{path}: no class '{class_name}' derived from avt_np.nn.Module")
    call = f"{class_name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    try:
        return cls(**kwargs)
    except Exception as e:
        hint = "" if kwargs else " (pass constructor arguments with --init NAME=VALUE)"
        raise UsageError(f"{target}: {call} failed: {type(e).__name__}: {e}{hint}") from None


def parse_shape(text):
    try:
        shape = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise UsageError(f"--shape {text}: expected comma-separated sizes, e.g. 4,10,16") from None
    if not shape or min(shape) < 1:
        raise UsageError(f"--shape {text}: sizes must be positive integers")
    return shape


def run(argv=None):
    parser = ArgumentParser(prog="python -m avt_np.gradcheck", description=USAGE)
    parser.add_argument("target", nargs="?", help="FILE.py:ClassName of a layer to check")
    parser.add_argument("--shape", action="append", default=[],
                        help="shape of one forward input, e.g. 4,10,16 (repeat per input)")
    parser.add_argument("--init", action="append", default=[], metavar="NAME=VALUE",
                        help="keyword argument of the layer's constructor, VALUE a Python "
                             "literal, e.g. --init dim=16 (repeat per argument; none by "
                             "default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of inputs and projections (0)")
    args = parser.parse_args(argv)
    if args.target is None:
        if args.shape or args.init:
            raise UsageError("--shape and --init need a FILE.py:ClassName target")
        all_ok = True
        for name, build in builtin_checks():
            module, inputs = build()
            result = gradcheck(module, *inputs, seed=args.seed)
            all_ok &= result.ok
            print(f"== {name}\n{result}\n")
        if not all_ok:
            raise CheckFailed("some built-in layers FAIL")
        print("all built-in layers PASS")
        return

    module = load_user_module(args.target, parse_init(args.init))
    if not args.shape:
        raise UsageError("give one --shape per input of forward, e.g. --shape 4,10,16")
    rng = np.random.default_rng(args.seed)
    inputs = [rng.standard_normal(parse_shape(s)) for s in args.shape]
    try:
        result = gradcheck(module, *inputs, seed=args.seed)
    except BackwardFailed as e:                # the layer's own bug: a failed check, not usage
        raise CheckFailed(f"{args.target}: {e}") from None
    except Exception as e:
        shapes = " ".join(args.shape)
        raise UsageError(f"{args.target}: running it on inputs of shape {shapes} failed: "
                         f"{type(e).__name__}: {e}") from None
    print(result)
    if not result.ok:
        bad = [c for c in result.checks if c.name in result.failed]
        raise CheckFailed(f"{args.target}: " + "; ".join(
            f"{c.name}: {c.problem or 'differs from its finite difference'}" for c in bad))


def main(argv=None):
    return cli.main(run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
