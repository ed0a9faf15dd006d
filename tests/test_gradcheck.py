"""The checker itself: it must fail on broken backward passes, and its CLI must say so."""

import math
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from avt_np import nn
from avt_np.gradcheck import BackwardFailed, GradcheckResult, TensorCheck, gradcheck, main

ROOT = Path(__file__).resolve().parents[1]


class WrongSignReLU(nn.ReLU):
    def backward(self, dy):
        return -super().backward(dy)


class LayerNormMissingVarianceTerm(nn.LayerNorm):
    def backward(self, dy):
        super().backward(dy)                      # parameter gradients stay right
        dx_hat = dy * self.params["g"]
        return self.inv_std * (dx_hat - dx_hat.mean(-1, keepdims=True))


class LinearWithTransposedWeightGradient(nn.Linear):
    def backward(self, dy):                                  # a square W, so W.T fits
        before = self.grads["W"].copy()
        dx = super().backward(dy)
        added = self.grads["W"] - before
        self.grads["W"][...] = before + added.T              # the right numbers, wrong places
        return dx


class DropoutWithoutMask(nn.Dropout):
    def backward(self, dy):
        return dy


class SoftmaxWithoutNormalisationTerm(nn.Softmax):
    def backward(self, dw):
        return self.w * dw


class LinearBiasGradientNotAccumulated(nn.Linear):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"][...] = 0
        return dx


BROKEN = [
    ("wrong sign", lambda r: WrongSignReLU(), "input 0"),
    ("missing LayerNorm term", lambda r: LayerNormMissingVarianceTerm(5), "input 0"),
    ("transposed weight gradient", lambda r: LinearWithTransposedWeightGradient(5, 5, r), "W"),
    ("dropout backward without its mask", lambda r: DropoutWithoutMask(0.5, r), "input 0"),
    ("softmax missing its normalisation term", lambda r: SoftmaxWithoutNormalisationTerm(),
     "input 0"),
    ("wrong parameter gradient", lambda r: LinearBiasGradientNotAccumulated(5, 4, r), "b"),
]


@pytest.mark.parametrize("what, make, bad_tensor", BROKEN, ids=[b[0] for b in BROKEN])
def test_checker_catches_broken_backward(what, make, bad_tensor):
    rng = np.random.default_rng(1)
    result = gradcheck(make(rng), rng.standard_normal((3, 4, 5)))
    assert not result.ok
    assert bad_tensor in result.failed
    assert f"FAIL ({', '.join(result.failed)})" in str(result)


class Scale(nn.Module):
    """y = x * w over the last axis (the README's example), with a correct backward."""

    def __init__(self, dim):
        super().__init__()
        self.add_param("w", np.linspace(0.5, 1.5, dim))

    def forward(self, x):
        self.x = x
        return x * self.params["w"]

    def w_gradient(self, dy):
        return (dy * self.x).reshape(-1, dy.shape[-1]).sum(0)

    def backward(self, dy):
        self.grads["w"] += self.w_gradient(dy)
        return dy * self.params["w"]


class ScaleAssigns(Scale):
    def backward(self, dy):
        self.grads["w"] = self.w_gradient(dy)                   # "=" where the protocol says +=
        return dy * self.params["w"]


class ScaleAssignsInPlace(Scale):
    def backward(self, dy):
        self.grads["w"][...] = self.w_gradient(dy)
        return dy * self.params["w"]


class ScaleAddsIntoANewArray(Scale):
    def backward(self, dy):
        self.grads["w"] = self.grads["w"] + self.w_gradient(dy)  # right sum, but a new array
        return dy * self.params["w"]


class ScaleAddsMoreEachCall(Scale):
    calls = 0

    def backward(self, dy):
        self.calls += 1
        self.grads["w"] += self.calls * self.w_gradient(dy)
        return dy * self.params["w"]


@pytest.mark.parametrize("layer, status, message", [
    (ScaleAssigns, "ASSIGNS", "w: backward assigns self.grads['w'] instead of adding (+=)"),
    (ScaleAssignsInPlace, "ASSIGNS", "w: backward assigns self.grads['w'] instead of adding (+=)"),
    (ScaleAddsIntoANewArray, "ASSIGNS",
     "w: backward assigns self.grads['w'] a new array instead of adding into it (+=)"),
    (ScaleAddsMoreEachCall, "NOT ADDED",
     "w: a second backward on the same gradient did not double self.grads['w']"),
])
def test_a_backward_that_does_not_add_fails_though_its_numbers_are_right(layer, status, message):
    rng = np.random.default_rng(0)
    result = gradcheck(layer(4), rng.standard_normal((2, 3, 4)))
    assert not result.ok
    assert result.failed == ["w"]
    w = next(c for c in result.checks if c.name == "w")
    assert w.status == status and w.error < result.tolerance      # one backward alone is right
    assert message in str(result)
    assert "FAIL (w)" in str(result)


def test_the_correct_scale_adds_and_passes():
    result = gradcheck(Scale(4), np.random.default_rng(0).standard_normal((2, 3, 4)))
    assert result.ok, result
    assert [c.status for c in result.checks] == ["ok", "ok"]


def test_an_assigning_layer_inside_a_composite_module_is_named_by_its_path():
    class LinearAssigns(nn.Linear):
        def backward(self, dy, input_grad=True):
            before = {k: g.copy() for k, g in self.grads.items()}
            dx = super().backward(dy, input_grad)
            self.grads["W"][...] -= before["W"]                 # keeps only this call's part
            return dx

    rng = np.random.default_rng(2)
    ff = nn.FeedForward(5, 6, dropout=0.1, rng=rng)
    ff.hidden = LinearAssigns(5, 6, rng)
    result = gradcheck(ff, rng.standard_normal((2, 3, 5)))
    assert result.failed == ["hidden.W"]
    assert "hidden.W: backward assigns self.grads['W'] (of hidden) instead of adding" in str(result)


class ReLUPopsItsCache(nn.Module):
    """A layer used twice keeps a stack of caches: forward pushes, backward pops, and writes
    into dy. Its backward cannot run twice after one forward, yet it is correct."""

    def __init__(self):
        super().__init__()
        self.add_param("b", np.array([0.3, -0.2, 0.1]))
        self.stack = []

    def forward(self, x):
        self.stack.append(x + self.params["b"] > 0)
        return np.maximum(x + self.params["b"], 0)

    def backward(self, dy):
        dy[~self.stack.pop()] = 0                          # in place, on the caller's array
        self.grads["b"] += dy.reshape(-1, 3).sum(0)
        return dy


def test_a_backward_that_consumes_its_cache_and_writes_into_dy_is_checked_correctly():
    result = gradcheck(ReLUPopsItsCache(), np.random.default_rng(0).standard_normal((4, 3)))
    assert result.ok, result


def test_a_backward_returning_none_or_too_few_gradients_has_its_own_message():
    class ReturnsNothing(Scale):
        def backward(self, dy):
            self.grads["w"] += self.w_gradient(dy)

    class Product(nn.Module):
        def forward(self, x, y):
            self.x, self.y = x, y
            return x * y

        def backward(self, dy):
            return dy * self.y                              # forgot the gradient of y

    x = np.ones((2, 4))
    with pytest.raises(BackwardFailed, match=re.escape(
            "backward returned None; it must return the gradient of each forward input")):
        gradcheck(ReturnsNothing(4), x)
    with pytest.raises(BackwardFailed, match=re.escape(
            "backward returned 1 gradient(s) for 2 input(s) of forward; it must return one per "
            "input")):
        gradcheck(Product(), x, x)


def test_transposed_weight_gradient_is_a_real_transpose():
    layer = LinearWithTransposedWeightGradient(5, 5, np.random.default_rng(0))
    right = nn.Linear(5, 5, np.random.default_rng(0))
    x, dy = np.random.default_rng(1).standard_normal((2, 2, 5, 5))
    for m in (layer, right):
        m.forward(x)
        m.backward(dy)
    np.testing.assert_allclose(layer.grads["W"], right.grads["W"].T)


@pytest.mark.parametrize("make, x", [
    (lambda: nn.LayerNorm(4), np.full((2, 4), 3.0)),     # x_hat = 0, so every output is b = 0
    (lambda: nn.ReLU(), -np.ones((2, 4))),
], ids=["LayerNorm of a constant row", "ReLU of negative inputs"])
def test_all_zero_outputs_give_both_zero_not_nan(make, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # no 0/0 RuntimeWarning either
        result = gradcheck(make(), x)
    assert result.ok, result
    assert not any(math.isnan(c.error) for c in result.checks), result
    assert "both zero" in {c.status for c in result.checks}
    assert "nan" not in str(result)


class ReLUWithNaNGradient(nn.ReLU):
    def backward(self, dy):
        dx = super().backward(dy)
        dx[0, 0] = np.nan
        return dx


def test_a_nan_gradient_fails_and_shows_as_nan_in_the_summary():
    rng = np.random.default_rng(0)
    result = gradcheck(ReLUWithNaNGradient(), rng.standard_normal((2, 3)))
    assert not result.ok and result.failed == ["input 0"]
    assert math.isnan(result.worst_error)
    assert "worst relative error nan" in str(result)


def test_worst_error_is_nan_if_any_error_is_nan():
    result = GradcheckResult(checks=[TensorCheck("a", (2,), "entries", 1e-9, "ok"),
                                     TensorCheck("b", (2,), "entries", math.nan, "ok")])
    assert math.isnan(result.worst_error)
    assert not result.ok


def test_checker_catches_a_broken_layer_inside_a_composite_module():
    rng = np.random.default_rng(2)
    ff = nn.FeedForward(5, 6, dropout=0.1, rng=rng)
    ff.relu = WrongSignReLU()
    result = gradcheck(ff, rng.standard_normal((2, 3, 5)))
    assert not result.ok and "hidden.W" in result.failed


def test_checker_leaves_the_users_module_untouched():
    layer = nn.Linear(3, 2, np.random.default_rng(0))
    before = layer.params["W"].copy()
    gradcheck(layer, np.ones((2, 3), np.float32))
    assert layer.params["W"].dtype == np.float32
    np.testing.assert_array_equal(layer.params["W"], before)


USER_LAYERS = textwrap.dedent("""
    import numpy as np
    from avt_np.nn import Module

    class Square(Module):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, dy):
            return 2 * self.x * dy

    class BrokenSquare(Square):
        def backward(self, dy):
            return self.x * dy

    class NeedsTwoDims(Module):
        def forward(self, x):
            self.w = np.ones((3, 3))
            return x @ self.w

        def backward(self, dy):
            return dy @ self.w.T

    class BackwardRaises(Square):
        def backward(self, dy):
            raise RuntimeError("forgot to write it")

    class GradientOfTheWrongShape(Square):
        def backward(self, dy):
            return (2 * self.x * dy).sum(0)

    class TooManyGradients(Square):
        def backward(self, dy):
            return 2 * self.x * dy, dy

    class ReturnsNone(Square):
        def backward(self, dy):
            2 * self.x * dy                                  # forgot the return

    class Product(Module):
        def forward(self, x, y):
            self.x, self.y = x, y
            return x * y

        def backward(self, dy):
            return dy * self.y

    class AssignsGradient(Module):
        def __init__(self):
            super().__init__()
            self.add_param("w", np.ones(3))

        def forward(self, x):
            self.x = x
            return x * self.params["w"]

        def backward(self, dy):
            self.grads["w"] = (dy * self.x).sum(0)           # "=" instead of "+="
            return dy * self.params["w"]

    class ParameterGradientOfTheWrongShape(Module):
        def __init__(self):
            super().__init__()
            self.add_param("w", np.ones(3))

        def forward(self, x):
            self.x = x
            return x * self.params["w"]

        def backward(self, dy):
            self.grads["w"] = dy * self.x                    # (B, 3): forgot the sum over B
            return dy * self.params["w"]
""")


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_layers.py"
    path.write_text(USER_LAYERS)
    return path


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "avt_np.gradcheck", *args],
                          capture_output=True, text=True)


def test_cli_passes_a_correct_user_layer(user_file):
    done = run_cli(f"{user_file}:Square", "--shape", "4,10,16")
    assert done.returncode == 0, done.stderr
    assert "PASS" in done.stdout and "input 0" in done.stdout


def test_cli_fails_a_broken_user_layer(user_file):
    done = run_cli(f"{user_file}:BrokenSquare", "--shape", "2,3")
    assert done.returncode == 1
    assert "FAIL (input 0)" in done.stdout


def test_cli_fails_a_user_layer_that_assigns_its_parameter_gradient(user_file):
    done = run_cli(f"{user_file}:AssignsGradient", "--shape", "2,3")
    assert done.returncode == 1, done.stderr
    assert re.search(r"^w +3 +entries +\S+ +ASSIGNS$", done.stdout, re.M), done.stdout
    assert "w: backward assigns self.grads['w'] instead of adding (+=)" in done.stdout
    assert "FAIL (w)" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["my_layers", "my_layers.txt", "layers.v2"])
def test_cli_loads_a_user_file_whatever_its_suffix(tmp_path, name):
    path = tmp_path / name
    path.write_text(USER_LAYERS)
    done = run_cli(f"{path}:Square", "--shape", "2,3")
    assert done.returncode == 0, done.stderr
    assert "PASS" in done.stdout
    broken = run_cli(f"{path}:AssignsGradient", "--shape", "2,3")
    assert broken.returncode == 1 and "ASSIGNS" in broken.stdout


def test_cli_says_in_one_line_that_a_file_without_py_is_not_python(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x00\x01 not python")
    done = run_cli(f"{path}:Square", "--shape", "2,3")
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"error: {path}: could not be imported: SyntaxError")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("args, message", [
    (["missing.py:Square", "--shape", "2,3"], "missing.py: no such file"),
    (["{f}:Nope", "--shape", "2,3"], "no class 'Nope'"),
    (["{f}", "--shape", "2,3"], "expected FILE.py:ClassName"),
    (["{f}:Square", "--shape", "2,x"], "expected comma-separated sizes"),
    (["{f}:NeedsTwoDims", "--shape", "2,4"], "running it on inputs of shape 2,4 failed"),
    (["{f}:Square"], "give one --shape per input"),
    (["{f}:Square", "--shape", "2,3", "--bogus"], "unrecognized arguments: --bogus"),
    (["{f}:Square", "--shape"], "expected one argument"),
    (["{f}:Square", "--init", "dim", "--shape", "2,3"], "expected NAME=VALUE"),
    (["{f}:Square", "--init", "dim=sixteen", "--shape", "2,3"], "must be a Python literal"),
    (["{f}:Square", "--init", "dim=16", "--shape", "2,3"], "Square(dim=16) failed: TypeError"),
    (["--shape", "2,3"], "need a FILE.py:ClassName target"),
    (["{exits}:Square", "--shape", "2,3"], "could not be imported: SystemExit: 3"),
])
def test_cli_usage_errors_exit_2_with_one_line(user_file, args, message):
    exits = user_file.parent / "exits.py"
    exits.write_text("import sys\nsys.exit(3)\n")
    done = run_cli(*[a.format(f=user_file, exits=exits) for a in args])
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("layer, reason", [
    ("BackwardRaises", "backward raised RuntimeError: forgot to write it"),
    ("GradientOfTheWrongShape", "gradient of input 0 has shape (3,), expected (2, 3)"),
    ("TooManyGradients", "backward returned 2 gradient(s) for 1 input(s) of forward"),
    ("ReturnsNone", "backward returned None; it must return the gradient of each forward input"),
    ("ParameterGradientOfTheWrongShape", "gradient of w has shape (2, 3), expected (3,)"),
])
def test_cli_reports_a_broken_backward_as_a_failed_check(user_file, layer, reason):
    done = run_cli(f"{user_file}:{layer}", "--shape", "2,3")
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"FAIL: {user_file}:{layer}: "), done.stderr
    assert reason in lines[0]
    assert done.stdout == ""                          # no table: no gradient could be compared


def test_cli_reports_too_few_gradients_of_a_two_input_layer(user_file):
    done = run_cli(f"{user_file}:Product", "--shape", "2,3", "--shape", "2,3")
    assert done.returncode == 1, done.stderr
    assert "backward returned 1 gradient(s) for 2 input(s) of forward" in done.stderr


def test_a_broken_backward_raises_backward_failed_from_python():
    class TooMany(nn.ReLU):
        def backward(self, dy):
            return dy, dy
    with pytest.raises(BackwardFailed, match="2 gradient"):
        gradcheck(TooMany(), np.ones((2, 3)))


def readme_scale_class():
    """The `class Scale(Module)` example of README.md, exactly as a reader copies it."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    return next(b for b in blocks if "class Scale(Module)" in b)


def test_cli_checks_the_readme_layer_with_its_constructor_argument(tmp_path):
    path = tmp_path / "my_layers.py"
    path.write_text(readme_scale_class())
    done = run_cli(f"{path}:Scale", "--init", "dim=16", "--shape", "4,10,16")
    assert done.returncode == 0, done.stderr
    assert "PASS" in done.stdout and "w " in done.stdout
    without = run_cli(f"{path}:Scale", "--shape", "4,10,16")
    assert without.returncode == 2 and "--init NAME=VALUE" in without.stderr


def test_cli_imports_the_users_neighbouring_files_from_any_folder(tmp_path):
    (tmp_path / "layers").mkdir()
    (tmp_path / "layers" / "helpers.py").write_text("K = 3.0\n")
    (tmp_path / "layers" / "mine.py").write_text(textwrap.dedent("""
        from helpers import K
        from avt_np.nn import Module

        class Times(Module):
            def forward(self, x):
                return K * x

            def backward(self, dy):
                return K * dy
    """))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-m", "avt_np.gradcheck",
                           str(tmp_path / "layers" / "mine.py") + ":Times", "--shape", "2,3"],
                          capture_output=True, text=True, cwd=elsewhere,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    assert "input 0" in done.stdout and "PASS: worst relative error" in done.stdout


def test_cli_checks_every_builtin_layer(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "== MultiHeadAttention cross softmax" in out
    assert "all built-in layers PASS" in out
