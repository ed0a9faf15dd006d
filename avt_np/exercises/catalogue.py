"""The exercises: which lesson each belongs to, which classes its file must define, the
package layer each class is graded against, and the small random cases it is graded on.

A file names its exercise in one line, `EXERCISE = "layer_norm"`; each class it must define
has the name of the package class it rewrites (`class LayerNorm(Module)` is graded against
avt_np.nn.LayerNorm), and the same constructor arguments.
"""

from dataclasses import dataclass, field

import numpy as np

from avt_np import nn


@dataclass(frozen=True)
class Case:
    """One set of random inputs a class is graded on.

    kwargs: constructor arguments (package and learner alike; a generator `rng` is added for
    classes that take one); inputs(rng) -> the float64 arrays passed to forward; keywords(rng)
    -> fixed keyword arguments of forward, not differentiated (e.g. a mask)."""
    kwargs: dict
    inputs: object
    keywords: object = None
    label: str = ""


@dataclass(frozen=True)
class Graded:
    """A class of an exercise file and the package class it is graded against."""
    name: str
    package: type
    cases: tuple


@dataclass(frozen=True)
class Exercise:
    key: str
    lesson: int
    file: str                   # its name in lessons/exercises/
    classes: tuple = field(default_factory=tuple)


def normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def probabilities_and_targets(rng):
    return [rng.uniform(0.02, 0.98, (3, 4)), (rng.random((3, 4)) < 0.4).astype(np.float64)]


def clip_lengths(rng):
    """A mask (B=2, T=5) of real frames: clips of 5 and 2 frames."""
    return {"mask": np.arange(5)[None, :] < np.array([[5], [2]])}


def probabilities(*shapes):
    """Frame probabilities in (0.05, 0.95): linear-softmax pooling divides by their sum."""
    return lambda rng: [rng.uniform(0.05, 0.95, s) for s in shapes]


def pooling_cases():
    return (Case({}, normal((2, 5, 3))),
            Case({}, normal((2, 5, 3)), clip_lengths, "padded clips of 5 and 2 frames"))


EXERCISES = {e.key: e for e in [
    Exercise("linear", 1, "01_linear.py", (
        Graded("Linear", nn.Linear, (Case({"d_in": 6, "d_out": 5}, normal((2, 3, 6))),)),)),
    Exercise("relu_feedforward", 2, "02_relu_and_feedforward.py", (
        Graded("ReLU", nn.ReLU, (Case({}, normal((2, 3, 6))),)),
        Graded("FeedForward", nn.FeedForward,
               (Case({"dim": 6, "d_hidden": 7, "dropout": 0.2}, normal((2, 3, 6))),)))),
    Exercise("layer_norm", 3, "03_layer_norm.py", (
        Graded("LayerNorm", nn.LayerNorm, (Case({"dim": 6}, normal((2, 3, 6))),)),)),
    Exercise("dropout", 4, "04_dropout.py", (
        Graded("Dropout", nn.Dropout, (Case({"p": 0.3}, normal((2, 3, 6))),
                                       Case({"p": 0.0}, normal((2, 3, 6)),
                                            label="p = 0: no mask"))),)),
    Exercise("attention_functions", 5, "05_attention_functions.py", tuple(
        Graded(name, package, (Case({}, normal((2, 3, 4, 5))),))
        for name, package in (("Softmax", nn.Softmax), ("Sigmoid", nn.Sigmoid),
                              ("NormalizedSigmoid", nn.NormalizedSigmoid)))),
    Exercise("scaled_dot_product_attention", 6, "06_scaled_dot_product_attention.py", (
        Graded("ScaledDotProductAttention", nn.ScaledDotProductAttention,
               (Case({"function": "softmax", "dropout": 0.2},
                     normal((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7))),)),)),
    Exercise("pooling_and_bce", 9, "09_pooling_and_bce.py", (
        Graded("MeanPool", nn.MeanPool, pooling_cases()),
        Graded("MaxPool", nn.MaxPool, pooling_cases()),     # random inputs: no ties
        Graded("BinaryCrossEntropy", nn.BinaryCrossEntropy,
               (Case({}, probabilities_and_targets),)))),
    Exercise("linear_softmax_pooling", 15, "15_linear_softmax_pooling.py", (
        Graded("LinearSoftmaxPool", nn.LinearSoftmaxPool,
               (Case({}, probabilities((2, 5, 3))),
                Case({}, probabilities((2, 5, 3)), clip_lengths,
                     "padded clips of 5 and 2 frames"))),)),
]}
