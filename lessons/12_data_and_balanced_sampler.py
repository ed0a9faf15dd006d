# %% [markdown]
# # Lesson 12: the data, and the balanced sampler
#
# What you learn here:
# - what the real DCASE 2017 Task 4 training labels look like (the task is *weakly* labelled:
#   one set of class names per 10 s clip, no timing) and how unbalanced they are;
# - what the embedded default data set keeps from the real task (label sets, event timing) and
#   what it invents (the audio and video embeddings), and where the invented structure hides:
#   sound-alike classes that look different, classes you cannot see, unrelated videos, and
#   visual appearances offset in time from the sound;
# - how the balanced sampler of Sec. 3.2.2 turns an imbalance of about 140:1 into at most 5:1.
#
# Run: python lessons/12_data_and_balanced_sampler.py   (~4 s on 2 cores; see lessons/README.md;
# the first run also builds the embedded data set, ~3 s, into ~/.cache/avt_np)

# %%
import numpy as np

from avt_np.data import dcase2017
from avt_np.data.sampler import BalancedSampler
from avt_np.data.synthetic import LITTLE_VISUAL, SIRENS, default_dataset

classes = dcase2017.classes()
stats = dcase2017.load()

# %% [markdown]
# ## 1. The real labels
# `stats["training_label_sets"]` lists every distinct label set of the 51,172 real training
# clips with its clip count. Summing the sets gives each class's clip count.

# %%
counts = np.zeros(len(classes), int)
for label_set in stats["training_label_sets"]:
    counts[label_set["labels"]] += label_set["clips"]
print("real training clips per class:")
for name, n in sorted(zip(classes, counts), key=lambda x: -x[1]):
    print(f"  {name:34s} {n:6d}")
print(f"imbalance: {counts.max()} / {counts.min()} = {counts.max() / counts.min():.1f} : 1")
assert 135 < counts.max() / counts.min() < 145, "about 140:1, as the introduction says"
print(f"labels per clip: {counts.sum() / stats['training_clips']:.3f}  "
      f"({len(stats['training_label_sets'])} distinct label sets)")
print("most common multi-label sets:")
multi = [s for s in stats["training_label_sets"] if len(s["labels"]) > 1][:4]
for s in multi:
    print(f"  {s['clips']:5d} x {' + '.join(classes[c] for c in s['labels'])}")

# %% [markdown]
# ## 2. The embedded default data set
# A dataset behaves like a dict of splits; a split gives labels, frame-level ground truth and,
# on demand, batches of embeddings: audio (B, T=10, 128) like VGGish, video (B, 10, 4096) like
# VGG16 fc7. They are computed from small cached latents when you ask for them.

# %%
dataset = default_dataset()
train = dataset["train"]
print(f"\n{dataset}")
batch = train.batch(np.arange(200))
for m in ("audio", "video"):
    x = batch[m]
    print(f"{m}: {x.shape} {x.dtype}, min {x.min():.2f}, zeros {100 * (x == 0).mean():.0f}% "
          "(ReLU features are non-negative and sparse)")

# %% [markdown]
# ## 3. One clip, frame by frame
# Weak labels say *which* classes occur; the ground truth says *when* each is audible and
# visible. Validation and test clips carry real strong-label timing from DCASE.
# Legend: A audible only, V visible only, B both, . neither. Each column is 0.96 s.

# %%
test = dataset["test"]
i = int(np.flatnonzero(test.labels.sum(axis=1) >= 2)[0])       # a clip with two labels
print(f"\ntest clip {test.clip_ids[i]} (real DCASE clip {test.sources[i]}), "
      f"video informative: {bool(test.informative_video[i])}")
for c in np.flatnonzero(test.labels[i]):
    row = "".join("B" if a and v else "A" if a else "V" if v else "."
                  for a, v in zip(test.audible[i, c], test.visible[i, c]))
    print(f"  {classes[c]:34s} {row}")

# %% [markdown]
# ## 4. Sound alike, look different
# Average the audio and the video embedding of single-label training clips per class, and
# compare classes by cosine similarity. The sirens sound alike (high audio similarity) but
# look different (lower video similarity): that is where video can help audio tagging.

# %%
def class_means(modality, names, per_class=150):
    means = []
    for name in names:
        c = classes.index(name)
        only = np.flatnonzero((train.labels[:, c] == 1) & (train.labels.sum(axis=1) == 1))
        x = train.batch(only[:per_class])[modality].mean(axis=(0, 1))       # (D,)
        means.append(x - train.batch(np.arange(300))[modality].mean(axis=(0, 1)))
    means = np.stack(means)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return means @ means.T                                                  # cosine matrix


off = ~np.eye(len(SIRENS), dtype=bool)
similarity = {}
for modality in ("audio", "video"):
    sim = class_means(modality, SIRENS)
    print(f"\nsirens, mean cosine between different classes in {modality}: {sim[off].mean():.2f}")
    similarity[modality] = sim[off].mean()
assert similarity["audio"] > similarity["video"] + 0.3, "the sirens sound alike, look different"

# %% [markdown]
# ## 5. Classes you cannot see, videos that show nothing
# A class is "visible" in a clip when some frame shows it. Compare how often that happens for
# the little-visual classes and the rest, and how many videos show nothing at all.

# %%
seen = train.visible.any(axis=2)
labelled = train.labels.astype(bool)
little = [classes.index(c) for c in LITTLE_VISUAL]
rest = [c for c in range(len(classes)) if c not in little]
print(f"\nlabelled class visible somewhere: little-visual classes "
      f"{seen[:, little].sum() / labelled[:, little].sum():.0%}, others "
      f"{seen[:, rest].sum() / labelled[:, rest].sum():.0%}; "
      f"uninformative videos: {1 - train.informative_video.mean():.0%}")
share = {name: seen[:, c].sum() / labelled[:, c].sum() for name, c in (('little', little),
                                                                   ('rest', rest))}
assert share["little"] < share["rest"], "the little-visual classes are seen less often"

# %% [markdown]
# ## 6. The balanced sampler
# Uniform sampling would show the model about 137 cars per car alarm in this set (139 in the
# real labels of section 1). The sampler draws class labels
# first, then a clip of each drawn class, at rates solved so that every class is *presented*
# (every label of a clip counted) at most max_ratio times as often as the rarest.

# %%
sampler = BalancedSampler(train.labels, batch_size=40, batches_per_epoch=300, max_ratio=5, seed=0)
presented = sampler.presented(sampler.epoch(1))
in_data = train.labels.sum(axis=0)
print(f"\n{'class':34s} {'in data':>8s} {'presented':>10s}   (one epoch = 12,000 clips)")
for c in np.argsort(-in_data):
    print(f"{classes[c]:34s} {in_data[c]:8d} {presented[c]:10d}")
print(f"ratio most / least: data {in_data.max() / in_data.min():.0f}, "
      f"presented {presented.max() / presented.min():.2f}")
assert 130 < in_data.max() / in_data.min() < 150 and presented.max() / presented.min() <= 5

# %% [markdown]
# ## Exercises
# 1. Build a sampler with max_ratio=1 and with max_ratio=20. How do the presented counts of
#    Car and Car alarm change? Why can max_ratio=1 not be met exactly? (Hint: co-occurrence.)
# 2. Generate a set without uninformative videos:
#    `from avt_np.data.synthetic import Recipe, generate, open_embedded`,
#    `generate("/tmp/clean", 0, Recipe(uninformative_video=0.0))`, then train a video/audio
#    model on it (`python -m avt_np.train --data /tmp/clean --epochs 5`) and compare.
