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
    floating = [i for i, x in enumerate(inputs) if np.issubdtype(np.asarray(x).dtype, np.floating)]
    assert {f"input {i}" for i in floating} <= checked          # integer lengths pass through
    assert {name for name, _, _ in module.parameters()} <= checked


def test_builtin_checks_cover_pooling_blocks_and_two_model_variants():
    names = [n for n, _ in builtin_checks()]
    for layer in ("MeanPool", "MaxPool", "EncoderBlock", "DecoderBlock", "BinaryCrossEntropy"):
        assert any(n.startswith(layer) for n in names), layer
    models = [n for n in names if n.startswith("AudiovisualTransformer")]
    assert any("max pooling" in n for n in models) and any("mean pooling" in n for n in models)
    assert any("softmax" in n for n in models) and any("sigmoid" in n for n in models)


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


WITH_PARAMETERS = [(n, b) for n, b in builtin_checks() if list(b()[0].parameters())]


@pytest.mark.parametrize("name, build", WITH_PARAMETERS, ids=[n for n, _ in WITH_PARAMETERS])
def test_builtin_layer_adds_its_gradients_in_place(name, build):
    # backward must ADD into the arrays of self.grads (`+=`), never assign a new array: a layer
    # used twice needs the sum, and Adam updates flat views of these very arrays.
    module, inputs = build()
    module.astype(np.float64)
    grads_before = {n: g for n, _, g in module.parameters()}
    out = module.forward(*inputs)
    rng = np.random.default_rng(0)
    dy = (tuple(rng.standard_normal(o.shape) for o in out) if isinstance(out, tuple)
          else rng.standard_normal(out.shape))
    module.backward(dy)
    once = {n: g.copy() for n, _, g in module.parameters()}
    module.backward(dy)
    for n, _, g in module.parameters():
        assert g is grads_before[n], f"{name}: backward replaced the array of grads['{n}']"
        np.testing.assert_allclose(g, 2 * once[n], rtol=1e-12, atol=0,
                                   err_msg=f"{name}: grads['{n}'] not accumulated")
