"""Fixtures for the feature tests: stand-in weights and short generated clips.

Clips are made in the test: audio with soundfile, video as solid-colour frames written with
Pillow and encoded by the ffmpeg command (libx264, 25 fps). Frame k's colour encodes k, so the
VGG16 stand-in's fc7 (which reveals each input frame's mean colour) tells which decoded frame
reached the model.
"""

import shutil
import subprocess

import numpy as np
import pytest
import soundfile

from tests.features import standins

SR = 16000
FPS = 25
LEVELS = 16 + 32 * np.arange(8)                 # 8 well-separated 8-bit levels per channel

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="the ffmpeg command is not installed (.ci/run installs it)")


def frame_colour(k):
    """RGB of frame k (< 512): its three digits in base 8, as well-separated levels."""
    return np.array([LEVELS[k % 8], LEVELS[(k // 8) % 8], LEVELS[(k // 64) % 8]], np.uint8)


def frame_index(rgb):
    """Invert frame_colour from a (3,) mean colour (robust to codec noise of a few levels)."""
    r, g, b = (int(np.argmin(np.abs(LEVELS - v))) for v in rgb[:3])
    return r + 8 * g + 64 * b


def tone(freq, seconds, sr=SR, amp=0.3):
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_wav(path, seconds, freq=440.0, sr=SR):
    soundfile.write(path, tone(freq, seconds, sr), sr, subtype="PCM_16")
    return path


def write_mp4(path, seconds, fps=FPS, size=(64, 48), audio_freq=None):
    """Solid frames coloured by frame_colour(k), encoded with libx264 (+ an AAC sine if asked)."""
    n = int(round(seconds * fps))
    w, h = size
    frames = np.empty((n, h, w, 3), np.uint8)
    frames[:] = np.stack([frame_colour(k) for k in range(n)])[:, None, None, :]
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0"]
    if audio_freq:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency={audio_freq}:sample_rate=44100:duration={seconds}",
                "-c:a", "aac", "-shortest"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv444p",
            str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True, capture_output=True)
    return path


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A weights folder holding the stand-ins under the real file names; $AVT_NP_WEIGHTS -> it."""
    folder = tmp_path / "weights"
    folder.mkdir()
    standins.make_vggish(folder / "vggish.onnx")
    standins.make_vgg16(folder / "vgg16-7.onnx")
    standins.make_vgg16(folder / "vgg16-7-fc7.onnx", expose_fc7=True)
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(folder))
    return folder


def write_frames(folder, seconds, colour=(60, 90, 120)):
    """Images named by the window centres (0.48.jpg, 1.44.jpg, ...) for `seconds` of video,
    each a different shade, so VGG16 stand-in features differ per frame."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(int(seconds / 0.96 + 0.5)):
        Image.new("RGB", (80, 60), (colour[0] + 10 * k, colour[1], colour[2])).save(
            folder / f"{0.48 + 0.96 * k:.2f}.png")
    return folder
