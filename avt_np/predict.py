"""Running a model over the clips of a split: the one prediction loop of the package.

    out = predict(model, split, config)                        # out.probabilities (N, C)
    out = predict(model, split, config, indices=[3], attention=True)
    out.cross_attention[-1]                                    # (1, H, T_q, T_k), last block
    out = predict_ensemble(models, split, config)              # the mean of several models

The model runs in eval mode (no dropout) in batches, and is left in the mode it came in.
Clip lengths (padded frames) are passed on when the split records them.
"""

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np


@dataclass
class Predictions:
    probabilities: np.ndarray            # (N, C) clip probabilities
    frame_probabilities: np.ndarray      # (N, T_q, C) per-frame probabilities
    cross_attention: list = None         # per decoder block (N, H, T_q, T_k), with attention=True


@contextmanager
def evaluating(model):
    """`with evaluating(model):` runs the block in eval mode (no dropout) and puts the model back
    in the mode it came in, whatever happens."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def batches(split, indices=None, batch_size=100):
    """split.batch of clips `indices` (default: all), batch_size clips at a time."""
    indices = np.arange(len(split)) if indices is None else np.asarray(indices, np.int64)
    for start in range(0, len(indices), batch_size):
        yield split.batch(indices[start:start + batch_size])


def predict(model, split, config, indices=None, batch_size=100, attention=False):
    """Run `model` on clips `indices` of `split` (default: all). -> Predictions."""
    probs, frames, weights = [], [], []
    with evaluating(model):
        for batch in batches(split, indices, batch_size):
            probs.append(model(batch[config.first], batch[config.second], batch["lengths"]))
            frames.append(model.frame_probabilities)
            if attention:
                weights.append([w.copy() for w in model.cross_attention_weights()])
    blocks = ([np.concatenate([w[b] for w in weights]) for b in range(len(weights[0]))]
              if attention else None)
    return Predictions(np.concatenate(probs), np.concatenate(frames), blocks)


def predict_ensemble(models, split, config, indices=None, batch_size=100):
    """The mean of several models' predictions (the epoch ensemble, Sec. 3.2.9) on clips
    `indices` of `split`: each batch's features are computed once for all models. The sums run
    in the order of `models`, as score_ensemble adds them up. -> Predictions."""
    probs, frames = [], []
    with ExitStack() as stack:
        for model in models:
            stack.enter_context(evaluating(model))
        for batch in batches(split, indices, batch_size):
            clip, frame = 0.0, 0.0
            for model in models:
                clip = clip + model(batch[config.first], batch[config.second], batch["lengths"])
                frame = frame + model.frame_probabilities
            probs.append(clip / len(models))
            frames.append(frame / len(models))
    return Predictions(np.concatenate(probs), np.concatenate(frames))
