# %% [markdown]
# # Lesson 15: from weak labels to when
#
# What you learn here:
# - multiple-instance pooling: a weak (clip) label says an event happens *somewhere* in the
#   clip; the pooling that turns frame probabilities into the clip's decides, through its
#   gradient, which frames learn from the label: mean pushes every frame alike, max one frame,
#   linear softmax the frames that already stand out up and the others down;
# - why the paper's model still says the same in every frame, measured block by block: each
#   self-attention branch adds nearly the clip's mean to every frame and outweighs its skip,
#   so every LayerNorm divides the frames' differences (the rank collapse of pure attention);
# - the remedy this project recommends, `python -m avt_np.train --preset detection`: a frame
#   skip that carries each frame's own embedding past the blocks to the classifier, local
#   self-attention that reads only the neighbouring frames, and linear-softmax pooling that
#   rewards frames for differing; and its frame probabilities following the reference events
#   of a test clip.
#
# Run: python lessons/15_from_weak_labels_to_when.py   (~20 s on 2 cores; see lessons/README.md)

# %%
import shutil

import numpy as np

from avt_np import nn, train, visualize
from avt_np.collapse import collapse_picture, collapse_report, format_collapse
from avt_np.data import synthetic
from avt_np.detection import PostProcessing, active_frames, detect
from avt_np.plot import lesson_output, save
from avt_np.predict import predict
from avt_np.visualize.detection_view import detection_picture

out = lesson_output("15_from_weak_labels_to_when")
print(f"pictures go to {out}")

# %% [markdown]
# ## 1. Three poolings of one clip
# One class, ten 0.96 s frames; the model believes in an event in frames 3-5. With the clip's
# label 1, the loss falls when the clip probability y rises, so each frame probability p_t
# moves in the direction of dy/dp_t: the backward pass of the pooling.
#
# - mean, $y = \frac{1}{T}\sum_t p_t$: $\partial y/\partial p_t = 1/T$, the same for every
#   frame: the label is spread over the clip, whether the event is there or not;
# - max, $y = \max_t p_t$: only the top frame learns;
# - linear softmax, $y = \sum_t p_t^2 / \sum_t p_t$ (each frame weighted by itself; Wang, Li
#   and Metze, ICASSP 2019): $\partial y/\partial p_t = (2 p_t - y) / \sum_s p_s$, positive
#   for the frames above $y/2$ and negative below: the event's frames are pushed up, the quiet
#   ones down, for a clip that carries the label.

# %%
p = np.full((1, 10, 1), 0.1)
p[0, 3:6, 0] = [0.8, 0.9, 0.7]                        # (B=1, T=10, C=1)
print("frame t  " + "".join(f"{t:6d}" for t in range(10)))
print("p_t      " + "".join(f"{x:6.2f}" for x in p[0, :, 0]))
gradients = {}
for name in ("mean", "max", "linear-softmax"):
    pool = nn.POOLING[name]()
    y = pool(p)[0, 0]
    gradients[name] = pool.backward(np.ones((1, 1)))[0, :, 0]               # dy/dp_t
    print(f"{name} pooling: y = {y:.3f}, dy/dp_t")
    print("         " + "".join(f"{g:+6.2f}" for g in gradients[name]))
linear = gradients["linear-softmax"]
assert np.allclose(gradients["mean"], 0.1)                              # every frame alike
assert np.count_nonzero(gradients["max"]) == 1 and gradients["max"][4] == 1   # one frame
assert (linear[3:6] > 0).all() and (linear[:3] < 0).all() and (linear[6:] < 0).all()
print("linear softmax: frames 3-5 pushed up, the seven others down")

# %% [markdown]
# Pooling alone cannot create differences the frames do not have: when every frame says 0.4,
# linear softmax gives every frame the same push, exactly like mean pooling. Whatever keeps
# time has to be in the network below the pooling.

# %%
flat = np.full((1, 10, 1), 0.4)
for name in ("mean", "linear-softmax"):
    pool = nn.POOLING[name]()
    pool(flat)
    g = pool.backward(np.ones((1, 1)))[0, :, 0]
    print(f"{name} pooling of a flat clip: dy/dp_t")
    print("         " + "".join(f"{x:+6.2f}" for x in g))
    assert np.allclose(g, g[0])                                          # no frame favoured

# %% [markdown]
# ## 2. Two short runs: the paper's model and `--preset detection`
# Both video/audio, trained for about half a minute each on a small embedded set with the same
# seed. The preset is three flags, `--pooling linear-softmax --frame-skip on --self-window 1`:
# the frame skip adds the decoder's input stream (each audio frame's own embedding, after the
# linear map) to the last block's output, right before the classifier; with the window, each
# self-attention reads only its frame and the frames right before and after it.

# %%
work = out / "work"                        # data and runs, removed when the lesson ends
if work.exists():                          # a previous run of this lesson that did not finish
    shutil.rmtree(work)
data = work / "small"
synthetic.generate(data, seed=0, progress=False,
                   recipe=synthetic.Recipe(sizes={"train": 2000, "validation": 100, "test": 200}))
runs = {}
for name, flags in (("paper", []), ("detection", ["--preset", "detection"])):
    train.run(["--data", str(data), "--epochs", "4", "--batches-per-epoch", "50",
               "--ensemble", "1", "--out", str(work / name), *flags])
    runs[name] = visualize.load(work / name)
test = runs["paper"].dataset["test"]


def within_clip_sd(frames, lengths):
    """Standard deviation of each clip's frame probabilities over its real frames, averaged
    over clips and classes (0: the model says the same in every frame)."""
    return np.mean([frames[i, :n].std(0).mean() for i, n in enumerate(lengths)])


outputs = {name: predict(run.model, test, run.config) for name, run in runs.items()}
spread = {name: within_clip_sd(o.frame_probabilities, test.lengths) for name, o in outputs.items()}
for name, run in runs.items():
    events = run.metrics["events"]["test"]
    print(f"{name:9s} test micro-F1 {run.metrics['test_micro_f1']:.3f}, events: error rate "
          f"{events['error_rate']:.3f}, F1 {events['f1']:.3f}; frame probabilities vary "
          f"within a clip by {spread[name]:.4f}")
assert spread["detection"] > 10 * spread["paper"]
print(f"the preset's frames vary {spread['detection'] / spread['paper']:.0f} times more")

# %% [markdown]
# ## 3. The collapse, block by block
# `python -m avt_np.visualize RUN --collapse-report` runs the model on validation clips and
# reads, at every sub-layer `LayerNorm(skip + branch)`, the size (RMS) of skip and branch and
# how much each varies within a clip: the RMS of each frame's difference from the clip's mean
# frame, over the RMS of the frames (0 = every frame the same vector). Read the self-attention
# rows of the paper's model: the branch is two to three times the skip (`br/skip`) and hardly
# varies (`var branch`), so the output varies several times less than the skip did.

# %%
reports = {name: collapse_report(run.model, run.dataset["validation"], run.config)
           for name, run in runs.items()}
print(format_collapse(reports["paper"]))


def variation(report, stage):
    return next(r["output_variation"] for r in report["stages"] if r["stage"] == stage)


paper = reports["paper"]
first_self = next(r for r in paper["stages"] if r["stage"] == "decoder.0 self_attn")
assert first_self["branch_over_skip"] > 1.5
assert first_self["output_variation"] < 0.7 * first_self["skip_variation"]
start, end = variation(paper, "decoder input"), variation(paper, "classifier input")
assert end < start / 10
print(f"paper: the decoder's stream varies {start:.3f} at its input and {end:.4f} at the "
      f"classifier, {start / end:.0f} times less")
print(f"the variation through the stack: {out / 'collapse_paper.png'}")
save(collapse_picture(paper, "the paper's model: within-clip variation through the stack"),
     out, "collapse_paper.png")

# %% [markdown]
# The preset's rows. Its encoder's self-attention reads three frames, not the whole clip, so
# its branches cannot add the clip's mean to every frame, and the encoder's output keeps its
# frames apart. Its decoder, whose cross-attention still reads every frame, flattens its
# stream much as the paper's does in so short a run; at the classifier's input the frame skip
# adds each frame's own embedding, and the frames differ again.

# %%
detection = reports["detection"]
print(format_collapse({**detection, "stages": detection["stages"][-4:]}))
blocks = runs["detection"].config.blocks
encoder_out, last = f"encoder.{blocks - 1} ff", f"decoder.{blocks - 1} ff"
at_classifier = variation(detection, "classifier input")
assert variation(detection, encoder_out) > 3 * variation(paper, encoder_out)
assert at_classifier > 10 * variation(detection, last)
print(f"encoder output: paper {variation(paper, encoder_out):.4f}, preset "
      f"{variation(detection, encoder_out):.4f}; after the last decoder block: paper "
      f"{variation(paper, last):.4f}, preset {variation(detection, last):.4f}; at the "
      f"classifier: paper {end:.4f}, preset {at_classifier:.3f}")
print(f"the variation through the stack: {out / 'collapse_detection.png'}")
save(collapse_picture(detection, "--preset detection: within-clip variation through the stack"),
     out, "collapse_detection.png")

# %% [markdown]
# ## 4. Frames that follow the events
# One test clip with an event that covers part of it: the frame probabilities of its labelled
# classes from both models, under the frames where each is audible (`##`). Then the picture
# `python -m avt_np.tag RUN --split test --pictures` draws for the preset's run: its events
# (coloured bars) next to the reference (grey bars).

# %%
run = runs["detection"]
classes, threshold = run.dataset.classes, run.metrics["threshold"]
settings = PostProcessing(**run.metrics["events"]["post_processing"])
frames_detection = outputs["detection"].frame_probabilities
tagged_all = outputs["detection"].probabilities >= threshold
active = active_frames(frames_detection, tagged_all, test.lengths, settings)      # (N, C, T)
# The clip to show: a labelled class audible in part of the clip, whose detected frames
# overlap its audible frames best (intersection over union).
best = (-1.0, 0, 0)
for i, c in zip(*np.nonzero(test.labels)):
    heard, found_frames = test.audible[i, c], active[i, c]
    if 2 <= heard.sum() <= test.lengths[i] - 3:
        overlap = (heard & found_frames).sum() / (heard | found_frames).sum()
        best = max(best, (float(overlap), int(i), int(c)))
overlap, clip, c = best
name = test.clip_ids[clip]
print(f"test clip {clip}, {classes[c]}: frame probabilities per 0.96 s frame")
for model_name, o in outputs.items():
    print(f"  {model_name:<10}" + " ".join(f"{x:4.2f}" for x in o.frame_probabilities[clip, :, c]))
print(f"  {'audible':<10}" + " ".join("  ##" if a else "   ." for a in test.audible[clip, c]))
print(f"  {'detected':<10}" + " ".join("  ##" if a else "   ." for a in active[clip, c]))
assert overlap >= 0.5
print(f"detected and audible frames overlap by {overlap:.2f} (intersection over union)")

probs, tagged = outputs["detection"].probabilities[clip], tagged_all[clip]
found = detect(frames_detection[clip][None], tagged[None], test.lengths[[clip]], [name],
               classes, settings)
truth = [tuple(e) for e in test.events if e.file == name]
print(f"detected:  {[(on, off, label) for _, on, off, label in found]}")
print(f"reference: {[(on, off, label) for _, on, off, label in truth]}")
seconds = test.lengths[clip] * 0.96
inside = [e for e in found if e[3] == classes[c] and (e[1] > 0 or e[2] < seconds - 0.01)]
assert inside, "no event of the class starts or ends inside the clip"
picture = detection_picture(name, classes, probs, frames_detection[clip], tagged, threshold,
                            found, length=int(test.lengths[clip]), truth=truth)
print(f"detection picture: {out / 'events_detection.png'}")
save(picture, out, "events_detection.png")
shutil.rmtree(work)

# %% [markdown]
# What to take away. A weak label can teach *when* only if the frames are allowed to disagree
# and rewarded for it. In the paper's model they are not allowed: after six attention layers
# whose branches add the clip's mean to every frame, the classifier sees one vector per clip.
# The frame skip lets each frame's own embedding through; linear-softmax pooling then pushes
# the frames of an event up and the others down. docs/detection.md has the study behind the
# preset (each remedy alone, pairs, three seeds), the full run's scores on the DCASE 2017 Task 4
# detection measures and the choice of per-class and double thresholds on validation.
#
# ## Exercises
# 1. Write the backward pass of linear-softmax pooling yourself:
#    `lessons/exercises/15_linear_softmax_pooling.py`, checked with
#    `python -m avt_np.exercises check lessons/exercises/15_linear_softmax_pooling.py`.
# 2. Train with `--self-window 1` instead of the frame skip: each self-attention then reads
#    only the frames next to its own. Which rows of the collapse report change, and does
#    cross-attention's synchronization score (lesson 14) change with them?
