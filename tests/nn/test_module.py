import numpy as np
import pytest

from avt_np.nn import Module


class Scale(Module):
    def __init__(self, n):
        super().__init__()
        self.add_param("w", np.ones(n))

    def forward(self, x):
        self.x = x
        return x * self.params["w"]

    def backward(self, dy):
        self.grads["w"] += (dy * self.x).reshape(-1, self.x.shape[-1]).sum(0)
        return dy * self.params["w"]


class Pair(Module):
    def __init__(self):
        super().__init__()
        self.first = Scale(3)
        self.blocks = [Scale(3), Scale(3)]


def test_parameters_are_found_in_attributes_and_lists_with_dotted_names():
    names = [name for name, _, _ in Pair().parameters()]
    assert names == ["first.w", "blocks.0.w", "blocks.1.w"]


def test_backward_accumulates_and_zero_grad_resets():
    layer = Scale(3)
    x = np.arange(6.0).reshape(2, 3)
    for _ in range(2):
        layer(x)
        layer.backward(np.ones_like(x))
    np.testing.assert_allclose(layer.grads["w"], 2 * x.sum(0))
    layer.zero_grad()
    assert not layer.grads["w"].any()


def test_train_and_eval_reach_every_child():
    model = Pair().eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_state_dict_round_trip_and_mismatch_is_refused():
    a, b = Pair(), Pair()
    a.blocks[1].params["w"][:] = 7
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.blocks[1].params["w"], 7)
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict({"first.w": np.ones(3)})
