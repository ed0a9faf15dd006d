"""Small line charts drawn with Pillow (no plotting library needed)."""

from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]


def draw_panel(draw, box, series, title, x_label):
    """Draw {name: [y per x = 1, 2, ...]} as lines inside box = (left, top, right, bottom)."""
    left, top, right, bottom = box
    plot_left, plot_top, plot_right, plot_bottom = left + 55, top + 25, right - 10, bottom - 35
    draw.rectangle((plot_left, plot_top, plot_right, plot_bottom), outline=(0, 0, 0))
    draw.text((left + 55, top + 5), title, fill=(0, 0, 0))
    draw.text(((plot_left + plot_right) // 2 - 15, bottom - 15), x_label, fill=(0, 0, 0))
    values = [v for ys in series.values() for v in ys]
    if not values:
        return
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
    n = max(len(ys) for ys in series.values())

    def xy(i, v):
        x = plot_left + (plot_right - plot_left) * (i / max(n - 1, 1))
        y = plot_bottom - (plot_bottom - plot_top) * (v - lo) / (hi - lo)
        return x, y

    for k in range(5):                                   # y ticks
        v = lo + (hi - lo) * k / 4
        _, y = xy(0, v)
        draw.line((plot_left - 4, y, plot_left, y), fill=(0, 0, 0))
        draw.text((left + 2, y - 6), f"{v:.3g}", fill=(0, 0, 0))
    for i in range(n):                                   # x ticks: 1-based epochs
        if n <= 15 or i % max(1, n // 10) == 0:
            x, _ = xy(i, lo)
            draw.line((x, plot_bottom, x, plot_bottom + 4), fill=(0, 0, 0))
            draw.text((x - 4, plot_bottom + 6), str(i + 1), fill=(0, 0, 0))
    for j, (name, ys) in enumerate(series.items()):
        colour = COLOURS[j % len(COLOURS)]
        points = [xy(i, v) for i, v in enumerate(ys)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        draw.text((plot_right - 120, plot_top + 5 + 14 * j), name, fill=colour)


def training_curves(train_loss, val_loss, val_f1, width=900, height=360):
    """Two panels: losses per epoch, validation micro-F1 per epoch. Returns a PIL image."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    half = width // 2
    draw_panel(draw, (0, 0, half, height), {"train BCE": train_loss, "validation BCE": val_loss},
               "binary cross-entropy", "epoch")
    draw_panel(draw, (half, 0, width, height), {"validation micro-F1": val_f1},
               "validation micro-F1 (best global threshold)", "epoch")
    return image
