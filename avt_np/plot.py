"""Pictures drawn with Pillow (no plotting library needed): the training curves of a run
(`training_curves`, `draw_panel`), and general heat maps and line plots for lessons and
visualizers (`heatmap`, `line_plot`, `hstack`, `vstack`, `lesson_output`, `save`)."""

import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (150, 150, 150)


def draw_panel(draw, box, series, title, x_label, window=None, stop=None):
    """Draw {name: [y per epoch 1, 2, ...]} as lines inside box = (left, top, right, bottom), on
    round y ticks. window = (first, last) epoch: shaded (the ensemble's epochs); stop = the
    epoch at which early stopping ended the run: a dashed red line."""
    left, top, right, bottom = box
    plot_left, plot_top, plot_right, plot_bottom = left + 55, top + 25, right - 10, bottom - 35
    draw.text((left + 55, top + 5), title, fill=BLACK)
    draw.text(((plot_left + plot_right) // 2 - 15, bottom - 15), x_label, fill=BLACK)
    values = [v for ys in series.values() for v in ys]
    if not values:
        draw.rectangle((plot_left, plot_top, plot_right, plot_bottom), outline=BLACK)
        return
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    ticks = _nice_ticks(lo, hi)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    lo, hi = min(lo, ticks[0]) - 0.5 * step, max(hi, ticks[-1]) + 0.5 * step
    n = max(len(ys) for ys in series.values())

    def xy(epoch, v):                                    # epoch is 1-based
        x = plot_left + (plot_right - plot_left) * ((epoch - 1) / max(n - 1, 1))
        y = plot_bottom - (plot_bottom - plot_top) * (v - lo) / (hi - lo)
        return x, y

    if window is not None:                               # the ensemble's epochs, shaded
        half = 0.5 * (plot_right - plot_left) / max(n - 1, 1)
        x0, x1 = xy(window[0], lo)[0] - half, xy(window[1], lo)[0] + half
        draw.rectangle((max(x0, plot_left), plot_top, min(x1, plot_right), plot_bottom),
                       fill=(225, 235, 250))
        draw.text((max(x0, plot_left) + 3, plot_bottom - 14), "ensemble", fill=COLOURS[0])
    draw.rectangle((plot_left, plot_top, plot_right, plot_bottom), outline=BLACK)
    if stop is not None:                                 # early stopping, dashed
        x = xy(stop, lo)[0]
        for y in range(plot_top, plot_bottom, 8):
            draw.line((x, y, x, min(y + 4, plot_bottom)), fill=COLOURS[1], width=2)
        draw.text((x - 62, plot_bottom - 28), "early stop", fill=COLOURS[1])
    digits = max(0, -int(np.floor(np.log10(step)))) if step > 0 else 0
    for v in ticks:                                      # y ticks, same number of decimals
        _, y = xy(1, v)
        draw.line((plot_left - 4, y, plot_left, y), fill=BLACK)
        draw.text((left + 2, y - 6), f"{v:.{digits}f}", fill=BLACK)
    every = max(1, int(np.ceil(n / 10)))
    for epoch in range(1, n + 1):                        # x ticks: 1-based epochs
        if epoch == 1 or epoch % every == 0:
            x, _ = xy(epoch, lo)
            draw.line((x, plot_bottom, x, plot_bottom + 4), fill=BLACK)
            draw.text((x - 4, plot_bottom + 6), str(epoch), fill=BLACK)
    for j, (name, ys) in enumerate(series.items()):
        colour = COLOURS[j % len(COLOURS)]
        points = [xy(i + 1, v) for i, v in enumerate(ys)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        draw.text((plot_right - 120, plot_top + 5 + 14 * j), name, fill=colour)


def training_curves(train_loss, val_loss, val_f1, window=None, stop=None, width=900,
                    height=360):
    """Two panels: losses per epoch, validation micro-F1 per epoch, the ensemble window
    (first, last epoch) shaded and the early-stopping epoch (or None) marked. -> PIL image."""
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    half = width // 2
    draw_panel(draw, (0, 0, half, height), {"train BCE": train_loss, "validation BCE": val_loss},
               "binary cross-entropy", "epoch", window, stop)
    draw_panel(draw, (half, 0, width, height), {"validation micro-F1": val_f1},
               "validation micro-F1 (best global threshold)", "epoch", window, stop)
    return image


# -- general pictures for lessons and visualizers ------------------------------------------------
# Every function below returns a PIL image (RGB, white background) and never saves anything;
# `save` writes it. The matrix or plot area of a picture is recorded in image.info["plot_box"]
# as (left, top, right, bottom) pixels, right and bottom exclusive, so tests and callers can
# find cells and points.

NAN_COLOUR = (200, 200, 200)
# Colour scales as a few RGB stops, interpolated linearly. "viridis": a viridis-like sequential
# scale, dark purple (low) -> blue -> green -> yellow (high), the one avt_np/visualize.py uses.
# "diverging": blue (negative) -> white (zero) -> red (positive), for signed matrices
# (gradients, Jacobians, weights): the heat map centres it on zero.
COLOUR_SCALES = {
    "viridis": np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98],
                         [253, 231, 37]], float),
    "diverging": np.array([[59, 76, 192], [141, 176, 254], [255, 255, 255], [244, 154, 123],
                           [180, 4, 38]], float),
}


def lesson_output(name):
    """The folder a lesson writes its pictures to: $AVT_NP_LESSONS_OUT/<name>, or
    lesson_output/<name> in the current directory when the variable is not set. Created if
    missing; returned as a Path."""
    folder = Path(os.environ.get("AVT_NP_LESSONS_OUT") or "lesson_output") / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save(image, folder, filename):
    """Write `image` as PNG to folder/filename and return the path. Inside a Jupyter kernel
    (the book, `python -m avt_np.book build`, runs each lesson in one) the picture is also
    shown below the running cell."""
    path = Path(folder) / filename
    image.save(path, format="PNG")
    show_in_kernel(path)
    return path


def show_in_kernel(path):
    """Display the PNG file at `path` as the running cell's output when this process is a
    Jupyter kernel (ipykernel loaded and a kernel running); do nothing otherwise, without
    importing IPython. The output's metadata "filename" keeps the picture's own name when
    nbconvert extracts it to a file (its ExtractOutputPreprocessor reads that key)."""
    if "ipykernel" not in sys.modules:
        return
    # imported here: IPython is loaded already in a kernel and needed nowhere else
    from IPython import display as ipython_display, get_ipython
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    ipython_display.display(ipython_display.Image(filename=str(path)),
                            metadata={"filename": Path(path).name})


def colour_map(values, scale="viridis"):
    """values in [0, 1] (any shape; clipped) -> uint8 RGB of shape values.shape + (3,).
    NaN becomes light grey."""
    stops = COLOUR_SCALES[scale]
    v = np.asarray(values, np.float64)
    nan = np.isnan(v)
    x = np.clip(np.where(nan, 0.0, v), 0.0, 1.0) * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    rgb = stops[i] + (x - i)[..., None] * (stops[i + 1] - stops[i])
    rgb = np.rint(rgb).astype(np.uint8)
    rgb[nan] = NAN_COLOUR
    return rgb


def _text_size(draw, text):
    left, top, right, bottom = draw.textbbox((0, 0), text)
    return right, bottom


def _vertical_text(image, xy, text, fill=BLACK):
    """Paste `text` rotated 90 degrees (reading bottom to top) with its top-left corner at xy."""
    probe = ImageDraw.Draw(image)
    w, h = _text_size(probe, text)
    strip = Image.new("RGB", (w + 2, h + 2), WHITE)
    ImageDraw.Draw(strip).text((1, 0), text, fill=fill)
    image.paste(strip.rotate(90, expand=True), xy)


def _format(v):
    return f"{v:.4g}"


def _thin(n, pixels_per_item, min_pixels):
    """Label every k-th of n items, k in 1, 2, 5, 10, 20, 50, ..., so that labels are at least
    min_pixels apart."""
    need = min_pixels / max(pixels_per_item, 1e-9)
    k = 1
    while k < need:
        k = k * 5 // 2 if str(k)[0] == "2" else k * 2      # 1, 2, 5, 10, 20, 50, ...
    return k


def heatmap(matrix, title="", x_label="", y_label="", row_labels=None, col_labels=None,
            vmin=None, vmax=None, scale="viridis", cell=None, max_size=(640, 400),
            numbers=False, origin="upper", colour_bar=True):
    """A matrix as coloured cells, with a title, axis labels, tick labels and a colour bar.

    matrix:      (rows, cols) array; NaN cells are grey
    row_labels, col_labels: strings per row / column (default: the indices); thinned when
                 cells are too small to label every one
    vmin, vmax:  the values at the two ends of the colour scale (default: the data range; with
                 scale="diverging" the default is symmetric, -m..m with m = max|matrix|, so
                 zero is white). An empty range (a constant matrix on the sequential
                 scale, an all-zero one on the diverging scale) is widened to +-0.5.
    cell:        (width, height) of one cell in pixels, or one int for square cells (default:
                 as large as fits in max_size, at most 40, at least 1; larger matrices are
                 shrunk to max_size)
    numbers:     print each value in its cell (when the cell is wide enough)
    origin:      "upper": row 0 at the top (a matrix); "lower": row 0 at the bottom (a
                 spectrogram, low frequencies at the bottom)
    Returns a PIL image; image.info["plot_box"] is the cell area (left, top, right, bottom).
    """
    m = np.array(matrix, np.float64)
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"heatmap needs a non-empty 2-D matrix, got shape {np.shape(matrix)}")
    rows, cols = m.shape
    finite = m[np.isfinite(m)]
    if scale not in COLOUR_SCALES:
        raise ValueError(f"unknown colour scale '{scale}': expected one of "
                         f"{', '.join(COLOUR_SCALES)}")
    if scale == "diverging":
        extent = float(np.abs(finite).max()) if finite.size else 1.0
        lo = -extent if vmin is None else vmin
        hi = extent if vmax is None else vmax
    else:
        lo = vmin if vmin is not None else (float(finite.min()) if finite.size else 0.0)
        hi = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if hi - lo <= 1e-300:
        lo, hi = lo - 0.5, hi + 0.5
    colours = colour_map((m - lo) / (hi - lo), scale)                 # (rows, cols, 3)
    if origin == "lower":
        colours = colours[::-1]

    # cell size and the size of the cell area
    if cell is None:
        cw = int(np.clip(max_size[0] // cols, 1, 40))
        ch = int(np.clip(max_size[1] // rows, 1, 40))
        area_w, area_h = min(cw * cols, max_size[0]), min(ch * rows, max_size[1])
    else:
        cw, ch = (int(cell), int(cell)) if np.isscalar(cell) else (int(cell[0]), int(cell[1]))
        area_w, area_h = cw * cols, ch * rows
    cells = Image.fromarray(colours, "RGB")
    shrink = area_w < cols or area_h < rows
    cells = cells.resize((area_w, area_h), Image.BOX if shrink else Image.NEAREST)

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    row_labels = [str(s) for s in (range(rows) if row_labels is None else row_labels)]
    col_labels = [str(s) for s in (range(cols) if col_labels is None else col_labels)]
    if len(row_labels) != rows or len(col_labels) != cols:
        raise ValueError(f"{len(row_labels)} row labels and {len(col_labels)} column labels "
                         f"for a {rows} x {cols} matrix")
    text_h = _text_size(probe, "0")[1]
    label_w = max(_text_size(probe, s)[0] for s in row_labels)
    col_label_w = max(_text_size(probe, s)[0] for s in col_labels)
    rotate_cols = col_label_w + 4 > area_w / cols and col_label_w > 3 * text_h

    left = 8 + (text_h + 6 if y_label else 0) + label_w + 6
    top = 8 + (text_h + 8 if title else 0)
    col_band = (col_label_w if rotate_cols else text_h) + 8
    bottom_pad = col_band + (text_h + 8 if x_label else 0) + 6
    bar_w = 70 if colour_bar else 0
    right_pad = 12 + bar_w
    width = max(left + area_w + right_pad, left + _text_size(probe, title)[0] + 8)
    height = top + area_h + bottom_pad
    image = Image.new("RGB", (width, height), WHITE)
    image.paste(cells, (left, top))
    draw = ImageDraw.Draw(image)
    draw.rectangle((left - 1, top - 1, left + area_w, top + area_h), outline=BLACK)
    if title:
        draw.text((left, 6), title, fill=BLACK)

    # tick labels: row i is drawn at display row (rows - 1 - i) with origin="lower"
    px_w, px_h = area_w / cols, area_h / rows
    step = _thin(rows, px_h, text_h + 2)
    for i in range(0, rows, step):
        d = rows - 1 - i if origin == "lower" else i
        y = top + (d + 0.5) * px_h
        w, _ = _text_size(draw, row_labels[i])
        draw.text((left - 5 - w, y - text_h / 2 - 1), row_labels[i], fill=BLACK)
    step = _thin(cols, px_w, (text_h + 2) if rotate_cols else col_label_w + 6)
    for j in range(0, cols, step):
        x = left + (j + 0.5) * px_w
        if rotate_cols:
            _vertical_text(image, (int(x - text_h / 2), top + area_h + 4), col_labels[j])
        else:
            w, _ = _text_size(draw, col_labels[j])
            draw.text((x - w / 2, top + area_h + 4), col_labels[j], fill=BLACK)
    if x_label:
        w, _ = _text_size(draw, x_label)
        draw.text((left + (area_w - w) / 2, top + area_h + col_band + 4), x_label, fill=BLACK)
    if y_label:
        w, _ = _text_size(draw, y_label)
        _vertical_text(image, (6, int(top + max(0, (area_h - w) / 2))), y_label)

    if numbers and px_w >= 30 and px_h >= text_h + 2:
        for i in range(rows):
            for j in range(cols):
                d = rows - 1 - i if origin == "lower" else i
                colour = colours[d, j]
                text = f"{m[i, j]:.2f}"
                w, _ = _text_size(draw, text)
                fill = WHITE if int(colour.astype(int).sum()) < 380 else BLACK
                xy = (left + (j + 0.5) * px_w - w / 2, top + (d + 0.5) * px_h - text_h / 2 - 1)
                draw.text(xy, text, fill=fill)

    if colour_bar:
        bar_left, bar_top = left + area_w + 14, top
        bar_h = max(area_h, 3 * text_h)
        ramp = colour_map(np.linspace(1.0, 0.0, bar_h)[:, None].repeat(12, axis=1), scale)
        image.paste(Image.fromarray(ramp, "RGB"), (bar_left, bar_top))
        draw.rectangle((bar_left - 1, bar_top - 1, bar_left + 12, bar_top + bar_h), outline=BLACK)
        for frac in (0.0, 0.5, 1.0):
            y = bar_top + (1 - frac) * (bar_h - 1)
            draw.line((bar_left + 12, y, bar_left + 16, y), fill=BLACK)
            label = _format(lo + frac * (hi - lo))
            draw.text((bar_left + 19, y - text_h / 2 - 1), label, fill=BLACK)
    image.info["plot_box"] = (left, top, left + area_w, top + area_h)
    return image


def _nice_ticks(lo, hi, count=5):
    """About `count` round tick values (steps of 1, 2 or 5 times a power of ten) in [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10, 20)
                if np.floor(hi / (m * power)) - np.ceil(lo / (m * power)) + 1 <= count + 1)
    first = np.ceil(lo / step - 1e-9) * step
    values = np.arange(first, hi + step * 1e-6, step)
    return [0.0 if abs(v) < step * 1e-9 else float(v) for v in values]


def line_plot(series, title="", x_label="", y_label="", log_x=False, log_y=False,
              size=(640, 400), x_range=None, y_range=None, vlines=(), hlines=(), markers=None):
    """Lines on shared axes, with round ticks, axis labels and a legend.

    series:  {name: y} (x = 0, 1, 2, ...) or {name: (x, y)}; up to 10 series get distinct
             colours (COLOURS, then darker shades). NaN and inf points are skipped.
    log_x, log_y: logarithmic axes (non-positive values are skipped); ticks at powers of ten
    x_range, y_range: (lo, hi) to fix an axis instead of fitting the data
    vlines, hlines: positions of thin grey reference lines (e.g. frame boundaries, y = 0)
    markers: draw a dot at every point (default: when a series has at most 40 points)
    Returns a PIL image; image.info["plot_box"] is the axes area (left, top, right, bottom).
    """
    width, height = size
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    text_h = _text_size(draw, "0")[1]
    curves = []
    for name, data in series.items():
        x, y = (data if isinstance(data, tuple) else (np.arange(len(data)), data))
        x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"series '{name}': {x.size} x values for {y.size} y values")
        keep = np.isfinite(x) & np.isfinite(y)
        keep &= (x > 0) if log_x else True
        keep &= (y > 0) if log_y else True
        curves.append((name, x[keep], y[keep]))

    def axis_range(values, fixed, log):
        if fixed is not None:
            lo, hi = fixed
        elif values.size:
            lo, hi = float(values.min()), float(values.max())
        else:
            lo, hi = (1.0, 10.0) if log else (0.0, 1.0)
        if log:
            lo, hi = np.log10(lo), np.log10(hi)
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        if fixed is None:                                # a margin (in decades on a log axis)
            lo, hi = lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo)
        return lo, hi

    all_x = np.concatenate([c[1] for c in curves]) if curves else np.zeros(0)
    all_y = np.concatenate([c[2] for c in curves]) if curves else np.zeros(0)
    x_lo, x_hi = axis_range(all_x, x_range, log_x)
    y_lo, y_hi = axis_range(all_y, y_range, log_y)

    def ticks(lo, hi, log):
        if log:
            decades = range(int(np.ceil(lo - 1e-9)), int(np.floor(hi + 1e-9)) + 1)
            every = max(1, int(np.ceil(len(decades) / 8)))
            return [10.0 ** k for k in decades if k % every == 0]
        return _nice_ticks(lo, hi)

    x_ticks, y_ticks = ticks(x_lo, x_hi, log_x), ticks(y_lo, y_hi, log_y)
    tick_w = max([_text_size(draw, _format(v))[0] for v in y_ticks] + [10])
    left = 10 + (text_h + 8 if y_label else 0) + tick_w + 8
    top = 10 + (text_h + 8 if title else 0)
    right = width - 12
    bottom = height - (10 + text_h + 8 + (text_h + 8 if x_label else 0))
    if right - left < 20 or bottom - top < 20:
        raise ValueError(f"size {size} leaves no room for the axes")

    def px(x):
        v = np.log10(x) if log_x else x
        return left + (right - left) * (v - x_lo) / (x_hi - x_lo)

    def py(y):
        v = np.log10(y) if log_y else y
        return bottom - (bottom - top) * (v - y_lo) / (y_hi - y_lo)

    if title:
        draw.text((left, 8), title, fill=BLACK)
    for v in x_ticks:
        x = px(v)
        draw.line((x, bottom, x, bottom + 4), fill=BLACK)
        label = f"1e{int(round(np.log10(v)))}" if log_x else _format(v)
        w, _ = _text_size(draw, label)
        draw.text((x - w / 2, bottom + 6), label, fill=BLACK)
    for v in y_ticks:
        y = py(v)
        draw.line((left - 4, y, left, y), fill=BLACK)
        label = f"1e{int(round(np.log10(v)))}" if log_y else _format(v)
        w, _ = _text_size(draw, label)
        draw.text((left - 6 - w, y - text_h / 2 - 1), label, fill=BLACK)
    if x_label:
        w, _ = _text_size(draw, x_label)
        draw.text(((left + right - w) / 2, bottom + 8 + text_h + 6), x_label, fill=BLACK)
    if y_label:
        w, _ = _text_size(draw, y_label)
        _vertical_text(image, (8, int(top + max(0, (bottom - top - w) / 2))), y_label)
    for v in vlines:
        if x_lo <= (np.log10(v) if log_x else v) <= x_hi:
            draw.line((px(v), top, px(v), bottom), fill=GREY)
    for v in hlines:
        if y_lo <= (np.log10(v) if log_y else v) <= y_hi:
            draw.line((left, py(v), right, py(v)), fill=GREY)

    # clip lines to the axes by drawing on a separate layer and pasting its inside
    layer = Image.new("RGB", (width, height), WHITE)
    layer_draw = ImageDraw.Draw(layer)
    mask = Image.new("L", (width, height), 0)
    mask_draw = ImageDraw.Draw(mask)
    for k, (name, x, y) in enumerate(curves):
        colour = series_colour(k)
        points = list(zip(px(x).tolist(), py(y).tolist()))
        for d in (layer_draw, mask_draw):
            fill = colour if d is layer_draw else 255
            if len(points) > 1:
                d.line(points, fill=fill, width=2)
            if markers or (markers is None and len(points) <= 40):
                for a, b in points:
                    d.ellipse((a - 2.5, b - 2.5, a + 2.5, b + 2.5), fill=fill)
    inside = Image.new("L", (width, height), 0)
    ImageDraw.Draw(inside).rectangle((left + 1, top + 1, right - 1, bottom - 1), fill=255)
    mask = Image.fromarray(np.minimum(np.asarray(mask), np.asarray(inside)))
    image.paste(layer, (0, 0), mask)
    draw.rectangle((left, top, right, bottom), outline=BLACK)
    if curves:                                               # legend, top right, on white
        widest = max(_text_size(draw, name)[0] for name, _, _ in curves)
        draw.rectangle((right - widest - 34, top + 3, right - 3,
                        top + 8 + (text_h + 5) * len(curves)), fill=WHITE, outline=GREY)
    for k, (name, _, _) in enumerate(curves):
        w, _ = _text_size(draw, name)
        y = top + 6 + (text_h + 5) * k
        draw.rectangle((right - w - 30, y + text_h / 2 - 1, right - w - 14, y + text_h / 2 + 1),
                       fill=series_colour(k))
        draw.text((right - w - 8, y - 1), name, fill=series_colour(k))
    image.info["plot_box"] = (left, top, right + 1, bottom + 1)
    return image


def series_colour(k):
    """The colour of the k-th line: COLOURS, then the same five darker."""
    base = COLOURS[k % len(COLOURS)]
    return base if k < len(COLOURS) else tuple(int(c * 0.6) for c in base)


def hstack(images, gap=12, background=WHITE):
    """Images side by side, top-aligned, `gap` pixels apart."""
    width = sum(im.width for im in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (width, max(im.height for im in images)), background)
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out


def vstack(images, gap=12, background=WHITE):
    """Images one above the other, left-aligned, `gap` pixels apart."""
    height = sum(im.height for im in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (max(im.width for im in images), height), background)
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + gap
    return out
