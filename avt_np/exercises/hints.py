"""Telling the usual mistakes apart, from a learner's gradient `a` and the package's `r` for the
same forward pass and the same upstream gradient.

| mistake                                        | what the two gradients show                  |
| ---                                            | ---                                          |
| wrong sign                                     | a = -r                                       |
| a forgotten or extra scale (1/T, 1/sqrt(d_k), 1/(1-p), 1/N) | a = c r, c != 1                  |
| transposed (a square weight)                   | a = r^T                                      |
| a missing or extra term of the chain rule      | a large error, yet cosine(a, r) >= 0.5       |
| nothing added or returned                      | a = 0 where r != 0                           |
| NaN / inf                                      | a not finite                                 |

Assigning (`=` instead of `+=`) and shapes are told by the checker itself (grading.py).
"""

import numpy as np

SIGN_OR_FACTOR = 1e-9        # |cosine| within this of 1: a is an exact multiple of r (float64)
CORRELATED = 0.5             # cosine from which a is "roughly right": a term missing or extra


def relative_error(a, r):
    """max|a - r| / (max|a| + max|r|), 0 when both are exactly zero (the checker's metric)."""
    if not (np.isfinite(a).all() and np.isfinite(r).all()):
        return float("nan")
    scale = np.abs(a).max(initial=0.0) + np.abs(r).max(initial=0.0)
    return float(np.abs(a - r).max(initial=0.0) / scale) if scale > 0 else 0.0


def diagnose(name, a, r, is_parameter, tolerance):
    """(kind, one line) on what is wrong with gradient `a` of tensor `name`, against the right
    `r`; kind is a few words, for the one-line summary."""
    if not np.isfinite(a).all():
        return "NaN or inf", (f"NaN or inf in your gradient of {name}: a division by zero, or "
                              "log of 0?")
    norm_a, norm_r = float(np.linalg.norm(a)), float(np.linalg.norm(r))
    if norm_r == 0:
        return "not zero", f"the right gradient of {name} is exactly zero, yours is not"
    if norm_a == 0:
        if is_parameter:
            return "zero", (f"your gradient of {name} is zero everywhere: backward never adds into "
                    f"self.grads[{name.rpartition('.')[2]!r}]")
        return "zero", f"your gradient of {name} is zero everywhere"
    cosine = float(np.sum(a * r)) / (norm_a * norm_r)
    factor = float(np.sum(a * r)) / norm_r ** 2
    if cosine < -1 + SIGN_OR_FACTOR:
        if abs(factor + 1) < 1e-6:
            return "wrong sign", f"wrong sign: your gradient of {name} is minus the right one"
        return "wrong sign and factor", (f"wrong sign, and off by a factor: your gradient of "
                                         f"{name} is {factor:.3g} "
                "times the right one")
    if cosine > 1 - SIGN_OR_FACTOR:
        return "off by a constant factor", (f"off by a constant factor: your gradient of "
                                            f"{name} is {factor:.3g} times the "
                "right one (a forgotten or extra scale such as 1/T, 1/sqrt(d_k), 1/(1-p) or 1/N?)")
    if a.ndim >= 2 and a.shape[-1] == a.shape[-2] and \
            relative_error(a, r.swapaxes(-1, -2)) < tolerance:
        return "transposed", f"transposed: your gradient of {name} is the right one transposed"
    if cosine >= CORRELATED:
        return "a term missing or extra", (f"a term is missing (or extra): your gradient of "
                                           f"{name} points roughly the right "
                f"way (cosine {cosine:.2f} with the right one) but is not it: compare your chain "
                "rule with the lesson's, term by term")
    if cosine <= -CORRELATED:
        return "a sign inside a term", (f"your gradient of {name} points roughly the opposite "
                                        f"way (cosine {cosine:.2f}): "
                "a sign inside one of its terms?")
    return "wrong", (f"your gradient of {name} differs from the right one (cosine {cosine:.2f}): "
            "check its derivation in the lesson")


def shape_hint(name, got, expected, is_parameter):
    """One line on a gradient of the wrong shape."""
    text = f"your gradient of {name} has shape {tuple(got)}, expected {tuple(expected)}"
    got, expected = tuple(got), tuple(expected)
    if is_parameter and len(got) > len(expected) and got[len(got) - len(expected):] == expected:
        return (text + f": every row shares {name.rpartition('.')[2]}, so sum its gradient over "
                "every axis but the last")
    if int(np.prod(got)) == int(np.prod(expected)):
        return text + f": the same number of entries; reshape it to {name}'s shape?"
    return text
