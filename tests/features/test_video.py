"""Frames at the window centres t_k = 0.48 + 0.96 k s, from a real video (ffmpeg) or a folder."""

import numpy as np
import pytest
from PIL import Image

from avt_np.features import video
from avt_np.features.extract import Clip, Extractor
from avt_np.features.vgg16 import VGG16
from avt_np.features.vggish import VGGish
from tests.features import standins
from tests.features.conftest import FPS, frame_colour, frame_index, needs_ffmpeg, write_mp4


def test_frame_times_are_the_centres_of_the_096_s_windows():
    np.testing.assert_allclose(video.frame_times(4), [0.48, 1.44, 2.40, 3.36])


@needs_ffmpeg
def test_ffmpeg_reader_returns_the_frame_on_screen_at_each_centre(tmp_path):
    path = write_mp4(tmp_path / "c.mp4", seconds=4.0)            # 100 frames at 25 fps
    times = video.frame_times(5)                                  # 3.36 s and 4.32 s: 84, past end
    frames, present = video.read_frames_ffmpeg(path, times)
    assert frames.shape == (5, 224, 224, 3)
    np.testing.assert_array_equal(present, [True, True, True, True, False])
    # floor(t * 25): 0.48 s is frame 12 exactly, whatever the float rounding of 0.48 * 25
    got = [frame_index(f.reshape(-1, 3).mean(0)) for f in frames[present]]
    assert got == [12, 36, 60, 84]
    assert (frames[~present] == 0).all()


@needs_ffmpeg
def test_the_frames_fed_to_vgg16_are_those_at_the_expected_times(tmp_path):
    """Through Extractor and the VGG16 stand-in, whose fc7 reveals each input's mean colour."""
    path = write_mp4(tmp_path / "c.mp4", seconds=3.0)
    standins.make_vggish(tmp_path / "vggish.onnx")
    fc7_file = standins.make_vgg16(tmp_path / "vgg16.onnx", expose_fc7=True)
    extractor = Extractor(VGGish(tmp_path / "vggish.onnx"), VGG16(fc7_file), frames=4)
    frames, present = extractor.video_frames(Clip("c", video=path))
    fc7 = extractor.vgg16(frames[present])
    rgb = standins.vgg16_mean_rgb(fc7)
    assert [frame_index(c) for c in rgb] == [round(np.floor(t * FPS + 1e-6))
                                             for t in video.frame_times(4)[:3]]
    np.testing.assert_allclose(rgb, [frame_colour(k) for k in (12, 36, 60)], atol=3)


@needs_ffmpeg
def test_audio_track_of_a_video_is_decoded_with_its_rate(tmp_path):
    path = write_mp4(tmp_path / "c.mp4", seconds=2.0, audio_freq=1000)
    samples, rate = video.read_audio_ffmpeg(path)
    assert rate == 44100 and samples.shape[1] == 1
    assert abs(samples.shape[0] / rate - 2.0) < 0.1
    spectrum = np.abs(np.fft.rfft(samples[:, 0]))
    assert abs(np.argmax(spectrum) * rate / samples.shape[0] - 1000) < 5


@needs_ffmpeg
def test_broken_video_is_a_video_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(video.VideoError):
        video.read_frames_ffmpeg(bad, video.frame_times(2))


def test_folder_reader_takes_the_latest_image_at_or_before_each_time(tmp_path):
    for t, level in [(0.0, 20), (0.48, 60), (1.0, 100), (2.5, 140)]:
        Image.new("RGB", (320, 240), (level, level, level)).save(tmp_path / f"{t:.2f}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    frames, present = video.read_frames_folder(tmp_path, video.frame_times(5))
    # 0.48 -> the image named 0.48; 1.44 -> 1.00; 3.36 -> 2.50. At 2.40 the latest image (1.00)
    # and at 4.32 (2.50) are a window (0.96 s) old or more: missing, never repeated
    np.testing.assert_array_equal(present, [True, True, False, True, False])
    np.testing.assert_array_equal(frames[present].reshape(3, -1).mean(1), [60, 100, 140])
    assert (frames[~present] == 0).all()


def test_folder_without_images_named_by_time_is_a_video_error(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "cover.png")
    with pytest.raises(video.VideoError, match="no image named by time"):
        video.read_frames_folder(tmp_path, video.frame_times(2))


def fake_ffmpeg(monkeypatch, folder, body):
    """Put `ffmpeg` (running the Python `body`) and an `ffprobe` reporting one 25 fps video
    stream first on PATH, for this test only (monkeypatch restores PATH)."""
    import json
    import os
    import sys
    folder.mkdir()
    probe = {"streams": [{"codec_type": "video", "avg_frame_rate": "25/1", "width": 64,
                          "height": 48}], "format": {"duration": "3.0"}}
    for name, code in [("ffprobe", f"print({json.dumps(json.dumps(probe))})"), ("ffmpeg", body)]:
        path = folder / name
        path.write_text(f"#!{sys.executable}\nimport sys, time\n{code}\n")
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_ffmpeg_flooding_stderr_cannot_block_the_frame_pipe(tmp_path, monkeypatch):
    fake_ffmpeg(monkeypatch, tmp_path / "bin",
                "sys.stderr.write('warning: corrupt macroblock\\n' * 40000)\n"
                "sys.stderr.flush()\n"
                "sys.stdout.buffer.write(bytes([7]) * (224 * 224 * 3 * 40))")
    frames, present = video.read_frames_ffmpeg(tmp_path / "any.mp4", video.frame_times(2))
    np.testing.assert_array_equal(present, [True, True])             # frames 12 and 36
    assert (frames == 7).all()


def test_a_hung_ffmpeg_is_killed_after_its_timeout_and_is_a_video_error(tmp_path, monkeypatch):
    fake_ffmpeg(monkeypatch, tmp_path / "bin", "time.sleep(60)")
    monkeypatch.setattr(video, "MIN_TIMEOUT", 0.5)
    monkeypatch.setattr(video, "TIMEOUT_PER_SECOND", 0.0)
    with pytest.raises(video.VideoError, match="did not finish within 0.5 s"):
        video.read_frames_ffmpeg(tmp_path / "any.mp4", video.frame_times(2))
    with pytest.raises(video.VideoError, match="ffmpeg did not finish"):
        video._run(["ffmpeg"], "cannot decode audio of any.mp4", timeout=0.5)


def test_ffmpeg_timeouts_scale_with_the_duration_and_are_at_least_a_minute():
    assert video.timeout_for(2.0) == 60.0 and video.timeout_for(30.0) == 300.0
    assert video.timeout_for(None) == 600.0
