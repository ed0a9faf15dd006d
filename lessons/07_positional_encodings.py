# %% [markdown]
# # Lesson 7: positional encodings, and why they hurt on audio
#
# What you learn here:
# - the sinusoidal table of the original transformer (paper Sec. 2.1.2), as a picture;
# - its two properties: a shift in time is a rotation of each (sin, cos) pair, so the dot
#   product of two positions depends only on their distance;
# - its backward (trivial: it adds a constant);
# - what the paper measured (Table 1, Sec. 4.1.1) and one mechanism you can check without any
#   data: WITHOUT positional encodings the model's clip prediction cannot depend on when an
#   event happens, which is exactly what weak labels ask; WITH them it can, and must learn not to.
#
# Run: python lessons/07_positional_encodings.py   (1-2 s on 2 cores; see lessons/README.md)

# %%
import numpy as np

from avt_np import plot
from avt_np.gradcheck import gradcheck
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.nn import SinusoidalPositionalEncoding, sinusoidal_table

out = plot.lesson_output("07_positional_encodings")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The table
# For position t (a frame, 0.96 s apart here) and feature pair i of D:
#
# $$PE_{t,\,2i} = \sin(t\, w_i), \qquad PE_{t,\,2i+1} = \cos(t\, w_i), \qquad
# w_i = 10000^{-2i/D}$$
#
# Fast-turning pairs on the left, slow ones on the right. A clip has only 10 frames, so at
# D = 128 most of the table is nearly constant along time: the right-hand columns are
# (0, 1, 0, 1, ...) for every frame. Every row has norm sqrt(D / 2) = 8.

# %%
D = 128
table10, table100 = sinusoidal_table(10, D), sinusoidal_table(100, D)
print(f"table {table10.shape}; row norms {np.linalg.norm(table10, axis=1).round(3)[:4]} ...")
assert np.allclose(np.linalg.norm(table10, axis=1), 8), "every row has norm sqrt(D / 2) = 8"
picture = plot.vstack([
    plot.heatmap(table10, title="PE for the 10 frames of a clip (D = 128)", x_label="feature",
                 y_label="frame", scale="diverging", cell=(5, 14)),
    plot.heatmap(table100, title="the same table for 100 positions", x_label="feature",
                 y_label="position", scale="diverging", cell=(5, 3)),
])
print("  ->", plot.save(picture, out, "table.png"))

# %% [markdown]
# ## 2. Shifts are rotations; dot products depend on distance
# (sin(a + b), cos(a + b)) is the pair (sin a, cos a) rotated by the angle b. So
# PE[t + k] = M_k PE[t] with M_k block-diagonal, one 2 x 2 rotation by k w_i per pair: the same
# linear map for every t (the property Sec. 2.1.2 mentions). And
# PE[t] . PE[s] = sum_i cos((t - s) w_i) depends on t - s only: the Gram matrix (picture) is
# constant along its diagonals.

# %%
k = 3
angles = k * 10000.0 ** (-(np.arange(0, D, 2)) / D)                 # (D/2,)
M = np.zeros((D, D))
for i, a in enumerate(angles):
    M[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]
print(f"max |PE[t + {k}] - M_{k} PE[t]| over t: "
      f"{np.abs(table100[k:] - table100[:-k] @ M.T).max():.1e}")
assert np.abs(table100[k:] - table100[:-k] @ M.T).max() < 1e-10, "a shift is a rotation"
gram = table100[:40] @ table100[:40].T
print(f"Gram matrix constant along diagonals: spread of diagonal 5 = "
      f"{np.ptp(np.diag(gram, 5)):.1e}")
assert np.ptp(np.diag(gram, 5)) < 1e-10, "dot products depend on the distance only"
picture = plot.heatmap(gram, title="PE[t] . PE[s]", x_label="s", y_label="t", cell=8)
print("  ->", plot.save(picture, out, "gram.png"))

# %% [markdown]
# ## 3. Backward
# y = x + PE with PE a constant: dy/dx is the identity, dx = dy, shape (B, T, D). The input
# streams of the model add PE after their dropout, and their backward simply skips it.

# %%
print(gradcheck(SinusoidalPositionalEncoding(), rng.standard_normal((2, 10, 6))))

# %% [markdown]
# ## 4. What the paper measured
# Table 1, micro-F1, softmax attention, mean pooling (first/second modality, where PE goes):
#
#     audio/audio   PE on audio  57.0%    none  58.6%
#     video/video   PE on video  59.1%    none  58.8%
#     video/audio   PE on both   67.7%    PE on video only  69.7%    none  69.6%
#     audio/video   PE on both   66.1%    PE on video only  69.5%    none  69.2%
#
# Positional encodings on audio cost 1.6 to 3.4 points in every configuration; on video they are
# neutral to slightly helpful. The paper reports this without a mechanism (Sec. 4.1.1).

# %% [markdown]
# ## 5. A mechanism you can check: nothing depends on WHEN, until PE is added
# The labels are weak (Sec. 3.1): "a siren is in this clip", never when. Without positional
# encodings every part of the model treats frames alike: linear maps, LayerNorm and the
# feed-forward subnet act frame by frame, attention sums over all keys whatever their order,
# and pooling averages (or maxes) over frames. So moving the event in time (reordering the
# frames) cannot change the clip prediction: the model is order-invariant by construction,
# as the task is. Add PE and it is not: the same sound at frame 2 and at frame 7 becomes two
# different inputs, and telling the model that they mean the same thing has to be learned
# from data. (A plausible reason for Table 1, not a proof; the paper did not test it.)
#
# Below: an untrained audio/audio model at the paper's size, one random clip, the same clip
# with its frames rolled by 3 (the events 2.9 s later), and the largest change of any class
# probability, with and without PE. The same seed gives both models the same weights.

# %%
clip = rng.standard_normal((1, 10, 128)).astype(np.float32)
rolled = np.roll(clip, 3, axis=1)
for pos_enc in ((), ("audio",)):
    model = AudiovisualTransformer(ModelConfig(first="audio", second="audio", pos_enc=pos_enc),
                                   seed=0).eval()
    change = np.abs(model(clip, clip) - model(rolled, rolled)).max()
    print(f"audio/audio, PE on {', '.join(pos_enc) or 'nothing':7s}: largest change of a class "
          f"probability when the events move by 3 frames: {change:.1e}")
    assert (change > 1e-2) if pos_enc else (change < 1e-5), "only PE makes WHEN matter"

# %% [markdown]
# The same effect inside the model: a stationary sound (the same embedding in all 10 frames).
# Without PE every frame is identical, so the first encoder block's self-attention is exactly
# uniform (0.1 everywhere) and every frame's output is the same. With PE the frames differ
# only by their position, and the attention pattern is made of position alone.

# %%
steady = np.repeat(rng.standard_normal((1, 1, 128)).astype(np.float32), 10, axis=1)
pictures = []
for pos_enc in ((), ("audio",)):
    model = AudiovisualTransformer(ModelConfig(first="audio", second="audio", pos_enc=pos_enc),
                                   seed=0).eval()
    model(steady, steady)
    weights = model.encoder[0].self_attn.weights[0, 0]                     # head 0, (10, 10)
    label = "with PE" if pos_enc else "without PE"
    print(f"{label:10s}: head 0 weights from {weights.min():.3f} to {weights.max():.3f}")
    assert (np.ptp(weights) > 0.01) if pos_enc else np.allclose(weights, 0.1, atol=1e-6)
    pictures.append(plot.heatmap(weights, title=f"steady sound, {label}: encoder block 0, head 0",
                                 x_label="key frame", y_label="query frame", vmin=0.05,
                                 vmax=0.15, cell=20))
print("  ->", plot.save(plot.hstack(pictures), out, "steady_sound_attention.png"))

# %% [markdown]
# ## Exercises
# 1. Repeat section 5 with `first="video", second="audio", pos_enc=("video",)` (feed a
#    (1, 10, 4096) video clip and roll both streams). Does the prediction move? Why might
#    order in the VIDEO stream carry information that order in audio does not? (Table 1 says it
#    helps a little.)
# 2. Scale the encodings: PE has norm 8 per frame. Compute the norm of the projected input
#    `model.encoder_input.project(clip)` at initialisation. Which of the two dominates what the
#    first block sees?
