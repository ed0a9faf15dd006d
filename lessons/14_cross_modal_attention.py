# %% [markdown]
# # Lesson 14: where does cross-modal attention look?
#
# What you learn here:
# - how to read the paper's attention pictures (Figs. 4-7): for one query frame of the second
#   modality (the decoder), one row of weights per head over the key frames of the first (the
#   encoder);
# - how to turn "the head looks at the frames where the car is visible" into a number, the
#   synchronization score of avt_np/sync.py, and what chance means for it;
# - what a trained model actually does on the embedded data, and why: if the encoder output is
#   the same at every frame, the keys are all alike and any attention function must spread its
#   weight evenly.
#
# Run: python lessons/14_cross_modal_attention.py   (~20 s on 2 cores; see lessons/README.md)

# %%
import tempfile
from pathlib import Path

import numpy as np

from avt_np import train, visualize
from avt_np.data import synthetic
from avt_np.plot import lesson_output, save
from avt_np.predict import predict
from avt_np.sync import sync_score

out = lesson_output("14_cross_modal_attention")
print(f"pictures go to {out}")

# %% [markdown]
# ## 1. The score on constructed attention
# weights (B, H, T_q, T_k): row q of head h sums to 1 over the key frames. For a video-first
# model, a query is an audio frame where an event is audible; the score is the share of that
# row's weight on key (video) frames where the same event is visible. Chance is the share a
# uniform row would give: the fraction of visible key frames.
# One clip, one class, 10 frames; the event is audible in frames 2-5 and visible in frames 4-7.

# %%
T = 10
audible = np.zeros((1, 1, T), bool)
audible[0, 0, 2:6] = True                                # query frames with the event
visible = np.zeros((1, 1, T), bool)
visible[0, 0, 4:8] = True                                # key frames showing it
on_target = np.zeros((1, 1, T, T))
on_target[..., 4:8] = 0.25                               # all weight on the visible frames
uniform = np.full((1, 1, T, T), 1 / T)
elsewhere = np.zeros((1, 1, T, T))
elsewhere[..., :4] = 0.25                                # all weight before the event shows
for name, w in (("on target", on_target), ("uniform", uniform), ("elsewhere", elsewhere)):
    s = sync_score(w, audible, visible)
    print(f"{name:10s} share {s['share']:.2f} (chance {s['chance']:.2f}), "
          f"gain over chance {s['gain']:+.2f}, top-1 hit rate {s['top1']:.2f}")

# %% [markdown]
# ## 2. A short real run, and its picture
# Train a video/audio model for a few epochs on a small embedded set, then draw the first test
# clip where an event is visible (its index is printed):
# the query (audio) strip, the key (video) strip, one heat-map row per head for the chosen
# query frame, and the ground truth bars (audible / visible) under the strips.

# %%
scratch = tempfile.TemporaryDirectory()         # data and run, removed when the lesson ends
work = Path(scratch.name)
data = work / "small"
synthetic.generate(data, seed=0, progress=False,
                   recipe=synthetic.Recipe(sizes={"train": 2000, "validation": 100, "test": 200}))
run_dir = work / "run"
train.run(["--data", str(data), "--epochs", "3", "--batches-per-epoch", "40",
           "--ensemble", "1", "--out", str(run_dir)])
run = visualize.load(run_dir)
test = run.dataset["test"]
clip = int(np.flatnonzero(test.visible.any(axis=(1, 2)))[0])     # a clip where something shows
image, _ = visualize.render(visualize.clip_view(run, "test", clip))
print(f"picture of test clip {clip}: {save(image, out, 'attention_clip.png')}")

# %% [markdown]
# ## 3. The score of the trained model, and a look inside
# The score over every test clip, per decoder block. Then the reason it sits at chance here:
# how much the encoder output (the keys' source) still varies from frame to frame.

# %%
report = visualize.sync_for_run(run)
print(visualize.format_sync(report))
idx = np.arange(min(len(test), 50))
weights = predict(run.model, test, run.config, idx, attention=True).cross_attention  # per block
print(f"last block: largest attention weight {weights[-1].max():.3f}, uniform would be "
      f"{1 / weights[-1].shape[-1]:.3f}")
# The encoder output is what the keys are made from: run the encoder's pieces by hand.
batch = test.batch(idx)
run.model.eval()
memory = run.model.encoder_input(batch[run.config.first])           # (B, T, 128)
for block in run.model.encoder:
    memory = block(memory)
fresh = type(run.model)(run.config, seed=1)                          # an untrained model
fresh.eval()
start = fresh.encoder_input(batch[run.config.first])
for block in fresh.encoder:
    start = block(start)
print(f"encoder output, std over the 10 frames (mean over clips and units): "
      f"untrained {start.std(axis=1).mean():.4f}, trained {memory.std(axis=1).mean():.4f}")
scratch.cleanup()

# %% [markdown]
# What to take away: a clip-level (weak) label and mean pooling never ask the model to keep
# frames apart, so the encoder is free to turn its modality into one clip summary repeated at
# every frame; then every key is the same and cross-attention cannot choose. The paper's
# pictures come from real videos; on this embedded set the mechanism does not appear.
#
# ## Exercises
# 1. Train with `--pooling max` (one frame decides the clip) and compare the score.
# 2. Train with `--attention sigmoid`: the weights of a row no longer sum to 1. The score divides
#    each row by its sum first; why is that needed for a fair comparison with chance?
