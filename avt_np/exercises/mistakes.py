"""The usual mistakes of each exercise, computed: for a package layer after its forward, what a
backward with that one mistake would return. A learner's failing gradient that equals one of
them (to the checker's tolerance) gets that mistake's own hint, where the shape of the error
alone (hints.py: a sign, a factor, a cosine) could not tell them apart: forgetting `* g` and
forgetting `* inv_std` both leave a gradient with cosine ~1 to the right one.

Each mistake is a function (layer, upstream) -> {tensor name: gradient}, run on a copy of the
package's layer (its children's backward may add into their own gradients); the names are
forward's input names and the parameters' dotted names.
"""

from dataclasses import dataclass

import numpy as np

from avt_np import nn


@dataclass(frozen=True)
class Known:
    kind: str                    # a few words, for the one-line summary
    hint: str                    # one line; {name} is the tensor's name
    wrong: object                # (layer, upstream) -> {tensor name: gradient}


def mean(x, axis=-1):
    return x.mean(axis, keepdims=True)


def layer_norm_dx(layer, dy, g=True, inv_std=True, axes=(-1, -1), signs=(1, -1, -1)):
    """LayerNorm's dx with one thing changed: without the factor g or inv_std, its two means
    over `axes`, or the signs of its three terms (direct, mean path, variance path)."""
    dx_hat = dy * layer.params["g"] if g else dy
    x_hat = layer.x_hat
    direct, through_mean, through_var = signs
    dx = (direct * dx_hat + through_mean * mean(dx_hat, axes[0])
          + through_var * x_hat * mean(dx_hat * x_hat, axes[1]))
    return {"x": dx * layer.inv_std if inv_std else dx}


LAYER_NORM_TERMS = ("dx_hat", "- mean(dx_hat)", "- x_hat * mean(dx_hat * x_hat)")
LAYER_NORM_DX = ("dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)), "
                 "with dx_hat = dy * g")


def layer_norm_mistakes(ndim):
    found = [
        Known("missing * g", "your gradient of {name} is the right one for g = 1: the upstream "
              "factor g is missing (y = g * x_hat + b, so dx_hat = dy * g, not dy)",
              lambda m, dy: layer_norm_dx(m, dy, g=False)),
        Known("missing * inv_std", "your gradient of {name} misses the factor inv_std = "
              "1/sqrt(var + eps) that multiplies all three terms (x_hat = (x - mean) * inv_std): "
              + LAYER_NORM_DX, lambda m, dy: layer_norm_dx(m, dy, inv_std=False)),
        Known("a term is missing: the mean path", "a term is missing: the path through the "
              "mean, - mean(dx_hat) (the mean of x moves with every x_j): " + LAYER_NORM_DX,
              lambda m, dy: layer_norm_dx(m, dy, signs=(1, 0, -1))),
        Known("a term is missing: the variance path", "a term is missing: the path through "
              "the variance, - x_hat * mean(dx_hat * x_hat): " + LAYER_NORM_DX,
              lambda m, dy: layer_norm_dx(m, dy, signs=(1, -1, 0))),
    ]
    for i, term in enumerate(LAYER_NORM_TERMS):
        signs = [1, -1, -1]
        signs[i] = -signs[i]
        found.append(Known("one term's sign flipped", f"one term has the wrong sign: your "
                           f"{term!r} term enters with the opposite sign; " + LAYER_NORM_DX,
                           lambda m, dy, s=tuple(signs): layer_norm_dx(m, dy, signs=s)))
    for axis in range(ndim - 1):
        for axes in ((axis, axis), (axis, -1), (-1, axis)):
            found.append(Known("a mean over the wrong axis", f"a mean over the wrong axis "
                               f"(axis {axis}): LayerNorm normalises each row over its last "
                               "axis, so both means in dx are over axis -1 (keepdims=True)",
                               lambda m, dy, a=axes: layer_norm_dx(m, dy, axes=a)))
    found.append(Known("dg without x_hat", "your gradient of {name} is sum(dy): y = g * x_hat "
                       "+ b, so dg = sum of dy * x_hat over every axis but the last",
                       lambda m, dy: {"g": dy.reshape(-1, dy.shape[-1]).sum(0)}))
    return found


def attention_grads(layer, dout, dropout_backward=True, weights="dropped"):
    """ScaledDotProductAttention's (dq, dk, dv) with the dropout's backward left out, or with
    the weights before dropout (`weights="weights"`) where the dropped ones belong."""
    used = getattr(layer, weights)
    dv = used.swapaxes(-1, -2) @ dout
    dweights = dout @ layer.v.swapaxes(-1, -2)
    if dropout_backward:
        dweights = layer.dropout.backward(dweights)
    dscores = layer.function.backward(dweights) * layer.scale
    return {"q": dscores @ layer.k, "k": dscores.swapaxes(-1, -2) @ layer.q, "v": dv}


ATTENTION_MISTAKES = [
    Known("missing dropout backward", "your gradient of {name} misses the dropout's backward: "
          "forward dropped the weights, so dweights = self.dropout.backward(dout @ v^T) comes "
          "before the attention function's backward",
          lambda m, dout: attention_grads(m, dout, dropout_backward=False)),
    Known("weights where the dropped weights belong", "your gradient of {name} uses "
          "self.weights; forward multiplied v by the dropped weights, so dv = "
          "self.dropped^T @ dout", lambda m, dout: attention_grads(m, dout, weights="weights")),
]


def softmax_dx(layer, dw, axis=-1, with_sum=True):
    w = layer.w
    return {"x": w * (dw - (dw * w).sum(axis, keepdims=True)) if with_sum else w * dw}


def softmax_mistakes(ndim):
    found = [Known("a term is missing: the normalisation", "a term is missing: softmax's "
                   "backward is w * (dw - sum(dw * w)) over the last axis; the sum term comes "
                   "from the shared denominator", lambda m, dw: softmax_dx(m, dw, with_sum=False))]
    for axis in range(ndim - 1):
        found.append(Known("a sum over the wrong axis", f"a sum over the wrong axis (axis "
                           f"{axis}): softmax normalises over the last axis, so sum(dw * w) is "
                           "over axis -1 (keepdims=True)",
                           lambda m, dw, a=axis: softmax_dx(m, dw, axis=a)))
    return found


def feed_forward_without(layer, dy, skipped):
    """FeedForward's dx with the dropout `skipped` ("hidden_dropout" or "out_dropout") left
    out of the backward."""
    def through(dropout, g):
        return g if dropout == skipped else getattr(layer, dropout).backward(g)
    dh = layer.out.backward(through("out_dropout", dy))
    return {"x": layer.hidden.backward(layer.relu.backward(through("hidden_dropout", dh)))}


FEED_FORWARD_MISTAKES = [
    Known(f"missing {name} backward", f"your gradient of {{name}} misses self.{name}.backward: "
          "each child of forward is undone, in reverse order, by its backward",
          lambda m, dy, n=name: feed_forward_without(m, dy, n))
    for name in ("hidden_dropout", "out_dropout")]


def known_mistakes(package_class, ndim):
    """The catalogued mistakes for a class graded against `package_class` on inputs of `ndim`
    axes (the wrong-axis mistakes depend on it)."""
    if package_class is nn.LayerNorm:
        return layer_norm_mistakes(ndim)
    if package_class is nn.ScaledDotProductAttention:
        return ATTENTION_MISTAKES
    if package_class is nn.Softmax:
        return softmax_mistakes(ndim)
    if package_class is nn.FeedForward:
        return FEED_FORWARD_MISTAKES
    return []


def wrong_gradients(package_class, layer, upstream, ndim, copy_layer):
    """[(Known, {tensor: gradient})] of each catalogued mistake, each computed on a fresh copy
    of the package `layer` (copy_layer(layer) -> a copy after forward)."""
    found = []
    for known in known_mistakes(package_class, ndim):
        with np.errstate(all="ignore"):
            grads = known.wrong(copy_layer(layer), upstream)
        found.append((known, {k: np.asarray(v, np.float64) for k, v in grads.items()}))
    return found
