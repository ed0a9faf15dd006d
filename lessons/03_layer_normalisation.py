# %% [markdown]
# # Lesson 3: layer normalisation
#
# What you learn here:
# - what LayerNorm does to each frame vector (Sec. 3.2.7: each block adds a sub-layer's output
#   to its input, x + f(x), a skip connection that lesson 8 builds, and normalises the sum);
# - its backward pass, derived as a Jacobian with three terms, and checked entry by entry
#   against the package;
# - why a gradient check with an all-ones upstream gradient is worthless here: the correct
#   LayerNorm gradient is then exactly zero, and so is a broken one.
#
# Run: python lessons/03_layer_normalisation.py   (< 1 s on 2 cores; see lessons/README.md)

# %%
import numpy as np

from avt_np import plot
from avt_np.gradcheck import gradcheck
from avt_np.nn import LayerNorm

out = plot.lesson_output("03_layer_normalisation")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Forward
# Over the last axis (the D features of one frame):
#
# $$\mu = \tfrac{1}{D}\sum_j x_j, \quad s = \frac{1}{\sqrt{\operatorname{var}(x) + \epsilon}},
# \quad \hat x = (x - \mu)\, s, \quad y = g \odot \hat x + b$$
#
# x, y: (..., D); g, b: (D,), initialised to 1 and 0. Every frame comes out with mean b and
# spread g, whatever its scale was: the sums x + f(x) of the blocks can grow, their outputs
# cannot. Below, three frames drawn at scales 1, 10 and 0.01 (with only D = 8 features their
# measured spreads differ from the scale: the cell prints them). The first two come out with a
# spread of 1; the third just under 1, because eps = 1e-6 is no longer negligible next to its
# variance (about 5e-5). The cell checks both.

# %%
D = 8
norm = LayerNorm(D, dtype=np.float64)
x = rng.standard_normal((2, 3, D)) * np.array([1.0, 10.0, 0.01])[:, None] + 5.0
y = norm(x)
print("row means in :", np.round(x.mean(-1)[0], 2), " out:", np.round(y.mean(-1)[0], 12))
print("row stds  in :", np.round(x.std(-1)[0], 3), " out:", np.round(y.std(-1)[0], 6))
print("a constant row (var = 0) is safe thanks to eps:", norm(np.full((1, D), 3.0))[0, :3])
spread_in, spread_out = x.std(-1)[0], y.std(-1)[0]
assert np.allclose(y.mean(-1), 0, atol=1e-12), "every row should come out with mean 0"
assert np.allclose(spread_out[:2], 1, atol=1e-5), "rows 1-2 should come out with spread 1"
assert 0.9 < spread_out[2] < 1 - 1e-3 and spread_in[2] ** 2 < 100 * norm.eps, \
    "row 3 should come out just under 1, its variance within 100 eps"

# %% [markdown]
# ## 2. Backward, derived
# The parameters are easy: y = g * x_hat + b element by element, every row shares g and b, so
#
#     dg = sum over rows of dy * x_hat   (D,)        db = sum over rows of dy   (D,)
#     dx_hat = dy * g                                (..., D)
#
# The input is the interesting part: every x_j moves the mean and the variance, so every
# x_hat_i depends on every x_j. The two small derivatives first:
#
# $$\frac{\partial \mu}{\partial x_j} = \frac{1}{D}, \qquad
# \frac{\partial\, \operatorname{var}}{\partial x_j}
#   = \frac{2}{D}\sum_i (x_i - \mu)\Big(\delta_{ij} - \frac{1}{D}\Big)
#   = \frac{2}{D}(x_j - \mu)$$
#
# (the mean's share, $-\frac{2}{D^2}\sum_i (x_i - \mu)$, cancels: deviations from the mean
# sum to 0). With $s = (\operatorname{var} + \epsilon)^{-1/2}$,
# $\partial s / \partial x_j = -\tfrac{1}{2} s^3 \cdot \tfrac{2}{D}(x_j - \mu)
# = -s^2 \hat x_j / D$. Differentiating $\hat x_i = (x_i - \mu)\, s$ then gives the
# Jacobian of one row, (D, D), one term per path (direct, through the mean, through the
# variance):
#
# $$J_{ij} = \frac{\partial \hat x_i}{\partial x_j}
#   = s\Big(\delta_{ij} - \frac{1}{D} - \frac{\hat x_i \hat x_j}{D}\Big)$$
#
# J is symmetric, so dx = J^T dx_hat = J dx_hat, and applied without building J:
#
# $$dx = s\,\big(d\hat x - \operatorname{mean}(d\hat x)
#   - \hat x \odot \operatorname{mean}(d\hat x \odot \hat x)\big)$$
#
# which is the last three lines of `LayerNorm.backward`. Below: the package's Jacobian for one
# row, row by row from backward(e_i) with g = 1, against the formula.

# %%
row = rng.standard_normal((1, D))
norm = LayerNorm(D, dtype=np.float64)
norm(row)
J_package = np.stack([norm.backward(np.eye(D)[i][None])[0] for i in range(D)])  # row i = dy_i/dx
x_hat, s = norm.x_hat[0], norm.inv_std[0, 0]
J_formula = s * (np.eye(D) - 1.0 / D - np.outer(x_hat, x_hat) / D)
print(f"max |J_package - J_formula| = {np.abs(J_package - J_formula).max():.1e}")
assert np.abs(J_package - J_formula).max() < 1e-12, "the formula should be the package's J"
picture = plot.heatmap(J_package, title="LayerNorm Jacobian d y_i / d x_j of one row (g = 1)",
                       x_label="input j", y_label="output i", scale="diverging", numbers=True)
print("  ->", plot.save(picture, out, "jacobian.png"))

# %% [markdown]
# Look at the picture: a positive diagonal (the direct path), everything else slightly
# negative or positive (the mean and variance paths). Two directions are flattened:
# J @ 1 = 0 (adding a constant to a row changes nothing) and J @ x_hat = 0 (scaling a row
# changes nothing), the second only up to eps / var because eps slightly breaks the scale
# invariance.

# %%
print(f"|J @ ones| = {np.abs(J_package @ np.ones(D)).max():.1e},  "
      f"|J @ x_hat| = {np.abs(J_package @ x_hat).max():.1e}")
assert np.abs(J_package @ np.ones(D)).max() < 1e-12 and np.abs(J_package @ x_hat).max() < 1e-4

# %% [markdown]
# ## 3. Why the checker projects the output on a random R
# The same symmetry has a trap. A gradient check on f = sum(y) (upstream gradient all ones)
# gives dx_hat = g = 1 per row, whose mean is 1 and whose product with x_hat has mean 0; so
# the correct dx = s (1 - 1 - 0) = 0 exactly. A LayerNorm that FORGETS the variance term
# also gives s (1 - 1) = 0. Both zero: a test on sum(y) passes the bug. With a random R the
# checker sees the difference at once.

# %%
class MissingVarianceTerm(LayerNorm):
    """LayerNorm whose backward drops the variance path (a classic slip)."""

    def backward(self, dy):
        dx = super().backward(dy)
        dx_hat = dy * self.params["g"]
        return dx + self.inv_std * self.x_hat * (dx_hat * self.x_hat).mean(-1, keepdims=True)


x = rng.standard_normal((2, 3, D))
for layer in (LayerNorm(D, dtype=np.float64), MissingVarianceTerm(D, dtype=np.float64)):
    layer(x)
    dx_ones = layer.backward(np.ones_like(x))
    print(f"{type(layer).__name__:20s} max |dx| for dy = 1: {np.abs(dx_ones).max():.1e}")
    assert np.abs(dx_ones).max() < 1e-12, "both gradients should be zero for dy = 1"

print("\ngradcheck (random R) of the real LayerNorm:")
print(gradcheck(LayerNorm(D), x))
broken = gradcheck(MissingVarianceTerm(D), x)
print(f"\ngradcheck of MissingVarianceTerm: ok={broken.ok}, failed: {broken.failed}")
assert not broken.ok

# %% [markdown]
# ## Exercises
# 1. Drop the MEAN term instead (add `self.inv_std * dx_hat.mean(-1, keepdims=True)` back in a
#    subclass). Does dy = 1 expose this one? Which of the two invariances above does the broken
#    Jacobian lose?
# 2. LayerNorm(a x + c) = LayerNorm(x) for a > 0 (up to eps). Verify it numerically for
#    a = 1000 and a = 1e-4; why does the second one break down? (Compare var with eps = 1e-6.)
# 3. Write LayerNorm's backward yourself, without peeking at avt_np/nn/.
#    `lessons/exercises/03_layer_norm.py` gives the forward; grade your backward with
#    `python -m avt_np.exercises check lessons/exercises/03_layer_norm.py`
