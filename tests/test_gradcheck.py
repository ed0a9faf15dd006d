"""The checker itself: it must fail on broken backward passes, and its CLI must say so."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from avt_np import nn
from avt_np.gradcheck import gradcheck, main


class WrongSignReLU(nn.ReLU):
    def backward(self, dy):
        return -super().backward(dy)


class LayerNormMissingVarianceTerm(nn.LayerNorm):
    def backward(self, dy):
        super().backward(dy)                      # parameter gradients stay right
        dx_hat = dy * self.params["g"]
        return self.inv_std * (dx_hat - dx_hat.mean(-1, keepdims=True))


class LinearWithTransposedWeightGradient(nn.Linear):
    def backward(self, dy):
        before = self.grads["W"].copy()
        dx = super().backward(dy)
        added = self.grads["W"] - before
        self.grads["W"][...] = before + added[::-1]          # the right numbers, wrong places
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
    ("transposed weight gradient", lambda r: LinearWithTransposedWeightGradient(5, 4, r), "W"),
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


@pytest.mark.parametrize("args, message", [
    (["missing.py:Square", "--shape", "2,3"], "missing.py: no such file"),
    (["{f}:Nope", "--shape", "2,3"], "no class 'Nope'"),
    (["{f}", "--shape", "2,3"], "expected FILE.py:ClassName"),
    (["{f}:Square", "--shape", "2,x"], "expected comma-separated sizes"),
    (["{f}:NeedsTwoDims", "--shape", "2,4"], "running it on inputs of shape 2,4 failed"),
    (["{f}:Square"], "give one --shape per input"),
])
def test_cli_usage_errors_exit_2_with_one_line(user_file, args, message):
    done = run_cli(*[a.format(f=user_file) for a in args])
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_cli_checks_every_builtin_layer(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "== MultiHeadAttention cross softmax" in out
    assert "all built-in layers PASS" in out
