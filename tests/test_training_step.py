"""avt_np.training_step: the whole-batch step and data parallelism over two half batches.

Two halves must be the whole batch's step with other dropout masks: without dropout, the same
loss and gradient (float64); with the worker forked or in this process, the same numbers bit
for bit; and a worker that fails or dies is one clear error, not a hang."""

import os
import signal

import numpy as np
import pytest

from avt_np import blas
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.nn import BinaryCrossEntropy, Linear, Module
from avt_np.optim import Adam
from avt_np.training_step import (TwoHalves, WholeBatch, backward_writing_grads, is_shared,
                                  shared_zeros)

CONFIG = ModelConfig(dims={"audio": 6, "video": 10}, d_model=8, heads=2, d_head=4, d_ff=8,
                     blocks=2, classes=5)
FORK = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")


class Clips:
    """A training split in memory: batch(indices) as data.Split's, with clips of 3..6 frames
    (padding masked). fail_at: indices whose batch raises, as a broken data file would."""

    def __init__(self, n=11, dtype=np.float64, fail_at=()):
        rng = np.random.default_rng(7)
        self.arrays = {"video": rng.standard_normal((n, 6, 10)).astype(dtype),
                       "audio": rng.standard_normal((n, 6, 6)).astype(dtype),
                       "labels": (rng.random((n, 5)) < 0.4).astype(dtype),
                       "lengths": rng.integers(3, 7, n)}
        self.fail_at = set(fail_at)

    def batch(self, indices):
        if self.fail_at & set(np.asarray(indices).tolist()):
            raise OSError("clip file truncated")
        return {k: a[indices] for k, a in self.arrays.items()}


def model_and_adam(config=CONFIG, dtype=np.float64, shared=True):
    model = AudiovisualTransformer(config, seed=3, dtype=dtype)
    adam = Adam(model, lr=1e-2, allocate=shared_zeros if shared else np.zeros)
    adam.BLOCK = 512               # blocks of this small model's 2,653 values: parts for both
    return model, adam


def gradient_and_loss(steps, adam, indices):
    """The step's loss and the gradient Adam applies (summed over both halves)."""
    seen = {}

    def diagnose(loss):
        seen["loss"], seen["grad"] = loss, sum(g.copy() for g in adam.gradients)
    steps.step(indices, diagnose)
    return seen["loss"], seen["grad"]


class WithUnusedLayer(Module):
    """The small model and a Linear layer that its forward never uses."""

    def __init__(self, config):
        super().__init__()
        self.model = AudiovisualTransformer(config, seed=3, dtype=np.float64)
        self.unused = Linear(3, 2, np.random.default_rng(0), np.float64)

    def forward(self, first, second, lengths):
        return self.model(first, second, lengths)

    def backward(self, grad, input_grad=True):
        return self.model.backward(grad, input_grad=input_grad)


def test_backward_writing_grads_gives_zero_grad_then_backward_over_stale_gradients():
    config = ModelConfig(**{**CONFIG.to_dict(), "dropout": 0.0})
    batch, loss_fn = Clips().batch(np.arange(6)), BinaryCrossEntropy()
    grads = []
    for stale in (0.0, np.nan):                      # NaN: any stale value added shows
        module = WithUnusedLayer(config)
        _, flat_grads = module.flatten_parameters()
        flat_grads[...] = stale
        loss_fn(module(batch["video"], batch["audio"], batch["lengths"]), batch["labels"])
        if stale == 0.0:
            module.backward(loss_fn.backward()[0], input_grad=False)
        else:
            backward_writing_grads(module, loss_fn.backward()[0])
        grads.append(flat_grads.copy())
        assert not any(getattr(m, "overwrite_grads", False) for m in module.modules())
    np.testing.assert_array_equal(grads[1], grads[0])      # layer norms, unused layer: zeroed
    assert np.abs(grads[0]).max() > 1e-3 and not module.unused.grads["W"].any()


@pytest.mark.parametrize("fork", [pytest.param(True, marks=FORK), False])
def test_without_dropout_two_halves_are_the_whole_batch(fork):
    config = ModelConfig(**{**CONFIG.to_dict(), "dropout": 0.0})
    split, indices = Clips(), np.array([4, 0, 9, 2, 7, 5, 1])         # odd: halves of 4 and 3
    whole_model, whole_adam = model_and_adam(config, shared=False)
    with WholeBatch(whole_model, whole_adam, split, config) as whole, whole.epoch(0, 1):
        loss, grad = gradient_and_loss(whole, whole_adam, indices)
    half_model, half_adam = model_and_adam(config)
    with TwoHalves(half_model, half_adam, split, config, fork=fork) as halves, \
            halves.epoch(0, 1):
        assert halves.part == slice(0, 1536)               # the worker updates 1536..2653
        half_loss, half_grad = gradient_and_loss(halves, half_adam, indices)
    assert half_loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(half_grad, grad, rtol=1e-10, atol=1e-14)
    assert np.abs(grad).max() > 1e-3                       # a real gradient, not zeros
    # and Adam updated every parameter, both parts (its first step is lr * g / (|g| + eps):
    # ill-conditioned where g is rounding noise, so compared where the gradient is not)
    real = np.abs(grad) > 1e-6
    assert real[:1536].any() and real[1536:].any()
    np.testing.assert_allclose(half_adam.params[real], whole_adam.params[real], rtol=1e-9)
    assert not np.array_equal(half_adam.params, model_and_adam(config)[1].params)


@FORK
def test_the_forked_worker_gives_the_numbers_of_the_in_process_one_bit_for_bit():
    split, runs = Clips(dtype=np.float32), []
    for fork in (True, False):
        model, adam = model_and_adam(dtype=np.float32)
        with blas.threads(1), TwoHalves(model, adam, split, CONFIG, fork=fork) as halves:
            losses = []
            for epoch in (1, 2):
                with halves.epoch(5, epoch):
                    losses += [halves.step(np.arange(i, i + 8)) for i in (0, 3)]
        runs.append((losses, adam.params.copy(), adam.m.copy(), adam.v.copy(), adam.t))
    (a_losses, *a_state, a_t), (b_losses, *b_state, b_t) = runs
    assert a_losses == b_losses and a_t == b_t == 4
    for a, b in zip(a_state, b_state):
        np.testing.assert_array_equal(a, b)


def test_dropout_differs_between_halves_and_repeats_with_the_epoch():
    split, indices = Clips(), np.arange(8)
    first = []
    for _ in range(2):
        model, adam = model_and_adam()
        with TwoHalves(model, adam, split, CONFIG, fork=False) as halves:
            with halves.epoch(0, 1):
                first.append(gradient_and_loss(halves, adam, indices)[0])
            with halves.epoch(0, 2):
                second = gradient_and_loss(halves, adam, indices)[0]
    assert first[0] == first[1]                            # (seed, epoch) fixes the masks
    assert second != first[0]
    twin = halves.worker.worker.twin
    masks = [m.rng.bit_generator.state["state"]["state"]
             for m in (halves.model.encoder_input.dropout, twin.encoder_input.dropout)]
    assert masks[0] != masks[1]                            # each half its own generator


@FORK
def test_a_failing_worker_is_one_clear_error_and_a_dead_one_too():
    model, adam = model_and_adam()
    with TwoHalves(model, adam, Clips(fail_at={6}), CONFIG) as halves, halves.epoch(0, 1):
        halves.step(np.arange(4))                          # the worker's half is 2, 3: fine
        with pytest.raises(RuntimeError, match="worker process failed: OSError: clip file "
                                               "truncated"):
            halves.step(np.arange(8))                      # the worker's half holds clip 6
    model, adam = model_and_adam()
    with TwoHalves(model, adam, Clips(), CONFIG) as halves, halves.epoch(0, 1):
        os.kill(halves.worker.process.pid, signal.SIGKILL)
        with pytest.raises(RuntimeError, match=r"worker process ended \(exit code -9\); run "
                                               r"with --cores 1"):
            halves.step(np.arange(8))


@FORK
def test_the_worker_ignores_ctrl_c_and_ends_with_its_context():
    model, adam = model_and_adam()
    with TwoHalves(model, adam, Clips(), CONFIG) as halves, halves.epoch(0, 1):
        process = halves.worker.process
        os.kill(process.pid, signal.SIGINT)                # Ctrl-C reaches the whole group
        loss = halves.step(np.arange(6))                   # still serving
    assert np.isfinite(loss) and not process.is_alive() and process.exitcode == 0
    assert len(adam.gradients) == 1                        # Adam is a plain one again


def test_two_halves_need_adam_in_shared_memory():
    model, adam = model_and_adam(shared=False)
    assert not is_shared(adam.params)
    with pytest.raises(ValueError, match="allocate=shared_zeros"):
        TwoHalves(model, adam, Clips(), CONFIG, fork=False)
    shared = shared_zeros(10, np.float32)
    assert is_shared(shared) and is_shared(shared[2:5].reshape(3, 1)) and not shared.any()


def test_a_batch_of_one_clip_leaves_the_worker_nothing_to_do():
    model, adam = model_and_adam()
    before = adam.params.copy()
    with TwoHalves(model, adam, Clips(), CONFIG, fork=False) as halves, halves.epoch(0, 1):
        loss, grad = gradient_and_loss(halves, adam, np.array([3]))
    assert np.isfinite(loss) and np.abs(grad).max() > 0
    assert not np.array_equal(adam.params, before)


def test_cores_2_forks_on_linux_only_and_says_so_elsewhere(monkeypatch, capsys):
    from avt_np import training_step as module
    model, adam = model_and_adam()
    monkeypatch.setattr(module.sys, "platform", "darwin")
    with module.training_step(model, adam, Clips(), CONFIG, 2) as steps:
        assert isinstance(steps, TwoHalves) and not steps.fork
    assert "note: --cores 2 on darwin: the two half batches run one after the other" \
        in capsys.readouterr().err
    model, adam = model_and_adam(shared=False)
    assert isinstance(module.training_step(model, adam, Clips(), CONFIG, 1), WholeBatch)


def test_cores_2_says_when_it_cannot_set_blas_to_one_thread(monkeypatch, capsys):
    from avt_np import training_step as module
    model, adam = model_and_adam()
    monkeypatch.setattr(module.sys, "platform", "linux")
    monkeypatch.setattr(module.blas, "openblas", lambda: None)    # e.g. MKL
    monkeypatch.setattr(module, "TwoHalves", lambda *args, fork: ("halves", fork))
    assert module.training_step(model, adam, Clips(), CONFIG, 2) == ("halves", True)
    assert "note: --cores 2 cannot set this BLAS to one thread per process" \
        in capsys.readouterr().err
