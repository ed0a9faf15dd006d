"""Scores of the paper's protocol: micro-F1, per-class precision / recall / F1, and the single
global threshold chosen on validation (Sec. 3.2.10, Sec. 4.1).

Every ground-truth clip counts: a clip with no predicted label still adds its false negatives
(the official DCASE 2017 scorer skips clips absent from the prediction file; we do not).
"""

import numpy as np


def _counts(y_true, y_pred, axis=None):
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    tp = (y_true & y_pred).sum(axis)
    fp = (~y_true & y_pred).sum(axis)
    fn = (y_true & ~y_pred).sum(axis)
    return tp, fp, fn


def f1_from_counts(tp, fp, fn):
    """2 TP / (2 TP + FP + FN); 0 where there is nothing to find and nothing was found."""
    tp, fp, fn = (np.asarray(a, np.float64) for a in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def micro_f1(y_true, y_pred):
    """Micro-averaged F1 over all (clip, class) decisions. y_true, y_pred: binary (N, C)."""
    return float(f1_from_counts(*_counts(y_true, y_pred)))


def per_class_scores(y_true, y_pred, classes):
    """[{class, precision, recall, f1, support}] for each class (column)."""
    tp, fp, fn = _counts(y_true, y_pred, axis=0)
    precision = np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(len(tp)), where=(tp + fn) > 0)
    f1 = f1_from_counts(tp, fp, fn)
    return [{"class": name, "precision": float(p), "recall": float(r), "f1": float(f),
             "support": int(t + n)}
            for name, p, r, f, t, n in zip(classes, precision, recall, f1, tp, fn)]


def best_global_threshold(y_true, probabilities):
    """The one threshold t (predict p >= t) that maximises micro-F1 on these clips.

    Every distinct probability is a candidate; sorting once gives the counts of all of them.
    The returned t lies halfway between the chosen probability and the next lower one, so it
    makes the same decisions here and does not sit exactly on a training-set value.
    Returns (threshold, micro_f1).
    """
    y = np.asarray(y_true, bool).ravel()
    p = np.asarray(probabilities, np.float64).ravel()
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    tp = np.cumsum(y_sorted)                      # predicting the top k+1 as positive
    fp = np.arange(1, p.size + 1) - tp
    fn = y.sum() - tp
    f1 = f1_from_counts(tp, fp, fn)
    # only cut between different probabilities: equal ones get the same decision
    cut_allowed = np.append(p_sorted[1:] < p_sorted[:-1], True)
    f1 = np.where(cut_allowed, f1, -1.0)
    k = int(np.argmax(f1))
    lower = p_sorted[k + 1] if k + 1 < p.size else 0.0
    return float((p_sorted[k] + lower) / 2), float(f1[k])


def should_stop_early(val_losses, patience=7):
    """Sec. 3.2.8: stop when the latest validation loss is higher than all of the validation
    losses of the `patience` epochs before it."""
    if len(val_losses) <= patience:
        return False
    return val_losses[-1] > max(val_losses[-patience - 1:-1])


def ensemble_epochs(epochs_trained, size=7):
    """Sec. 3.2.9: the epochs (1-based) whose models are averaged: the last `size` ones."""
    return list(range(max(1, epochs_trained - size + 1), epochs_trained + 1))
