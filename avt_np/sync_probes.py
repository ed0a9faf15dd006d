"""Probes of a trained model's cross-modal attention that need no retraining: why does (or
doesn't) cross-attention find the event? (the paper's Sec. 4.2 claim, tested in
docs/attention.md).

    encoder_variation(model, split, config)   how much each encoder stage's output still
                                              varies from frame to frame
    sync_by_memory(model, split, config)      the synchronization score (avt_np/sync.py) of
                                              every decoder block, had its cross-attention read
                                              each encoder stage's output as keys
    shuffle_test(model, split, config, t)     permute the first modality's frames within each
                                              clip: does anything change?

Encoder stage 0 is the input stream (linear map, positional encodings), stage k the output of
encoder block k; the paper's decoder reads the last stage. Everything runs in eval mode (no
dropout) and leaves the model in the mode it came in; padded frames (the split's lengths) are
left out exactly as the model leaves them out.
"""

import numpy as np

from avt_np.diagnostics import temporal_variation
from avt_np.metrics import micro_f1
from avt_np.model.transformer import attention_masks, check_lengths
from avt_np.predict import batches, evaluating, predict
from avt_np.sync import roles, sync_score


def masks(batch, config):
    """(real first frames (B, T1) or None, and the key masks the model uses for this batch:
    the first modality's self-attention, the second's, the cross-attention), local attention
    windows included (model/transformer.py, attention_masks)."""
    first, second, lengths = batch[config.first], batch[config.second], batch["lengths"]
    if lengths is not None:
        lengths = check_lengths(lengths, first.shape[0], min(first.shape[1], second.shape[1]))
    real_first, _, *keys = attention_masks(config, lengths, first.shape[1], second.shape[1])
    return (real_first, *keys)


def encoder_stages(model, first, keys_first):
    """[input stream, output of encoder block 1, ..., of block N], each (B, T1, D)."""
    stages = [model.encoder_input(first)]
    for block in model.encoder:
        stages.append(block(stages[-1], keys_first))
    return stages


def encoder_variation(model, split, config, batch_size=100):
    """Per encoder stage (0..N): the std of its output over a clip's real frames, mean over
    clips and units (0: every frame of a clip looks the same to the decoder)."""
    totals, clips = None, 0
    with evaluating(model):
        for batch in batches(split, batch_size=batch_size):
            real, keys, _, _ = masks(batch, config)
            stds = [temporal_variation(s, real)["std_over_frames"]
                    for s in encoder_stages(model, batch[config.first], keys)]
            n = len(batch["labels"])
            totals = np.multiply(stds, n) if totals is None else totals + np.multiply(stds, n)
            clips += n
    return [float(v) for v in totals / clips]


def cross_weights_by_memory(model, batch, config):
    """weights[d][e]: decoder block d's cross-attention weights (B, H, T_q, T_k) had its keys
    and values come from encoder stage e; the decoder itself runs as the model does (reading
    the last stage)."""
    _, keys_first, keys_second, cross = masks(batch, config)
    stages = encoder_stages(model, batch[config.first], keys_first)
    x = model.decoder_input(batch[config.second])
    weights = []
    for block in model.decoder:
        queries = block.norm1(x + block.self_attn(x, None, keys_second))    # cross-attn input
        row = []
        for stage in stages:
            block.cross_attn(queries, stage, cross)
            row.append(block.cross_attn.weights.copy())
        weights.append(row)
        x = block(x, stages[-1], keys_second, cross)
    return weights


def sync_by_memory(model, split, config, batch_size=100):
    """score[d][e]: the sync score (share, gain, top-1, chance) of decoder block d reading
    encoder stage e, over every clip of `split` (frame-level ground truth needed)."""
    r = roles(config.first, config.second)
    collected = None
    with evaluating(model):
        for batch in batches(split, batch_size=batch_size):
            w = cross_weights_by_memory(model, batch, config)
            collected = w if collected is None else [
                [np.concatenate([a, b]) for a, b in zip(old, new)] for old, new in zip(collected, w)]
    query_present, key_present = getattr(split, r["query_truth"]), getattr(split, r["key_truth"])
    return [[sync_score(w, query_present, key_present, split.lengths) for w in row]
            for row in collected]


class ShuffledSplit:
    """A split whose `modality` frames are permuted within each clip (among its real frames;
    padded frames stay where they are), the same permutation for a clip every time."""

    def __init__(self, split, modality, seed=0):
        self.split, self.modality = split, modality
        frames = split.batch(np.array([0]))[modality].shape[1]
        self.order = np.random.default_rng(seed).random((len(split), frames))   # sort keys

    def __len__(self):
        return len(self.split)

    def batch(self, idx):
        idx = np.asarray(idx, np.int64)
        out = dict(self.split.batch(idx))
        x = out[self.modality]                                             # (B, T, D)
        T = x.shape[1]
        keys = self.order[idx].copy()
        if out["lengths"] is not None:                                     # padded frames last
            keys[np.arange(T)[None, :] >= out["lengths"][:, None]] = np.inf
        perm = np.argsort(keys, axis=1)                                    # (B, T)
        out[self.modality] = np.take_along_axis(x, perm[:, :, None], axis=1)
        return out


def shuffle_test(model, split, config, threshold, seed=0):
    """Permute the first modality's frames within each clip. -> {"micro_f1", "micro_f1_shuffled",
    "frame_probability_change"} (mean |change| of the per-frame probabilities). A model that
    reads the first modality as a bag of frames changes nothing."""
    true = split.labels > 0.5
    plain = predict(model, split, config)
    shuffled = predict(model, ShuffledSplit(split, config.first, seed), config)
    return {"micro_f1": micro_f1(true, plain.probabilities >= threshold),
            "micro_f1_shuffled": micro_f1(true, shuffled.probabilities >= threshold),
            "frame_probability_change": float(np.abs(plain.frame_probabilities
                                                     - shuffled.frame_probabilities).mean())}


def probe_report(model, split, config, threshold):
    """All three probes on `split`, as a JSON-able dict."""
    report = {"encoder_variation": encoder_variation(model, split, config),
              "shuffle": shuffle_test(model, split, config, threshold)}
    if split.has_ground_truth and config.first != config.second:
        report["sync_by_memory"] = [
            [{k: s[k] for k in ("share", "gain", "top1", "chance")} for s in row]
            for row in sync_by_memory(model, split, config)]
    return report


def format_probes(report):
    """The report as a few lines of text."""
    variation = report["encoder_variation"]
    lines = ["encoder output, std over a clip's frames: "
             + ", ".join(f"stage {e} {v:.4f}" for e, v in enumerate(variation))
             + "  (stage 0 = input stream)"]
    s = report["shuffle"]
    lines.append(f"first modality's frames shuffled within each clip: micro-F1 of this one model "
                 f"at the run's threshold {s['micro_f1']:.4f} -> {s['micro_f1_shuffled']:.4f}, "
                 f"frame probabilities change by {s['frame_probability_change']:.5f} on average")
    if "sync_by_memory" in report:
        lines.append("gain over chance of decoder block d's cross-attention reading encoder "
                     "stage e (the model reads the last stage):")
        stages = len(report["sync_by_memory"][0])
        lines.append("  block " + " ".join(f"stage {e:>2}" for e in range(stages)))
        for d, row in enumerate(report["sync_by_memory"]):
            lines.append(f"  {d + 1:>5} " + " ".join(
                f"{s['gain']:+8.3f}" if s["gain"] is not None else "       -" for s in row))
    return "\n".join(lines)
