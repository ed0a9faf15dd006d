"""The attention picture of one clip, in the layout of the paper's Figs. 4-7.

Top to bottom: the title; a time axis; the query strip and the key strip (one thumbnail per
0.96 s frame: for audio, when the split stores log-mel examples, the frame's 96 x 64 log-mel
spectrogram, time left to right, low frequencies at the bottom, on one grey scale for the whole
clip; otherwise, and for video, the frame's embedding laid out as a small image, with a bar for
its energy ||x||), the chosen query frame outlined in red; one heat-map row per head of the
cross-attention weights of that query frame over the key frames (all_queries: the full query x
key matrix per head), with a sentence when they are (near) uniform; the clip's labels with their
audible / visible frames when the split has ground truth; on the right the predicted
probabilities with the run's decision threshold, and the colour scale. The scale is fixed, 0..1,
for every attention function (softmax and normalized-sigmoid rows sum to 1, sigmoid weights lie
in (0, 1)), with the uniform weight 1/T_k marked for the normalised ones: uniform attention
looks cold, not hot.

`render(view, block, query_frame, all_queries)` draws it as a sequence of named steps, each
drawing one band of the picture and returning the height it used.
"""

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from avt_np import io
from avt_np.data.format import FRAME_HOP_SECONDS
from avt_np.plot import colour_map
from avt_np.sync import PRESENCE
from avt_np.visualize.clip_view import default_query_frame, query_frame_share

# -- drawing primitives ----------------------------------------------------------------------
BLACK, GREY, WHITE, RED = (0, 0, 0), (150, 150, 150), (255, 255, 255), (220, 30, 30)
AUDIBLE, VISIBLE = (31, 119, 180), (44, 160, 44)
def heat_colour(value):
    """value in [0, 1] -> RGB tuple on the shared viridis-like scale of avt_np.plot."""
    return tuple(int(c) for c in colour_map(value))


def grid_shape(n):
    """The most square (rows, cols) with rows * cols = n, rows <= cols (128 -> 8 x 16)."""
    rows = max(d for d in range(1, int(np.sqrt(n)) + 1) if n % d == 0)
    return rows, n // rows


def embedding_thumbnail(x, top, size):
    """An embedding (D,) laid out as a grey image (black = 0, white = `top`), resized."""
    rows, cols = grid_shape(x.size)
    pixels = np.clip(255 * x.reshape(rows, cols) / max(top, 1e-12), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "L").resize(size, Image.NEAREST).convert("RGB")


def log_mel_thumbnail(example, low, high, size):
    """A log-mel example (96 frames, 64 bands) as a grey image, time left to right and low
    frequencies at the bottom (black = `low`, white = `high`), resized to `size`."""
    grey = 255 * (example.T[::-1] - low) / max(high - low, 1e-12)             # (64, 96)
    pixels = np.clip(grey, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "L").resize(size, Image.BOX).convert("RGB")


def centred_text(draw, box, text, fill=BLACK):
    left, top, right, bottom = box
    w, h = draw.textbbox((0, 0), text)[2:]
    draw.text(((left + right - w) / 2, (top + bottom - h) / 2 - 1), text, fill=fill)


def wrapped(draw, text, width):
    """`text` cut at spaces into lines no wider than `width` pixels (a longer word stays whole)."""
    lines = []
    for word in text.split():
        if lines and draw.textbbox((0, 0), f"{lines[-1]} {word}")[2] <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def heat_cells(draw, left, top, values, vmax, cell, height, numbers=True):
    """One row of coloured cells (values / vmax on the colour scale), values printed inside."""
    for k, v in enumerate(values):
        box = (left + k * cell, top, left + (k + 1) * cell - 1, top + height - 1)
        colour = heat_colour(v / vmax if vmax > 0 else 0.0)
        draw.rectangle(box, fill=colour)
        if numbers:
            light = sum(colour) < 380
            centred_text(draw, box, f"{v:.2f}", WHITE if light else BLACK)


# -- the picture -----------------------------------------------------------------------------
CELL = 52               # width of one frame column
LEFT = 180              # row labels
RIGHT = 280             # probabilities, legend
STRIP = 44              # thumbnail height
ENERGY = 12             # energy bar height
HEAD_ROW = 24           # one heat-map row (one query frame of one head)
TRUTH_ROW = 16
HEADER = 58
NEAR_UNIFORM = 0.2      # a row is near uniform when max - min < this fraction of its mean


@dataclass
class Canvas:
    """The picture being drawn and what every step needs to know about it."""
    view: object                   # ClipView
    weights: np.ndarray            # (H, T_q, T_k) of the drawn block
    block: int                     # 0-based index of the drawn decoder block
    query_frame: int
    all_queries: bool
    truth_classes: list            # classes drawn in the ground-truth band
    image: Image.Image = None
    draw: ImageDraw.ImageDraw = None
    layout: dict = field(default_factory=dict)

    @property
    def right_edge(self):
        return LEFT + max(self.weights.shape[1:]) * CELL

    @property
    def head_height(self):
        return HEAD_ROW * self.weights.shape[1] if self.all_queries else HEAD_ROW


def band_heights(c):
    """Heights of the bands drawn by the steps, top to bottom."""
    H = c.weights.shape[0]
    truth = (24 + (TRUTH_ROW * 2 + 4) * len(c.truth_classes) if c.view.query_present is not None
             else 24)
    return [HEADER, 18, 2 * (STRIP + ENERGY + 20), 16 + H * (c.head_height + 6) + 10 + 20, truth,
            40]


def uniform_rows(c):
    """The shown attention rows (per head) over the clip's real key frames, and whether every
    one of them is near uniform (all keys weighted alike)."""
    rows = range(c.weights.shape[1]) if c.all_queries else [c.query_frame]
    real = c.weights.shape[2] if c.view.length is None else c.view.length
    shown = c.weights[:, list(rows), :real]                                # (H, rows, T_real)
    spread = shown.max(-1) - shown.min(-1)
    return shown, bool(np.all(spread < NEAR_UNIFORM * np.maximum(shown.mean(-1), 1e-12)))


def draw_title(c, y):
    v, n_blocks = c.view, len(c.view.weights)
    pe = ",".join(v.pos_enc) or "none"
    c.draw.text((8, y + 6), f"{v.run_name}  {v.split} clip {v.clip_id}   {v.first} first (keys) / "
                f"{v.second} second (queries), {v.attention} attention, positional encodings "
                f"{pe}", fill=BLACK)
    q = c.query_frame
    c.draw.text((8, y + 22), f"cross-attention of decoder block {c.block + 1} of {n_blocks}, "
                + ("every query frame (rows) x key frame (columns)" if c.all_queries else
                   f"query frame {q} ({FRAME_HOP_SECONDS * q:.2f}-"
                   f"{FRAME_HOP_SECONDS * (q + 1):.2f} s) over the key frames"), fill=BLACK)
    if v.unimodal:
        c.draw.text((8, y + 38), f"note: {v.first}/{v.second} run: the cross-attention exists "
                    f"but is within one modality ({v.second} frames attend to {v.first} frames)",
                    fill=RED)
    elif v.length is not None and v.length < c.weights.shape[2]:
        c.draw.text((8, y + 38), f"this clip has {v.length} real frames; the rest is padding, "
                    "which the model does not attend to", fill=GREY)


def draw_time_axis(c, y):
    """Frame centres in seconds."""
    c.draw.text((8, y + 2), "frame centre (s)", fill=GREY)
    for k in range(max(c.weights.shape[1:])):
        centred_text(c.draw, (LEFT + k * CELL, y, LEFT + (k + 1) * CELL, y + 16),
                     f"{FRAME_HOP_SECONDS * (k + 0.5):.2f}", GREY)


def draw_log_mel_strip(c, y, log_mel):
    real = np.any(log_mel != 0, axis=(1, 2))             # padded frames are all zeros
    low, high = (log_mel[real].min(), log_mel[real].max()) if real.any() else (0, 1)
    c.draw.text((8, y + 22), "log-mel", fill=GREY)
    c.draw.text((8, y + 36), "64 bands, low at bottom", fill=GREY)
    c.draw.text((8, y + 50), f"black {low:.1f} .. white {high:.1f}", fill=GREY)
    for k in range(len(log_mel)):
        x0 = LEFT + k * CELL + 2
        if real[k]:                        # one scale for the clip, so frames compare
            c.image.paste(log_mel_thumbnail(log_mel[k], low, high, (CELL - 4, STRIP + ENERGY)),
                          (x0, y))
        else:
            c.draw.rectangle((x0, y, x0 + CELL - 5, y + STRIP + ENERGY - 1), outline=GREY)


def draw_embedding_strip(c, y, frames):
    c.draw.text((8, y + 22), "embedding + energy", fill=GREY)
    top_value = float(frames.max()) if frames.size else 1.0
    energy = np.linalg.norm(frames, axis=1)
    for k in range(len(frames)):
        x0 = LEFT + k * CELL + 2
        c.image.paste(embedding_thumbnail(frames[k], top_value, (CELL - 4, STRIP)), (x0, y))
        bar = int(round((CELL - 4) * energy[k] / max(energy.max(), 1e-12)))
        c.draw.rectangle((x0, y + STRIP + 3, x0 + bar, y + STRIP + ENERGY), fill=GREY)


def draw_strips(c, y):
    """The query strip, then the key strip; the query frame outlined in red."""
    v = c.view
    for name, frames, log_mel, modality, role in (
            ("query_strip", v.query_frames, v.query_log_mel, v.second, "query"),
            ("key_strip", v.key_frames, v.key_log_mel, v.first, "key")):
        c.draw.text((8, y + 8), f"{role}: {modality}", fill=BLACK)
        if log_mel is not None:
            c.layout["strip_kinds"][role] = "log-mel"
            draw_log_mel_strip(c, y, log_mel)
        else:
            c.layout["strip_kinds"][role] = "embedding + energy"
            draw_embedding_strip(c, y, frames)
        c.layout[name] = (LEFT, y, LEFT + len(frames) * CELL, y + STRIP + ENERGY)
        if role == "query" and not c.all_queries:
            box = (LEFT + c.query_frame * CELL, y - 2, LEFT + (c.query_frame + 1) * CELL - 1,
                   y + STRIP + ENERGY + 3)
            c.draw.rectangle(box, outline=RED, width=3)
            c.layout["query_marker"] = box
        y += STRIP + ENERGY + 20


def draw_heads(c, y):
    """One heat-map row per head (or a T_q-row matrix with all_queries) on the fixed 0..1
    scale, then a sentence when the shown rows are near uniform."""
    H, T_q, T_k = c.weights.shape
    c.draw.text((8, y), "attention weights", fill=BLACK)
    y += 16
    for h in range(H):
        c.draw.text((8, y + 5), f"head {h + 1}", fill=BLACK)
        rows = range(T_q) if c.all_queries else [c.query_frame]
        for r, q in enumerate(rows):
            heat_cells(c.draw, LEFT, y + r * HEAD_ROW, c.weights[h, q], 1.0, CELL, HEAD_ROW - 1)
            if c.all_queries:
                present = c.view.query_present is not None and c.view.query_present[:, q].any()
                c.draw.text((LEFT - 60, y + r * HEAD_ROW + 5),
                            f"q{q} {FRAME_HOP_SECONDS * (q + 0.5):.2f}s",
                            fill=RED if present else GREY)
        c.layout["heads"].append((LEFT, y, LEFT + T_k * CELL, y + c.head_height))
        y += c.head_height + 6
    shown, uniform = uniform_rows(c)
    if uniform:
        level = float(shown.mean())
        text = (f"(near) uniform: every head weights the {shown.shape[-1]} key frames alike "
                f"(~{level:.2f} each"
                + (f" = 1/{shown.shape[-1]}" if c.view.attention != "sigmoid" else "")
                + "): this block reads the first modality as one clip summary, not frame by "
                  "frame (docs/attention.md)")
        c.draw.text((8, y + 6), text, fill=RED)
        c.layout["uniform_note"] = text


def draw_ground_truth(c, y):
    """Per labelled class, the frames where it is present in the query and key modality."""
    v = c.view
    if v.query_present is None:
        c.draw.text((8, y + 4), f"the {v.split} split has no frame-level ground truth: no "
                    "audible / visible intervals, no synchronization score", fill=GREY)
        return
    q_name, k_name = PRESENCE[v.second], PRESENCE[v.first]
    rows = [(0, v.query_present, f"query {q_name}", AUDIBLE if q_name == "audible" else VISIBLE),
            (TRUTH_ROW, v.key_present, f"key {k_name}", AUDIBLE if k_name == "audible"
             else VISIBLE)]
    kind_width = max(c.draw.textbbox((0, 0), kind)[2] for _, _, kind, _ in rows)
    c.layout["truth_rows"] = [kind for _, _, kind, _ in rows]
    c.draw.text((8, y + 4), "ground truth per labelled class", fill=BLACK)
    y += 24
    for cls in c.truth_classes:
        lines = wrapped(c.draw, v.classes[cls], LEFT - 6 - kind_width - 8 - 8)
        if len(lines) > 2:
            lines = [lines[0], " ".join(lines[1:])]
        for i, line in enumerate(lines):
            c.draw.text((8, y + 2 + i * TRUTH_ROW), line, fill=BLACK)
        for offset, present, kind, colour in rows:
            for k in np.nonzero(present[cls])[0]:
                c.draw.rectangle((LEFT + k * CELL, y + offset + 2, LEFT + (k + 1) * CELL - 1,
                                  y + offset + TRUTH_ROW - 2), fill=colour)
            c.draw.text((LEFT - 6 - c.draw.textbbox((0, 0), kind)[2], y + offset + 2), kind,
                        fill=colour)
        c.draw.line((LEFT, y + 2 * TRUTH_ROW + 1, c.right_edge, y + 2 * TRUTH_ROW + 1), fill=GREY)
        c.layout["truth"].append((LEFT, y, c.right_edge, y + 2 * TRUTH_ROW))
        y += 2 * TRUTH_ROW + 4


def draw_share(c, y):
    """The synchronization share of this query frame (avt_np/sync.py)."""
    v = c.view
    if c.all_queries or v.unimodal:
        return
    share = query_frame_share(v, c.block, c.query_frame)
    if share is not None:
        text = (f"share of attention on the {PRESENCE[v.first]} frames of the events "
                f"{PRESENCE[v.second]} here: " + ", ".join(
                    f"head {h + 1} {s:.2f}" for h, s in enumerate(share["share_per_head"]))
                + f" (chance {share['chance']:.2f})")
    elif v.query_present is not None:
        text = (f"no event is {PRESENCE[v.second]} at this query frame and "
                f"{PRESENCE[v.first]} somewhere: no share to score")
    else:
        text = ""
    c.draw.text((8, y + 8), text, fill=BLACK)


def draw_predictions(c, x, y):
    """Predicted clip probabilities, labels starred, the decision threshold as a red line.
    Returns the y below the list."""
    v = c.view
    c.draw.text((x, y), "predicted probability (* = label)", fill=BLACK)
    order = [k for k in np.argsort(-v.probabilities)
             if v.labels[k] or v.probabilities[k] >= 0.05][:12]
    for i, k in enumerate(order):
        yy = y + 16 + 14 * i
        p = float(v.probabilities[k])
        c.draw.rectangle((x, yy + 2, x + int(60 * p), yy + 11), fill=(200, 200, 200))
        c.draw.text((x + 64, yy), f"{p:.2f} {'*' if v.labels[k] else ' '} {v.classes[k]}",
                    fill=BLACK if v.labels[k] else GREY)
    bottom = y + 16 + 14 * max(len(order), 1)
    if v.threshold is not None:
        tx = x + int(round(60 * v.threshold))
        c.draw.line((tx, y + 14, tx, bottom), fill=RED, width=1)
        c.draw.text((x, bottom + 2), f"red line: decision threshold {v.threshold:.3f}", fill=RED)
        c.layout["threshold_line"] = tx
        bottom += 16
    return bottom


def draw_legend(c, x, y):
    """The colour scale (with the uniform level of normalised attention) and the marks."""
    T_k = c.weights.shape[2] if c.view.length is None else c.view.length
    c.draw.text((x, y), "colour scale (weights 0 .. 1)", fill=BLACK)
    for i in range(120):
        c.draw.line((x + i, y + 16, x + i, y + 28), fill=heat_colour(i / 119))
    if c.view.attention == "sigmoid":
        c.draw.text((x, y + 32), "sigmoid: rows are not normalised", fill=GREY)
    else:                           # rows sum to 1: mark the weight of uniform attention
        tick = x + int(round(119 * (1 / T_k)))
        c.draw.line((tick, y + 13, tick, y + 31), fill=RED, width=2)
        c.draw.text((x, y + 32), f"red tick: uniform attention, 1/{T_k} = {1 / T_k:.2f}",
                    fill=RED)
        c.layout["uniform_tick"] = tick
    c.draw.text((x, y + 54), "red label: an event is present in this query frame"
                if c.all_queries else "red box: query frame", fill=RED)
    c.draw.text((x, y + 68), "blue: audible, green: visible", fill=BLACK)
    c.layout["legend"] = (x, y, c.image.width, y + 84)


def render(view, block=-1, query_frame=None, all_queries=False):
    """Draw one clip's cross-attention. -> (PIL image, layout), layout holding the boxes
    (left, top, right, bottom) of "query_strip", "key_strip", "heads" (one per head: a row, or
    a T_q-row matrix with all_queries), "truth" (one per class row), "query_marker" and
    "legend"; "uniform_tick" (x of the 1/T_k mark, normalised attention functions),
    "uniform_note" (the sentence shown when the rows are near uniform), "threshold_line" (x of
    the decision threshold), "truth_rows" (the labels of a class's two ground-truth rows) and
    "strip_kinds" ({"query": ..., "key": ...}: "log-mel" or "embedding + energy")."""
    weights = view.weights[block]                                           # (H, T_q, T_k)
    truth_classes = [] if view.query_present is None else [
        k for k in range(len(view.classes))
        if view.labels[k] or view.query_present[k].any() or view.key_present[k].any()]
    c = Canvas(view, weights, block % len(view.weights),
               default_query_frame(view) if query_frame is None else query_frame, all_queries,
               truth_classes)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    longest = max(probe.textbbox((0, 0), f"0.00 * {k}")[2] for k in view.classes)
    heights = band_heights(c)
    width = c.right_edge + max(RIGHT, 16 + 64 + longest + 8)
    c.image = Image.new("RGB", (width, sum(heights)), WHITE)
    c.draw = ImageDraw.Draw(c.image)
    c.layout = {"size": c.image.size, "heads": [], "truth": [], "strip_kinds": {}}
    y = 0
    for step, height in zip((draw_title, draw_time_axis, draw_strips, draw_heads,
                             draw_ground_truth, draw_share), heights):
        step(c, y)
        y += height
    x = c.right_edge + 16
    draw_legend(c, x, draw_predictions(c, x, HEADER) + 16)
    return c.image, c.layout


def save_png(image, path):
    """Write a PIL image as PNG atomically."""
    io.atomic_write(path, lambda f: image.save(f, format="PNG"))
