"""Training diagnostics: what a model's attention, residual branches and gradients look like
after a forward and backward (issue 21: why sigmoid attention stalls).

Pure functions over arrays, and `model_diagnostics(model)` that gathers them for an
AudiovisualTransformer after `model(...)` and `model.backward(...)`:

    attention_stats(weights, key_mask)   saturation (share of weights near 0 / near 1), row sums
    score_stats(q, k, scale, key_mask)   magnitude of the scores q k^T / sqrt(d) fed to f
    gradient_norms(model)                L2 norm of the gradient of each parameter group
    residual_ratio(skip, branch)         RMS(branch) / RMS(skip) before a LayerNorm
    temporal_variation(x, real)          std over frames of a sequence, relative to its std
    stack_sums(model, real_first, real_second)
                                         sums behind the collapse report (avt_np/collapse.py):
                                         size and within-clip variation of skip, branch and
                                         output of every sub-layer, through the whole stack

`python -m avt_np.train --diagnostics K` appends model_diagnostics every K steps to
RUN_DIR/diagnostics.jsonl (`append_jsonl`: one line, one write).
"""

import json
import os

import numpy as np

SATURATION = 0.01          # a weight within this of 0 or of 1 counts as saturated


def _real(weights, key_mask):
    """The weights of real keys, flat; every weight without a mask."""
    if key_mask is None:
        return weights.ravel()
    return weights[np.broadcast_to(key_mask, weights.shape)]


def attention_stats(weights, key_mask=None, tol=SATURATION):
    """Statistics of attention weights (..., T_k) over real keys (padded keys, False in the
    key mask, are left out: their weight 0 is no saturation).

    -> {near_0, near_1: share of weights < tol and > 1 - tol; row_sum_mean, row_sum_max;
        max_weight_mean: the mean over rows of the largest weight}
    """
    w = np.asarray(weights, np.float64)
    real = _real(w, key_mask)
    masked = w if key_mask is None else np.where(key_mask, w, 0.0)
    rows = masked.sum(-1)
    return {"near_0": float(np.mean(real < tol)), "near_1": float(np.mean(real > 1 - tol)),
            "row_sum_mean": float(rows.mean()), "row_sum_max": float(rows.max()),
            "max_weight_mean": float(masked.max(-1).mean())}


def score_stats(q, k, scale, key_mask=None):
    """Magnitude of the scores s = q k^T * scale over real keys.

    q: (..., T_q, d), k: (..., T_k, d) -> {abs_mean, std, abs_max, row_std_mean: the mean
    over rows of the scores' std within a row (how much f can tell the keys apart)}
    """
    s = (np.asarray(q, np.float64) @ np.swapaxes(np.asarray(k, np.float64), -1, -2)) * scale
    real = _real(s, key_mask)
    if key_mask is None:
        row_std = s.std(-1)
    else:
        m = np.broadcast_to(key_mask, s.shape)
        n = m.sum(-1)
        mean = np.where(m, s, 0).sum(-1) / n
        row_std = np.sqrt(np.where(m, (s - mean[..., None]) ** 2, 0).sum(-1) / n)
    return {"abs_mean": float(np.abs(real).mean()), "std": float(real.std()),
            "abs_max": float(np.abs(real).max()), "row_std_mean": float(row_std.mean())}


def parameter_group(name):
    """A parameter's group: its name without the last part ('encoder.0.self_attn.q.W' ->
    'encoder.0.self_attn.q')."""
    return name.rsplit(".", 1)[0]


def gradient_norms(model, group=parameter_group):
    """{group: L2 norm of the gradients of its parameters}, from model.parameters(), which
    yields (name, param, grad). group=None: one entry per parameter."""
    squares = {}
    for name, _, grad in model.parameters():
        key = name if group is None else group(name)
        squares[key] = squares.get(key, 0.0) + float(np.sum(np.asarray(grad, np.float64) ** 2))
    return {key: float(np.sqrt(v)) for key, v in squares.items()}


def rms(x):
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def residual_ratio(skip, branch):
    """RMS(branch) / RMS(skip): how much the sublayer adds to x before LayerNorm(x + branch).
    Far above 1, the branch swamps the skip path (LayerNorm then all but erases x)."""
    return rms(branch) / max(rms(skip), 1e-30)


def temporal_variation(x, real=None):
    """How much a sequence x (B, T, D) changes over its frames: the std over frames (real
    frames only, real: (B, T) bool or None), averaged over clips and features, divided by the
    std of x over everything. 0: every frame of a clip is the same vector.
    -> {std_over_frames, relative}"""
    x = np.asarray(x, np.float64)
    if real is None:
        over_t = x.std(1).mean()
        total = x.std()
    else:
        m = real[:, :, None].astype(np.float64)
        n = m.sum(1)
        mean = (x * m).sum(1) / n
        over_t = np.sqrt(((x - mean[:, None]) ** 2 * m).sum(1) / n).mean()
        total = x[real].std()
    return {"std_over_frames": float(over_t), "relative": float(over_t / max(total, 1e-30))}


def variation_sums(x, real=None):
    """x (B, T, D) over its real frames (real (B, T) bool or None) -> [sum of squares, sum of
    squared deviations from each clip's mean frame, number of values]: the parts of
    size = sqrt(squares / n) and within-clip variation = sqrt(deviations / squares), which add
    up over batches (variation_of)."""
    x = np.asarray(x, np.float64)
    m = np.ones(x.shape[:2]) if real is None else real.astype(np.float64)
    m = m[:, :, None]                                                       # (B, T, 1)
    mean = (x * m).sum(1, keepdims=True) / m.sum(1, keepdims=True)          # (B, 1, D)
    return np.array([float((x * x * m).sum()), float(((x - mean) ** 2 * m).sum()),
                     float(m.sum() * x.shape[2])])


def variation_of(sums):
    """(size, within-clip variation) from summed variation_sums: size the RMS of the values,
    variation the RMS of each frame's difference from its clip's mean frame over the RMS of
    the frames (0: every frame of a clip is the same vector; 1: the clip means are 0)."""
    squares, deviations, n = sums
    return float(np.sqrt(squares / max(n, 1))), float(np.sqrt(deviations / max(squares, 1e-300)))


SUBLAYER_NORMS = {"self_attn": "norm1", "cross_attn": "norm2", "ff": "norm3"}   # decoder
ENCODER_NORMS = {"self_attn": "norm1", "ff": "norm2"}


def layer_norm_output(norm):
    """A LayerNorm's last output, from its cache: g * x_hat + b."""
    return norm.params["g"] * norm.x_hat + norm.params["b"]


def stack_sums(model, real_first, real_second):
    """After model(first, second, lengths): for every stage of the stack, in forward order,
    (name, {"skip", "branch", "output": variation_sums}) ("skip"/"branch" only for sub-layers:
    LayerNorm(skip + branch) = output). Stages: the encoder's input stream, each encoder block's
    self-attention and feed-forward, the decoder's input stream, each decoder block's self-,
    cross-attention and feed-forward, the classifier's input, the frame probabilities.
    real_first, real_second: (B, T) bool real frames of each modality, or None."""
    stages = [("encoder input", {"output": variation_sums(model.encoder_input.output,
                                                          real_first)})]
    for prefix, blocks, norms, real in (("encoder", model.encoder, ENCODER_NORMS, real_first),
                                        ("decoder", model.decoder, SUBLAYER_NORMS, real_second)):
        if prefix == "decoder":
            stages.append(("decoder input", {"output": variation_sums(
                model.decoder_input.output, real_second)}))
        for i, block in enumerate(blocks):
            for name, (skip, branch) in block.branches.items():
                output = layer_norm_output(getattr(block, norms[name]))
                stages.append((f"{prefix}.{i} {name}",
                               {"skip": variation_sums(skip, real),
                                "branch": variation_sums(branch, real),
                                "output": variation_sums(output, real)}))
    stages.append(("classifier input", {"output": variation_sums(model.classifier.x,
                                                                 real_second)}))
    stages.append(("frame probabilities", {"output": variation_sums(model.frame_probabilities,
                                                                    real_second)}))
    return stages


def attention_diagnostics(mha):
    """attention_stats and score_stats of a MultiHeadAttention after its forward."""
    a = mha.attention
    return {"weights": attention_stats(a.weights, a.key_mask),
            "scores": score_stats(a.q, a.k, a.scale, a.key_mask)}


def model_diagnostics(model):
    """Every statistic above for an AudiovisualTransformer after forward (and backward, for
    the gradients): {encoder.i / decoder.i: {attention name: {weights, scores}, residual:
    {sublayer: ratio}}, encoder_output: temporal_variation, grad_norm: gradient_norms}."""
    out = {}
    for prefix, blocks in (("encoder", model.encoder), ("decoder", model.decoder)):
        for i, block in enumerate(blocks):
            entry = {"residual": {name: residual_ratio(skip, branch)
                                  for name, (skip, branch) in block.branches.items()}}
            for name in ("self_attn", "cross_attn"):
                if hasattr(block, name):
                    entry[name] = attention_diagnostics(getattr(block, name))
            out[f"{prefix}.{i}"] = entry
    out["encoder_output"] = temporal_variation(model.memory, model.real_first)
    out["grad_norm"] = gradient_norms(model)
    return out


def append_jsonl(path, record):
    """Append one JSON line with a single write to a file opened for appending, so lines from
    one or several writers never interleave and a kill leaves whole lines."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def summary(record):
    """A few headline numbers of a model_diagnostics record, for one line of a table:
    encoder self-attention row sums and saturation, residual ratios, encoder output
    variation and the largest gradient group."""
    enc = [k for k in record if k.startswith("encoder.")]
    return {
        "enc_row_sum": float(np.mean([record[k]["self_attn"]["weights"]["row_sum_mean"]
                                      for k in enc])),
        "enc_near_1": float(np.mean([record[k]["self_attn"]["weights"]["near_1"] for k in enc])),
        "enc_attn_residual": float(np.mean([record[k]["residual"]["self_attn"] for k in enc])),
        "enc_score_row_std": float(np.mean([record[k]["self_attn"]["scores"]["row_std_mean"]
                                            for k in enc])),
        "enc_out_relative_std": record["encoder_output"]["relative"],
    }
