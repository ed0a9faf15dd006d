"""Speed benchmarks. Speed is measured here, never asserted in tests.

    python -m avt_np.bench [--rounds N]        the training step (below)
    python -m avt_np.bench lessons             seconds per lesson (each promises < 60 s)
    python -m avt_np.bench quick-sweep         seconds of `python -m avt_np.sweep --quick`

`step` reports, as medians over interleaved rounds (the machines drift 10-25% over minutes, so the
cases take turns within each round):
  - NumPy's float32 matmul throughput on this machine (GFLOP/s), measured in the same run;
  - MultiHeadAttention forward + backward at batch 40, 10 frames, width 128 (3 heads x 128);
  - one training step (forward, BCE, backward, Adam) at batch 40, 10 frames, for the default
    video/audio model and for audio/audio, as python -m avt_np.train --cores 1 (the whole batch
    in this process) and --cores 2 (two half batches in two processes) run it, with its matmul
    FLOP count and the fraction of the measured matmul throughput it reaches;
  - the same step's matrix products alone, back to back (the floor the rest of the step adds
    to), and Adam's update alone;
  - when PyTorch is installed (optional: `pip install torch==2.13.0`, CPU build), the same model's
    PyTorch eager step (benchmarks/pytorch_reference.py), interleaved with avt_np's in this
    process, and the median per-round ratio avt_np / PyTorch.
The report starts with the processor, the load average and the BLAS library, its kernel and
threads, as NumPy's bundled OpenBLAS reports them.
"""

import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from avt_np import blas, cli
from avt_np.cli import ArgumentParser, UsageError
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.nn import BinaryCrossEntropy, MultiHeadAttention
from avt_np.optim import Adam
from avt_np.training_step import allocator, training_step

ROOT = Path(__file__).resolve().parents[1]          # the repository: lessons/ lives there

BATCH, FRAMES = 40, 10
# Seconds between cases: after a call, OpenBLAS's and PyTorch's idle threads spin for a while
# (OpenBLAS: 2^28 cycles, ~0.1 s) on the core the next case would use.
PAUSE = 0.3


def pytorch_reference():
    """benchmarks/pytorch_reference.py as a module when PyTorch is installed and the script is
    there (a repository checkout), else None: PyTorch is never required."""
    script = ROOT / "benchmarks" / "pytorch_reference.py"
    if importlib.util.find_spec("torch") is None or not script.is_file():
        return None
    spec = importlib.util.spec_from_file_location("pytorch_reference", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step_matmuls(config, batch=BATCH, frames=FRAMES):
    """Every matrix product of one training step, as (count, stack, M, K, N): `count` products of
    `stack` stacked (M, K) @ (K, N) matrices. A linear map (M, K) -> N costs, in backward, the
    same product again twice (dW: (K, M) @ (M, N); dx: (M, N) @ (N, K)), except the input maps,
    whose input gradient is not needed in training. The attention products are stacked over
    batch x heads: scores Q K^T and the weighted sum A V forward, four products backward."""
    M, d, H, dh, ff = batch * frames, config.d_model, config.heads, config.d_head, config.d_ff
    BH, T = batch * H, frames
    linear = []                                          # (M, K, N) of every linear map
    attention_maps = [(M, d, 3 * H * dh), (M, H * dh, d)]                   # q, k, v as one; out
    cross_maps = [(M, d, H * dh), (M, d, 2 * H * dh), (M, H * dh, d)]      # q; k, v as one; out
    feedforward = [(M, d, ff), (M, ff, d)]
    linear += config.blocks * (attention_maps + feedforward)                          # encoder
    linear += config.blocks * (attention_maps + cross_maps + feedforward)             # decoder
    linear += [(M, d, config.classes)]
    products = []
    for m, k, n in linear:
        products += [(1, 1, m, k, n), (1, 1, k, m, n), (1, 1, m, n, k)]   # forward, dW, dx
    for d_in in (config.dims[config.first], config.dims[config.second]):
        products += [(1, 1, M, d_in, d), (1, 1, d_in, M, d)]               # forward, dW only
    attentions = 3 * config.blocks                       # encoder self, decoder self and cross
    products += [(attentions, BH, T, dh, T), (attentions, BH, T, T, dh)]   # scores, A V
    products += [(2 * attentions, BH, T, T, dh),                           # dV, dQ (and dK below)
                 (attentions, BH, T, dh, T),                               # dA = dout V^T
                 (attentions, BH, T, T, dh)]                               # dK
    return products


def matmul_flops(products):
    return sum(2 * count * stack * m * k * n for count, stack, m, k, n in products)


def matmuls_case(products, rng):
    """Run the step's products back to back on random contiguous operands: the floor that the
    step's other work (element-wise layers, reductions, Adam) adds to."""
    operands = []
    for count, stack, m, k, n in products:
        a = rng.standard_normal((stack, m, k), dtype=np.float32)
        b = rng.standard_normal((stack, k, n), dtype=np.float32)
        operands += count * [(a[0], b[0]) if stack == 1 else (a, b)]

    def step():
        for a, b in operands:
            a @ b
    return step


def matmul_gflops(rng, n=1024):
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    start = time.perf_counter()
    a @ b
    return 2 * n ** 3 / (time.perf_counter() - start) / 1e9


class RandomClips:
    """A training split of random clips in memory: batch(indices) as data.Split's."""

    def __init__(self, config, rng, clips=BATCH):
        self.arrays = {
            "audio": rng.standard_normal((clips, FRAMES, 128), dtype=np.float32),
            "video": np.maximum(rng.standard_normal((clips, FRAMES, 4096), dtype=np.float32), 0),
            "labels": (rng.random((clips, config.classes)) < 0.1).astype(np.float32),
            "lengths": np.full(clips, FRAMES)}

    def batch(self, indices):
        return {name: a[indices] for name, a in self.arrays.items()}


def training_step_case(config, rng, cores=1):
    """One training step of batch BATCH as python -m avt_np.train --cores runs it
    (avt_np/training_step.py); -> (step, Adam's update alone, close)."""
    model = AudiovisualTransformer(config, seed=0)
    adam = Adam(model, allocate=allocator(cores))
    steps = training_step(model, adam, RandomClips(config, rng), config, cores)
    indices = np.arange(BATCH)

    def step():
        # An epoch around each step: --cores 2 then runs on one BLAS thread per process while
        # the other cases keep theirs (it also reseeds dropout: ~0.3 ms of the step, counted).
        with steps.epoch(0, 1):
            steps.step(indices)
    return step, adam.step, steps.close


def mha_case(rng):
    mha = MultiHeadAttention(128, heads=3, d_head=128, rng=rng)
    x = rng.standard_normal((BATCH, FRAMES, 128), dtype=np.float32)

    def step():
        mha.zero_grad()
        y = mha(x)
        mha.backward(np.ones_like(y))
    return step


def interleaved(cases, rng, rounds, steps):
    """Every case in turn, `steps` calls each, for `rounds` rounds, with the 1024^3 matmul
    throughput measured once a round. -> ({case: [seconds per call, one per round]},
    [GFLOP/s per round])."""
    for fn in cases.values():                                   # warm up caches and allocator
        fn()
    times, gflops = {name: [] for name in cases}, []
    for r in range(rounds):
        gflops.append(matmul_gflops(rng))
        for name, fn in cases.items():
            time.sleep(PAUSE)
            times[name].append(seconds(fn, steps))
        if sys.stderr.isatty():
            print(f"\rround {r + 1}/{rounds}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return times, gflops


def seconds(fn, repeats=1):
    """Seconds per call of fn, over `repeats` calls in a row."""
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def timed_command(command, cwd, env=None):
    """Run a command to its end; -> (seconds, exit code, last line of its stderr)."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    return time.perf_counter() - start, done.returncode, lines[-1] if lines else ""


def bench_lessons():
    """Each lesson of lessons/ in a fresh process, its pictures to a temporary folder."""
    lessons = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
    print(f"lessons, one at a time, {platform_line()}")
    print("| lesson | seconds | within 60 s |\n| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for lesson in lessons:
            env = dict(os.environ, AVT_NP_LESSONS_OUT=tmp)
            seconds, code, last = timed_command([sys.executable, str(lesson)], tmp, env)
            state = "yes" if seconds < 60 else "NO"
            print(f"| {lesson.stem} | {seconds:.1f} | {state}"
                  + (f" (exit {code}: {last})" if code else "") + " |", flush=True)


def bench_quick_sweep():
    """`python -m avt_np.sweep --quick` into a temporary folder (its data set included)."""
    with tempfile.TemporaryDirectory() as tmp:
        seconds, code, last = timed_command(
            [sys.executable, "-m", "avt_np.sweep", "--quick", "--out", str(Path(tmp) / "q")], tmp)
    print(f"python -m avt_np.sweep --quick: {seconds:.1f} s ({platform_line()})"
          + (f"; exit {code}: {last}" if code else ""))


def platform_line():
    """Processor model, cores and load average: what every quoted time needs beside it."""
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU") \
        if Path("/proc/cpuinfo").is_file() else platform.processor() or "unknown CPU"
    return (f"{model}, {os.cpu_count()} cores, load average "
            + " ".join(f"{x:.2f}" for x in os.getloadavg()))


def run(argv=None):
    parser = ArgumentParser(prog="python -m avt_np.bench", description=__doc__)
    parser.add_argument("what", nargs="?", default="step", choices=("step", "lessons",
                                                                   "quick-sweep"),
                        help="what to time [default: step]")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds of step (15)")
    parser.add_argument("--steps", type=int, default=5,
                        help="calls of each case in a row per round, timed together (5)")
    parser.add_argument("--no-torch", action="store_true",
                        help="skip the PyTorch comparison even when PyTorch is installed")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        raise UsageError(f"--rounds {args.rounds} --steps {args.steps}: both must be at least 1")
    if args.what == "lessons":
        return bench_lessons()
    if args.what == "quick-sweep":
        return bench_quick_sweep()

    load, cores = os.getloadavg()[0], os.cpu_count()       # other jobs skew every number below
    rng = np.random.default_rng(0)
    configs = {"video/audio": ModelConfig(),
               "audio/audio": ModelConfig(first="audio", second="audio", pos_enc=())}
    reference = None if args.no_torch else pytorch_reference()
    if reference is not None:
        import torch                        # optional: installed, since reference is not None
        if isinstance(blas.info()[2], int):
            torch.set_num_threads(blas.info()[2])    # PyTorch on as many threads as OpenBLAS
    cases, closes = {"mha": mha_case(rng)}, []
    for pair, config in configs.items():
        cases[f"step {pair}"], cases[f"adam {pair}"], close = training_step_case(config, rng, 1)
        cases[f"halves {pair}"], _, close_halves = training_step_case(config, rng, 2)
        closes += [close, close_halves]
        cases[f"matmuls {pair}"] = matmuls_case(step_matmuls(config), rng)
        if reference is not None:
            step, count = reference.torch_training_step(config.first, config.second)
            if count != AudiovisualTransformer(config).num_parameters():
                raise UsageError(f"the PyTorch model of {pair} has {count:,} parameters, "
                                 "avt_np's a different count: not the same model")
            cases[f"pytorch {pair}"] = step
    try:
        times, gflops = interleaved(cases, rng, args.rounds, args.steps)
    finally:
        for close in closes:                                    # the --cores 2 worker processes
            close()

    peak = float(np.median(gflops))
    ms = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
    print(f"processor: {platform_line()}")
    print(f"BLAS: {blas.line()}")
    print(f"load average before the run: {load:.1f} on {cores} cores"
          + (" (busy machine: absolute times are not representative)" if load > 0.5 * cores else ""))
    print(f"{args.rounds} interleaved rounds of {args.steps} calls of each case")
    print(f"numpy float32 matmul (1024^3): median {peak:.0f} GFLOP/s "
          f"(min {min(gflops):.0f}, max {max(gflops):.0f})")
    print(f"MultiHeadAttention fwd+bwd, batch {BATCH} x {FRAMES} frames, width 128, 3x128 heads: "
          f"median {ms['mha']:.2f} ms")
    for pair, config in configs.items():
        products = step_matmuls(config)
        gflop = matmul_flops(products) / 1e9
        matmuls = ms[f"matmuls {pair}"]
        print(f"training step {pair}, {gflop:.3f} GFLOP; its {sum(p[0] for p in products)} "
              f"matrix products alone, back to back: median {matmuls:.1f} ms "
              f"({gflop / matmuls * 1e3 / peak:.0%} of peak); Adam alone: median "
              f"{ms[f'adam {pair}']:.1f} ms")
        if reference is not None:
            print(f"  PyTorch {torch.__version__} eager step, same model, same process "
                  f"({torch.get_num_threads()} threads): median {ms[f'pytorch {pair}']:.1f} ms")
        for case, how in (("step", f"--cores 1 (the whole batch, {blas.info()[2]} BLAS threads)"),
                          ("halves", "--cores 2 (two half batches in two processes, the default)")):
            t = times[f"{case} {pair}"]
            print(f"  {how}: median {ms[f'{case} {pair}']:.1f} ms (min {1e3 * min(t):.1f}), "
                  f"{gflop / ms[f'{case} {pair}'] * 1e3 / peak:.0%} of matmul peak; "
                  f"step / products {np.median(np.divide(t, times[f'matmuls {pair}'])):.2f}"
                  + (f"; avt_np / PyTorch {np.median(np.divide(t, times[f'pytorch {pair}'])):.2f}"
                     if reference is not None else "") + " (median per-round ratios)")
    if reference is None:
        print("PyTorch comparison: skipped (" + ("--no-torch" if args.no_torch else
              "PyTorch not installed; pip install torch==2.13.0 for it") + ")")


def main(argv=None):
    return cli.main(run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
