# %% [markdown]
# # Lesson 6: scaled dot-product and multi-head attention, self and cross
#
# What you learn here:
# - Eq. 1 of the paper, A(Q, K, V) = f(Q K^T / sqrt(d_k)) V, on batched arrays with the heads
#   in an axis: (B, H, T, d);
# - why the scores are scaled by 1/sqrt(d_k) (an experiment);
# - the backward pass of attention, derived with shapes and compared with the package;
# - multi-head attention (paper Fig. 2): per-head maps, the paper's 3 heads x 128 reading, self
#   attention (one input feeds queries, keys and values) and cross attention (two inputs);
# - two things the gradient check reports that are NOT bugs: the key bias under softmax, and
#   queries / keys when there is a single key.
#
# Run: python lessons/06_multi_head_attention.py   (1-3 s on 2 cores; see lessons/README.md)

# %%
import numpy as np

from avt_np import plot
from avt_np.gradcheck import gradcheck
from avt_np.nn import MultiHeadAttention, ScaledDotProductAttention, Softmax

out = plot.lesson_output("06_multi_head_attention")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Attention as a soft look-up
# Each query asks "which keys look like me?"; the answer is a weighted average of the values.
#
# With q: (B, H, T_q, d_k), k: (B, H, T_k, d_k), v: (B, H, T_k, d_v):
#
# $$S = \frac{Q K^\top}{\sqrt{d_k}}\ (T_q, T_k), \qquad W = f(S)\ (T_q, T_k), \qquad
# A = \operatorname{dropout}(W)\, V\ (T_q, d_v)$$
#
# per batch and head: one row of scores per query, f (lesson 5) along the keys.
#
# A constructed example: 8 keys that are random directions in d = 16 dimensions, and queries
# that are the same keys in a shuffled order (the cell prints it), each multiplied by
# 3/sqrt(16) = 0.75. A query's score with its own key is then 0.75 |k|^2 / sqrt(16), about 3
# (|k|^2 is about d = 16), and with any other key about 0, give or take 0.75: each query's
# weight lands on its own key, which the cell checks.

# %%
T, d = 8, 16
keys = rng.standard_normal((1, 1, T, d))
order = rng.permutation(T)
queries = 3.0 * keys[:, :, order] / np.sqrt(d)
values = np.eye(T)[None, None]                               # value i = one-hot i
attention = ScaledDotProductAttention("softmax", dropout=0.0)
result = attention(queries, keys, values)
print("query t copies key", order.tolist())
print("argmax of each query's weights:", attention.weights[0, 0].argmax(-1).tolist())
assert attention.weights[0, 0].argmax(-1).tolist() == order.tolist(), "each query -> its key"
print("out[0] (with one-hot values this is the weight row):", np.round(result[0, 0, 0], 2))
picture = plot.heatmap(attention.weights[0, 0], title="softmax attention, constructed queries",
                       x_label="key", y_label="query", vmin=0, vmax=1, numbers=True)
print("  ->", plot.save(picture, out, "constructed_attention.png"))

# %% [markdown]
# ## 2. Why divide by sqrt(d_k)
# With entries of q and k independent with variance 1, q . k is a sum of d_k products, so its
# variance is d_k. Unscaled, the scores of a 128-wide head have a spread of ~11, the softmax
# puts almost all weight on one key, and its Jacobian $\operatorname{diag}(w) - w w^\top$ is
# almost zero: no gradient. Divided by $\sqrt{d_k}$, the spread is ~1 whatever the width, and
# so is the largest weight (the cell checks both). In the picture the flat line at 0.1 is
# uniform attention over the 10 keys, the least a largest weight can be.

# %%
widths = np.array([2, 8, 32, 128, 512])
largest = {"unscaled": [], "scaled by 1/sqrt(d_k)": []}
softmax = Softmax()                                          # the package's, over the last axis
for d_k in widths:
    q, k = rng.standard_normal((500, 1, d_k)), rng.standard_normal((500, 10, d_k))
    scores = (q @ k.swapaxes(1, 2))[:, 0]                    # (500, 10)
    for name, s in (("unscaled", scores), ("scaled by 1/sqrt(d_k)", scores / np.sqrt(d_k))):
        largest[name].append(softmax(s).max(1).mean())
for d_k, a, b in zip(widths, *largest.values()):
    print(f"d_k = {d_k:3d}: mean largest weight of 10 keys  unscaled {a:.2f}, scaled {b:.2f}")
unscaled, scaled = (np.array(v) for v in largest.values())
assert unscaled[-2] > 0.8 and (np.diff(unscaled) > 0).all(), "unscaled: one key takes it all"
assert scaled.max() - scaled.min() < 0.1, "scaled: the same largest weight at every width"
series = {name: (widths, v) for name, v in largest.items()}
series["uniform (1/10)"] = (widths, [0.1] * len(widths))
picture = plot.line_plot(series, title="softmax over 10 keys: average largest weight",
                         x_label="d_k", y_label="largest weight", log_x=True, y_range=(0, 1.05))
print("  ->", plot.save(picture, out, "scaling.png"))

# %% [markdown]
# ## 3. Backward, derived
# Per batch and head (all products are batched over B and H by `@`), with $c = 1/\sqrt{d_k}$
# and W' the weights after dropout, the forward is $S = c\, Q K^\top$, $W = f(S)$,
# $A = W' V$. Given dA (T_q, d_v), six lines, dS being the gradient of the loss with respect
# to the scaled scores S:
#
# $$\begin{aligned}
# dV &= W'^\top dA && (T_k, T_q)(T_q, d_v) \to (T_k, d_v) \\
# dW' &= dA\, V^\top && (T_q, d_v)(d_v, T_k) \to (T_q, T_k) \\
# dW &= \text{dropout backward of } dW' && \text{the same mask (lesson 4)} \\
# dS &= f \text{ backward of } dW && \text{lesson 5} \\
# dQ &= c\, dS\, K && (T_q, T_k)(T_k, d_k) \to (T_q, d_k) \\
# dK &= c\, dS^\top Q && (T_k, T_q)(T_q, d_k) \to (T_k, d_k)
# \end{aligned}$$
#
# Below, these lines by hand (softmax, no dropout) against the package (which multiplies dS
# by c once, before the two products).

# %%
B, H, T_q, T_k, d_k, d_v = 2, 3, 4, 6, 5, 7
q, k, v = (rng.standard_normal(s) for s in ((B, H, T_q, d_k), (B, H, T_k, d_k), (B, H, T_k, d_v)))
attention = ScaledDotProductAttention("softmax", dropout=0.0)
attention(q, k, v)
dA = rng.standard_normal((B, H, T_q, d_v))
dq, dk, dv = attention.backward(dA)
W = attention.weights
dW = dA @ v.swapaxes(-1, -2)
dS = W * (dW - (dW * W).sum(-1, keepdims=True))                # softmax backward (lesson 5)
c = 1 / np.sqrt(d_k)
by_hand = {"dq": c * dS @ k, "dk": c * dS.swapaxes(-1, -2) @ q, "dv": W.swapaxes(-1, -2) @ dA}
for name, package in zip(("dq", "dk", "dv"), (dq, dk, dv)):
    print(f"{name} {package.shape}: max |package - by hand| = "
          f"{np.abs(package - by_hand[name]).max():.1e}")
    assert np.abs(package - by_hand[name]).max() < 1e-12
print(gradcheck(ScaledDotProductAttention("softmax", dropout=0.2, rng=rng), q, k, v))

# %% [markdown]
# ## 4. Multi-head attention
# Paper Fig. 2: each head h has its own query, key and value maps; the heads attend in
# parallel, are concatenated and mapped back by a final linear map (dropout after it,
# Sec. 3.2.7). The paper uses 3 heads (Sec. 3.2.4) and 128 neurons per linear map
# (Sec. 3.2.6); 128 is not divisible by 3, so avt_np gives each head its own 128-wide maps
# (d_head = 128; see docs/model.md). The maps of all heads sit side by side in one matrix per
# role, q.W: (D, H d_head), and a reshape moves the heads into an axis:
#
#     x (B, T, D) -> q(x) (B, T, H d_head) -> split_heads -> (B, H, T, d_head)
#     attention per head -> (B, H, T_q, d_head) -> merge_heads -> (B, T_q, H d_head)
#     -> out: Linear(H d_head, D) -> dropout -> (B, T_q, D)

# %%
mha = MultiHeadAttention(dim=128, heads=3, d_head=128, rng=rng)
for name, p, _ in mha.parameters():
    print(f"  {name:6s} {p.shape}")
print(f"parameters of one attention block at the paper's size: {mha.num_parameters():,}")

# %% [markdown]
# Self attention, mha(x): x feeds the queries, the keys AND the values, so its gradient is the
# sum of three paths, dx = dq_x + dk_x + dv_x (the package computes the three maps as one
# product, `LinearStack`, and their backward as one too). Cross attention, mha(x, memory):
# queries from x (T_q frames), keys and values from memory (T_k frames, may differ); backward
# returns (dx, dmemory). The decoder's cross attention is where audio frames look at video
# frames (lesson 8).
#
# In the tables, look at `k.b`: "both zero" under softmax. The key bias adds b . q_t to EVERY
# score of query t, a shift of the whole row, which softmax ignores (lesson 5): its gradient
# is exactly zero, correctly. Under the normalized sigmoid, which does see shifts, it is not.

# %%
x, memory = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 7, 6))
for attention_name in ("softmax", "normalized-sigmoid"):
    self_check = gradcheck(MultiHeadAttention(6, 3, 4, attention_name, 0.2, rng), x)
    cross_check = gradcheck(MultiHeadAttention(6, 3, 4, attention_name, 0.2, rng), x, memory)
    print(f"\nself attention, {attention_name}:\n{self_check}")
    statuses = {c.name: c.status for c in cross_check.checks}
    print(f"cross attention, {attention_name}: ok={cross_check.ok}, "
          f"input 0 (x): {statuses['input 0']}, input 1 (memory): {statuses['input 1']}, "
          f"k.b: {statuses['k.b']}")
    assert self_check.ok and cross_check.ok

# %% [markdown]
# ## 5. A test that cannot fail
# With ONE key, every softmax weight is 1 whatever the scores: dq = dk = 0 exactly, and any bug
# in the lines that compute them would pass. The checker says "both zero" instead of "ok";
# tests use several keys.

# %%
one_key = gradcheck(ScaledDotProductAttention("softmax", 0.0), rng.standard_normal((1, 1, 3, 4)),
                    rng.standard_normal((1, 1, 1, 4)), rng.standard_normal((1, 1, 1, 5)))
print({c.name: c.status for c in one_key.checks})

# %% [markdown]
# ## 6. Heads at initialisation
# A freshly initialised block on random frames: no head puts most of its weight on one key
# (nothing learned yet). One picture per head, all on one colour scale (0 to the largest weight
# of any head), so the heads can be compared by colour.

# %%
mha = MultiHeadAttention(dim=128, heads=3, d_head=128, rng=rng).eval()
mha(rng.standard_normal((1, 10, 128)).astype(np.float32),
    rng.standard_normal((1, 10, 128)).astype(np.float32))
largest = float(mha.weights[0].max())                  # one colour scale shared by the heads
heads = [plot.heatmap(mha.weights[0, h], title=f"head {h}", x_label="key frame",
                      y_label="query frame", vmin=0, vmax=largest, cell=18) for h in range(3)]
print(f"largest weight of any head at init: {mha.weights.max():.2f} (uniform would be 0.10)")
print("  ->", plot.save(plot.hstack(heads), out, "heads_at_init.png"))

# %% [markdown]
# ## Exercises
# 1. In section 1, replace the factor 3.0 by 0.3 and by 30. What happens to the picture, and
#    which setting would give the largest gradient for the queries?
# 2. Swap `self.q` and `self.k` in your head: Q K^T becomes K Q^T, the transposed score matrix.
#    Is self-attention still correct? Is cross-attention? (Check with `gradcheck` on a copy of
#    the class that you change.)
# 3. Write the backward of scaled dot-product attention yourself, without peeking at avt_np/nn/.
#    `lessons/exercises/06_scaled_dot_product_attention.py` gives the forward; grade your
#    backward with
#    `python -m avt_np.exercises check lessons/exercises/06_scaled_dot_product_attention.py`
