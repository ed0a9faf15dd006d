# %% [markdown]
# # Lesson 10: Adam
#
# What you learn here:
# - the Adam update with TensorFlow's defaults, the optimizer of the paper (Sec. 3.2.8), and
#   the one detail where TensorFlow differs from the paper of Kingma & Ba (where eps goes);
# - one step of `avt_np.optim.Adam` checked against the formulas;
# - why Adam's first steps have the same size for every parameter, and why scaling the loss
#   changes nothing;
# - Adam against plain gradient descent on a badly scaled problem (a picture);
# - its state, keyed by full parameter names.
#
# Run: python lessons/10_adam.py   (< 1 s on 2 cores; see lessons/README.md)

# %%
import numpy as np

from avt_np import plot
from avt_np.nn import Linear, MultiHeadAttention
from avt_np.optim import Adam

out = plot.lesson_output("10_adam")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The update
# For every parameter p with gradient g, at step t = 1, 2, ...:
#
# $$\begin{aligned}
# m &\leftarrow \beta_1 m + (1 - \beta_1)\, g && \text{running mean of } g,\ \beta_1 = 0.9 \\
# v &\leftarrow \beta_2 v + (1 - \beta_2)\, g^2 && \text{running mean of } g^2,\
#   \beta_2 = 0.999 \\
# \mathrm{lr}_t &= \mathrm{lr}\, \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)
#   && \mathrm{lr} = 10^{-3} \\
# p &\leftarrow p - \mathrm{lr}_t\, m / (\sqrt{v} + \epsilon) && \epsilon = 10^{-8}
# \end{aligned}$$
#
# m and v start at 0, so early on they underestimate; lr_t undoes that bias. TensorFlow adds
# eps to sqrt(v) AFTER folding the correction into lr_t (Kingma & Ba add it to the corrected
# sqrt(v)); the two differ only when sqrt(v) is about eps. Everything is element by element:
# m, v, g and p share their shape.
#
# `Adam(module)` packs all parameters (and gradients) of the module into one flat buffer; the
# layers keep views into it, so `layer.params["W"]` changes in place when Adam steps. Below:
# one step, against the four lines above written out for the layer's W.

# %%
layer = Linear(4, 3, rng)
adam = Adam(layer)
x = rng.standard_normal((5, 4)).astype(np.float32)
for t in (1, 2):
    adam.zero_grad()
    layer(x)
    layer.backward(rng.standard_normal((5, 3)).astype(np.float32))
    g, before = layer.grads["W"].copy(), layer.params["W"].copy()
    m_before = adam.state_dict()["m.W"]
    v_before = adam.state_dict()["v.W"]
    adam.step()
    m = 0.9 * m_before + 0.1 * g
    v = 0.999 * v_before + 0.001 * g ** 2
    lr_t = 1e-3 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
    expected = before - lr_t * m / (np.sqrt(v) + 1e-8)
    print(f"step {t}: max |package - formula| for W = "
          f"{np.abs(layer.params['W'] - expected).max():.1e} (float32 rounding)")
    assert np.abs(layer.params["W"] - expected).max() < 1e-6

# %% [markdown]
# ## 2. The first step ignores the size of the gradient
# At t = 1: m = 0.1 g, v = 0.001 g^2, lr_t = lr sqrt(0.001) / 0.1, so the step is
# lr * g / (|g| + eps / sqrt(0.001)) = lr * sign(g) whenever |g| >> 3e-7. Every parameter moves
# by lr, whether its gradient was 1e-5 or 1e3. Gradient descent would move them by 1e-5 lr and
# 1e3 lr. In the same way, multiplying the loss by a constant leaves Adam's updates unchanged.

# %%
layer = Linear(100, 1, rng, dtype=np.float64)
adam = Adam(layer)
before = layer.params["W"].copy()
scales = np.logspace(-5, 3, 100)[:, None]                       # one gradient size per weight
layer.grads["W"][...] = scales * rng.choice([-1.0, 1.0], size=(100, 1))
adam.step()
moved = np.abs(layer.params["W"] - before)
print(f"gradients from {scales.min():.0e} to {scales.max():.0e}: first step sizes from "
      f"{moved.min():.2e} to {moved.max():.2e} (lr = 1e-3)")
assert np.allclose(moved, 1e-3, rtol=0.05), "every weight moves by about lr"

# %% [markdown]
# ## 3. A badly scaled problem
# Least squares with one linear unit: targets t = x w_true, features with scales from 0.1 to
# 10 (as different embedding dimensions can be). L = mean((y - t)^2), so dL/dy = 2 (y - t) / N,
# and the layer's backward does the rest. Plain gradient descent, p <- p - lr g, must use a
# learning rate small enough for the steepest direction (scale 10), and then crawls along the
# flat one (scale 0.1). Adam rescales each parameter by its own gradient size.

# %%
N, D = 256, 8
x = rng.standard_normal((N, D)) * np.logspace(-1, 1, D)
w_true = rng.standard_normal((D, 1))
target = x @ w_true


def train(step_rule, steps=400):
    layer = Linear(D, 1, np.random.default_rng(1), dtype=np.float64)
    step = step_rule(layer)
    losses = []
    for _ in range(steps):
        layer.zero_grad()
        y = layer(x)
        losses.append(float(np.mean((y - target) ** 2)))
        layer.backward(2 * (y - target) / N)
        step()
    return np.array(losses)


def gradient_descent(lr):
    def rule(layer):
        def step():
            for _, p, g in layer.parameters():
                p -= lr * g
        return step
    return rule


curvature = 2 * np.linalg.eigvalsh(x.T @ x / N).max()           # largest eigenvalue of the Hessian
curves = {
    "gradient descent, lr = 1.9 / curvature": train(gradient_descent(1.9 / curvature)),
    "Adam, lr = 1e-3": train(lambda layer: Adam(layer, lr=1e-3).step),
    "Adam, lr = 3e-2": train(lambda layer: Adam(layer, lr=3e-2).step),
}
for name, losses in curves.items():
    print(f"{name:40s} loss after 50 / 400 steps: {losses[49]:.2e} / {losses[-1]:.2e}")
final = {name: losses[-1] for name, losses in curves.items()}
descent, slow, fast = final.values()
assert fast < descent < slow, "Adam at 3e-2 beats descent, which beats Adam at the paper's 1e-3"
picture = plot.line_plot(curves, title="least squares, feature scales 0.1 to 10",
                         x_label="step", y_label="mean squared error", log_y=True)
print("  ->", plot.save(picture, out, "adam_vs_gradient_descent.png"))

# %% [markdown]
# Gradient descent cannot go faster: above lr = 2 / curvature it diverges along the steepest
# direction. Adam with the paper's lr = 1e-3 is slow here only because its steps are ~1e-3 per
# parameter and the weights must travel about 1; on the transformer, with many small weights,
# 1e-3 is the standard choice (Sec. 3.2.8).
#
# ## 4. State by name
# Adam keeps m and v per parameter, named by the parameter's full dotted path: the q, k, v and
# out maps of an attention block each have their own moments, and a checkpoint can restore
# them by name (`state_dict` / `load_state_dict`).

# %%
adam = Adam(MultiHeadAttention(8, 2, 4, rng=rng))
print(sorted(adam.state_dict())[:6], "...")

# %% [markdown]
# ## Exercises
# 1. In section 3, run Adam with beta1 = 0 (no momentum) and with lr = 0.3. Describe the two
#    curves; section 2 tells you how far each early step moves every weight.
# 2. Remove the bias correction in your head (lr_t = lr). How large is the first step for a
#    gradient g, and how many steps until lr_t / lr is within 1% of its final value?
