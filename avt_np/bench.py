"""Speed benchmarks: `python -m avt_np.bench [--rounds N]`.

Reports, as medians over interleaved rounds (the machines drift 10-25% over minutes, so the
cases take turns within each round):
  - NumPy's float32 matmul throughput on this machine (GFLOP/s), measured in the same run;
  - MultiHeadAttention forward + backward at batch 40, 10 frames, width 128 (3 heads x 128);
  - one training step (forward, BCE, backward, Adam) at batch 40, 10 frames, for the default
    video/audio model and for audio/audio, with its matmul FLOP count and the fraction of the
    measured matmul throughput it reaches.
"""

import argparse
import os
import sys
import time

import numpy as np

from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.nn import BinaryCrossEntropy, MultiHeadAttention
from avt_np.optim import Adam

BATCH, FRAMES = 40, 10


def matmul_flops_per_step(config, batch=BATCH, frames=FRAMES):
    """Matmul FLOPs of one training step: each forward product (2 M K N) costs the same again
    twice in backward (gradient of each operand), except the input maps, whose input gradient
    is not needed in training."""
    M, d, H, dh, ff = batch * frames, config.d_model, config.heads, config.d_head, config.d_ff
    inputs = 2 * M * (config.dims[config.first] + config.dims[config.second]) * d
    attention = (3 * 2 * M * d * H * dh + 2 * M * H * dh * d          # q, k, v and output maps
                 + 2 * 2 * batch * H * frames * frames * dh)          # scores and weighted sum
    feedforward = 2 * 2 * M * d * ff
    classifier = 2 * M * d * config.classes
    body = config.blocks * (attention + feedforward) + config.blocks * (2 * attention + feedforward)
    return 3 * (body + classifier) + 2 * inputs


def matmul_gflops(rng, n=1024):
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    start = time.perf_counter()
    a @ b
    return 2 * n ** 3 / (time.perf_counter() - start) / 1e9


def training_step_case(config, rng):
    model = AudiovisualTransformer(config, seed=0)
    adam, bce = Adam(model), BinaryCrossEntropy()
    inputs = {"audio": rng.standard_normal((BATCH, FRAMES, 128), dtype=np.float32),
              "video": np.maximum(rng.standard_normal((BATCH, FRAMES, 4096), dtype=np.float32), 0)}
    labels = (rng.random((BATCH, config.classes)) < 0.1).astype(np.float32)

    def step():
        adam.zero_grad()
        p = model(inputs[config.first], inputs[config.second])
        bce(p, labels)
        model.backward(bce.backward()[0], input_grads=False)
        adam.step()
    return step


def mha_case(rng):
    mha = MultiHeadAttention(128, heads=3, d_head=128, rng=rng)
    x = rng.standard_normal((BATCH, FRAMES, 128), dtype=np.float32)

    def step():
        mha.zero_grad()
        y = mha(x)
        mha.backward(np.ones_like(y))
    return step


def seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m avt_np.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (30)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    load, cores = os.getloadavg()[0], os.cpu_count()       # other jobs skew every number below
    rng = np.random.default_rng(0)
    video_audio = ModelConfig()
    audio_audio = ModelConfig(first="audio", second="audio", pos_enc=())
    cases = {"mha fwd+bwd": mha_case(rng),
             "step video/audio": training_step_case(video_audio, rng),
             "step audio/audio": training_step_case(audio_audio, rng)}
    for fn in cases.values():                                   # warm up caches and allocator
        fn()
    times = {name: [] for name in cases}
    gflops = []
    for r in range(args.rounds):
        gflops.append(matmul_gflops(rng))
        for name, fn in cases.items():
            times[name].append(seconds(fn))
        if sys.stderr.isatty():
            print(f"\rround {r + 1}/{args.rounds}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)

    peak = float(np.median(gflops))
    print(f"load average before the run: {load:.1f} on {cores} cores"
          + (" (busy machine: absolute times are not representative)" if load > 0.5 * cores else ""))
    print(f"numpy float32 matmul (1024^3): median {peak:.0f} GFLOP/s "
          f"(min {min(gflops):.0f}, max {max(gflops):.0f})")
    print(f"MultiHeadAttention fwd+bwd, batch {BATCH} x {FRAMES} frames, width 128, 3x128 heads: "
          f"median {1e3 * np.median(times['mha fwd+bwd']):.2f} ms")
    for name, config in (("step video/audio", video_audio), ("step audio/audio", audio_audio)):
        flops = matmul_flops_per_step(config)
        median = float(np.median(times[name]))
        print(f"training step {name[5:]}: median {1e3 * median:.1f} ms "
              f"(min {1e3 * min(times[name]):.1f}), {flops / 1e9:.3f} GFLOP, "
              f"{flops / median / 1e9:.0f} GFLOP/s = {flops / median / 1e9 / peak:.0%} of matmul peak")


if __name__ == "__main__":
    main()
