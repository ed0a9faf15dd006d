"""Where a model's frames lose their differences: the collapse report, block by block.

    report = collapse_report(model, split, config)      # on up to 200 clips of a split
    print(format_collapse(report))                      # one row per stage of the stack
    collapse_picture(report).save("collapse.png")       # the variation through the stack

Every sub-layer of the transformer computes LayerNorm(skip + branch). For each one this reports
the size (RMS) of skip and branch and how much each varies within a clip: the RMS of each
frame's difference from its clip's mean frame over the RMS of the frames (0 = every frame of a
clip is the same vector). An attention branch whose weights are near uniform adds almost the
same vector (the clip's mean value) to every frame; when it is also larger than the skip, the
LayerNorm divides the frames' differences by about the ratio, block after block: the rank
collapse of pure attention (Dong, Cordonnier and Loukas, "Attention is not all you need: pure
attention loses rank doubly exponentially with depth", ICML 2021). `python -m avt_np.visualize
RUN --collapse-report` prints it for a run; docs/detection.md reads it.
"""

import numpy as np

from avt_np.diagnostics import stack_sums, variation_of
from avt_np.model.transformer import attention_masks, check_lengths
from avt_np.plot import line_plot
from avt_np.predict import batches, evaluating


def real_masks(batch, config):
    """(B, T) real frames of the first and of the second modality (None: all real)."""
    first, second, lengths = batch[config.first], batch[config.second], batch["lengths"]
    if lengths is not None:
        lengths = check_lengths(lengths, first.shape[0], min(first.shape[1], second.shape[1]))
    return attention_masks(config, lengths, first.shape[1], second.shape[1])[:2]


def collapse_report(model, split, config, clips=200, batch_size=100):
    """The model (eval mode, no dropout) on the first `clips` clips of `split` -> {"split",
    "clips", "stages": [{"stage", "output_size", "output_variation", and for sub-layers
    "skip_size", "branch_size", "branch_over_skip", "skip_variation", "branch_variation"}]}.
    Sums add up over batches, so the numbers do not depend on batch_size."""
    indices = np.arange(min(clips, len(split)))
    totals = None
    with evaluating(model):
        for batch in batches(split, indices, batch_size):
            model(batch[config.first], batch[config.second], batch["lengths"])
            stages = stack_sums(model, *real_masks(batch, config))
            if totals is None:
                totals = stages
            else:
                totals = [(name, {k: sums[k] + add[k] for k in sums})
                          for (name, sums), (_, add) in zip(totals, stages)]
    rows = []
    for name, sums in totals:
        row = {"stage": name}
        for part in ("skip", "branch", "output"):
            if part in sums:
                row[f"{part}_size"], row[f"{part}_variation"] = variation_of(sums[part])
        if "branch" in sums:
            row["branch_over_skip"] = row["branch_size"] / max(row["skip_size"], 1e-300)
        rows.append(row)
    return {"split": split.name, "clips": int(indices.size), "stages": rows}


def format_collapse(report):
    """The report as a text table, one row per stage."""
    lines = [f"collapse report, {report['split']} split ({report['clips']} clips): size = RMS, "
             f"variation = within-clip RMS of (frame - clip mean) / RMS",
             f"  {'stage':24s} {'skip':>7s} {'branch':>7s} {'br/skip':>7s} "
             f"{'var skip':>9s} {'var branch':>10s} {'var out':>9s}"]
    for row in report["stages"]:
        if "branch_size" in row:
            middle = (f"{row['skip_size']:7.3f} {row['branch_size']:7.3f} "
                      f"{row['branch_over_skip']:7.2f} {row['skip_variation']:9.4f} "
                      f"{row['branch_variation']:10.4f}")
        else:
            middle = f"{'':7s} {'':7s} {'':7s} {'':9s} {'':10s}"
        lines.append(f"  {row['stage']:24s} {middle} {row['output_variation']:9.4f}")
    return "\n".join(lines)


def collapse_picture(report, title=None):
    """Within-clip variation of each stage's output (the stream) and of the attention branches
    through the stack, on a log scale: a PIL image. Stage k of the x axis is row k of the
    table (the feed-forward branches are in the table only)."""
    stages = report["stages"]
    decoder_from = next(i for i, row in enumerate(stages) if row["stage"] == "decoder input")

    def points(rows, key):
        return (np.array([i for i, _ in rows]), [row[key] for _, row in rows])

    numbered = list(enumerate(stages))
    series = {"stream: encoder": points(numbered[:decoder_from], "output_variation"),
              "stream: decoder, classifier input, probabilities":
                  points(numbered[decoder_from:], "output_variation")}
    for label, prefix, sublayer in (("self-attention branch, encoder", "encoder", "self_attn"),
                                    ("self-attention branch, decoder", "decoder", "self_attn"),
                                    ("cross-attention branch", "decoder", "cross_attn")):
        rows = [(i, row) for i, row in numbered if row["stage"].startswith(prefix)
                and row["stage"].endswith(sublayer)]
        if rows:
            series[label] = points(rows, "branch_variation")
    boundaries = [i - 0.5 for i, row in enumerate(stages) if row["stage"] in
                  ("decoder input", "classifier input")]
    return line_plot(series, title=title or f"within-clip variation through the stack "
                                            f"({report['split']}, {report['clips']} clips)",
                     x_label="stage (rows of the collapse report; grey: decoder, classifier)",
                     y_label="within-clip variation", log_y=True, vlines=boundaries,
                     size=(720, 400))
