# %% [markdown]
# # Lesson 5: the three attention functions and their Jacobians
#
# What you learn here:
# - softmax, sigmoid and the normalized sigmoid of the paper's Eq. 2 (Sec. 2.2.5), which turn
#   a row of scores into attention weights (a word ahead of lesson 6, which builds them: each
#   frame asks a question, its *query*, and offers a *key* to be matched and a *value* to be
#   read; a row of scores is one query frame scored against every key frame, and attention
#   returns the weighted sum of the values, $\sum_i w_i v_i$);
# - their Jacobians, derived and compared entry by entry with the package's backward;
# - what "normalised" means in Jacobian terms: softmax and normalized sigmoid keep the sum of
#   the weights fixed (every column of the Jacobian sums to ~0), sigmoid does not; and only
#   softmax ignores a shift of all scores (every row sums to 0);
# - what that means when scores grow or shift, with pictures.
#
# Run: python lessons/05_attention_functions.py   (< 1 s on 2 cores; see lessons/README.md)

# %%
import numpy as np

from avt_np import plot
from avt_np.gradcheck import gradcheck
from avt_np.nn import attention_function

out = plot.lesson_output("05_attention_functions")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)
NAMES = ["softmax", "sigmoid", "normalized-sigmoid"]      # the paper's three (Sec. 2.2.5)

# %% [markdown]
# ## 1. Three ways to turn scores into weights
# Each function acts on the last axis, the keys: scores x (..., T_k) -> weights w (..., T_k).
#
# $$\text{softmax: } w_i = \frac{e^{x_i}}{\sum_j e^{x_j}}, \qquad
# \text{sigmoid: } w_i = s_i = \frac{1}{1 + e^{-x_i}}, \qquad
# \text{normalized sigmoid: } w_i = \frac{s_i}{\sum_j s_j + \epsilon}$$
#
# (the sigmoid weighs each key on its own; the normalized sigmoid is the paper's Eq. 2, with
# eps = 1e-8).
#
# Look at the row sums: 1 for softmax, 1 up to eps = 1e-8 for the normalized sigmoid (so
# 1.000000 to six decimals), anything between 0 and T_k for the sigmoid.

# %%
x = np.array([[2.0, 1.0, 0.0, -1.0, 0.5, 3.0]])
T_k = x.shape[-1]
for name in NAMES:
    w = attention_function(name)(x)
    print(f"{name:19s} w = {np.round(w[0], 3)}  sum = {w.sum():.6f}")
    if name == "sigmoid":
        assert 0 < w.sum() < T_k
    else:
        assert abs(w.sum() - 1) < 1e-6, f"{name} weights should sum to 1"

# Softmax subtracts the row maximum first, sigmoid takes exp only of -|x|: huge scores are safe.
huge = np.array([[1000.0, 0.0, -1000.0]])
for name in NAMES:
    w = attention_function(name)(huge)[0]
    print(f"huge scores, {name:19s} {w.round(3).tolist()}")
    assert np.isfinite(w).all(), f"{name} should survive scores of +-1000"

# %% [markdown]
# ## 2. Jacobians, derived
# J[i, j] = d w_i / d x_j, (T_k, T_k) for one row. backward(dw) returns dx = J^T dw, so
# backward of the unit vector e_i is row i of J: that is how the package's Jacobian is read out.
#
# Softmax. $\partial w_i / \partial x_j = w_i (\delta_{ij} - w_j)$, so
#
# $$J = \operatorname{diag}(w) - w w^\top, \qquad
# dx = w \odot \big(dw - \textstyle\sum_i dw_i\, w_i\big)$$
#
# Sigmoid. d s_i / d x_j = delta_ij s_i (1 - s_i): a diagonal Jacobian, dx = dw * s * (1 - s).
#
# Normalized sigmoid. With S = sum_j s_j + eps, the quotient rule gives
# d w_i / d s_j = (delta_ij - w_i) / S, then the sigmoid's own derivative:
#
# $$J_{ij} = (\delta_{ij} - w_i)\, \frac{s_j (1 - s_j)}{S}, \qquad
# dx_j = \frac{s_j (1 - s_j)}{S} \big(dw_j - \textstyle\sum_i dw_i\, w_i\big)$$
#
# The formulas, in a few lines, against the package:

# %%
x = rng.standard_normal((1, T_k)) * 1.5
s = 1.0 / (1.0 + np.exp(-x[0]))
formulas = {
    "softmax": lambda w: np.diag(w) - np.outer(w, w),
    "sigmoid": lambda w: np.diag(s * (1 - s)),
    "normalized-sigmoid": lambda w: (np.eye(T_k) - w[:, None]) * (s * (1 - s))[None, :]
                                    / (s.sum() + 1e-8),
}
jacobians = {}
for name in NAMES:
    f = attention_function(name)
    w = f(x)[0]
    J = np.stack([f.backward(np.eye(T_k)[i][None])[0] for i in range(T_k)])
    jacobians[name] = J
    print(f"{name:19s} max |J_package - J_formula| = {np.abs(J - formulas[name](w)).max():.1e}")
    assert np.abs(J - formulas[name](w)).max() < 1e-12

top = max(np.abs(J).max() for J in jacobians.values())
picture = plot.hstack([plot.heatmap(J, title=f"{name}: d w_i / d x_j", x_label="score j",
                                    y_label="weight i", scale="diverging", vmin=-top, vmax=top,
                                    numbers=True, cell=40)
                       for name, J in jacobians.items()])
print("  ->", plot.save(picture, out, "jacobians.png"))

# %% [markdown]
# ## 3. Normalised or not, in Jacobian terms
# COLUMN sums, sum_i J[i, j] = d (sum_i w_i) / d x_j: how the total weight changes when one
# score moves. Softmax: exactly 0. Normalized sigmoid: eps s_j (1 - s_j) / S^2, about 1e-10
# here, as good as 0. Sigmoid: s_j (1 - s_j) > 0: raising one score adds weight without taking
# any from the other keys. That is what "normalises" means: the weights compete for a fixed budget.
#
# ROW sums, J @ 1 = how the weights change when ALL scores shift by the same amount. Softmax:
# exactly 0, it cannot see a shift. The normalized sigmoid can: shifting every score up pushes
# every s_i towards 1 and the weights towards uniform. (Lesson 6 meets the consequence: under
# softmax the key bias gets exactly zero gradient; under the two sigmoids it does not.)

# %%
for name, J in jacobians.items():
    print(f"{name:19s} max |column sum| = {np.abs(J.sum(0)).max():.1e}   "
          f"max |row sum| = {np.abs(J.sum(1)).max():.1e}")
column, row = np.abs(jacobians["softmax"].sum(0)).max(), np.abs(jacobians["softmax"].sum(1)).max()
assert column < 1e-15 and row < 1e-15, "softmax: columns and rows sum to 0"
assert np.abs(jacobians["normalized-sigmoid"].sum(0)).max() < 1e-8, "normalized sigmoid: ~0"
assert (jacobians["sigmoid"].sum(0) > 0).all(), "sigmoid: every column sum positive"
assert np.abs(jacobians["normalized-sigmoid"].sum(1)).max() > 1e-3, "it sees a shift"

# %% [markdown]
# ## 4. Shifting and scaling the scores
# The picture shows the weights of one row of 8 keys (across) as every score is shifted by c
# (down the rows, -8 to 8). Softmax: every row the same. Sigmoid: from all ~0 to all ~1, so
# the attention output, $\sum_i w_i v_i$, goes from ~0 to the SUM of all values (it grows with
# the number of keys). Normalized sigmoid: from softmax-like to uniform (1/8 each), where
# every s_i (1 - s_i) -> 0 and the gradient vanishes.

# %%
scores = np.linspace(-2.0, 2.0, 8) + 0.3 * rng.standard_normal(8)
shifts = np.arange(-8, 9)
panels = []
for name in NAMES:
    w = attention_function(name)(scores[None, :] + shifts[:, None])       # (17 shifts, 8 keys)
    print(f"{name:19s} row sums from {w.sum(1).min():.3f} to {w.sum(1).max():.3f}")
    if name == "softmax":
        assert np.abs(w - w[0]).max() < 1e-12, "softmax: every shifted row the same"
    elif name == "sigmoid":
        assert w[0].max() < 0.01 and w[-1].min() > 0.99, "sigmoid: from all ~0 to all ~1"
    else:
        assert np.abs(w[-1] - 1 / 8).max() < 0.01, "normalized sigmoid: uniform at c = 8"
    panels.append(plot.heatmap(w, title=name, x_label="key", y_label="shift c of all scores",
                               row_labels=[str(c) for c in shifts], vmin=0, vmax=1, cell=(28, 14)))
print("  ->", plot.save(plot.hstack(panels), out, "shifted_scores.png"))

# %% [markdown]
# ## 5. The gradient check
# Each function on a (2, 3, 4, 5) block of scores, as attention uses them (batch, heads,
# queries, keys).

# %%
for name in NAMES:
    result = gradcheck(attention_function(name), rng.standard_normal((2, 3, 4, 5)))
    print(f"{name:19s} {'PASS' if result.ok else 'FAIL'}  worst error {result.worst_error:.1e}")
    assert result.ok

# %% [markdown]
# What the paper found (Sec. 4.1.2, 4.2.1): the three functions give practically the same
# F1 scores, yet only the softmax models produced attention maps that pointed at the right
# frames. One reading of sections 3 and 4 above: sigmoid weights do not compete, so a large
# weight on one key says nothing about the others, and normalized-sigmoid weights flatten
# towards uniform as soon as scores drift up together.
#
# ## Exercises
# 1. Write a subclass of the package's `Softmax` whose `backward` drops the normalisation term
#    (return `self.w * dw`), as lesson 3 did with `MissingVarianceTerm`; never edit the
#    package. Which entries of the Jacobian picture change, and does the gradient check fail?
#    (It must.)
# 2. Give the normalized sigmoid a single key (T_k = 1): w = s / (s + eps) ~ 1 whatever the
#    score. What does `gradcheck` report for its input, and why is that not a failure?
# 3. Write the backward of the three attention functions yourself, without peeking at avt_np/nn/.
#    `lessons/exercises/05_attention_functions.py` gives the forward; grade your backward with
#    `python -m avt_np.exercises check lessons/exercises/05_attention_functions.py`
