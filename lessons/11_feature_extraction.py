# %% [markdown]
# # Lesson 11: from a sound to the model's frames
#
# What you learn here:
# - VGGish's log-mel front end (Sec. 3.2.1), step by step, on a sound generated here: a siren,
#   a two-tone horn and a few knocks (no download);
# - the mel filterbank: 64 triangles, narrow at low and wide at high frequencies (a picture);
# - how a 10 s clip becomes 10 examples of 0.96 s, and at which times the video frames are taken
#   (the window centres, 0.48 + 0.96 k s), with the timing drawn on the spectrogram;
# - what happens to clips that are not a whole number of windows long.
# The embeddings themselves come from VGGish and VGG16 (ONNX, `python -m avt_np.weights fetch`);
# this lesson stops at their inputs.
#
# Run: python lessons/11_feature_extraction.py   (2-3 s on 2 cores; see lessons/README.md)

# %%
import numpy as np
import soundfile
from PIL import ImageDraw

from avt_np import plot
from avt_np.features import audio, video

out = plot.lesson_output("11_feature_extraction")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. A sound to look at
# 10 s at 16 kHz: a siren gliding between 650 and 1300 Hz twice a second for the first 4 s, a
# horn (two tones, 440 and 550 Hz, with harmonics) from 5.0 to 6.5 s, knocks (short bursts
# of noise) at 7.5, 8.0 and 8.5 s, and faint background noise throughout. Written as a 16-bit
# WAV file and read back the way the feature extractor reads clips.

# %%
rate, seconds = 16000, 10.0
t = np.arange(int(rate * seconds)) / rate
sound = 0.003 * rng.standard_normal(t.size)
siren_f = 975 + 325 * np.sin(2 * np.pi * 2.0 * t)                       # instantaneous Hz
siren = 0.3 * np.sin(2 * np.pi * np.cumsum(siren_f) / rate)
sound += np.where(t < 4.0, siren, 0.0)
horn = sum(0.12 / h * np.sin(2 * np.pi * h * f * t) for f in (440, 550) for h in (1, 2, 3))
sound += np.where((t >= 5.0) & (t < 6.5), horn, 0.0)
for knock in (7.5, 8.0, 8.5):
    near = (t >= knock) & (t < knock + 0.04)
    sound[near] += 0.5 * rng.standard_normal(near.sum()) * np.exp(-(t[near] - knock) / 0.01)
wav = out / "generated.wav"
soundfile.write(wav, np.clip(sound, -1, 1), rate, subtype="PCM_16")
samples, file_rate = audio.read_audio(wav)
print(f"{wav}: {samples.shape[0]} samples at {file_rate} Hz, {samples.shape[1]} channel(s)")

# %% [markdown]
# ## 2. The front end
# VGGish's numbers (avt_np/features/audio.py):
#
#     16 kHz mono -> frames of 25 ms (400 samples) every 10 ms (160), periodic Hann window
#     -> |FFT| with 512 points: 257 frequency bins, 31.25 Hz apart
#     -> 64 mel bands between 125 and 7500 Hz -> log(mel + 0.01)
#     -> examples of 96 frames (0.96 s), side by side, no overlap: (n, 96, 64)
#
# A clip of N samples gives 1 + (N - 400) // 160 frames: 998 for 10 s, so 10 examples and 38
# frames left over.

# %%
x = audio.resample_to_16k(audio.to_float_mono(samples), file_rate)
log_mel = audio.log_mel_spectrogram(x)                                   # (frames, 64)
examples = audio.waveform_to_examples(samples, file_rate)               # (10, 96, 64)
print(f"frames: {audio.frame_count(x.size)} -> log-mel {log_mel.shape} "
      f"-> examples {examples.shape}")
assert audio.frame_count(x.size) == 998 and examples.shape == (10, 96, 64)
assert 998 - 10 * 96 == 38, "38 frames left over"
print(f"silence floor log(0.01) = {np.log(0.01):.2f}; this clip from {log_mel.min():.2f} "
      f"to {log_mel.max():.2f}")

# %% [markdown]
# ## 3. The mel filterbank
# Band i is a triangle on the mel scale, m = 1127 ln(1 + f / 700), between points i and i + 2 of
# 66 equally spaced mel values. Equal steps in mel are small steps in Hz at low frequencies and
# large ones at high frequencies, like the ear's resolution. The lowest bands are narrower than
# the 31.25 Hz spacing of the FFT bins, so each sees a single bin (and their centres, read off
# the bins, are rounded to it). The picture shows every 9th band.

# %%
weights = audio.mel_matrix()                                             # (257, 64)
bin_hz = np.linspace(0, rate / 2, weights.shape[0])
centres = bin_hz[weights.argmax(0)]
print(f"band centres (Hz): first {centres[:3].round().tolist()}, "
      f"last {centres[-3:].round().tolist()}")
print(f"FFT bins under a band: band 0 {np.count_nonzero(weights[:, 0])}, "
      f"band 63 {np.count_nonzero(weights[:, 63])}")
assert np.count_nonzero(weights[:, 0]) == 1 < np.count_nonzero(weights[:, 63]), \
    "the lowest band sees a single FFT bin, the highest many"
bands = range(0, 64, 9)
picture = plot.line_plot({f"band {b} (~{centres[b]:.0f} Hz)": (bin_hz, weights[:, b])
                          for b in bands},
                         title="mel filterbank: every 9th of 64 bands", x_label="frequency (Hz)",
                         y_label="weight", size=(760, 360), markers=False,
                         y_range=(0, 1.6))
print("  ->", plot.save(picture, out, "mel_filterbank.png"))

# %% [markdown]
# ## 4. Which audio and which image make frame k
# Example k holds STFT frames 96k ... 96k + 95, which read samples 15360k ... 15360k + 15599:
# the audio from 0.96 k s to 0.96 k + 0.975 s (the last 25 ms frame ends 15 ms after the 0.96 s
# boundary, so neighbouring examples share 15 ms of samples). The video
# frame for k is taken at the window's centre, 0.48 + 0.96 k s (Sec. 3.2.1; avt_np takes the
# frame on screen at that time, index floor(t * fps)). The centre of the audio an example
# actually reads is 7.5 ms later, at 0.4875 + 0.96 k s: well inside one video frame at 25-30 fps.

# %%
times = video.frame_times(10)
print(" k   audio of example k (s)   video frame at (s)   frame index at 25 / 29.97 fps")
for k, tk in enumerate(times):
    start = k * audio.EXAMPLE_FRAMES * audio.HOP_SAMPLES / rate
    end = start + audio.MIN_SAMPLES / rate
    index = [int(np.floor(tk * fps + video.EPS)) for fps in (25.0, 30000 / 1001)]
    print(f"{k:2d}   {start:6.3f} - {end:6.3f}         {tk:6.2f}"
          f"              {index[0]:3d} / {index[1]:3d}")

# %% [markdown]
# The spectrogram of the whole clip, low bands at the bottom. White lines: the boundaries of
# the 10 examples; red marks at the top: the times of the 10 video frames. The siren's glide,
# the horn's stacked harmonics and the knocks' broadband stripes are each in their own examples.

# %%
frame_seconds = np.arange(log_mel.shape[0]) * audio.HOP_SECONDS
picture = plot.heatmap(log_mel.T, title="log-mel spectrogram of the generated clip",
                       x_label="time (s) of each 10 ms frame", y_label="mel band centre (Hz)",
                       row_labels=[f"{c:.0f}" for c in centres],
                       col_labels=[f"{s:.1f}" for s in frame_seconds], origin="lower",
                       cell=(1, 5), max_size=(1000, 320))
left, top, right, bottom = picture.info["plot_box"]
draw = ImageDraw.Draw(picture)
column = (right - left) / log_mel.shape[0]
for k in range(11):
    xk = left + k * audio.EXAMPLE_FRAMES * column
    draw.line((xk, top, xk, bottom - 1), fill=(255, 255, 255))
for tk in times:
    xk = left + (tk / audio.HOP_SECONDS) * column
    draw.polygon([(xk - 5, top - 9), (xk + 5, top - 9), (xk, top - 1)], fill=(220, 30, 30))
print("  ->", plot.save(picture, out, "spectrogram.png"))

# %% [markdown]
# ## 5. Clips that do not fit
# One example needs 15,600 samples (0.975 s). Shorter clips give none (the extractor reports
# them); leftovers shorter than a whole example are dropped, so a 9.5 s clip gives 9 examples and
# the data set zero-pads it to 10 frames and records its length.

# %%
for duration in (0.96, 0.975, 1.95, 9.5, 10.0, 10.5):
    n = int(round(duration * rate))
    print(f"{duration:6.3f} s = {n:6d} samples -> {audio.example_count(n):2d} examples")
assert audio.example_count(15599) == 0 and audio.example_count(15600) == 1
assert audio.example_count(int(round(9.5 * rate))) == 9

# %% [markdown]
# ## Exercises
# 1. Make the siren glide between 3000 and 6000 Hz instead. Where does it land on the mel
#    axis, and how many FFT bins does one mel band span up there?
# 2. Shift the whole sound by 0.5 s (prepend 8000 zeros). Which example now holds the horn,
#    and which video frame time falls inside it? This is the alignment the cross-modal
#    attention pictures of the paper (Figs. 4-7) rely on.
