"""The VGGish log-mel front end, checked against facts computed independently of its code."""

import numpy as np
import pytest
import soundfile
from scipy.signal import get_window

from avt_np.features import AudioError, waveform_to_examples
from avt_np.features import audio

SR = 16000


def tone(freq, seconds, sr=SR, amp=0.5):
    t = np.arange(int(round(seconds * sr))) / sr
    return amp * np.sin(2 * np.pi * freq * t)


def htk_mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f, float) / 700.0)


def band_centres_hz():
    """Centres of the 64 bands: 66 points equally spaced in HTK mel from 125 to 7500 Hz."""
    mels = np.linspace(htk_mel(125.0), htk_mel(7500.0), 66)[1:-1]
    return 700.0 * (np.exp(mels / 1127.0) - 1.0)


def mean_mel_energy(x, sr=SR):
    """Mean over all frames of mel(...) = exp(log_mel) - 0.01, per band."""
    ex = waveform_to_examples(x, sr).astype(np.float64)
    return (np.exp(ex) - 0.01).reshape(-1, 64).mean(axis=0)


def test_htk_mel_scale_and_periodic_hann_match_their_definitions():
    assert audio.hertz_to_mel(700.0) == pytest.approx(1127.0 * np.log(2.0))
    assert audio.hertz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.1)   # the mel scale's anchor
    np.testing.assert_allclose(audio.periodic_hann(400), get_window("hann", 400, fftbins=True),
                               atol=1e-12)
    assert (audio.WINDOW_SAMPLES, audio.HOP_SAMPLES, audio.FFT_LENGTH) == (400, 160, 512)


@pytest.mark.parametrize("freq", [250.0, 1000.0, 2500.0, 6000.0])
def test_pure_tone_peaks_in_the_mel_band_whose_centre_is_nearest(freq):
    energy = mean_mel_energy(tone(freq, 2.0))
    expected = int(np.argmin(np.abs(htk_mel(band_centres_hz()) - htk_mel(freq))))
    assert int(np.argmax(energy)) == expected
    # The tone reaches every band whose triangle overlaps the main lobe of the 400-sample
    # periodic Hann window (+-2 * 16000 / 400 = +-80 Hz): at 250 Hz bands are ~35 Hz apart, so
    # that is several bands. Everything further away is side-lobe leakage and must be small.
    edges = 700.0 * (np.exp(np.linspace(htk_mel(125.0), htk_mel(7500.0), 66) / 1127.0) - 1.0)
    lobe = 2 * SR / 400
    touched = (edges[:-2] < freq + lobe) & (edges[2:] > freq - lobe)
    near = np.flatnonzero(touched)
    others = np.delete(energy, near)
    assert others.max() < 0.05 * energy[expected]


def test_tones_outside_125_to_7500_hz_hardly_reach_any_band():
    inside = mean_mel_energy(tone(1000.0, 2.0)).max()
    assert mean_mel_energy(tone(40.0, 2.0)).max() < 0.01 * inside
    assert mean_mel_energy(tone(7900.0, 2.0)).max() < 0.01 * inside


@pytest.mark.parametrize("samples, examples", [
    (15599, 0),          # one sample short of 400 + 95 * 160
    (15600, 1),
    (16000, 1),          # 1 s
    (32000, 2),          # 2 s: 198 frames
    (153599, 9),         # 1 + 153199 // 160 = 958 frames: two short of 10 examples
    (153999, 10),        # 1 + 153599 // 160 = 960 frames: exactly 10 examples
    (160000, 10),        # a 10 s DCASE clip
    (0, 0),
])
def test_frame_and_example_counts_follow_window_and_hop(samples, examples):
    frames = 0 if samples < 400 else 1 + (samples - 400) // 160
    assert frames // 96 == examples
    out = waveform_to_examples(np.zeros(samples, np.float32), SR)
    assert out.shape == (examples, 96, 64) and out.dtype == np.float32


def test_white_noise_energy_is_spread_as_the_mel_filters_predict():
    sigma = 0.1
    x = np.random.default_rng(0).normal(0.0, sigma, 20 * SR)
    energy = mean_mel_energy(x)
    # each rfft bin of windowed white noise is complex Gaussian with E|X|^2 = sigma^2 sum(w^2);
    # its magnitude is Rayleigh, with mean sqrt(pi/4 * E|X|^2)
    w = get_window("hann", 400, fftbins=True)
    mean_magnitude = np.sqrt(np.pi / 4 * sigma ** 2 * np.sum(w ** 2))
    # so band i gets mean_magnitude times the summed weights of its own triangle, built here
    # from the HTK edges (66 points equally spaced in mel), not with audio.mel_matrix
    bin_mel = htk_mel(np.arange(257) * SR / 512)
    edges = np.linspace(htk_mel(125.0), htk_mel(7500.0), 66)
    predicted = np.empty(64)
    for i in range(64):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (bin_mel - lo) / (mid - lo)
        down = (hi - bin_mel) / (hi - mid)
        weights = np.where(bin_mel <= mid, up, down).clip(0.0, None)
        weights[0] = 0.0                                          # VGGish ignores the DC bin
        predicted[i] = mean_magnitude * weights.sum()
    np.testing.assert_allclose(energy, predicted, rtol=0.06)


def test_stereo_is_averaged_to_mono_first():
    rng = np.random.default_rng(1)
    left, right = rng.uniform(-0.5, 0.5, (2, 3 * SR))
    stereo = np.stack([left, right], axis=1)
    np.testing.assert_allclose(waveform_to_examples(stereo, SR),
                               waveform_to_examples((left + right) / 2, SR), atol=1e-6)
    np.testing.assert_allclose(waveform_to_examples(np.stack([left, left], 1), SR),
                               waveform_to_examples(left, SR), atol=1e-6)


def multitone(sr, seconds=5.0):
    return sum(a * tone(f, seconds, sr, 1.0) for f, a in [(200, .3), (900, .2), (3100, .1), (6500, .05)])


@pytest.mark.parametrize("sr", [44100, 48000, 22050])
def test_other_sample_rates_match_the_16k_path_within_tolerance(sr):
    reference = waveform_to_examples(multitone(SR), SR)
    other = waveform_to_examples(multitone(sr), sr)
    assert other.shape == reference.shape
    loud = reference > np.log(0.1)            # bands holding the tones' energy
    assert loud.mean() > 0.1
    assert np.abs(other - reference)[loud].max() < 0.01
    assert np.abs(other - reference).max() < 0.5     # near-silent bands: resampler leakage


def test_int16_is_divided_by_32768_and_floats_are_not_scaled_again():
    pcm = (tone(440.0, 2.0) * 20000).astype(np.int16)
    np.testing.assert_allclose(waveform_to_examples(pcm, SR),
                               waveform_to_examples(pcm / 32768.0, SR), atol=1e-6)
    with pytest.raises(AudioError, match="integer PCM"):
        waveform_to_examples(pcm.astype(np.float32), SR)


def test_silence_is_log_of_the_offset_everywhere():
    out = waveform_to_examples(np.zeros(2 * SR), SR)
    np.testing.assert_allclose(out, np.log(0.01), rtol=1e-6)


def test_nan_samples_and_bad_rates_are_clear_errors():
    x = tone(440.0, 1.0)
    x[100] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        waveform_to_examples(x, SR)
    with pytest.raises(AudioError, match="sample rate"):
        waveform_to_examples(tone(440.0, 1.0), 0)
    with pytest.raises(AudioError, match="shape"):
        waveform_to_examples(np.zeros((2, 2, 2)), SR)


def test_files_are_read_with_soundfile_like_the_arrays(tmp_path):
    pcm = (tone(440.0, 2.0, 44100) * 20000).astype(np.int16)
    path = tmp_path / "a.wav"
    soundfile.write(path, np.stack([pcm, pcm // 2], 1), 44100, subtype="PCM_16")
    np.testing.assert_allclose(audio.examples_from_file(path),
                               waveform_to_examples(np.stack([pcm, pcm // 2], 1), 44100), atol=1e-5)


def test_short_and_unreadable_files_raise_audio_error(tmp_path):
    short = tmp_path / "short.wav"
    soundfile.write(short, tone(440.0, 0.9), SR)
    with pytest.raises(AudioError, match="shorter than one VGGish example"):
        audio.examples_from_file(short)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav file at all")
    with pytest.raises(AudioError, match="cannot read audio"):
        audio.examples_from_file(junk)


@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="needs the ffmpeg command")
def test_a_file_libsndfile_cannot_open_is_decoded_with_ffmpeg(tmp_path):
    import subprocess
    path = tmp_path / "tone.m4a"                   # AAC in MP4: not a libsndfile format
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "sine=frequency=1000:sample_rate=22050:duration=2", "-c:a", "aac", str(path)],
                   check=True, capture_output=True)
    with pytest.raises(Exception):
        soundfile.read(str(path))
    samples, rate = audio.read_audio(path)
    assert rate == 22050 and samples.dtype == np.float32 and samples.shape[1] == 1
    assert abs(samples.shape[0] / rate - 2.0) < 0.1
    spectrum = np.abs(np.fft.rfft(samples[:, 0]))
    assert abs(np.argmax(spectrum) * rate / samples.shape[0] - 1000) < 5
    assert audio.examples_from_file(path).shape[0] == 2


def test_without_ffmpeg_an_unreadable_file_is_an_audio_error(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    path = tmp_path / "tone.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A not really")
    with pytest.raises(AudioError, match="cannot read audio from .*tone.m4a") as e:
        audio.read_audio(path)
    assert "; ffmpeg:" not in str(e.value) and "\n" not in str(e.value)
