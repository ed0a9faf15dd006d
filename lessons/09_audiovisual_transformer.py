# %% [markdown]
# # Lesson 9: the audiovisual transformer, pooling and binary cross-entropy
#
# What you learn here:
# - the whole model of the paper's Fig. 3 and its switches (Table 1): which modality feeds the
#   encoder and which the decoder, positional encodings, pooling, attention function;
# - its parameter count at the paper's size, and where the parameters are;
# - the output end: per-frame sigmoid (multi-label, Sec. 2.2.3), mean or max pooling over
#   frames (Sec. 2.2.4), binary cross-entropy (Sec. 3.2.8), with their backward passes;
# - a gradient check of the WHOLE model plus loss in float64 at tiny widths;
# - the cost of one training step at the paper's size.
#
# Run: python lessons/09_audiovisual_transformer.py   (4-5 s on 2 cores; see lessons/README.md)

# %%
import time

import numpy as np

from avt_np import plot
from avt_np.data import dcase2017
from avt_np.gradcheck import gradcheck
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.nn import BinaryCrossEntropy, MaxPool, MeanPool, Module
from avt_np.visualize import architecture

out = plot.lesson_output("09_audiovisual_transformer")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)
CLASSES = dcase2017.classes()

# %% [markdown]
# ## 1. The model and its parameters
# The picture is drawn from `ModelConfig()` by `avt_np.visualize.architecture.draw`, so it
# shows what the code builds: the first modality through a linear map, dropout and (for video)
# positional encodings into 3 encoder blocks, whose output (the memory) every decoder block's
# cross-attention reads; the second modality through its own map into 3 decoder blocks; then a
# linear map to 17 classes, a sigmoid per frame, and pooling over the frames to (B, 17).
# D is 128 for VGGish audio and 4096 for VGG16 video (Sec. 3.2.1). `ModelConfig()` is the
# paper's best: video first, audio second, PE on video, mean pooling, softmax attention.

# %%
print("  ->", plot.save(architecture.draw(ModelConfig()), out, "architecture.png"))
for first, second, pos_enc in (("video", "audio", ("video",)), ("audio", "audio", ())):
    model = AudiovisualTransformer(ModelConfig(first=first, second=second, pos_enc=pos_enc))
    groups = {}
    for name, p, _ in model.parameters():
        groups[name.split(".")[0]] = groups.get(name.split(".")[0], 0) + p.size
    print(f"{first}/{second}: {model.num_parameters():,} parameters")
    for group, count in groups.items():
        print(f"  {group:14s} {count:>9,}")
    assert sum(groups.values()) == model.num_parameters()

# %% [markdown]
# ## 2. One forward pass
# A batch of 4 random clips of 10 frames. Before pooling, `model.frame_probabilities` holds
# one probability per frame and class (B, T, 17): a frame-level answer the weak labels never
# supervise directly. Untrained, they are random: spread over much of (0, 1), from a few
# hundredths to about 0.9 here (the cell prints the range and checks that it is wide).

# %%
model = AudiovisualTransformer(ModelConfig(), seed=0).eval()
video = rng.standard_normal((4, 10, 4096)).astype(np.float32)
audio = rng.standard_normal((4, 10, 128)).astype(np.float32)
p = model(video, audio)
print(f"video {video.shape} + audio {audio.shape} -> clip probabilities {p.shape}, "
      f"frame probabilities {model.frame_probabilities.shape}, from {p.min():.2f} to {p.max():.2f}")
assert 0 < p.min() and p.max() < 1 and p.max() - p.min() > 0.5, "untrained: a wide spread"
print(f"cross-attention weights per decoder block: "
      f"{[w.shape for w in model.cross_attention_weights()]}")
print("  (B, heads, audio frames asking, video frames answering)")

# %% [markdown]
# ## 3. The output end, derived
# Sigmoid per frame and class (not softmax: several events can be present at once):
# p_f = sigma(z), dz = dp_f * p_f (1 - p_f).
#
# Pooling over the T frames, (B, T, C) -> (B, C):
#
# $$\text{mean: } p = \frac{1}{T}\sum_t p_f[t], \quad dp_f[t] = \frac{dp}{T}
# \text{ for every frame}; \qquad
# \text{max: } p = p_f[t^*], \quad dp_f[t^*] = dp,\ 0 \text{ elsewhere}$$
#
# (t* is the frame of the largest probability, per clip and class).
#
# Mean pooling spreads the gradient over every frame; max pooling trains only the frame that
# already scores highest. Binary cross-entropy over the N = B x C entries:
#
# $$L = -\frac{1}{N}\sum \big[y \log p + (1 - y) \log(1 - p)\big], \qquad
# \frac{\partial L}{\partial p} = \frac{p - y}{N\, p\, (1 - p)}$$
#
# (p clipped to [1e-7, 1 - 1e-7]: a confident wrong answer costs 16.1, not infinity, and
# where p is clipped its gradient is 0: the last line below.)
# The small example shows both poolings on 4 frames of one class.

# %%
frame_p = np.array([[[0.1], [0.7], [0.3], [0.2]]])                 # (B=1, T=4, C=1)
for pool in (MeanPool(), MaxPool()):
    pooled = pool(frame_p)
    print(f"{type(pool).__name__}: p = {pooled[0, 0]:.3f}, gradient to the frames for dp = 1: "
          f"{pool.backward(np.ones_like(pooled))[0, :, 0]}")
loss = BinaryCrossEntropy()
y = np.array([[1.0, 0.0]])
for probs in ([0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.0, 1.0]):
    value = loss(np.array([probs]), y)
    print(f"p = {probs}, y = [1, 0]: BCE = {value:.3f}, dL/dp = {loss.backward()[0][0].round(2)}")

# %% [markdown]
# ## 4. The backward pass of the whole model
# `AudiovisualTransformer.backward(dp)` runs the chain in reverse: pooling, sigmoid,
# classifier, the decoder blocks from last to first (each returns dx and dmemory; the dmemory
# of all decoder blocks are summed, since they all read the same encoder output), the decoder's
# input stream, then the encoder blocks from last to first and the encoder's input stream.
# With `input_grad=False` it skips the gradient for the embeddings themselves (they are data),
# which saves the largest product of the step, (B T, 4096) x (4096, 128).
#
# To check model AND loss together, wrap them in a three-line Module; its backward returns one
# gradient per forward input (the labels included: BCE is differentiable in y too).

# %%
class ModelWithLoss(Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.loss = model, BinaryCrossEntropy()

    def forward(self, first, second, labels):
        return self.loss(self.model(first, second), labels)

    def backward(self, dloss):
        dp, dlabels = self.loss.backward(dloss)
        return (*self.model.backward(dp), dlabels)


tiny = ModelConfig(first="video", second="audio", pos_enc=("video",), blocks=1, heads=2,
                   d_model=4, d_head=3, d_ff=5, classes=3, dims={"audio": 5, "video": 7})
inputs = (rng.standard_normal((2, 3, 7)), rng.standard_normal((2, 4, 5)),
          (rng.random((2, 3)) < 0.5).astype(np.float64))
start = time.perf_counter()
result = gradcheck(ModelWithLoss(AudiovisualTransformer(tiny, seed=0)), *inputs,
                   max_entries=30, directions=4)
print(f"whole model + BCE, float64, dropout on: {len(result.checks)} tensors in "
      f"{time.perf_counter() - start:.1f} s, {'PASS' if result.ok else 'FAIL'}, worst error "
      f"{result.worst_error:.1e}")
for c in result.checks:
    if c.status != "ok" or c.name.startswith(("input", "classifier")):
        print(f"  {c.name:28s} {c.mode:12s} {c.error:.1e}  {c.status}")
assert result.ok

# %% [markdown]
# ## 5. A training step at the paper's size
# Forward, loss, backward (parameter gradients only) on a batch of 40 clips (Sec. 3.2.2), in
# float32. The paper trains 300 such batches per epoch.

# %%
model = AudiovisualTransformer(ModelConfig(), seed=0).train()
video = rng.standard_normal((40, 10, 4096)).astype(np.float32)
audio = rng.standard_normal((40, 10, 128)).astype(np.float32)
labels = (rng.random((40, 17)) < 0.1).astype(np.float32)
loss = BinaryCrossEntropy()
times = []
for _ in range(2):
    start = time.perf_counter()
    model.zero_grad()
    value = loss(model(video, audio), labels)
    model.backward(loss.backward()[0], input_grad=False)
    times.append(time.perf_counter() - start)
print(f"BCE at initialisation: {value:.3f}, near ln 2 = {np.log(2):.3f} (what p = 0.5 "
      "everywhere would cost); above it, as untrained probabilities are spread out")
assert np.log(2) < value < np.log(2) + 0.2
print(f"one training step without the optimizer: {1000 * min(times):.0f} ms "
      f"(best of 2; an epoch of 300 steps: ~{300 * min(times):.0f} s)")

# %% [markdown]
# ## 6. Picture: frame probabilities and the two poolings
# One clip of the untrained model: its 10 frame rows, then the mean and the max over them.
# After training (lesson 13) the frame rows light up where each event is.

# %%
model.eval()
model(video[:1], audio[:1])
frames = model.frame_probabilities[0]                                   # (10, 17)
rows = np.vstack([frames, frames.mean(0), frames.max(0)])
picture = plot.heatmap(rows, title="untrained model: frame probabilities, mean and max pooling",
                       row_labels=[f"frame {t}" for t in range(10)] + ["mean", "max"],
                       col_labels=CLASSES, x_label="class", cell=(26, 16))
print("  ->", plot.save(picture, out, "frame_probabilities.png"))

# %% [markdown]
# ## Exercises
# 1. Build `ModelConfig(pooling="max")` and repeat the gradient check of section 4. The
#    checker may report "(h/10)" for some tensors: why? (Hint: lesson 2's ReLU kink.)
# 2. In section 5, call `model.backward(..., input_grad=True)` instead and time it. Which
#    product accounts for the difference?
# 3. Write the backward of mean and max pooling and of BCE yourself, without peeking at avt_np/nn/.
#    `lessons/exercises/09_pooling_and_bce.py` gives the forward; grade your backward with
#    `python -m avt_np.exercises check lessons/exercises/09_pooling_and_bce.py`
