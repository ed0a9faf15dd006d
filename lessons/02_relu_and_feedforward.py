# %% [markdown]
# # Lesson 2: ReLU and the feed-forward subnetwork
#
# What you learn here:
# - ReLU's backward is a mask, and why its kink at 0 can fool a finite difference;
# - composing modules: the feed-forward subnet of Sec. 3.2.5 (a ReLU layer, then a linear
#   layer, dropout after both, Sec. 3.2.7) and its backward as the forward read in reverse;
# - what the hidden layer looks like at initialisation, and "dead" units that never learn.
#
# Run: python lessons/02_relu_and_feedforward.py   (< 1 s on 2 cores; see lessons/README.md)

# %%
import numpy as np

from avt_np import plot
from avt_np.gradcheck import gradcheck
from avt_np.nn import FeedForward, ReLU

out = plot.lesson_output("02_relu_and_feedforward")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. ReLU
# y = max(x, 0) element by element, so dy/dx is 1 where x > 0 and 0 where x < 0, and
#
# $$dx = dy \odot [x > 0]$$
#
# (x, y, dy, dx: all the same shape; [x > 0] is 1 where x > 0, else 0).
#
# The forward caches the mask `positive` (a boolean array), nothing else. At x = 0 the
# derivative does not exist; we use 0, as TensorFlow does. (The forward is x * mask, so a
# negative input gives -0.0, which prints as "-0." and equals 0.)

# %%
relu = ReLU()
x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
print("x          ", x[0])
print("relu(x)    ", relu(x)[0])
print("backward(1)", relu.backward(np.ones_like(x))[0])
assert relu.backward(np.ones_like(x))[0].tolist() == [0, 0, 0, 1, 1], "1 where x > 0, else 0"

# %% [markdown]
# The kink and the checker: an input within h of 0 is on both sides of the kink during a
# centred difference, so the numeric slope is about 1/2 and the check fails although the
# backward is right. The checker retries once with a step ten times smaller (a wrong backward
# disagrees at every step); the table then says "entries (h/10)". Here one entry is 3e-6
# from the kink, inside the default step of 1e-5.

# %%
x = np.array([[-1.0, 0.5, 3e-6, -2e-6, 2.0]])
result = gradcheck(ReLU(), x)
print(result)
assert result.ok and result.checks[0].mode == "entries (h/10)", "passes on the retry at h/10"

# %% [markdown]
# ## 2. The feed-forward subnetwork
# Each encoder and decoder block ends with it (paper Fig. 3, Sec. 3.2.5). With D = 128 model
# width and d_ff = 128 hidden units (Sec. 3.2.6):
#
#     x (B, T, D) -> hidden: Linear(D, d_ff) -> ReLU -> Dropout -> out: Linear(d_ff, D) -> Dropout
#
# Backward is the same chain read from the end, each module turning the gradient of its
# output into the gradient of its input:
#
#     dy (B, T, D) -> out_dropout.backward -> out.backward -> (B, T, d_ff)
#       -> hidden_dropout.backward -> relu.backward -> hidden.backward -> dx (B, T, D)
#
# Each Linear adds its own dW and db on the way. Nothing new to derive: composition is the
# chain rule, and the checker confirms it (dropout masks are held fixed, lesson 4).

# %%
ff = FeedForward(dim=6, d_hidden=7, dropout=0.2, rng=rng)
print("parameters:", [f"{name} {p.shape}" for name, p, _ in ff.parameters()])
result = gradcheck(ff, rng.standard_normal((2, 3, 6)))
print(result)
assert result.ok

# %% [markdown]
# ## 3. The hidden layer at initialisation
# At the paper's size, feed a batch of random "frames" through the first half of the subnet
# and look at the hidden units: about half are zero for any one frame (ReLU of a symmetric
# pre-activation), and which half differs from frame to frame. The picture shows one clip:
# frames down, hidden units across; dark cells are zeros.

# %%
ff = FeedForward(dim=128, d_hidden=128, dropout=0.1, rng=rng).eval()
x = rng.standard_normal((40, 10, 128)).astype(np.float32)
hidden = ff.relu(ff.hidden(x))                                 # (40, 10, 128)
print(f"hidden units that are zero: {np.mean(hidden == 0):.1%} of (frame, unit) pairs")
print(f"units zero for EVERY frame of the batch: {np.sum((hidden == 0).all(axis=(0, 1)))}")
assert 0.4 < np.mean(hidden == 0) < 0.6, "about half of the hidden units zero"
assert not (hidden == 0).all(axis=(0, 1)).any(), "which half differs from frame to frame"
picture = plot.heatmap(hidden[0], title="ReLU layer of the feed-forward subnet, one clip",
                       x_label="hidden unit", y_label="frame", cell=(5, 16))
print("  ->", plot.save(picture, out, "hidden_activations.png"))

# %% [markdown]
# ## 4. A dead unit
# If a unit's pre-activation is negative for every input, its mask is all zeros and NOTHING
# flows back: its incoming weights and bias get exactly zero gradient and never change. Push
# unit 5's bias far down and look at the gradient of its column of `hidden.W`.

# %%
ff.hidden.params["b"][5] = -100.0
ff.zero_grad()
ff(x)
ff.backward(rng.standard_normal(x.shape).astype(np.float32))
column_norms = np.linalg.norm(ff.hidden.grads["W"], axis=0)
print(f"|dW| of unit 5's column: {column_norms[5]:.1f}; of the other columns: "
      f"{column_norms[np.arange(128) != 5].min():.1f} to {column_norms.max():.1f}")
assert column_norms[5] == 0 and column_norms[np.arange(128) != 5].min() > 0, "unit 5 is dead"

# %% [markdown]
# ## Exercises
# 1. Write a subclass of the package's `ReLU` whose forward keeps the mask `x >= 0` instead of
#    `x > 0` (never edit the package). Does the gradient check notice? For which inputs do the
#    two differ, and how likely are they in float32 training?
# 2. Remove `self.relu` from `FeedForward.forward` in your head: the subnet becomes one
#    affine map (a product of two matrices). Why is that no more expressive than a single
#    Linear(D, D)?
# 3. Write the backward of ReLU and of the feed-forward subnet yourself, without peeking at
#    avt_np/nn/. `lessons/exercises/02_relu_and_feedforward.py` gives the forward; grade
#    your backward with
#    `python -m avt_np.exercises check lessons/exercises/02_relu_and_feedforward.py`
