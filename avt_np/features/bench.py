"""Speed of feature extraction: the log-mel front end, the networks, and the whole extraction.

    python -m avt_np.features.bench [--seconds 60] [--rounds 7] [--json]
    python -m avt_np.features.bench --networks [--batches 1,4,16,64] [--threads 2,1] [--items 32]
    python -m avt_np.features.bench --end-to-end [--clips 8] [--rounds 3] [--batch 16]

A standalone benchmark (the project benchmark, python -m avt_np.bench, times the model, not
this). Every report starts with the processor, the date, the load average and onnxruntime's
version: the machines are shared, and a number without the load next to it means little.

Front end (default): three inputs of the same length: 16 kHz mono float32, 16 kHz mono int16
and 44.1 kHz stereo float32 (resampled to 16 kHz), timed interleaved (A, B, C, A, B, C, ...)
so that machine drift hits them alike; the median over rounds.

--networks: VGGish- and VGG16-architecture ONNX files with random weights
(`avt_np.features.architectures`: the real graphs, tensor names and shapes; a network's cost
does not depend on its weights' values) are written to a temporary folder, then each
(network, onnxruntime threads, batch size) runs in a fresh process, so that its peak memory is
its own: seconds per call and per clip (10 frames or examples), and the process's peak RSS
(model included). Decoding and log-mel of one 10 s clip are timed too: an mp4 (320 x 240,
25 fps, H.264 + AAC) through ffmpeg when it is installed, else a wav and a folder of JPEG
frames. A VGG16 frame is ~15.5 GFLOP: keep --items small.

--end-to-end: the same clips extracted by the one-clip-at-a-time path (no batching, no
overlap), by batching alone and by batching with decoding overlapped (threads), interleaved in
rounds, each run in a fresh process (model loading not timed); reports medians, the median of
per-round ratios and peak memory, and checks the three give the same features.
"""

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image

from avt_np import cli
from avt_np.cli import ArgumentParser, UsageError
from avt_np.features import architectures, extract
from avt_np.features import audio as audio_fe
from avt_np.features import video as video_io
from avt_np.features.audio import waveform_to_examples

CASES = ("16k_mono_float", "16k_mono_int16", "44k1_stereo_float")
FRAMES = 10                                      # frames / examples of a 10 s clip


# -- where and when ----------------------------------------------------------------------------
def processor():
    """The processor's model name from /proc/cpuinfo (else platform's)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_line():
    import onnxruntime
    return (f"{processor()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
            f"onnxruntime {onnxruntime.__version__}, load average {load_average()}")


def peak_rss_mb():
    """This process's peak resident memory in MB: VmHWM of /proc/self/status (ru_maxrss would
    include the parent's peak, inherited through fork before exec), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def in_fresh_process(fn, *args, fresh=True):
    """fn(*args) in a new (spawned) process, so its peak memory is its own (fresh=False: here,
    quicker, but the peak memory reported is then the largest so far)."""
    if not fresh:
        return fn(*args)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# -- front end ---------------------------------------------------------------------------------
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


# -- networks ----------------------------------------------------------------------------------
def build_networks(folder, divide=1):
    """Random-weight VGGish and VGG16 files in folder -> {'vggish': path, 'vgg16': path}."""
    folder = Path(folder)
    print(f"bench: writing VGGish and VGG16 with random weights to {folder} (~840 MB at full "
          "size, 10-30 s)", file=sys.stderr, flush=True)
    return {"vggish": str(architectures.make_vggish(folder / "vggish.onnx", divide)),
            "vgg16": str(architectures.make_vgg16(folder / "vgg16-7-fc7.onnx", divide))}


def time_network(path, kind, batch, threads, items, seed=0):
    """Run `items` inputs (at least one call) through a network `batch` at a time after one
    warm-up call; returns {'seconds_per_call', 'seconds_per_item', 'peak_rss_mb'}. Meant to run
    in a fresh process (in_fresh_process)."""
    from avt_np.features.onnx_model import open_session      # imported here: onnxruntime, slow
    session = open_session(path, kind, threads)
    inp = session.get_inputs()[0]
    out = session.get_outputs()[-1].name           # fc7 for VGG16, the embedding for VGGish
    shape = (batch, *inp.shape[1:])
    x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    session.run([out], {inp.name: x})               # warm-up: memory arena, page faults
    calls = max(1, -(-items // batch))
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        session.run([out], {inp.name: x})
        times.append(time.perf_counter() - t0)
    per_call = float(np.median(times))
    return {"seconds_per_call": per_call, "seconds_per_item": per_call / batch,
            "peak_rss_mb": peak_rss_mb()}


def time_decoding(folder, rounds=3):
    """Seconds to decode one 10 s clip (audio and its 10 frames) and to make its log-mel."""
    clip = make_clips(folder, 1)[0]
    times = video_io.frame_times(FRAMES)
    decode, logmel = [], []
    for _ in range(rounds + 1):                        # the first round warms up
        t0 = time.perf_counter()
        if clip.audio is not None:
            samples, rate = audio_fe.read_audio(clip.audio)
            video_io.read_frames_folder(Path(folder) / "frames" / clip.clip_id, times)
        else:
            samples, rate = video_io.read_audio_ffmpeg(clip.video)
            video_io.read_frames_ffmpeg(clip.video, times)
        t1 = time.perf_counter()
        audio_fe.waveform_to_examples(samples, rate)
        t2 = time.perf_counter()
        decode.append(t1 - t0)
        logmel.append(t2 - t1)
    source = "wav + JPEG frames folder" if clip.audio is not None else "mp4 via ffmpeg"
    return {"source": source, "decode": float(np.median(decode[1:])),
            "log_mel": float(np.median(logmel[1:]))}


def bench_networks(batches=(1, 4, 16, 64), threads=(2, 1), items=32, divide=1, stream=None,
                   fresh=True, rounds=3):
    """Rows of {'stage', 'threads', 'batch', 'seconds_per_call', 'seconds_per_clip',
    'peak_rss_mb', 'load'}: decoding, log-mel, then every network configuration."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="avt_np_bench_") as tmp:
        dec = time_decoding(tmp, rounds)
        for stage in ("decode", "log_mel"):
            rows.append({"stage": f"{stage} ({dec['source']})" if stage == "decode" else stage,
                         "threads": 1, "batch": 1, "seconds_per_call": dec[stage],
                         "seconds_per_clip": dec[stage], "peak_rss_mb": None,
                         "load": load_average()})
            if stream:
                print(table_row(rows[-1]), file=stream, flush=True)
        paths = build_networks(tmp, divide)
        for kind in ("vggish", "vgg16"):
            for t in threads:
                for b in batches:
                    r = in_fresh_process(time_network, paths[kind], kind, b, t, items,
                                         fresh=fresh)
                    rows.append({"stage": kind, "threads": t, "batch": b,
                                 "seconds_per_call": r["seconds_per_call"],
                                 "seconds_per_clip": r["seconds_per_item"] * FRAMES,
                                 "peak_rss_mb": r["peak_rss_mb"], "load": load_average()})
                    if stream:
                        print(table_row(rows[-1]), file=stream, flush=True)
    return rows


TABLE_HEAD = ("| stage | onnxruntime threads | batch | s per call | s per clip | peak RSS MB "
              "| load average |\n| --- | --- | --- | --- | --- | --- | --- |")


def table_row(r):
    rss = "" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.0f}"
    return (f"| {r['stage']} | {r['threads']} | {r['batch']} | {r['seconds_per_call']:.3f} "
            f"| {r['seconds_per_clip']:.3f} | {rss} | {r['load']} |")


# -- end to end --------------------------------------------------------------------------------
def make_clips(folder, n, seconds=10.0, seed=0):
    """n clips of `seconds` in folder/clips: an mp4 with audio (ffmpeg installed) or a wav plus
    folder/frames/<id>/<t>.jpg at the window centres. Returns [Clip]."""
    folder = Path(folder)
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n):
        cid = f"clip{i:03d}_0.000_{seconds:.3f}"
        if video_io.have_ffmpeg():
            path = folder / "clips" / f"{cid}.mp4"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                            f"testsrc=size=320x240:rate=25:duration={seconds}", "-f", "lavfi",
                            "-i", f"sine=frequency={200 + 50 * i}:sample_rate=44100:"
                            f"duration={seconds}", "-c:v", "libx264", "-preset", "veryfast",
                            "-c:a", "aac", "-shortest", str(path)], check=True)
            clips.append(extract.Clip(cid, video=path))
        else:
            wav = folder / "clips" / f"{cid}.wav"
            noise = rng.standard_normal((int(44100 * seconds), 2)) * 0.1
            soundfile.write(wav, noise.astype(np.float32), 44100, subtype="PCM_16")
            frames = folder / "frames" / cid
            frames.mkdir(parents=True, exist_ok=True)
            for t in video_io.frame_times(int(seconds / 0.96)):
                pixels = rng.integers(0, 256, (240, 320, 3), np.uint8)
                Image.fromarray(pixels).save(frames / f"{t:.2f}.jpg", quality=85)
            clips.append(extract.Clip(cid, audio=wav))
    return clips


def extract_once(paths, folder, clips, mode, batch, threads, out):
    """Extract `clips` into a fresh work dir with one path: 'one' (one clip at a time, no
    overlap), 'batched' (batch frames per call), 'overlap' (batched, decoding in threads).
    Returns {'seconds', 'peak_rss_mb'}; the features go to out (.npz). Run in a fresh process."""
    from avt_np.features.vgg16 import VGG16                  # imported here: onnxruntime, slow
    from avt_np.features.vggish import VGGish                # to load (fresh processes)
    vggish = VGGish(paths["vggish"], threads=threads)
    vgg16 = VGG16(paths["vgg16"], threads=threads)
    frames_dir = Path(folder) / "frames"
    extractor = extract.Extractor(vggish, vgg16, frames_dir=frames_dir if frames_dir.is_dir()
                                  else None)
    if mode != "one":
        extractor.set_batch(batch)
    group = 1 if mode == "one" else extract.clips_per_group(batch, FRAMES)
    prefetch = extract.DEFAULT_PREFETCH if mode == "overlap" else 0
    with tempfile.TemporaryDirectory(dir=folder) as work_dir:
        work = extract.WorkDir(work_dir, {})
        matched = [(c, "train", None) for c in clips]
        t0 = time.perf_counter()
        failures = extract.extract_all(matched, extractor, work, progress=False, group=group,
                                       prefetch=prefetch)
        seconds = time.perf_counter() - t0
        if failures:
            raise RuntimeError(f"bench clips failed: {failures}")
        np.savez(out, **{f"{c.clip_id}/{k}": v for c in clips
                         for k, v in work.load(c.clip_id).items()})
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb()}


MODES = ("one", "batched", "overlap")


def bench_end_to_end(n_clips=8, rounds=3, batch=16, threads=None, divide=1, stream=None,
                     fresh=True):
    """{mode: {'seconds': [per round], 'peak_rss_mb': max}, 'ratios': {mode: [one / mode]},
    'max_abs_difference': {mode: vs one}, 'loads': [per round]}."""
    result = {m: {"seconds": [], "peak_rss_mb": 0.0} for m in MODES}
    result["loads"] = []
    with tempfile.TemporaryDirectory(prefix="avt_np_bench_") as tmp:
        clips = make_clips(tmp, n_clips)
        paths = build_networks(tmp, divide)
        for r in range(rounds):
            result["loads"].append(load_average())
            for m in MODES:
                out = Path(tmp) / f"{m}.npz"
                got = in_fresh_process(extract_once, paths, tmp, clips, m, batch, threads, out,
                                       fresh=fresh)
                result[m]["seconds"].append(got["seconds"])
                result[m]["peak_rss_mb"] = max(result[m]["peak_rss_mb"], got["peak_rss_mb"])
                if stream:
                    print(f"round {r + 1}: {m} {got['seconds']:.1f} s "
                          f"(load average {load_average()})", file=stream, flush=True)
        with np.load(Path(tmp) / "one.npz") as ref:
            result["max_abs_difference"] = {}
            for m in MODES[1:]:
                with np.load(Path(tmp) / f"{m}.npz") as other:
                    result["max_abs_difference"][m] = max(
                        float(np.abs(ref[k].astype(np.float64) - other[k]).max())
                        for k in ref.files)
    result["ratios"] = {m: [a / b for a, b in zip(result["one"]["seconds"], result[m]["seconds"])]
                        for m in MODES[1:]}
    return result


# -- command line ------------------------------------------------------------------------------
def int_list(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise UsageError(f"{text!r}: expected a comma list of positive integers, e.g. 1,4,16")
    return values


def build_parser():
    p = ArgumentParser(prog="python -m avt_np.features.bench", description=__doc__)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--networks", action="store_true",
                      help="time decoding, log-mel, VGGish and VGG16 (random weights) per batch "
                           "size and thread setting")
    what.add_argument("--end-to-end", action="store_true",
                      help="time whole extractions: one clip at a time vs batched vs batched "
                           "with overlap, interleaved")
    p.add_argument("--seconds", type=float, default=60.0,
                   help="front end: audio length per call, in seconds (default: 60)")
    p.add_argument("--rounds", type=int, default=None,
                   help="interleaved rounds (default: 7 for the front end, 3 end to end and "
                        "for --networks' decoding)")
    p.add_argument("--batches", default="1,4,16,64",
                   help="--networks: batch sizes (frames or examples per call; default: "
                        "1,4,16,64)")
    p.add_argument("--threads", default=None,
                   help="onnxruntime intra-op threads: --networks a comma list (default: 2,1), "
                        "--end-to-end one value (default: onnxruntime's, one per core)")
    p.add_argument("--items", type=int, default=32,
                   help="--networks: inputs timed per configuration, at least one call "
                        "(default: 32)")
    p.add_argument("--clips", type=int, default=8, help="--end-to-end: 10 s clips (default: 8)")
    p.add_argument("--batch", type=int, default=None,
                   help="--end-to-end: frames per network call of the batched paths (default: "
                        "python -m avt_np.features' --batch default)")
    p.add_argument("--divide", type=int, default=1,
                   help="divide every width of both networks by this (tests; default: 1, the "
                        "real sizes)")
    p.add_argument("--same-process", action="store_true",
                   help="run every configuration in this process (quicker; the peak memory "
                        "column is then the largest so far; default: a fresh process each)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def run(argv=None):
    args = build_parser().parse_args(argv)
    if args.seconds < 1 or (args.rounds is not None and args.rounds < 1) or args.items < 1 \
            or args.clips < 1 or args.divide < 1:
        raise UsageError("--seconds must be at least 1, and --rounds, --items, --clips and "
                         "--divide at least 1")
    if args.networks:
        rows = bench_networks(int_list(args.batches), int_list(args.threads or "2,1"),
                              args.items, args.divide,
                              stream=None if args.json else sys.stderr,
                              fresh=not args.same_process, rounds=args.rounds or 3)
        if args.json:
            print(json.dumps({"machine": machine_line(), "rows": rows}, indent=1))
            return
        print(f"networks with random weights, median per call ({machine_line()}):")
        print(TABLE_HEAD)
        for r in rows:
            print(table_row(r))
        return
    if args.end_to_end:
        threads = int_list(args.threads)[0] if args.threads else None
        batch = args.batch or extract.DEFAULT_BATCH
        if batch < 1:
            raise UsageError(f"--batch {batch}: expected at least 1")
        start = machine_line()
        r = bench_end_to_end(args.clips, args.rounds or 3, batch, threads, args.divide,
                             stream=None if args.json else sys.stderr,
                             fresh=not args.same_process)
        if args.json:
            print(json.dumps({"machine": start, **r}, indent=1))
            return
        print(f"{args.clips} clips of 10 s, batch {batch}, onnxruntime threads "
              f"{threads or 'default'}, {len(r['loads'])} interleaved rounds; started: {start}")
        print(f"load average at the start of each round: {'; '.join(r['loads'])}")
        print("| path | median s | s per clip | speed-up vs one clip at a time (median of "
              "per-round ratios) | peak RSS MB | max abs difference vs one |")
        print("| --- | --- | --- | --- | --- | --- |")
        for m in MODES:
            med = float(np.median(r[m]["seconds"]))
            ratio = f"{np.median(r['ratios'][m]):.2f}x" if m in r["ratios"] else "1"
            diff = f"{r['max_abs_difference'][m]:.2g}" if m in r["max_abs_difference"] else "0"
            print(f"| {m} | {med:.1f} | {med / args.clips:.2f} | {ratio} | "
                  f"{r[m]['peak_rss_mb']:.0f} | {diff} |")
        return
    rounds = args.rounds or 7
    result = bench_frontend(args.seconds, rounds)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"front end, {args.seconds:g} s of audio per call, median of {rounds} rounds "
          f"(load average {load_average()}):")
    for k, r in result.items():
        print(f"{k}: {r['audio_seconds_per_second']} s of audio per s, "
              f"{r['ms_per_10s_clip']} ms per 10 s clip")


def main(argv=None):
    return cli.main(run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
