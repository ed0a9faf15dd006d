"""A synchronization score for cross-modal attention (the paper shows pictures only, Sec. 4.2).

Which modality asks and which answers. In every decoder block the cross-attention takes its
queries from the decoder, i.e. the SECOND modality, and its keys from the encoder output, i.e.
the FIRST modality (Fig. 3). Its weights are (B, H, T_q, T_k) = (clips, heads, second-modality
frames, first-modality frames).

An event class is *present* in a frame of a modality when the data set's frame-level ground
truth says so: for audio frames that is `audible` (B, C, T), for video frames `visible`.

    video first / audio second (the paper's Figs. 4-6): queries are audio frames where the
        event is audible; the score is the attention mass on video frames where it is visible.
    audio first / video second (Fig. 7): the roles swap: queries are video frames where the
        event is visible; the score is the mass on audio frames where it is audible.

The score. A *pair* is (clip b, class c, query frame q) with c present at q in the query
modality and present in at least one key frame (pairs whose event never shows in the key
modality, e.g. uninformative videos or a car alarm inside a car, have nothing to find; they are
counted as `excluded_pairs`). For each pair and head h:

    share[b, c, q, h] = sum_k w[b, h, q, k] * present_key[b, c, k] / sum_k w[b, h, q, k]
    chance[b, c, q]   = (number of key frames where c is present) / (real key frames of clip b)
    top1[b, c, q, h]  = is the most-attended key frame one where c is present?
                        (ties share the hit: the fraction of the tied maxima that are present,
                        so uniform attention scores exactly chance)

and the report gives the means over pairs: per head, for the head-averaged attention row, and
the mean chance. The division by the row sum makes unnormalised (sigmoid) attention comparable;
for softmax it divides by 1. Share = 1: all attention on the event's key frames; = chance: no
better than attending uniformly; = 0: the event's key frames are avoided. Because events are
often long (the embedded test set's chance level is about 0.7), the report also gives the gain
over chance, (share - chance) / (1 - chance): 1 = perfect, 0 = chance, negative = avoided.

Every function on arrays is pure NumPy; `model_sync_report` at the bottom runs a model
(avt_np.predict).
"""

import numpy as np

from avt_np.predict import predict

PRESENCE = {"audio": "audible", "video": "visible"}     # modality -> ground-truth array name


def roles(first, second):
    """Query / key modalities and their ground-truth arrays for a first/second model."""
    return {"query": second, "key": first,
            "query_truth": PRESENCE[second], "key_truth": PRESENCE[first]}


def sync_pairs(query_present, key_present):
    """The (clip, class, query frame) pairs that are scored.

    query_present: (B, C, T_q) bool, key_present: (B, C, T_k) bool
    -> (b, c, q) index arrays of the scored pairs (each (P,)), and the number of excluded pairs
       (event present at the query frame but in no key frame).
    """
    query_present = np.asarray(query_present, bool)
    key_any = np.asarray(key_present, bool).any(axis=2)                    # (B, C)
    b, c, q = np.nonzero(query_present & key_any[:, :, None])
    excluded = int((query_present & ~key_any[:, :, None]).sum())
    return b, c, q, excluded


def pair_scores(weights, query_present, key_present, lengths=None):
    """Per pair and head: attention share on present key frames, top-1 hit, and chance.

    weights: (B, H, T_q, T_k) non-negative; query_present (B, C, T_q), key_present (B, C, T_k);
    lengths (B,) the real frames of each clip (None: all T_k), which chance is counted over
    (the model never attends to padded frames, so uniform attention spreads over the real ones)
    -> dict of "share" (P, H), "top1" (P, H), "share_mean_head" (P,), "top1_mean_head" (P,),
       "chance" (P,), "excluded_pairs" int. The *_mean_head entries score the head-averaged
       attention row (each head's row normalised first).
    """
    weights = np.asarray(weights, np.float64)
    key_present = np.asarray(key_present, bool)
    b, c, q, excluded = sync_pairs(query_present, key_present)
    rows = weights[b, :, q, :]                                             # (P, H, T_k)
    rows = rows / np.maximum(rows.sum(-1, keepdims=True), 1e-30)           # rows sum to 1
    present = key_present[b, c, :]                                         # (P, T_k)
    mean_row = rows.mean(1)                                                # (P, T_k)
    return {"share": (rows * present[:, None, :]).sum(-1),
            "top1": top1_hits(rows, present[:, None, :]),
            "share_mean_head": (mean_row * present).sum(-1),
            "top1_mean_head": top1_hits(mean_row, present),
            "chance": present.sum(-1) / (present.shape[-1] if lengths is None
                                         else np.asarray(lengths)[b]),
            "excluded_pairs": excluded}


def top1_hits(rows, present, rtol=1e-6):
    """rows (..., T_k), present (..., T_k) bool -> (...): share of the row's maxima that are
    present key frames (1 or 0 without ties)."""
    top = rows >= rows.max(-1, keepdims=True) * (1 - rtol)
    return (top & present).sum(-1) / top.sum(-1)


def sync_score(weights, query_present, key_present, lengths=None):
    """The synchronization score of one attention array (one decoder block).

    weights: (B, H, T_q, T_k); query_present (B, C, T_q), key_present (B, C, T_k) bool
    -> {"pairs", "excluded_pairs", "chance", "share", "share_per_head", "gain", "top1",
        "top1_per_head"}; the scores are means over pairs (None when there is no pair);
       gain = (share - chance) / (1 - chance) of the head-averaged share.
    """
    s = pair_scores(weights, query_present, key_present, lengths)
    n = len(s["chance"])
    mean = lambda x: float(x.mean()) if n else None                        # noqa: E731
    per_head = lambda x: [float(v) for v in x.mean(0)] if n else None      # noqa: E731
    chance, share = mean(s["chance"]), mean(s["share_mean_head"])
    gain = None if n == 0 or chance >= 1 else (share - chance) / (1 - chance)
    return {"pairs": n, "excluded_pairs": s["excluded_pairs"], "chance": chance,
            "share": share, "share_per_head": per_head(s["share"]), "gain": gain,
            "top1": mean(s["top1_mean_head"]), "top1_per_head": per_head(s["top1"])}


def sync_report(block_weights, query_present, key_present, lengths=None):
    """The score for every decoder block.

    block_weights: list over blocks of (B, H, T_q, T_k) -> {"pairs", "excluded_pairs",
    "chance", "blocks": [per block: {"block", "share", "share_per_head", "gain", "top1",
    "top1_per_head"}], "last_block": the entry of the last block}.
    """
    blocks = []
    for i, w in enumerate(block_weights):
        score = sync_score(w, query_present, key_present, lengths)
        blocks.append({"block": i, **{k: score[k] for k in
                                      ("share", "share_per_head", "gain", "top1",
                                      "top1_per_head")}})
    return {"pairs": score["pairs"], "excluded_pairs": score["excluded_pairs"],
            "chance": score["chance"], "blocks": blocks, "last_block": blocks[-1]}


# -- running a model ---------------------------------------------------------------------------
def skip_reason(split, config):
    """Why no score can be computed (a message), or None."""
    if config.first == config.second:
        return (f"{config.first}/{config.second} run: its cross-attention exists but is within "
                f"one modality, so there is nothing to synchronize")
    if not split.has_ground_truth:
        return f"the {split.name} split has no frame-level ground truth (audible/visible)"
    return None


def model_sync_report(model, split, config, batch_size=100):
    """The synchronization score of `model` (its current weights) on every clip of `split`;
    {"skipped": reason} for unimodal models or splits without ground truth."""
    reason = skip_reason(split, config)
    if reason:
        return {"split": split.name, "skipped": reason}
    r = roles(config.first, config.second)
    blocks = predict(model, split, config, batch_size=batch_size, attention=True).cross_attention
    report = sync_report(blocks, getattr(split, r["query_truth"]), getattr(split, r["key_truth"]),
                         split.lengths)
    return {"split": split.name, "clips": len(split),
            "query": f"{r['query']} frames where the event is {r['query_truth']}",
            "key": f"{r['key']} frames where the event is {r['key_truth']}", **report}
