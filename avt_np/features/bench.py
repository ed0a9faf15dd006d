"""Speed of the log-mel front end (audio.waveform_to_examples), in seconds of audio per second.

    python -m avt_np.features.bench [--seconds 60] [--rounds 7] [--json]

A standalone benchmark (the project benchmark, python -m avt_np.bench, times the model, not
this). Three inputs of the same length: 16 kHz mono float32, 16 kHz mono int16 and 44.1 kHz
stereo float32 (resampled to 16 kHz). They are timed interleaved (A, B, C, A, B, C, ...) so
machine drift hits them alike (shared/REFERENCE.md, "Timing"); one line per input with the
median over rounds, on stdout (JSON with --json). Run it on an otherwise idle machine and
quote the load average with the numbers.
"""

import json
import os
import time

import numpy as np

from avt_np import cli
from avt_np.cli import ArgumentParser, UsageError
from avt_np.features.audio import waveform_to_examples

CASES = ("16k_mono_float", "16k_mono_int16", "44k1_stereo_float")


def inputs(seconds, seed=0):
    """{case: (samples, rate)} of `seconds` of noise each."""
    rng = np.random.default_rng(seed)
    n16, n44 = int(16000 * seconds), int(44100 * seconds)
    return {
        "16k_mono_float": (rng.standard_normal(n16).astype(np.float32) * 0.1, 16000),
        "16k_mono_int16": ((rng.standard_normal(n16) * 3000).astype(np.int16), 16000),
        "44k1_stereo_float": (rng.standard_normal((n44, 2)).astype(np.float32) * 0.1, 44100),
    }


def bench_frontend(seconds=60.0, rounds=7, seed=0):
    """{case: {'audio_seconds_per_second': median, 'ms_per_10s_clip': median}}."""
    cases = inputs(seconds, seed)
    times = {k: [] for k in cases}
    for x, sr in cases.values():               # warm-up (FFT plans, page faults)
        waveform_to_examples(x[: sr * 2], sr)
    for _ in range(rounds):
        for k, (x, sr) in cases.items():
            t0 = time.perf_counter()
            waveform_to_examples(x, sr)
            times[k].append(time.perf_counter() - t0)
    out = {}
    for k, ts in times.items():
        med = float(np.median(ts))
        out[k] = {"audio_seconds_per_second": round(seconds / med, 1),
                  "ms_per_10s_clip": round(1000 * med * 10.0 / seconds, 2)}
    return out


def run(argv=None):
    p = ArgumentParser(prog="python -m avt_np.features.bench", description=__doc__)
    p.add_argument("--seconds", type=float, default=60.0,
                   help="audio length per call, in seconds (default: 60)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default: 7)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    if args.seconds < 1 or args.rounds < 1:
        raise UsageError(f"--seconds {args.seconds:g} --rounds {args.rounds}: --seconds must be "
                         "at least 1 and --rounds at least 1")
    result = bench_frontend(args.seconds, args.rounds)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"front end, {args.seconds:g} s of audio per call, median of {args.rounds} rounds "
          f"(load average {load}):")
    for k, r in result.items():
        print(f"{k}: {r['audio_seconds_per_second']} s of audio per s, "
              f"{r['ms_per_10s_clip']} ms per 10 s clip")


def main(argv=None):
    return cli.main(run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
