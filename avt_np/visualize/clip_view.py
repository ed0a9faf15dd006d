"""What one attention picture shows about one clip: a finished run loaded with the model of its
ensemble's last epoch (`load`), and one clip's frames, cross-attention weights, predictions and
ground truth gathered in a ClipView (`clip_view`)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avt_np.cli import UsageError
from avt_np.data import DataError
from avt_np.data import open as open_data
from avt_np.predict import predict
from avt_np.run_dir import load_model, read_finished
from avt_np.sync import PRESENCE, sync_score


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


def load(run_dir, data=None):
    """Load a finished run: its config, the last ensemble snapshot and its data (or `data`)."""
    saved, config, metrics, epoch = read_finished(run_dir)
    model = load_model(run_dir, config, epoch)
    dataset = open_data(data or saved["data"], (config.first, config.second))
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
    length: int = None             # real frames of the clip (the rest is padding)
    threshold: float = None        # the run's decision threshold (metrics.json), if known
    query_present: np.ndarray = None   # (C, T_q) bool, None without ground truth
    key_present: np.ndarray = None     # (C, T_k) bool
    query_log_mel: np.ndarray = None   # (T_q, 96, 64) when the queries are audio and the split
    key_log_mel: np.ndarray = None     # (T_k, 96, 64)  stores log-mel examples, else None
    run_name: str = ""

    @property
    def unimodal(self):
        return self.first == self.second


def split_of(dataset, split_name):
    if split_name not in dataset:
        raise UsageError(f"--split {split_name}: no such split (expected train, validation or test)")
    return dataset[split_name]


def clip_view(run, split_name, clip):
    """The ClipView of `clip` (id or index) of split `split_name` of a loaded Run."""
    split = split_of(run.dataset, split_name)
    try:
        index = split.index_of(clip)
    except DataError as e:
        raise UsageError(f"--clip {clip}: {e}") from None
    c = run.config
    batch = split.batch(np.array([index]))
    out = predict(run.model, split, c, [index], attention=True)
    view = ClipView(clip_id=split.clip_ids[index], split=split_name, first=c.first,
                    second=c.second, attention=c.attention, pos_enc=tuple(c.pos_enc),
                    classes=list(run.dataset.classes), key_frames=batch[c.first][0],
                    query_frames=batch[c.second][0],
                    weights=[w[0] for w in out.cross_attention],
                    probabilities=out.probabilities[0],
                    frame_probabilities=out.frame_probabilities[0],
                    labels=split.labels[index], run_name=run.path.name,
                    threshold=run.metrics.get("threshold"),
                    length=None if batch["lengths"] is None else int(batch["lengths"][0]))
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
    q_present = np.zeros_like(view.query_present)
    q_present[:, query_frame] = view.query_present[:, query_frame]
    lengths = None if view.length is None else [view.length]
    score = sync_score(view.weights[block][None], q_present[None], view.key_present[None], lengths)
    return score if score["pairs"] else None
