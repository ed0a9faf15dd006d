"""One training step (forward, binary cross-entropy, backward, Adam) on one core or on two.

    WholeBatch   the batch in this process; BLAS may spread its matrix products over threads.
    TwoHalves    data parallelism on two cores: the batch is split in two halves, this process
                 runs forward and backward of the first while a forked worker process runs the
                 second on its own copy of the model, then each applies Adam to one half of the
                 parameters:

        this process                               worker process (forked, one BLAS thread)
        send "backward" + second half's indices -> batch, forward, backward of its half
        forward, backward of the first half        (gradients into its own buffer)
                                                <- its half's loss
        send "apply" + step number              -> Adam on the second half of the parameters
        Adam on the first half of the parameters
                                                <- done

Why processes and not threads. On the element-wise work between the products (dropout,
LayerNorm, softmax, bias sums, Adam) NumPy uses one core, and the products of a batch of 40
clips are too small for BLAS to keep a second core busy. Two threads each running a half batch
were only 1.5x faster than one thread running both (most likely the GIL, taken back after each
of the ~1,000 NumPy calls of a half step); two processes were 2.0x (docs/speed.md).

Shared memory. The parameters, Adam's moments and both gradient buffers live in anonymous shared
memory (`shared_zeros`, mapped before the fork), so the worker sees every update at once and
nothing is copied between the processes but batch indices, a loss and two short messages.

Same numbers whatever the timing: each half has its own dropout generator, each half's loss is
weighted by its share of the batch (the loss is a mean over the batch), and Adam adds the two
gradient buffers in a fixed order. `TwoHalves(..., fork=False)` runs the worker's half in this
process, one after the other: the same numbers on one BLAS thread, for systems where the worker
is not forked (all but Linux: `training_step`) and for the tests. The whole batch and two halves
give different numbers (other dropout masks, other summation order): `python -m avt_np.train
--cores` is a saved setting.
"""

import copy
import mmap
import multiprocessing
import signal
import sys
import traceback
from contextlib import contextmanager, nullcontext

import numpy as np

from avt_np import blas
from avt_np.nn import BinaryCrossEntropy, Linear, set_dropout_rng


def shared_zeros(size, dtype):
    """A zeroed flat array in anonymous shared memory: a process forked after this call reads
    and writes the same memory (an allocator for Adam(model, allocate=...))."""
    nbytes = max(1, size * np.dtype(dtype).itemsize)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype, size)


def allocator(cores):
    """The flat-buffer allocator Adam needs for a step on `cores` cores: Adam(model,
    allocate=allocator(cores)). Two halves share parameters and moments across processes."""
    return shared_zeros if cores == 2 else np.zeros


def is_shared(array):
    """True for an array made by shared_zeros (or a view of one)."""
    while array.base is not None and not isinstance(array.base, memoryview):
        array = array.base
    return isinstance(array.base, memoryview) and isinstance(array.base.obj, mmap.mmap)


def backward_writing_grads(model, grad):
    """model.backward(grad, input_grad=False) with the parameter gradients WRITTEN, not added
    to: the result of model.zero_grad() then backward, without first filling the gradient
    buffer (10 MB for the default model) with zeros and then reading those zeros back.
    Linear layers, which hold all but 0.15% of the parameters, write theirs in their first
    backward (Linear.overwrite_grads); every other layer's gradients are zeroed first, as are
    those of any Linear layer the backward did not reach. Measured: the --cores 2 step ~5%
    faster (docs/speed.md)."""
    linears = []
    for module in model.modules():
        if isinstance(module, Linear):
            module.overwrite_grads = True
            linears.append(module)
        else:
            for g in module.grads.values():
                g[...] = 0
    try:
        model.backward(grad, input_grad=False)
    finally:                                        # also when backward raised: no flag left set
        for linear in linears:
            if linear.overwrite_grads:              # backward did not reach it: zero, as usual
                linear.overwrite_grads = False
                for g in linear.grads.values():
                    g[...] = 0


def half_step(model, loss_fn, split, config, indices, weight):
    """Forward, loss and backward of the clips `indices` of `split`, with the loss scaled by
    `weight` (this half's share of the batch); the model's gradients are this half's alone
    (backward_writing_grads). -> its weighted loss (float)."""
    batch = split.batch(np.asarray(indices))
    p = model(batch[config.first], batch[config.second], batch["lengths"])
    loss = float(loss_fn(p, batch["labels"]))
    backward_writing_grads(model, loss_fn.backward(weight)[0])
    return weight * loss


class WholeBatch:
    """The plain step: the whole batch in this process. step(indices) -> loss."""

    def __init__(self, model, adam, split, config):
        self.model, self.adam, self.split, self.config = model, adam, split, config
        self.loss_fn = BinaryCrossEntropy()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self):
        pass

    @contextmanager
    def epoch(self, seed, epoch):
        """Around an epoch's steps: dropout masks from (seed, epoch) alone, so that a resumed
        run draws the same ones."""
        set_dropout_rng(self.model, np.random.default_rng([seed, epoch]))
        yield self

    def step(self, indices, diagnose=None):
        """One step on the clips `indices`; diagnose(loss), if given, runs after backward,
        before the update. -> the batch's loss."""
        loss = half_step(self.model, self.loss_fn, self.split, self.config, indices, 1.0)
        if diagnose is not None:
            diagnose(loss)
        self.adam.step()
        return loss


def replica(model, grads):
    """A copy of `model` whose parameters ARE model's arrays (shared, not copied) and whose
    gradients are views into the flat buffer `grads`, in the order of model.parameters()."""
    twin = copy.deepcopy(model)
    offset = 0
    for original, copied in zip(model.modules(), twin.modules()):
        for name, param in original.params.items():
            copied.params[name] = param
            copied.grads[name] = grads[offset:offset + param.size].reshape(param.shape)
            offset += param.size
    return twin


class HalfWorker:
    """The worker's side of TwoHalves: its replica of the model, its half of the parameters."""

    def __init__(self, twin, adam, split, config, part):
        self.twin, self.adam, self.split, self.config, self.part = twin, adam, split, config, part
        self.grads = adam.gradients[1]
        self.loss_fn = BinaryCrossEntropy()

    def reseed(self, seed, epoch):
        set_dropout_rng(self.twin, np.random.default_rng([seed, epoch, 1]))

    def backward(self, indices, weight):
        if len(indices) == 0:
            self.grads[...] = 0
            return 0.0
        return half_step(self.twin, self.loss_fn, self.split, self.config, indices, weight)

    def apply(self, t):
        self.adam.apply(t, self.part)


def serve(conn, worker, parent_end):
    """The worker process: run each (method, args) received on `conn` and send back ("ok",
    result) or ("error", message), until the pipe closes. Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent_end.close()              # the fork copied it: else the pipe never closes for recv
    with blas.threads(1):
        while True:
            try:
                method, args = conn.recv()
            except (EOFError, OSError):              # the parent closed the pipe or died
                return
            try:
                answer = ("ok", getattr(worker, method)(*args))
            except Exception as e:
                answer = ("error", f"{type(e).__name__}: {e} | "
                                   + traceback.format_exc().strip().splitlines()[-2].strip())
            try:
                conn.send(answer)
            except (BrokenPipeError, OSError):
                return


class WorkerProcess:
    """A forked process running `serve` for a HalfWorker; call(method, *args) sends the call and
    returns a function that waits for its result."""

    def __init__(self, worker):
        context = multiprocessing.get_context("fork")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=serve, args=(theirs, worker, self.conn), daemon=True,
                                       name="avt_np-half-batch")
        self.process.start()
        theirs.close()

    def call(self, method, *args):
        try:
            self.conn.send((method, args))
        except OSError:                              # BrokenPipeError: the worker is gone
            self.ended()

        def result():
            try:
                status, value = self.conn.recv()
            except (EOFError, OSError):
                self.ended()
            if status == "error":
                raise RuntimeError(f"the training step's worker process failed: {value}")
            return value
        return result

    def ended(self):
        self.process.join(5)
        raise RuntimeError(f"the training step's worker process ended (exit code "
                           f"{self.process.exitcode}); run with --cores 1 to train in one "
                           f"process") from None

    def close(self):
        self.conn.close()                            # the worker's recv ends: it returns
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


class InThisProcess:
    """A HalfWorker called directly (TwoHalves(fork=False)): call runs at once."""

    def __init__(self, worker):
        self.worker = worker

    def call(self, method, *args):
        value = getattr(self.worker, method)(*args)
        return lambda: value

    def close(self):
        pass


class TwoHalves:
    """Data parallelism on two cores (module docstring). The Adam given must hold its buffers in
    shared memory: Adam(model, allocate=allocator(2)). Use as a context manager (the worker
    process ends on exit). step(indices) -> the batch's loss, as WholeBatch's."""

    def __init__(self, model, adam, split, config, fork=True):
        if not (is_shared(adam.params) and is_shared(adam.m) and is_shared(adam.v)):
            raise ValueError("TwoHalves needs Adam(model, allocate=shared_zeros): its buffers "
                             "must be in memory the worker process shares")
        if len(adam.gradients) != 1:
            raise ValueError("this Adam already sums several gradient buffers")
        self.model, self.adam, self.split, self.config = model, adam, split, config
        self.loss_fn = BinaryCrossEntropy()
        adam.gradients.append(shared_zeros(adam.params.size, adam.params.dtype))
        halfway = -(-adam.params.size // 2 // adam.BLOCK) * adam.BLOCK   # a block boundary
        self.part = slice(0, min(halfway, adam.params.size))
        worker = HalfWorker(replica(model, adam.gradients[1]), adam, split, config,
                            slice(self.part.stop, adam.params.size))
        self.fork = fork
        self.worker = WorkerProcess(worker) if fork else InThisProcess(worker)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        self.worker.close()
        if len(self.adam.gradients) == 2:
            self.adam.gradients.pop()

    @contextmanager
    def epoch(self, seed, epoch):
        """Around an epoch's steps: dropout masks from (seed, epoch) alone, one generator per
        half; one BLAS thread in this process (the worker has one throughout), restored after
        the epoch for validation."""
        set_dropout_rng(self.model, np.random.default_rng([seed, epoch]))
        self.worker.call("reseed", seed, epoch)()
        with blas.threads(1) if self.fork else nullcontext():
            yield self

    def step(self, indices, diagnose=None):
        """One step on the clips `indices`, half in each process; diagnose(loss), if given,
        runs after both backward passes (the worker's gradient then added into this model's,
        so that model.parameters() yields the whole batch's), before the update."""
        indices = np.asarray(indices)
        half = -(-len(indices) // 2)                  # this process takes the odd clip
        mine, theirs = indices[:half], indices[half:]
        their_loss = self.worker.call("backward", theirs, len(theirs) / len(indices))
        loss = half_step(self.model, self.loss_fn, self.split, self.config, mine,
                         len(mine) / len(indices))
        loss += their_loss()
        if diagnose is not None:
            own, theirs_grads = self.adam.gradients
            own += theirs_grads                      # the same sum Adam forms; theirs now 0
            theirs_grads[...] = 0
            diagnose(loss)
        applied = self.worker.call("apply", self.adam.t + 1)
        self.adam.step(self.part)
        applied()
        return loss


def training_step(model, adam, split, config, cores):
    """WholeBatch for cores=1, TwoHalves for cores=2. The worker is forked on Linux only:
    OpenBLAS re-creates its threads in a forked child, Apple's Accelerate does not promise to,
    and Windows cannot fork. Elsewhere the two halves run one after the other in this process
    (the same numbers, no speed-up), and a note says so."""
    if cores == 1:
        return WholeBatch(model, adam, split, config)
    fork = sys.platform.startswith("linux")
    if not fork:
        print(f"note: --cores 2 on {sys.platform}: the two half batches run one after the other "
              f"in this process (no fork here); --cores 1 is faster", file=sys.stderr)
    elif blas.openblas() is None:
        print("note: --cores 2 cannot set this BLAS to one thread per process (not an OpenBLAS "
              "found in /proc/self/maps); set OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 before "
              "starting, or the two processes may share the cores with BLAS threads",
              file=sys.stderr)
    return TwoHalves(model, adam, split, config, fork=fork)
