"""Video frames at the centres of the 0.96 s audio windows, and audio from video containers.

Sec. 3.2.1: "The sampling times are chosen to coincide with the centers of the possible
positions of the sliding window used in the audio preprocessing": t_k = 0.48 + 0.96 k s.

Which frame is "at" t: the frame on screen at t, i.e. frame floor(t * fps) counted from the
first decoded frame, with fps from ffprobe (average frame rate). Times come from frame
index / fps, not from the container's position (unreliable near the end of a file). The
`ffmpeg` command decodes every frame up to the last time needed (`-vsync 0`, no frame dropped
or duplicated) and scales/crops in its filter graph:

    scale=256:256:force_original_aspect_ratio=increase:flags=bilinear,crop=224:224

(shorter side to 256, centre 224 x 224). A folder of images named by time
(`<seconds>.jpg|png`, e.g. `0.48.jpg`) is the alternative without ffmpeg: the image shown at
t is the latest one with time <= t and less than 0.96 s older, resized with PIL
(vgg16.resize_and_crop). We keep this "on screen at t" rule rather than matching the nearest
image: it is the ffmpeg reader's rule too, so both sources give the same frames. A folder named
for other times (0.50.jpg, 1.50.jpg, ...) therefore has no frame at 0.48 s, and the extractor
refuses that clip with a message listing the times it has and the times expected
(`folder_times_hint`). A window with no frame (video too short) is reported as missing, never
filled with a neighbour.

ffmpeg and ffprobe run with a timeout (`timeout_for`: 10 s per second of media, at least 60 s;
a hung decoder becomes a VideoError, i.e. a skipped clip). The frame reader takes frames from
ffmpeg's stdout while it runs, so its stderr goes to a temporary file: a corrupt file that
makes ffmpeg print megabytes of warnings cannot fill a pipe nobody reads and block it. The
other calls (ffprobe, audio decoding) run to completion through subprocess.run, which reads
stdout and stderr together.
"""

import json
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from avt_np.data.format import FRAME_HOP_SECONDS
from avt_np.features.vgg16 import SHORT_SIDE, SIZE, resize_and_crop

FIRST_CENTRE = 0.48
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
EPS = 1e-6                      # 0.48 * 25 is 12.000000000000002 or 11.999999999999998
FFMPEG_FILTER = (f"scale={SHORT_SIDE}:{SHORT_SIDE}:force_original_aspect_ratio=increase"
                 f":flags=bilinear,crop={SIZE}:{SIZE}")


class VideoError(ValueError):
    """A video (or frame folder) that cannot give the frames asked for."""


def frame_times(n):
    """Centres of the first n windows: 0.48, 1.44, 2.40, ... seconds."""
    return FIRST_CENTRE + FRAME_HOP_SECONDS * np.arange(n)


def have_ffmpeg():
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def require_ffmpeg():
    if not have_ffmpeg():
        raise VideoError("the ffmpeg and ffprobe commands are not installed "
                         "(Debian/Ubuntu: apt-get install -y ffmpeg); or pass --audio-only "
                         "or --frames-dir")


MIN_TIMEOUT = 60.0                 # seconds any ffmpeg / ffprobe call may take
TIMEOUT_PER_SECOND = 10.0          # ... plus this much per second of media decoded
UNKNOWN_DURATION_TIMEOUT = 600.0  # seconds, when ffprobe reports no duration


def timeout_for(seconds):
    """Seconds an ffmpeg call decoding `seconds` of media may run (None: duration unknown)."""
    if seconds is None:
        return UNKNOWN_DURATION_TIMEOUT
    return max(MIN_TIMEOUT, TIMEOUT_PER_SECOND * float(seconds))


def _last_line(err, default):
    lines = err.decode(errors="replace").strip().splitlines() if err else []
    return lines[-1] if lines else default


def _run(cmd, what, timeout=MIN_TIMEOUT):
    """Run cmd to completion (communicate: no pipe can fill up); VideoError on failure/timeout."""
    try:
        return subprocess.run(cmd, capture_output=True, check=True, timeout=timeout)
    except subprocess.CalledProcessError as e:
        raise VideoError(f"{what}: {_last_line(e.stderr, 'ffmpeg failed')}") from None
    except subprocess.TimeoutExpired:
        raise VideoError(f"{what}: {cmd[0]} did not finish within {timeout:g} s") from None


def probe(path):
    """ffprobe facts: {'video': {fps, width, height} or None, 'audio': {rate, channels} or None,
    'duration': seconds or None}."""
    require_ffmpeg()
    out = _run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
                str(path)], f"cannot probe {path}")
    try:
        facts = json.loads(out.stdout)
    except ValueError:
        raise VideoError(f"cannot probe {path}: ffprobe printed no JSON") from None
    duration = _float(facts.get("format", {}).get("duration"))
    info = {"video": None, "audio": None, "duration": duration}
    for s in facts.get("streams", []):
        if s.get("codec_type") == "video" and info["video"] is None \
                and not s.get("disposition", {}).get("attached_pic"):
            fps = _rate(s.get("avg_frame_rate")) or _rate(s.get("r_frame_rate"))
            info["video"] = {"fps": fps, "width": s.get("width"), "height": s.get("height")}
        elif s.get("codec_type") == "audio" and info["audio"] is None:
            info["audio"] = {"rate": int(s["sample_rate"]), "channels": int(s["channels"])}
    return info


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _rate(text):
    try:
        num, den = (text or "0/0").split("/")
        return float(num) / float(den) if float(den) else None
    except ValueError:
        return None


def read_frames_ffmpeg(path, times):
    """Frames on screen at `times` -> (uint8 (len(times), 224, 224, 3), present bool (len(times),)).

    Missing frames (times past the end of the video) are zeros with present = False.
    """
    info = probe(path)["video"]
    if info is None:
        raise VideoError(f"{path}: no video stream")
    fps = info["fps"]
    if not fps:
        raise VideoError(f"{path}: ffprobe reports no frame rate")
    times = np.asarray(times, np.float64)
    wanted = np.floor(times * fps + EPS).astype(int)               # frame index per time
    frames = np.zeros((len(times), SIZE, SIZE, 3), np.uint8)
    present = np.zeros(len(times), bool)
    if len(times) == 0:
        return frames, present
    seconds = times.max() + 2.0 / fps
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-t", f"{seconds:.6f}", "-an", "-sn", "-vsync", "0",
           "-vf", FFMPEG_FILTER, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    size = SIZE * SIZE * 3
    index, last = 0, wanted.max()
    timeout = timeout_for(seconds)
    with tempfile.TemporaryFile() as errfile:                   # never a pipe that can fill
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errfile)
        killed = threading.Event()
        timer = threading.Timer(timeout, lambda: (killed.set(), proc.kill()))
        timer.start()                                            # a hung decoder is killed
        try:
            while index <= last:
                buf = proc.stdout.read(size)
                if len(buf) < size:
                    break
                hits = np.flatnonzero(wanted == index)
                if hits.size:
                    frames[hits] = np.frombuffer(buf, np.uint8).reshape(SIZE, SIZE, 3)
                    present[hits] = True
                index += 1
        finally:
            timer.cancel()
            proc.stdout.close()
            proc.kill()
            proc.wait()
            errfile.seek(0)
            err = errfile.read()
    if killed.is_set() and index <= last:
        raise VideoError(f"{path}: ffmpeg did not finish within {timeout:g} s")
    if index == 0:
        raise VideoError(f"{path}: ffmpeg decoded no frame ({_last_line(err, 'no output')})")
    return frames, present


def image_time(path):
    """Seconds encoded in an image name: '0.48.jpg' -> 0.48, 'frame_001.440.png' -> 1.44."""
    m = re.search(r"(\d+(?:\.\d*)?)$", Path(path).stem)
    return float(m.group(1)) if m else None


def read_frames_folder(folder, times):
    """Like read_frames_ffmpeg, from a folder of images named by their time in seconds."""
    folder = Path(folder)
    images = sorted((t, p) for p in folder.iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and (t := image_time(p)) is not None)
    if not images:
        raise VideoError(f"{folder}: no image named by time (e.g. 0.48.jpg)")
    stamps = np.array([t for t, _ in images])
    times = np.asarray(times, np.float64)
    frames = np.zeros((len(times), SIZE, SIZE, 3), np.uint8)
    present = np.zeros(len(times), bool)
    for k, t in enumerate(times):
        i = np.searchsorted(stamps, t + EPS, side="right") - 1          # latest image <= t
        if i < 0 or t - stamps[i] >= FRAME_HOP_SECONDS:                  # none yet, or stale
            continue
        try:
            with Image.open(images[i][1]) as im:
                frames[k] = resize_and_crop(im)
        except OSError as e:
            raise VideoError(f"cannot read image {images[i][1]}: {e}") from None
        present[k] = True
    return frames, present


def folder_times_hint(folder, times):
    """Why a frames folder gave no frame for the first window: the times it has, those expected."""
    stamps = sorted(t for p in Path(folder).iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and (t := image_time(p)) is not None)
    have = ", ".join(f"{t:g}" for t in stamps[:4]) + (", ..." if len(stamps) > 4 else "")
    want = ", ".join(f"{t:.2f}" for t in np.asarray(times)[:3]) + ", ..."
    return (f"{folder} has images at {have} s, but none at or less than {FRAME_HOP_SECONDS} s "
            f"before {FIRST_CENTRE} s; expected images named by the window centres "
            f"{FIRST_CENTRE} + {FRAME_HOP_SECONDS} k s ({want}), e.g. {FIRST_CENTRE:.2f}.jpg")


def read_audio_ffmpeg(path):
    """Audio track of any container ffmpeg reads -> (float32 (N, channels), sample_rate)."""
    facts = probe(path)
    info = facts["audio"]
    if info is None:
        raise VideoError(f"{path}: no audio stream")
    out = _run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:a:0", "-vn",
                "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"], f"cannot decode audio of {path}",
               timeout=timeout_for(facts["duration"]))
    samples = np.frombuffer(out.stdout, np.float32)
    samples = samples[: samples.size - samples.size % info["channels"]]
    return samples.reshape(-1, info["channels"]), info["rate"]
