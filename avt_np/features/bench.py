"""Speed of the log-mel front end, in seconds of audio per second of compute.

    python -m avt_np.features.bench [--seconds 60] [--rounds 7]

Three inputs, timed interleaved (A, B, C, A, B, C, ...) so machine drift hits them alike
(shared/REFERENCE.md, "Timing"); the median over rounds is reported as JSON on stdout.
`bench_frontend()` returns the same dict for the project benchmark.
"""

import argparse
import json
import time

import numpy as np

from avt_np.features.audio import waveform_to_examples


def bench_frontend(seconds=60.0, rounds=7, seed=0):
    """{case: {'audio_seconds_per_second': median, 'ms_per_10s_clip': median}}."""
    rng = np.random.default_rng(seed)
    cases = {
        "16k_mono_float": (rng.standard_normal(int(16000 * seconds)).astype(np.float32) * 0.1, 16000),
        "16k_mono_int16": ((rng.standard_normal(int(16000 * seconds)) * 3000).astype(np.int16), 16000),
        "44k1_stereo_float": (rng.standard_normal((int(44100 * seconds), 2)).astype(np.float32) * 0.1, 44100),
    }
    times = {k: [] for k in cases}
    for k, (x, sr) in cases.items():           # warm-up (FFT plans, page faults)
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


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m avt_np.features.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="audio length per call (default: 60)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default: 7)")
    args = p.parse_args(argv)
    print(json.dumps(bench_frontend(args.seconds, args.rounds), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
