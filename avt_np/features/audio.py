"""VGGish's log-mel front end in NumPy/SciPy: waveform -> (n, 96, 64) examples.

Sec. 3.2.1 of the paper: "logarithmic mel spectrograms are extracted ... a sliding window of
960 ms with a hop of 960 ms ... passed through vggish". The numbers are VGGish's own
(Hershey et al. 2017; `vggish_params.py` and `mel_features.py` of Google's release,
github.com/tensorflow/models, research/audioset/vggish):

    16 kHz mono -> |STFT| with a 25 ms periodic Hann window, 10 ms hop, FFT 512
    -> 64 triangular mel bands, 125-7500 Hz, HTK mel scale 1127 ln(1 + f / 700)
    -> log(mel + 0.01) -> non-overlapping examples of 96 frames (0.96 s).

Counting: a clip of N samples at 16 kHz has 1 + floor((N - 400) / 160) frames and
floor(frames / 96) examples, so one example needs 400 + 95 * 160 = 15,600 samples (0.975 s)
and a 10 s clip gives 10 examples. Shorter clips give zero examples (not an error: the
caller decides; `examples_from_file` says why in its message).

Resampling is polyphase (`scipy.signal.resample_poly`, its default Kaiser window, beta 5).
Google's VGGish uses `resampy`, so embeddings of non-16 kHz audio differ slightly from theirs
(as they do between resampy versions); 16 kHz input is bit-for-bit the same path.
"""

from math import gcd

import numpy as np
import soundfile
from scipy.signal import resample_poly

from avt_np.cli import first_line

SAMPLE_RATE = 16000
WINDOW_SECONDS = 0.025
HOP_SECONDS = 0.010
NUM_MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96                   # 0.96 s of 10 ms frames, hop = window (no overlap)

WINDOW_SAMPLES = int(round(SAMPLE_RATE * WINDOW_SECONDS))          # 400
HOP_SAMPLES = int(round(SAMPLE_RATE * HOP_SECONDS))                # 160
FFT_LENGTH = 2 ** int(np.ceil(np.log2(WINDOW_SAMPLES)))            # 512
MIN_SAMPLES = WINDOW_SAMPLES + (EXAMPLE_FRAMES - 1) * HOP_SAMPLES  # 15,600 = one example


class AudioError(ValueError):
    """A waveform or audio file the front end cannot turn into examples."""


# -- the pieces --------------------------------------------------------------------------------
def hertz_to_mel(f):
    """HTK mel scale: m = 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def periodic_hann(n):
    """Periodic Hann window of length n (the 'sym=False' form: 0.5 - 0.5 cos(2 pi k / n))."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi / n * np.arange(n))


def mel_matrix(num_bands=NUM_MEL_BANDS, num_bins=FFT_LENGTH // 2 + 1, sample_rate=SAMPLE_RATE,
               low_hz=MEL_MIN_HZ, high_hz=MEL_MAX_HZ):
    """(num_bins, num_bands) weights mapping an rfft magnitude spectrum to mel bands.

    Band i is a triangle in the mel domain with edges at points i, i+1, i+2 of num_bands + 2
    equally spaced mel values from mel(low_hz) to mel(high_hz); peak 1, no area normalisation.
    The DC bin gets zero weight (as in VGGish).
    """
    if not 0.0 <= low_hz < high_hz <= sample_rate / 2:
        raise ValueError(f"need 0 <= low_hz < high_hz <= Nyquist, got {low_hz}, {high_hz}")
    bin_mel = hertz_to_mel(np.linspace(0.0, sample_rate / 2, num_bins))[:, None]   # (bins, 1)
    edges = np.linspace(hertz_to_mel(low_hz), hertz_to_mel(high_hz), num_bands + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]                      # (bands,)
    rising = (bin_mel - lower) / (centre - lower)
    falling = (upper - bin_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


_MEL = mel_matrix()           # (257, 64), float64
_WINDOW = periodic_hann(WINDOW_SAMPLES)


def frame_count(num_samples):
    """STFT frames VGGish gets from num_samples at 16 kHz (0 if shorter than one window)."""
    if num_samples < WINDOW_SAMPLES:
        return 0
    return 1 + (num_samples - WINDOW_SAMPLES) // HOP_SAMPLES


def example_count(num_samples):
    """0.96 s examples VGGish gets from num_samples at 16 kHz."""
    return frame_count(num_samples) // EXAMPLE_FRAMES


def to_float_mono(samples):
    """Any PCM array -> float64 mono in [-1, 1].

    samples: (N,) or (N, channels); int16 / int32 / uint8 PCM or float already in [-1, 1].
    Integers are scaled by their full range (int16 / 32768); floats are taken as they are,
    never divided again. Channels are averaged (before any resampling).
    """
    x = np.asarray(samples)
    if x.ndim not in (1, 2):
        raise AudioError(f"expected samples of shape (N,) or (N, channels), got {x.shape}")
    if x.dtype == np.uint8:
        x = (x.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(x.dtype, np.signedinteger):
        x = x.astype(np.float64) / float(2 ** (8 * x.dtype.itemsize - 1))
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64, copy=False)
        bad = ~np.isfinite(x)
        if bad.any():
            raise AudioError(f"waveform has {int(bad.sum())} NaN/inf samples of {x.size}")
        peak = float(np.abs(x).max(initial=0.0))
        if peak > 4.0:
            raise AudioError(f"float samples should lie in [-1, 1], peak is {peak:.4g}: this "
                             "looks like integer PCM stored as float; pass int16 or divide "
                             "by 32768 first")
    else:
        raise AudioError(f"unsupported sample dtype {x.dtype}")
    if x.ndim == 2:
        x = x.mean(axis=1)
    return x


def resample_to_16k(x, sample_rate):
    """Polyphase resampling of a mono float signal to 16 kHz (identity at 16 kHz)."""
    sample_rate = int(sample_rate)
    if sample_rate <= 0:
        raise AudioError(f"sample rate must be positive, got {sample_rate}")
    if sample_rate == SAMPLE_RATE or x.size == 0:
        return x
    g = gcd(SAMPLE_RATE, sample_rate)
    return resample_poly(x, SAMPLE_RATE // g, sample_rate // g)


def log_mel_spectrogram(x):
    """16 kHz mono float signal (N,) -> log-mel frames (frame_count(N), 64), float64."""
    n = frame_count(x.size)
    if n == 0:
        return np.zeros((0, NUM_MEL_BANDS))
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW_SAMPLES)[::HOP_SAMPLES][:n]
    magnitude = np.abs(np.fft.rfft(frames * _WINDOW, n=FFT_LENGTH, axis=1))   # (n, 257)
    return np.log(magnitude @ _MEL + LOG_OFFSET)


def waveform_to_examples(samples, sample_rate):
    """Waveform -> VGGish input examples.

    samples: (N,) or (N, channels), int PCM or float in [-1, 1]; sample_rate in Hz.
    Returns float32 (n, 96, 64) with n = example_count of the 16 kHz signal (n may be 0).
    Raises AudioError for NaN/inf samples, a non-positive rate, or float input far outside
    [-1, 1]. Silence is valid: every value is log(0.01).
    """
    x = resample_to_16k(to_float_mono(samples), sample_rate)
    log_mel = log_mel_spectrogram(x)
    n = log_mel.shape[0] // EXAMPLE_FRAMES
    return log_mel[: n * EXAMPLE_FRAMES].reshape(n, EXAMPLE_FRAMES, NUM_MEL_BANDS).astype(np.float32)


# -- files -------------------------------------------------------------------------------------
def read_audio(path):
    """Read an audio file -> (float32 (N, channels) in [-1, 1], sample_rate).

    libsndfile (soundfile) first; int16 files come back divided by 32768 (its float
    conversion). A file it cannot open (mp3 or opus with an old libsndfile, m4a, ...) is decoded
    with the ffmpeg command when it is installed (`video.read_audio_ffmpeg`); otherwise, or if
    ffmpeg fails too, AudioError.
    """
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        first = first_line(e)
        from avt_np.features import video          # imported here: video imports vgg16 (PIL)
        if not video.have_ffmpeg():
            raise AudioError(f"cannot read audio from {path}: {first}") from None
        try:
            return video.read_audio_ffmpeg(path)
        except video.VideoError as ve:
            raise AudioError(f"cannot read audio from {path}: {first}; ffmpeg: {ve}") from None
    return samples, rate


def examples_from_file(path):
    """Audio file -> (n, 96, 64) examples; AudioError if unreadable or shorter than 0.975 s."""
    samples, rate = read_audio(path)
    examples = waveform_to_examples(samples, rate)
    if examples.shape[0] == 0:
        seconds = samples.shape[0] / rate
        raise AudioError(f"{path}: {seconds:.3f} s of audio is shorter than one VGGish example "
                         f"({MIN_SAMPLES} samples at 16 kHz = {MIN_SAMPLES / SAMPLE_RATE} s)")
    return examples
