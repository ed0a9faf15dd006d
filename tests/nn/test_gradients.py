"""Every built-in layer passes the float64 gradient check, on every input and every parameter."""

import numpy as np
import pytest

from avt_np import nn
from avt_np.gradcheck import builtin_checks, gradcheck


@pytest.mark.parametrize("name, build", builtin_checks(), ids=[n for n, _ in builtin_checks()])
def test_builtin_layer_passes_gradcheck(name, build):
    module, inputs = build()
    result = gradcheck(module, *inputs)
    assert result.ok, f"{name}\n{result}"
    assert result.worst_error < 1e-6
    checked = {c.name for c in result.checks}
    assert {f"input {i}" for i in range(len(inputs))} <= checked
    assert {name for name, _, _ in module.parameters()} <= checked


@pytest.mark.parametrize("function", list(nn.ATTENTION_FUNCTIONS))
@pytest.mark.parametrize("t_q, t_k", [(1, 1), (1, 4), (4, 1), (3, 5), (10, 10)])
def test_cross_attention_passes_gradcheck_for_many_lengths(function, t_q, t_k):
    rng = np.random.default_rng(t_q * 10 + t_k)
    mha = nn.MultiHeadAttention(8, heads=3, d_head=5, attention=function, dropout=0.1, rng=rng)
    x, memory = rng.standard_normal((2, t_q, 8)), rng.standard_normal((2, t_k, 8))
    result = gradcheck(mha, x, memory, max_entries=120)
    assert result.ok, result


@pytest.mark.parametrize("function", list(nn.ATTENTION_FUNCTIONS))
@pytest.mark.parametrize("shape", [(1, 1, 8), (3, 1, 8), (2, 6, 8)])
def test_self_attention_passes_gradcheck_for_many_shapes(function, shape):
    rng = np.random.default_rng(sum(shape))
    mha = nn.MultiHeadAttention(8, heads=2, d_head=4, attention=function, dropout=0.2, rng=rng)
    result = gradcheck(mha, rng.standard_normal(shape))
    assert result.ok, result


def test_softmax_key_bias_gradient_is_reported_as_both_zero():
    # A key bias shifts every score of a row equally; softmax ignores such a shift.
    rng = np.random.default_rng(0)
    mha = nn.MultiHeadAttention(6, heads=2, d_head=3, attention="softmax", dropout=0.0, rng=rng)
    result = gradcheck(mha, rng.standard_normal((2, 4, 6)))
    status = {c.name: c.status for c in result.checks}
    assert status["k.b"] == "both zero"
    assert status["q.b"] == "ok" and result.ok


def test_large_tensors_are_checked_along_random_directions():
    rng = np.random.default_rng(0)
    result = gradcheck(nn.Linear(64, 32, rng), rng.standard_normal((3, 64)), max_entries=100)
    modes = {c.name: c.mode for c in result.checks}
    assert modes["W"].endswith("directions") and modes["b"] == "entries"
    assert result.ok, result
