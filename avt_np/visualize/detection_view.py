"""The detection picture of one clip, after PANNs' sound event detection view (Kong et al. 2020,
github.com/qiuqiangkong/audioset_tagging_cnn, `inference.py sound_event_detection`): what the
model heard and when, on one time axis.

Top to bottom: the title (file, tags with their probabilities, threshold); the video frames at
the window centres, when the input was a video file; the log-mel spectrogram VGGish saw (0.96 s
per example, low frequencies at the bottom), when known; the frame probabilities of the drawn
classes (the tags, then the most probable, then any class of the ground truth) with the
threshold as a grey line; one row per drawn class with its detected events as a coloured bar
and, when the data set has strong labels, the reference events as a grey bar beneath.
"""

import numpy as np
from PIL import Image, ImageDraw

from avt_np.data.format import FRAME_HOP_SECONDS
from avt_np.plot import line_plot, series_colour, vstack

WIDTH = 960
BLACK, GREY, LIGHT, WHITE = (0, 0, 0), (150, 150, 150), (225, 225, 225), (255, 255, 255)


def drawn_classes(probabilities, tagged, truth_classes, top):
    """Class indices to draw: the tags (most probable first), then the most probable others up
    to `top`, then every class of the ground truth not drawn yet."""
    order = list(np.argsort(-probabilities, kind="stable"))
    chosen = [c for c in order if tagged[c]]
    chosen += [c for c in order if not tagged[c]][:max(0, top - len(chosen))]
    chosen += [c for c in truth_classes if c not in chosen]
    return chosen


class TimeAxis:
    """Seconds -> x pixels, shared by every band (the probability plot's axes area)."""

    def __init__(self, left, right, seconds):
        self.left, self.right, self.seconds = left, right, seconds

    def x(self, t):
        return int(round(self.left + (self.right - self.left) * t / self.seconds))


def title_band(name, classes, probabilities, tagged, threshold):
    tags = [c for c in np.argsort(-probabilities) if tagged[c]]
    text = ", ".join(f"{classes[c]} {probabilities[c]:.2f}" for c in tags) or "no tag"
    image = Image.new("RGB", (WIDTH, 40), WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((10, 4), f"{name}", fill=BLACK)
    draw.text((10, 22), f"tags (p >= {threshold:.3f}): {text}", fill=BLACK)
    return image


def frames_band(frames, axis, height=56):
    """Video frames (T, h, w, 3) uint8, each over its 0.96 s window."""
    image = Image.new("RGB", (WIDTH, height), WHITE)
    for k, frame in enumerate(frames):
        x0, x1 = axis.x(k * FRAME_HOP_SECONDS), axis.x((k + 1) * FRAME_HOP_SECONDS)
        if frame.any():
            image.paste(Image.fromarray(frame).resize((max(1, x1 - x0 - 2), height - 4)),
                        (x0 + 1, 2))
    ImageDraw.Draw(image).text((4, height // 2 - 6), "video", fill=BLACK)
    return image


def log_mel_band(log_mel, length, axis, height=72):
    """The log-mel examples (T, 96, 64) of the real frames side by side, on one grey scale."""
    real = log_mel[:length]                                                  # (L, 96, 64)
    low, high = np.percentile(real, [1, 99])
    grey = np.clip(255 * (np.concatenate(list(real)).T[::-1] - low) / max(high - low, 1e-9),
                   0, 255).astype(np.uint8)                                  # (64, 96 L)
    image = Image.new("RGB", (WIDTH, height), WHITE)
    x0, x1 = axis.x(0.0), axis.x(length * FRAME_HOP_SECONDS)
    image.paste(Image.fromarray(grey, "L").resize((x1 - x0, height - 4)).convert("RGB"),
                (x0, 2))
    ImageDraw.Draw(image).text((4, height // 2 - 6), "log-mel", fill=BLACK)
    return image


def events_band(chosen, classes, events, truth, axis, row=34):
    """One row per drawn class: its name, the detected events (colour) and the reference events
    (grey, below), on the time axis."""
    image = Image.new("RGB", (WIDTH, row * len(chosen) + 24), WHITE)
    draw = ImageDraw.Draw(image)
    for r, c in enumerate(chosen):
        y = r * row
        draw.text((axis.x(0), y + 1), classes[c], fill=series_colour(r))
        draw.line([(axis.x(0), y + row - 1), (axis.x(axis.seconds), y + row - 1)], fill=LIGHT)
        for _, onset, offset, label in events:
            if label == classes[c]:
                draw.rectangle([axis.x(onset), y + 15, axis.x(offset), y + 24],
                               fill=series_colour(r))
        for _, onset, offset, label in truth or ():
            if label == classes[c]:
                draw.rectangle([axis.x(onset), y + 26, axis.x(offset), y + 30], fill=GREY)
    legend = "coloured bars: detected events" + ("; grey bars: reference (strong labels)"
                                                 if truth is not None else "")
    draw.text((axis.x(0), row * len(chosen) + 6), legend, fill=BLACK)
    return image


def detection_picture(name, classes, probabilities, frame_probabilities, tagged, threshold,
                      events, length=None, log_mel=None, frames=None, truth=None, top=5):
    """The picture of one clip (a PIL image).

    probabilities (C,) clip; frame_probabilities (T, C); tagged (C,) bool; events and truth:
    [(file, onset, offset, label)] of this clip (truth None when unknown); length: real frames;
    log_mel (T, 96, 64) and frames (T, h, w, 3) uint8 when known.
    """
    T = frame_probabilities.shape[0]
    length = T if length is None else length
    truth_classes = [classes.index(e[3]) for e in truth or () if e[3] in classes]
    chosen = drawn_classes(probabilities, tagged, truth_classes, top)
    seconds = max([T * FRAME_HOP_SECONDS] + [e[2] for e in (truth or ())])
    centres = (np.arange(length) + 0.5) * FRAME_HOP_SECONDS
    plot = line_plot({classes[c]: (centres, frame_probabilities[:length, c]) for c in chosen},
                     title="frame probabilities (0.96 s frames)", x_label="seconds",
                     y_label="probability", size=(WIDTH, 300), x_range=(0.0, seconds),
                     y_range=(0.0, 1.0), hlines=(threshold,))
    left, _, right, _ = plot.info["plot_box"]
    axis = TimeAxis(left, right, seconds)
    bands = [title_band(name, classes, probabilities, tagged, threshold)]
    if frames is not None:
        bands.append(frames_band(frames[:length], axis))
    if log_mel is not None:
        bands.append(log_mel_band(np.asarray(log_mel, np.float32), length, axis))
    bands += [plot, events_band(chosen, classes, events, truth, axis)]
    return vstack(bands, gap=4)
