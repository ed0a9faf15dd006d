"""Cross-modal attention pictures in the layout of the paper's Figs. 4-7, and the
synchronization score (avt_np/sync.py).

    python -m avt_np.visualize RUN_DIR --clip 3                     # test clip 3, last block
    python -m avt_np.visualize RUN_DIR --split validation --clip validation-00012 \\
        --query-frame 4 --block -1 --out fig.png
    python -m avt_np.visualize RUN_DIR --clip 3 --all-queries       # every query x key matrix
    python -m avt_np.visualize RUN_DIR --sync-report                # the score, per block

The model is the run's ensemble's last snapshot (checkpoints/epoch_XXX.npz of the last epoch in
metrics.json "ensemble_epochs"), on the run's own data (config.json "data") unless --data says
otherwise. --sync-report reads the score from metrics.json when it was computed on the asked
split of the run's own data (no snapshot needed: runs trained with --keep none work); on other
data or another split it runs that snapshot. Queries come from the decoder (the second
modality), keys from the encoder (the first): for the paper's video/audio model an audio frame
asks which video frames to read.

The picture, top to bottom: the query strip and the key strip (one thumbnail per 0.96 s frame:
for audio, when the split stores log-mel examples (log_mel.npy, written by python -m
avt_np.features for validation and test by default), the frame's 96 x 64 log-mel spectrogram,
time left to right, low frequencies at the bottom, on one grey scale for the whole clip;
otherwise, and for video, the frame's embedding laid out as a small image, with a bar for its
energy ||x||), the chosen query frame outlined in red; one heat-map row per head of the
cross-attention weights of that query frame over the key frames (--all-queries: the full query x
key matrix per head); the clip's labels with their audible / visible frames when the split has
ground truth; on the right the predicted probabilities and the colour scale. The scale is fixed,
0..1, for every attention function (softmax and normalized-sigmoid rows sum to 1, sigmoid
weights lie in (0, 1)), with the uniform weight 1/T_k marked for the normalised ones: uniform
attention looks cold, not hot.

From Python (lessons):

    from avt_np import visualize
    run = visualize.load(RUN_DIR)
    view = visualize.clip_view(run, "test", 3)
    image, layout = visualize.render(view, block=-1, query_frame=None)
    image.save("fig.png")
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from avt_np import io
from avt_np import cli
from avt_np.cli import ArgumentParser, UsageError
from avt_np.plot import colour_map
from avt_np.sync import PRESENCE, cross_attention, model_sync_report, skip_reason

FRAME_HOP_SECONDS = 0.96

# -- loading ---------------------------------------------------------------------------------


@dataclass
class Run:
    """A finished run with the model of its ensemble's last epoch loaded."""
    path: Path
    saved: dict            # config.json
    config: object         # ModelConfig
    model: object          # AudiovisualTransformer, weights of `epoch`
    dataset: object
    epoch: int
    metrics: dict          # metrics.json
    data: str = None       # the --data given, None for the run's own


def read_run(run_dir):
    """(config.json contents, ModelConfig, metrics.json contents, last ensemble epoch) of a
    finished run, without loading its model."""
    from avt_np.evaluate import load_run
    saved, config = load_run(run_dir)
    metrics_path = Path(run_dir) / "metrics.json"
    if not metrics_path.is_file():
        raise UsageError(f"{metrics_path}: not found: the run has not finished")
    try:
        metrics = json.loads(metrics_path.read_text())
        epoch = int(metrics["ensemble_epochs"][-1])
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise UsageError(f"{metrics_path}: no ensemble_epochs ({e})") from None
    return saved, config, metrics, epoch


def load_model(run_dir, config, epoch, needed_for="the model"):
    """The AudiovisualTransformer saved after `epoch`; one-line errors for a missing or
    unreadable (e.g. truncated) snapshot."""
    from avt_np.evaluate import load_snapshot, snapshot_path
    from avt_np.model import AudiovisualTransformer
    snapshot = snapshot_path(run_dir, epoch)
    if not snapshot.is_file():
        raise UsageError(f"{snapshot}: snapshot of the last ensemble epoch missing; needed for "
                         f"{needed_for} (a run trained with --keep none keeps no snapshot)")
    model = AudiovisualTransformer(config)
    load_snapshot(model, snapshot)
    return model


def load(run_dir, data=None):
    """Load a finished run: its config, the last ensemble snapshot and its data (or `data`)."""
    from avt_np.train import open_data
    saved, config, metrics, epoch = read_run(run_dir)
    model = load_model(run_dir, config, epoch)
    dataset = open_data(data or saved["data"], config)
    return Run(Path(run_dir), saved, config, model, dataset, epoch, metrics, data)


@dataclass
class ClipView:
    """Everything one picture shows about one clip (frame axes: T_q query, T_k key frames)."""
    clip_id: str
    split: str
    first: str                     # key modality (encoder)
    second: str                    # query modality (decoder)
    attention: str
    pos_enc: tuple
    classes: list
    key_frames: np.ndarray         # (T_k, D_first) embeddings
    query_frames: np.ndarray       # (T_q, D_second)
    weights: list                  # per decoder block (H, T_q, T_k)
    probabilities: np.ndarray      # (C,)
    frame_probabilities: np.ndarray  # (T_q, C)
    labels: np.ndarray             # (C,) 0/1
    query_present: np.ndarray = None   # (C, T_q) bool, None without ground truth
    key_present: np.ndarray = None     # (C, T_k) bool
    query_log_mel: np.ndarray = None   # (T_q, 96, 64) when the queries are audio and the split
    key_log_mel: np.ndarray = None     # (T_k, 96, 64)  stores log-mel examples, else None
    run_name: str = ""

    @property
    def unimodal(self):
        return self.first == self.second


def clip_view(run, split_name, clip):
    """The ClipView of `clip` (id or index) of split `split_name` of a loaded Run."""
    from avt_np.data.format import DataError
    if split_name not in run.dataset:
        raise UsageError(f"--split {split_name}: no such split (expected train, validation or test)")
    split = run.dataset[split_name]
    try:
        index = split.index_of(clip)
    except DataError as e:
        raise UsageError(f"--clip {clip}: {e}") from None
    c = run.config
    batch = split.batch(np.array([index]))
    blocks, probs, frames = cross_attention(run.model, split, c, [index])
    view = ClipView(clip_id=split.clip_ids[index], split=split_name, first=c.first,
                    second=c.second, attention=c.attention, pos_enc=tuple(c.pos_enc),
                    classes=list(run.dataset.classes), key_frames=batch[c.first][0],
                    query_frames=batch[c.second][0], weights=[w[0] for w in blocks],
                    probabilities=probs[0], frame_probabilities=frames[0],
                    labels=split.labels[index], run_name=run.path.name)
    if split.has_ground_truth:
        view.query_present = np.asarray(batch[PRESENCE[c.second]][0], bool)
        view.key_present = np.asarray(batch[PRESENCE[c.first]][0], bool)
    if split.log_mel is not None:
        spectrograms = np.asarray(split.log_mel[index], np.float32)     # (T, 96, 64)
        view.query_log_mel = spectrograms if c.second == "audio" else None
        view.key_log_mel = spectrograms if c.first == "audio" else None
    return view


def default_query_frame(view):
    """A query frame worth looking at: among the frames where a labelled event is present in the
    query modality, the one nearest their middle; without ground truth, the frame where the
    most probable class has its highest frame probability."""
    if view.query_present is not None and view.query_present.any():
        frames = np.nonzero(view.query_present.any(0))[0]
        return int(frames[np.argmin(np.abs(frames - frames.mean()))])
    top = int(np.argmax(view.probabilities))
    return int(np.argmax(view.frame_probabilities[:, top]))


def query_frame_share(view, block, query_frame):
    """For the events present at `query_frame` (ground truth needed) and also present in some
    key frame: per head, the attention share on their key frames, and the chance level."""
    if view.query_present is None:
        return None
    from avt_np.sync import sync_score
    q_present = np.zeros_like(view.query_present)
    q_present[:, query_frame] = view.query_present[:, query_frame]
    score = sync_score(view.weights[block][None], q_present[None], view.key_present[None])
    return score if score["pairs"] else None


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


def render(view, block=-1, query_frame=None, all_queries=False):
    """Draw one clip's cross-attention. -> (PIL image, layout), layout holding the boxes
    (left, top, right, bottom) of "query_strip", "key_strip", "heads" (one per head: a row, or
    a T_q-row matrix with all_queries), "truth" (one per class row), "query_marker" and
    "legend"; "uniform_tick" (x of the 1/T_k mark, normalised attention functions),
    "truth_rows" (the labels of a class's two ground-truth rows) and "strip_kinds" ({"query":
    ..., "key": ...}: "log-mel" or "embedding + energy", each strip's label)."""
    weights = view.weights[block]                                           # (H, T_q, T_k)
    H, T_q, T_k = weights.shape
    n_blocks = len(view.weights)
    block_index = block % n_blocks
    if query_frame is None:
        query_frame = default_query_frame(view)
    T = max(T_q, T_k)
    truth_classes = [] if view.query_present is None else [
        c for c in range(len(view.classes))
        if view.labels[c] or view.query_present[c].any() or view.key_present[c].any()]
    head_height = HEAD_ROW * T_q if all_queries else HEAD_ROW
    header = 58
    heights = [header, 18, STRIP + ENERGY + 20, STRIP + ENERGY + 20, 16,
               H * (head_height + 6), 10,
               (TRUTH_ROW * 2 + 4) * len(truth_classes) + 24 if view.query_present is not None
               else 24, 40]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    longest = max(probe.textbbox((0, 0), f"0.00 * {c}")[2] for c in view.classes)
    width, height = LEFT + T * CELL + max(RIGHT, 16 + 64 + longest + 8), sum(heights)
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    layout = {"size": (width, height), "heads": [], "truth": [], "strip_kinds": {}}
    right_edge = LEFT + T * CELL

    # title
    pe = ",".join(view.pos_enc) or "none"
    draw.text((8, 6), f"{view.run_name}  {view.split} clip {view.clip_id}   "
              f"{view.first} first (keys) / {view.second} second (queries), {view.attention} "
              f"attention, positional encodings {pe}", fill=BLACK)
    draw.text((8, 22), f"cross-attention of decoder block {block_index + 1} of {n_blocks}, "
              + ("every query frame (rows) x key frame (columns)" if all_queries else
                 f"query frame {query_frame} ({FRAME_HOP_SECONDS * query_frame:.2f}-"
                 f"{FRAME_HOP_SECONDS * (query_frame + 1):.2f} s) over the key frames"),
              fill=BLACK)
    if view.unimodal:
        draw.text((8, 38), f"note: {view.first}/{view.second} run: the cross-attention exists "
                  f"but is within one modality ({view.second} frames attend to {view.first} "
                  f"frames)", fill=RED)
    y = header

    # time axis: frame centres in seconds
    draw.text((8, y + 2), "frame centre (s)", fill=GREY)
    for k in range(T):
        centred_text(draw, (LEFT + k * CELL, y, LEFT + (k + 1) * CELL, y + 16),
                     f"{FRAME_HOP_SECONDS * (k + 0.5):.2f}", GREY)
    y += heights[1]

    # strips
    for name, frames, log_mel, modality, role in (
            ("query_strip", view.query_frames, view.query_log_mel, view.second, "query"),
            ("key_strip", view.key_frames, view.key_log_mel, view.first, "key")):
        draw.text((8, y + 8), f"{role}: {modality}", fill=BLACK)
        if log_mel is not None:
            layout["strip_kinds"][role] = "log-mel"
            real = np.any(log_mel != 0, axis=(1, 2))             # padded frames are all zeros
            low, high = (log_mel[real].min(), log_mel[real].max()) if real.any() else (0, 1)
            draw.text((8, y + 22), "log-mel", fill=GREY)
            draw.text((8, y + 36), "64 bands, low at bottom", fill=GREY)
            draw.text((8, y + 50), f"black {low:.1f} .. white {high:.1f}", fill=GREY)
            for k in range(len(log_mel)):
                x0 = LEFT + k * CELL + 2
                if real[k]:                # one scale for the clip, so frames compare
                    image.paste(log_mel_thumbnail(log_mel[k], low, high,
                                                  (CELL - 4, STRIP + ENERGY)), (x0, y))
                else:
                    draw.rectangle((x0, y, x0 + CELL - 5, y + STRIP + ENERGY - 1), outline=GREY)
        else:
            layout["strip_kinds"][role] = "embedding + energy"
            draw.text((8, y + 22), "embedding + energy", fill=GREY)
            top_value = float(frames.max()) if frames.size else 1.0
            energy = np.linalg.norm(frames, axis=1)
            for k in range(len(frames)):
                x0 = LEFT + k * CELL + 2
                image.paste(embedding_thumbnail(frames[k], top_value, (CELL - 4, STRIP)), (x0, y))
                bar = int(round((CELL - 4) * energy[k] / max(energy.max(), 1e-12)))
                draw.rectangle((x0, y + STRIP + 3, x0 + bar, y + STRIP + ENERGY), fill=GREY)
        layout[name] = (LEFT, y, LEFT + len(frames) * CELL, y + STRIP + ENERGY)
        if role == "query" and not all_queries:
            box = (LEFT + query_frame * CELL, y - 2, LEFT + (query_frame + 1) * CELL - 1,
                   y + STRIP + ENERGY + 3)
            draw.rectangle(box, outline=RED, width=3)
            layout["query_marker"] = box
        y += STRIP + ENERGY + 20

    # heat maps: a fixed 0..1 scale for every attention function (softmax and normalized
    # sigmoid rows sum to 1, sigmoid weights lie in (0, 1)), so uniform attention looks cold
    vmax = 1.0
    draw.text((8, y), "attention weights", fill=BLACK)
    y += 16
    for h in range(H):
        draw.text((8, y + 5), f"head {h + 1}", fill=BLACK)
        rows = range(T_q) if all_queries else [query_frame]
        for r, q in enumerate(rows):
            heat_cells(draw, LEFT, y + r * HEAD_ROW, weights[h, q], vmax, CELL, HEAD_ROW - 1,
                       numbers=True)
            if all_queries:
                draw.text((LEFT - 60, y + r * HEAD_ROW + 5),
                          f"q{q} {FRAME_HOP_SECONDS * (q + 0.5):.2f}s",
                          fill=RED if view.query_present is not None
                          and view.query_present[:, q].any() else GREY)
        layout["heads"].append((LEFT, y, LEFT + T_k * CELL, y + head_height))
        y += head_height + 6
    y += 10

    # ground truth
    if view.query_present is None:
        draw.text((8, y + 4), f"the {view.split} split has no frame-level ground truth: no "
                  "audible / visible intervals, no synchronization score", fill=GREY)
        y += 24
    else:
        q_name, k_name = PRESENCE[view.second], PRESENCE[view.first]
        rows = [(0, view.query_present, f"query {q_name}", AUDIBLE if q_name == "audible"
                 else VISIBLE),
                (TRUTH_ROW, view.key_present, f"key {k_name}", AUDIBLE if k_name == "audible"
                 else VISIBLE)]
        kind_width = max(draw.textbbox((0, 0), kind)[2] for _, _, kind, _ in rows)
        layout["truth_rows"] = [kind for _, _, kind, _ in rows]
        draw.text((8, y + 4), "ground truth per labelled class", fill=BLACK)
        y += 24
        for c in truth_classes:
            lines = wrapped(draw, view.classes[c], LEFT - 6 - kind_width - 8 - 8)
            if len(lines) > 2:
                lines = [lines[0], " ".join(lines[1:])]
            for i, line in enumerate(lines):
                draw.text((8, y + 2 + i * TRUTH_ROW), line, fill=BLACK)
            for offset, present, kind, colour in rows:
                for k in np.nonzero(present[c])[0]:
                    draw.rectangle((LEFT + k * CELL, y + offset + 2, LEFT + (k + 1) * CELL - 1,
                                    y + offset + TRUTH_ROW - 2), fill=colour)
                draw.text((LEFT - 6 - draw.textbbox((0, 0), kind)[2], y + offset + 2), kind,
                          fill=colour)
            draw.line((LEFT, y + 2 * TRUTH_ROW + 1, right_edge, y + 2 * TRUTH_ROW + 1), fill=GREY)
            layout["truth"].append((LEFT, y, right_edge, y + 2 * TRUTH_ROW))
            y += 2 * TRUTH_ROW + 4

    # footer: the synchronization share of this query frame
    if not all_queries and not view.unimodal:
        share = query_frame_share(view, block, query_frame)
        if share is not None:
            text = (f"share of attention on the {k_name} frames of the events {q_name} here: "
                    + ", ".join(f"head {h + 1} {s:.2f}" for h, s in
                                enumerate(share["share_per_head"]))
                    + f" (chance {share['chance']:.2f})")
        elif view.query_present is not None:
            text = (f"no event is {PRESENCE[view.second]} at this query frame and "
                    f"{PRESENCE[view.first]} somewhere: no share to score")
        else:
            text = ""
        draw.text((8, y + 8), text, fill=BLACK)

    # right panel: predictions, labels, legend
    x = right_edge + 16
    draw.text((x, header), "predicted probability (* = label)", fill=BLACK)
    order = [c for c in np.argsort(-view.probabilities)
             if view.labels[c] or view.probabilities[c] >= 0.05][:12]
    for i, c in enumerate(order):
        yy = header + 16 + 14 * i
        p = float(view.probabilities[c])
        draw.rectangle((x, yy + 2, x + int(60 * p), yy + 11), fill=(200, 200, 200))
        draw.text((x + 64, yy), f"{p:.2f} {'*' if view.labels[c] else ' '} {view.classes[c]}",
                  fill=BLACK if view.labels[c] else GREY)
    ly = header + 16 + 14 * max(len(order), 1) + 16
    draw.text((x, ly), f"colour scale (weights 0 .. {vmax:.0f})", fill=BLACK)
    for i in range(120):
        draw.line((x + i, ly + 16, x + i, ly + 28), fill=heat_colour(i / 119))
    if view.attention == "sigmoid":
        draw.text((x, ly + 32), "sigmoid: rows are not normalised", fill=GREY)
    else:                           # rows sum to 1: mark the weight of uniform attention
        tick = x + int(round(119 * (1 / T_k) / vmax))
        draw.line((tick, ly + 13, tick, ly + 31), fill=RED, width=2)
        draw.text((x, ly + 32), f"red tick: uniform attention, 1/{T_k} = {1 / T_k:.2f}",
                  fill=RED)
        layout["uniform_tick"] = tick
    draw.text((x, ly + 54), "red label: an event is present in this query frame" if all_queries
              else "red box: query frame", fill=RED)
    draw.text((x, ly + 68), "blue: audible, green: visible", fill=BLACK)
    layout["legend"] = (x, ly, width, ly + 84)
    return image, layout


def save_png(image, path):
    """Write a PIL image as PNG atomically."""
    io.atomic_write(path, lambda f: image.save(f, format="PNG"))


# -- the synchronization report ---------------------------------------------------------------
def same_data(a, b):
    """Do two --data values name the same data set (EMBEDDED, or the same directory)?"""
    from avt_np.train import EMBEDDED
    if EMBEDDED in (a, b):
        return a == b
    return Path(a).resolve() == Path(b).resolve()


def stored_sync(saved, metrics, split_name, data=None):
    """metrics.json's "sync" entry when it was computed on `split_name` of `data` (None: the
    run's own data), else None."""
    stored = metrics.get("sync")
    if stored is None or stored.get("split") != split_name:
        return None
    if data is not None and not same_data(data, saved["data"]):
        return None
    return stored


def split_of(dataset, split_name):
    if split_name not in dataset:
        raise UsageError(f"--split {split_name}: no such split (expected train, validation or test)")
    return dataset[split_name]


def sync_for_run(run, split_name="test"):
    """The score of a loaded Run on `split_name` of its data: metrics.json's "sync" entry when
    it covers that split of the run's own data, else computed now."""
    stored = stored_sync(run.saved, run.metrics, split_name, run.data)
    if stored is not None:
        return stored
    split = split_of(run.dataset, split_name)
    return {"epoch": run.epoch, **model_sync_report(run.model, split, run.config)}


def sync_for_run_dir(run_dir, split_name="test", data=None):
    """sync_for_run from a run directory, loading the model only when the score must be computed
    (so runs trained with --keep none answer from metrics.json)."""
    from avt_np.train import open_data
    saved, config, metrics, epoch = read_run(run_dir)
    stored = stored_sync(saved, metrics, split_name, data)
    if stored is not None:
        return stored
    split = split_of(open_data(data or saved["data"], config), split_name)
    reason = skip_reason(split, config)
    if reason:
        return {"epoch": epoch, "split": split.name, "skipped": reason}
    where = f"--data {data}" if data is not None else "the run's own data"
    model = load_model(run_dir, config, epoch,
                       needed_for=f"the score on the {split_name} split of {where}")
    return {"epoch": epoch, **model_sync_report(model, split, config)}


def format_sync(report):
    """The report as a few lines of text (one table row per decoder block)."""
    if "skipped" in report:
        return f"synchronization score skipped ({report['split']} split): {report['skipped']}"
    lines = [f"synchronization score, {report['split']} split ({report['clips']} clips, "
             f"model of epoch {report.get('epoch', '?')})",
             f"  queries: {report['query']}; attention mass counted on: {report['key']}",
             f"  {report['pairs']} (clip, class, query frame) pairs scored, "
             f"{report['excluded_pairs']} excluded (event absent from every key frame)",
             f"  chance (fraction of key frames where the event is present): "
             f"{report['chance']:.3f}" if report["pairs"] else "  no pair to score",
             "  block  share  gain   share per head        top-1  top-1 per head"]
    if report["pairs"]:
        for b in report["blocks"]:
            gain = (b["share"] - report["chance"]) / max(1 - report["chance"], 1e-12)
            lines.append(f"  {b['block'] + 1:>5}  {b['share']:.3f}  {gain:+.3f} "
                         + " ".join(f"{s:.3f}" for s in b["share_per_head"]).ljust(20)
                         + f"  {b['top1']:.3f}  " + " ".join(f"{s:.3f}" for s in b["top1_per_head"]))
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------------------
def build_parser():
    parser = ArgumentParser(prog="python -m avt_np.visualize", description=__doc__)
    parser.add_argument("run_dir", help="a finished run directory of python -m avt_np.train")
    parser.add_argument("--split", default="test",
                        help="split the clip comes from: train, validation or test [default: test]")
    parser.add_argument("--clip", default="0",
                        help="clip id (e.g. test-00012) or index in the split [default: 0]")
    parser.add_argument("--query-frame", type=int, default=None,
                        help="query frame to show (0-based; the second modality's frames) "
                             "[default: the middle of the frames where a labelled event is "
                             "present, or the most confident frame]")
    parser.add_argument("--block", type=int, default=-1,
                        help="decoder block whose cross-attention is drawn, 0-based, negative "
                             "counts from the end [default: -1, the last, as in Sec. 4.2]")
    parser.add_argument("--all-queries", action="store_true",
                        help="draw the full query x key weight matrix of every head")
    parser.add_argument("--out", help="PNG to write [default: RUN_DIR/attention-SPLIT-CLIP.png]")
    parser.add_argument("--data", help="data set directory [default: the one the run used]")
    parser.add_argument("--sync-report", action="store_true",
                        help="print the synchronization score of the run on --split instead of "
                             "drawing: from metrics.json for the run's own test split, else "
                             "computed with the last ensemble snapshot")
    return parser


def run_cli(argv=None):
    args = build_parser().parse_args(argv)
    if args.out is not None and not args.out.lower().endswith(".png"):
        raise UsageError(f"--out {args.out}: expected a .png file name")
    if args.sync_report:
        report = sync_for_run_dir(args.run_dir, args.split, args.data)
        print(format_sync(report))
        return report
    run = load(args.run_dir, args.data)
    view = clip_view(run, args.split, args.clip)
    n_blocks, (_, T_q, _) = len(view.weights), view.weights[0].shape
    if not -n_blocks <= args.block < n_blocks:
        raise UsageError(f"--block {args.block}: the model has {n_blocks} decoder blocks "
                         f"(0..{n_blocks - 1}, or negative from the end)")
    if args.query_frame is not None and not 0 <= args.query_frame < T_q:
        raise UsageError(f"--query-frame {args.query_frame}: expected 0..{T_q - 1}")
    reason = skip_reason(run.dataset[args.split], run.config)
    if reason:
        print(f"note: {reason}" + ("; drawing it anyway" if view.unimodal else
                                   "; no synchronization score for this clip"), file=sys.stderr)
    image, layout = render(view, args.block, args.query_frame, args.all_queries)
    out = Path(args.out or Path(args.run_dir) / f"attention-{args.split}-{view.clip_id}"
               f"{'-all' if args.all_queries else ''}.png")
    try:
        save_png(image, out)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from None
    print(out)
    return out


def main(argv=None):
    return cli.main(run_cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
