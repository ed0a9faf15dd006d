import numpy as np
import pytest

from avt_np.nn import Linear, Module
from avt_np.optim import Adam


class OneParam(Module):
    def __init__(self, value):
        super().__init__()
        self.add_param("w", np.array(value, dtype=np.float64))


def test_first_two_adam_steps_match_hand_computation():
    model = OneParam([1.0, -2.0])
    adam = Adam(model)                                  # lr 1e-3, betas 0.9 / 0.999, eps 1e-8
    g1, g2 = np.array([0.5, -1.0]), np.array([0.1, 3.0])

    model.grads["w"][:] = g1
    adam.step()
    # t = 1: m = 0.1 g, v = 0.001 g^2, lr_t = 1e-3 * sqrt(0.001) / 0.1
    m, v = 0.1 * g1, 0.001 * g1 ** 2
    expected = np.array([1.0, -2.0]) - 1e-3 * np.sqrt(0.001) / 0.1 * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(model.params["w"], expected, rtol=1e-12)
    # the first step moves every coordinate by ~lr, whatever the gradient's size
    np.testing.assert_allclose(np.abs(expected - [1.0, -2.0]), 1e-3, rtol=1e-4)

    model.grads["w"][:] = g2
    adam.step()
    m, v = 0.9 * m + 0.1 * g2, 0.999 * v + 0.001 * g2 ** 2
    expected = expected - 1e-3 * np.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2) * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(model.params["w"], expected, rtol=1e-12)


def test_adam_keeps_float32_and_separate_state_per_named_parameter():
    model = Linear(3, 2, np.random.default_rng(0))
    adam = Adam(model)
    model.grads["W"][:] = 1.0
    adam.step()
    state = adam.state_dict()
    assert model.params["W"].dtype == np.float32 and state["m.W"].dtype == np.float32
    assert state["m.W"].shape == (3, 2) and state["m.W"].all()
    assert not state["m.b"].any()           # b got no gradient: its moments stay zero


def test_adam_state_round_trip():
    a, b = OneParam([1.0]), OneParam([1.0])
    opt_a, opt_b = Adam(a), Adam(b)
    for _ in range(3):
        a.grads["w"][:] = 0.3
        opt_a.step()
    opt_b.load_state_dict(opt_a.state_dict())
    b.params["w"][:] = a.params["w"]
    a.grads["w"][:] = b.grads["w"][:] = -0.2
    opt_a.step(), opt_b.step()
    assert opt_b.t == 4
    np.testing.assert_array_equal(a.params["w"], b.params["w"])


def test_adam_minimises_a_quadratic():
    model = OneParam([3.0, -4.0])
    adam = Adam(model, lr=0.1)
    for _ in range(500):
        model.grads["w"][:] = 2 * model.params["w"]
        adam.step()
    assert np.abs(model.params["w"]).max() == pytest.approx(0, abs=1e-2)


def test_flattened_parameters_are_views_and_keep_values():
    model = Linear(3, 2, np.random.default_rng(0))
    before = model.state_dict()
    flat_params, flat_grads = model.flatten_parameters()
    assert flat_params.size == 8 and np.shares_memory(model.params["W"], flat_params)
    for name, p, _ in model.parameters():
        np.testing.assert_array_equal(p, before[name])
    model.grads["b"] += 1
    assert flat_grads[-2:].tolist() == [1, 1]
