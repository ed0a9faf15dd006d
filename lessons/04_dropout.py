# %% [markdown]
# # Lesson 4: dropout
#
# What you learn here:
# - inverted dropout: zero each value with probability p and scale the survivors by 1/(1-p),
#   so nothing needs rescaling at test time;
# - its backward: the SAME mask, applied to the gradient;
# - how the gradient checker keeps random masks fixed, and that it catches a backward that
#   forgets the mask;
# - where the paper puts dropout (Sec. 3.2.7), found by walking a model's modules.
#
# Run: python lessons/04_dropout.py   (< 1 s on 2 cores; see lessons/README.md)

# %%
import numpy as np

from avt_np import plot
from avt_np.gradcheck import gradcheck
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.nn import Dropout

out = plot.lesson_output("04_dropout")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Forward in training and in evaluation
# In training, y = x * mask with mask = keep / (1 - p), keep ~ Bernoulli(1 - p) per element, so
# E[y] = x: the next layer sees values of the same average size in training and at test time,
# where dropout is the identity (`module.eval()`; `module.train()` switches it back on).
# x, y, mask: all the same shape. The random numbers come from `self.rng`, a
# numpy.random.Generator you can seed.

# %%
drop = Dropout(p=0.1, rng=np.random.default_rng(1))
x = np.ones((10, 64), np.float32)
y = drop(x)
print(f"training: {np.mean(y == 0):.1%} of the values zeroed (p = 0.1), survivors = "
      f"{y[y > 0][0]:.4f} = 1/(1-p); mean {y.mean():.3f}; dtype stays {y.dtype}")
print(f"evaluation: identity? {np.array_equal(drop.eval()(x), x)}")
assert 0.05 < np.mean(y == 0) < 0.15 and np.allclose(y[y > 0], 1 / (1 - 0.1))
assert abs(y.mean() - 1) < 0.05 and y.dtype == np.float32 and np.array_equal(drop(x), x)
drop.train()
picture = plot.heatmap(drop(x), title="Dropout(0.1) of a block of ones: the mask",
                       x_label="feature", y_label="frame", cell=(8, 16), vmin=0)
print("  ->", plot.save(picture, out, "mask.png"))

# %% [markdown]
# The mask draws 16 random bits per element and compares them with round(p * 65536): fast, and
# p is effectively rounded to a multiple of 1/65536 (off by under 1e-5; the scale 1/(1-p) is
# exact). E[y] = x holds on average over draws: the error of the mean of N draws shrinks like
# 1 / sqrt(N) (picture).

# %%
x = rng.standard_normal(1000).astype(np.float32)
draws = [drop(x) for _ in range(1000)]
counts = np.unique(np.logspace(0, 3, 13).astype(int))
errors = [np.abs(np.mean(draws[:n], axis=0) - x).mean() for n in counts]
for n, e in zip(counts[::4], errors[::4]):
    print(f"mean of {n:4d} draws: average |mean - x| = {e:.4f}")
expected = errors[0] / np.sqrt(counts)
assert np.all(np.abs(np.log(np.array(errors) / expected)) < np.log(2)), "shrinks like 1/sqrt(N)"
picture = plot.line_plot({"|mean of N draws - x|": (counts, errors),
                          "(value at N = 1) / sqrt(N)": (counts, errors[0] / np.sqrt(counts))},
                         title="inverted dropout is unbiased", x_label="draws N",
                         log_x=True, log_y=True)
print("  ->", plot.save(picture, out, "unbiased.png"))

# %% [markdown]
# ## 2. Backward
# y_i = x_i * mask_i with the mask a constant once drawn, so dx_i = dy_i * mask_i:
#
# $$dx = dy \odot \text{mask}, \qquad \text{mask} = \frac{\text{keep}}{1 - p}$$
#
# (dy, dx, mask: the shape of x).
#
# A dropped unit passes no gradient back, a kept one passes it scaled by 1/(1-p). The mask of
# THIS forward pass must be used, which is why forward keeps `self.mask`.
#
# A gradient check evaluates the module many times; a fresh mask every time would make f
# jump around. `gradcheck` reseeds every module's `rng` before each evaluation, so every
# evaluation draws the same mask. A backward that forgets the mask fails the check.

# %%
class ForgotTheMask(Dropout):
    def backward(self, dy):
        return dy


x = rng.standard_normal((2, 3, 6))
result = gradcheck(Dropout(0.3, rng), x)
print(result)
assert result.ok
broken = gradcheck(ForgotTheMask(0.3, rng), x)
print(f"ForgotTheMask: ok={broken.ok}, failed: {broken.failed}")
assert not broken.ok

# %% [markdown]
# ## 3. Where the paper applies dropout
# Sec. 3.2.7: rate 0.1 on the outputs of the input linear maps, of the attention function, of
# the final linear map of each multi-head attention block, and of both layers of each
# feed-forward subnet. Walk the model's tree (`Module.children`) and list every Dropout with
# its path.

# %%
def named_modules(module, prefix=""):      # Module.modules() walks the same tree, without names
    yield prefix, module
    for name, child in module.children():
        yield from named_modules(child, f"{prefix}{name}.")


model = AudiovisualTransformer(ModelConfig(blocks=1))
places = [name.rstrip(".") for name, m in named_modules(model) if isinstance(m, Dropout)]
assert len(places) == sum(isinstance(m, Dropout) for m in model.modules())   # the same tree
print(f"{len(places)} dropout layers in a model with 1 encoder and 1 decoder block:")
for name in places:
    print("  ", name)

# %% [markdown]
# Attention dropout acts on the WEIGHTS, after the attention function. A dropped row no longer
# sums to 1, but it does on average, like every other dropout. (Dropping the SCORES before a
# softmax would be something else entirely: a zero score is not a zero weight.)

# %% [markdown]
# ## Exercises
# 1. Set p = 0.5 and look at `mask.png` again; then try `Dropout(1.0)`: why does the package
#    refuse it?
# 2. Take `ForgotTheMask` and instead forget only the 1/(1-p) scale in backward (return
#    `dy * (self.mask > 0)`). Predict the relative error the checker reports, then run it.
# 3. Write Dropout's backward yourself, without peeking at avt_np/nn/.
#    `lessons/exercises/04_dropout.py` gives the forward; grade your backward with
#    `python -m avt_np.exercises check lessons/exercises/04_dropout.py`
