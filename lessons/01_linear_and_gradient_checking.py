# %% [markdown]
# # Lesson 1: a linear layer, its backward pass, and how we know it is right
#
# What you learn here:
# - the module protocol every avt_np layer follows: `forward` caches, `backward` adds parameter
#   gradients into `self.grads` and returns the gradient of the input;
# - the three gradients of y = x W + b, derived with shapes;
# - finite differences: why the checker uses centred differences, a step near 1e-5 and float64
#   (a picture of the error against the step size);
# - `avt_np.gradcheck.gradcheck`: what it checks, how to read its table, and that it FAILS on
#   broken layers.
#
# Run: python lessons/01_linear_and_gradient_checking.py
#      (< 1 s on 2 cores; see lessons/README.md)

# %%
import numpy as np

from avt_np import plot
from avt_np.gradcheck import gradcheck
from avt_np.nn import Linear

out = plot.lesson_output("01_linear_and_gradient_checking")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Forward
# The paper's model is a stack of affine maps (the "linear layers" of Sec. 3.2.6) with
# attention, ReLU and normalisation in between. `Linear(d_in, d_out)` holds W: (d_in, d_out)
# and b: (d_out,), initialised as TensorFlow does (Glorot uniform weights, zero bias).
# It acts on the last axis, so a batch of clips x frames x features goes in as it is:
#
#     x: (B, T, d_in)  ->  y = x W + b: (B, T, d_out)

# %%
B, T, d_in, d_out = 2, 5, 4, 3
layer = Linear(d_in, d_out, rng, dtype=np.float64)
x = rng.standard_normal((B, T, d_in))
y = layer(x)
print(f"x {x.shape} -> y {y.shape}; W {layer.params['W'].shape}, b {layer.params['b'].shape}")
print("parameters, by their full names:", [name for name, _, _ in layer.parameters()])

# %% [markdown]
# ## 2. Backward, derived
# Training needs dL/dW and dL/db for some scalar loss L. The layer does not know L; it gets
# dy = dL/dy, of the same shape as y, from whatever comes after it, and must return
# dx = dL/dx for whatever came before. Write M = B * T and flatten x to X (M, d_in) and dy to
# G (M, d_out). Element by element, y[m, o] = sum_i X[m, i] W[i, o] + b[o], so
#
# $$\begin{aligned}
# \frac{\partial L}{\partial W_{io}} &= \sum_m X_{mi} G_{mo} & \Rightarrow\ dW &= X^\top G
#   && (d_{in}, M)(M, d_{out}) \\
# \frac{\partial L}{\partial b_o} &= \sum_m G_{mo} & \Rightarrow\ db &= \textstyle\sum_m G_{m\cdot}
#   && (d_{out},) \\
# \frac{\partial L}{\partial X_{mi}} &= \sum_o G_{mo} W_{io} & \Rightarrow\ dX &= G W^\top
#   && (M, d_{out})(d_{out}, d_{in})
# \end{aligned}$$
#
# Every row m (every frame of every clip) shares W, so W's gradient SUMS over rows. A check on
# shapes catches most mistakes: dW must have W's shape, dx x's shape.
# Below, the package's backward against these three formulas written with einsum.

# %%
dy = rng.standard_normal(y.shape)
layer.zero_grad()
dx = layer.backward(dy)
by_hand = {
    "W": np.einsum("bti,bto->io", x, dy),
    "b": dy.sum(axis=(0, 1)),
    "x": np.einsum("bto,io->bti", dy, layer.params["W"]),
}
for name, package in (("W", layer.grads["W"]), ("b", layer.grads["b"]), ("x", dx)):
    print(f"d{name}: shape {package.shape}, max |package - formula| = "
          f"{np.abs(package - by_hand[name]).max():.1e}")
    assert np.abs(package - by_hand[name]).max() < 1e-12

# %% [markdown]
# Gradients are ADDED (`+=`) into `self.grads`: a layer used twice in one forward pass must
# receive both contributions. The price: call `zero_grad()` before each step. (The training
# step of `python -m avt_np.train` saves even that fill of zeros: it sets
# `Linear.overwrite_grads`, and a Linear layer's first backward of the step then writes its
# gradients instead of adding them; avt_np/training_step.py.)

# %%
layer.backward(dy)
print(f"after a second backward without zero_grad, dW doubled: "
      f"{np.allclose(layer.grads['W'], 2 * by_hand['W'])}")
assert np.allclose(layer.grads["W"], 2 * by_hand["W"])
layer.zero_grad()

# %% [markdown]
# ## 3. Finite differences, and why float64
# A hand-written backward can be wrong in ways no shape check sees (a sign, a missing term).
# The independent witness is the definition of the derivative. Reduce the output to one
# number, f = sum(R * sin(y)) for a fixed random R (sin makes f curved, as a real loss is), so
# dL/dy = R * cos(y). Then nudge one weight by +-h:
#
# $$\frac{f(w + h) - f(w - h)}{2h} = f'(w) + \frac{h^2}{6} f'''(w) + \frac{\text{rounding}}{h}$$
#
# The truncation error shrinks like h^2, the rounding error (about machine eps * |f| / h)
# grows as h shrinks. In float64 (eps 2.2e-16) the sweet spot is near h = 1e-5 with an error
# around 1e-10 or below; in float32 (eps 1.2e-7) the best is 1e-6 to 1e-5, near h = 1e-2, and
# at h = 1e-5 the difference is off by tenths of a percent: too coarse to tell a subtle bug from
# noise. That is why checks run in float64. (The float32 step also has to be representable:
# w + h rounds to a float32, which is why the code divides by the step actually taken.)

# %%
R = rng.standard_normal(y.shape)


def f_of(module, inputs):
    return float(np.sum(R * np.sin(module(inputs))))


def difference_errors(dtype, steps):
    module = Linear(d_in, d_out, np.random.default_rng(1), dtype=dtype)
    xs = x.astype(dtype)
    module.zero_grad()
    module.backward((R * np.cos(module(xs))).astype(dtype))
    exact = float(module.grads["W"][1, 2])                      # one entry's analytic gradient
    W = module.params["W"]
    w0 = W[1, 2].copy()
    errors = []
    for h in steps:
        W[1, 2] = w0 + h
        f_plus = f_of(module, xs)
        W[1, 2] = w0 - h
        f_minus = f_of(module, xs)
        W[1, 2] = w0
        numeric = (np.float64(f_plus) - np.float64(f_minus)) / (2 * (np.float64(w0 + h) - w0))
        errors.append(abs(numeric - exact) / abs(exact))
    return np.array(errors)


steps = np.logspace(-12, 0, 37)
errors = {"float64": difference_errors(np.float64, steps),
          "float32": difference_errors(np.float32, steps)}
for name, e in errors.items():
    k = int(np.argmin(e))
    at_1e5 = e[np.argmin(np.abs(np.log10(steps) + 5))]
    print(f"{name}: smallest relative error {e[k]:.1e} at step h = {steps[k]:.0e}; "
          f"at h = 1e-5: {at_1e5:.1e}")
    best_step, best = steps[k], e[k]
    if name == "float64":           # the prose above: a sweet spot near 1e-5, 1e-10 or below
        assert 1e-6 <= best_step <= 1e-4 and best < 1e-10 and at_1e5 < 1e-9
    else:                           # near 1e-2, 1e-6 to 1e-5 at best, tenths of a percent at 1e-5
        assert 1e-3 <= best_step <= 1e-1 and 1e-7 < best < 1e-5 and 1e-3 < at_1e5 < 1e-2
picture = plot.line_plot({name: (steps, e) for name, e in errors.items()},
                         title="centred difference vs backward, one entry of W",
                         x_label="step h", y_label="relative error", log_x=True, log_y=True)
print("  ->", plot.save(picture, out, "finite_difference_error.png"))

# %% [markdown]
# ## 4. The gradient checker
# `gradcheck(module, *inputs)` does all of this for every input and every parameter:
# - copies the module to float64 (yours is untouched);
# - uses f = sum(out * R) for a fixed random R (with R = 1 some gradients vanish exactly:
#   lesson 3 shows LayerNorm's);
# - checks every entry of small tensors and a few random dense directions of large ones;
# - reports per tensor the error max|a - n| / (max|a| + max|n|), tolerance 1e-6;
# - runs forward + backward twice from zeroed gradients and requires every parameter gradient
#   to double: a backward that assigns `self.grads` instead of adding fails as "ASSIGNS".
# Look at the "rel. error" column: 1e-10 or below is a correct backward (the cell checks it).

# %%
result = gradcheck(Linear(d_in, d_out, rng), x)
print(result)
assert result.ok and result.worst_error < 1e-9

# %% [markdown]
# ## 5. The checker must fail on broken layers
# A checker that never fails proves nothing. Two classic bugs, as subclasses that keep the
# real forward and damage the real backward: the input gradient with the wrong sign, and the
# bias gradient forgotten.

# %%
class WrongSign(Linear):
    def backward(self, dy, input_grad=True):
        return -super().backward(dy, input_grad)


class ForgotBias(Linear):
    def backward(self, dy, input_grad=True):
        db_before = self.grads["b"].copy()
        dx = super().backward(dy, input_grad)
        self.grads["b"][...] = db_before                      # as if `db` was never added
        return dx


for broken in (WrongSign(d_in, d_out, rng), ForgotBias(d_in, d_out, rng)):
    result = gradcheck(broken, x)
    print(f"{type(broken).__name__}: ok={result.ok}, failed tensors: {result.failed}")
    assert not result.ok

# %% [markdown]
# ## Exercises
# 1. Write a layer `Scale(Module)` in a file `my_layers.py`: one parameter w of shape (dim,),
#    initialised to ones (`self.add_param("w", np.ones(dim))`), forward $y = x \odot w$ over the
#    last axis (keep x), backward adding $dw = \sum_{\text{rows}} dy \odot x$ into
#    `self.grads["w"]` and returning $dx = dy \odot w$. Check it with
#    `python -m avt_np.gradcheck my_layers.py:Scale --init dim=16 --shape 4,10,16`,
#    then replace `+=` by `=` in its backward: the numbers are still right, yet the checker
#    reports "ASSIGNS". Why would training be wrong with `=` for a layer used twice in one
#    forward pass?
# 2. Call `gradcheck(layer, x, eps=1e-2)` and `eps=1e-11`. Using the picture, predict which one
#    fails for a curved function and why a linear layer passes with both.
# 3. Write Linear's backward yourself, without peeking at avt_np/nn/.
#    `lessons/exercises/01_linear.py` gives the forward; grade your backward with
#    `python -m avt_np.exercises check lessons/exercises/01_linear.py`
