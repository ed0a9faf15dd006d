"""Every shipped exercise (lessons/exercises/) through `python -m avt_np.exercises check`: it
fails as shipped (not implemented), passes with the package's own backward pasted in (so the
given forward cannot drift from the package's), and fails with a planted mistake whose hint
names it. Run in-process through main() (a subprocess per case would cost a second each)."""

import numpy as np
import pytest

from avt_np import nn
from avt_np.exercises import EXERCISES, main
from tests.exercises.pasting import (EXERCISE_FOLDER, backward_source, planted,
                                     write_exercise)

SHIPPED = sorted(EXERCISE_FOLDER.glob("[0-9][0-9]_*.py"))


def check(path, capsys):
    code = main(["check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_catalogued_exercise_is_shipped_and_every_shipped_file_catalogued():
    assert sorted(e.file for e in EXERCISES.values()) == [p.name for p in SHIPPED]
    for e in EXERCISES.values():                     # the book links lesson NN by the prefix
        assert e.file.startswith(f"{e.lesson:02d}_"), e.file


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=list(EXERCISES))
def test_exercise_fails_as_shipped_saying_not_implemented(exercise, capsys):
    code, out, err = check(EXERCISE_FOLDER / exercise.file, capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for graded in exercise.classes:
        assert f"{graded.name}: not implemented yet: write backward (line" in err, err
    assert out.count(f"not implemented yet: write backward in {EXERCISE_FOLDER / exercise.file}"
                     ) == sum(len(g.cases) for g in exercise.classes)


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=list(EXERCISES))
def test_exercise_passes_with_the_package_backward_pasted_in(exercise, tmp_path, capsys):
    path = write_exercise(tmp_path, exercise.file,
                          {g.name: backward_source(g.package) for g in exercise.classes})
    code, out, err = check(path, capsys)
    assert code == 0, out + err
    assert err == ""
    assert out.count("\nPASS\n") == sum(len(g.cases) for g in exercise.classes)
    assert f"{path}: PASS" in out


def solved(exercise_key, **overrides):
    """Every class of the exercise with the package's backward, except `overrides`."""
    exercise = EXERCISES[exercise_key]
    return exercise.file, {g.name: overrides.get(g.name, backward_source(g.package))
                           for g in exercise.classes}


# (id, exercise, class, the planted backward, what the report must say)
PLANTED = [
    ("linear assigns its gradients", "linear", "Linear",
     planted(nn.Linear, "self.add_grads(x2.T @ dy2, column_sum(dy2))",
             'self.grads["W"] = x2.T @ dy2\n    self.grads["b"] = column_sum(dy2)'),
     ["ASSIGNS", "`=` instead of `+=`"]),
    ("linear dx not reshaped", "linear", "Linear",
     planted(nn.Linear, "return (dy2 @ W.T).reshape(self.x.shape)", "return dy2 @ W.T"),
     ["your gradient of x has shape (6, 6), expected (2, 3, 6)"]),
    ("linear dW with the wrong sign", "linear", "Linear",
     planted(nn.Linear, "self.add_grads(x2.T @ dy2,", "self.add_grads(-(x2.T @ dy2),"),
     ["FAIL (W)", "wrong sign: your gradient of W is minus the right one"]),
    ("linear returns nothing", "linear", "Linear",
     planted(nn.Linear, "return (dy2 @ W.T).reshape(self.x.shape)", "pass"),
     ["backward returned None: it must return dx"]),
    ("relu with the wrong sign", "relu_feedforward", "ReLU",
     planted(nn.ReLU, "return dy * self.positive", "return -dy * self.positive"),
     ["wrong sign: your gradient of x is minus the right one"]),
    ("feed-forward skips a dropout backward", "relu_feedforward", "FeedForward",
     planted(nn.FeedForward, "self.relu.backward(self.hidden_dropout.backward(dh))",
             "self.relu.backward(dh)"),
     ["FeedForward", "misses self.hidden_dropout.backward"]),
    ("layer norm without the variance term", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, "dx -= self.x_hat * row_mean(dx_hat * self.x_hat)", "pass"),
     ["FAIL (x)", "a term is missing: the path through the variance"]),
    ("layer norm without the mean term", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, "dx = dx_hat - row_mean(dx_hat)", "dx = dx_hat.copy()"),
     ["FAIL (x)", "a term is missing: the path through the mean"]),
    ("layer norm forgets * g", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, 'dx_hat = dy * self.params["g"]', "dx_hat = dy"),
     ["FAIL (x)", "the upstream factor g is missing"]),
    ("layer norm forgets * inv_std", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, "dx *= self.inv_std", "dx = dx"),
     ["FAIL (x)", "misses the factor inv_std"]),
    ("layer norm means over the wrong axis", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, "dx = dx_hat - row_mean(dx_hat)",
             "dx = dx_hat - dx_hat.mean(0, keepdims=True)"),
     ["FAIL (x)", "a mean over the wrong axis (axis 0)"]),
    ("layer norm with one term's sign flipped", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, "dx = dx_hat - row_mean(dx_hat)", "dx = dx_hat + row_mean(dx_hat)"),
     ["FAIL (x)", "one term has the wrong sign: your '- mean(dx_hat)' term"]),
    ("layer norm mean without keepdims", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, "dx = dx_hat - row_mean(dx_hat)", "dx = dx_hat - dx_hat.mean(-1)"),
     ["a shape error (line", "`dx_hat` (2, 3, 6) - `dx_hat.mean(-1)` (2, 3)",
      "`dx_hat.mean(-1)` lost axis -1 in a reduction (a sum or mean without keepdims=True?)"]),
    ("layer norm dg without x_hat", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, "column_sum(dy * self.x_hat)", "column_sum(dy)"),
     ["FAIL (g)", "your gradient of g is sum(dy)"]),
    ("layer norm assigns dg", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, 'self.grads["g"] +=', 'self.grads["g"] ='),
     ["ASSIGNS", "`=` instead of `+=`", "self.grads['g']"]),
    ("layer norm adds dg without summing the rows", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, "column_sum(dy * self.x_hat)", "dy * self.x_hat"),
     ["backward raised ValueError (line", "shape (2,3,6) into a gradient of shape (6,)",
      "sum over every axis but the last"]),
    ("layer norm assigns dg unsummed", "layer_norm", "LayerNorm",
     planted(nn.LayerNorm, 'self.grads["g"] += column_sum(dy * self.x_hat)',
             'self.grads["g"] = dy * self.x_hat'),
     ["your gradient of g has shape (2, 3, 6), expected (6,): every row shares g"]),
    ("dropout forgets the 1/(1-p) scale", "dropout", "Dropout",
     planted(nn.Dropout, "dy * self.mask", "dy * (self.mask > 0)"),
     ["off by a constant factor: your gradient of x is 0.7 times the right one"]),
    ("softmax without its normalisation term", "attention_functions", "Softmax",
     planted(nn.Softmax, "self.w * (dw - row_sum(dw * self.w))", "self.w * dw"),
     ["== Softmax", "a term is missing: softmax's backward is w * (dw - sum(dw * w))"]),
    ("softmax sum without keepdims", "attention_functions", "Softmax",
     planted(nn.Softmax, "row_sum(dw * self.w)", "(dw * self.w).sum(-1)"),
     ["a shape error (line", "`(dw * self.w).sum(-1)` lost axis -1"]),
    ("softmax sum over the wrong axis", "attention_functions", "Softmax",
     planted(nn.Softmax, "row_sum(dw * self.w)", "(dw * self.w).sum(1, keepdims=True)"),
     ["FAIL (x)", "a sum over the wrong axis (axis 1)"]),
    ("sigmoid with the wrong sign", "attention_functions", "Sigmoid",
     planted(nn.Sigmoid, "(1 - self.w)", "(self.w - 1)"),
     ["wrong sign: your gradient of x is minus the right one"]),
    ("normalized sigmoid without the sigmoid's derivative", "attention_functions",
     "NormalizedSigmoid",
     planted(nn.NormalizedSigmoid, "return ds * self.s * (1 - self.s)", "return ds"),
     ["NormalizedSigmoid", "a term is missing"]),
    ("attention without the 1/sqrt(d_k) in backward", "scaled_dot_product_attention",
     "ScaledDotProductAttention",
     planted(nn.ScaledDotProductAttention, "self.function.backward(dweights) * self.scale",
             "self.function.backward(dweights)"),
     ["FAIL (q, k)", "off by a constant factor: your gradient of q is 2.24 times"]),
    ("attention returns two gradients", "scaled_dot_product_attention",
     "ScaledDotProductAttention",
     planted(nn.ScaledDotProductAttention, "return dq, dk, dv", "return dq, dk"),
     ["backward returned 2 gradients; forward takes 3 inputs (q, k, v): "
      "return the tuple (dq, dk, dv)"]),
    ("attention without the dropout's backward", "scaled_dot_product_attention",
     "ScaledDotProductAttention",
     planted(nn.ScaledDotProductAttention, "self.dropout.backward(dout @ self.v.swapaxes(-1, -2))",
             "(dout @ self.v.swapaxes(-1, -2))"),
     ["FAIL (q, k)", "your gradient of q misses the dropout's backward"]),
    ("attention dv from the undropped weights", "scaled_dot_product_attention",
     "ScaledDotProductAttention",
     planted(nn.ScaledDotProductAttention, "self.dropped.swapaxes(-1, -2), dout",
             "self.weights.swapaxes(-1, -2), dout"),
     ["FAIL (v)", "your gradient of v uses self.weights", "dv = self.dropped^T @ dout"]),
    ("attention forgets a transpose", "scaled_dot_product_attention",
     "ScaledDotProductAttention",
     planted(nn.ScaledDotProductAttention, "dout @ self.v.swapaxes(-1, -2)", "dout @ self.v"),
     ["a shape error (line", "`dout` (2, 3, 4, 7) @ `self.v` (2, 3, 6, 7)",
      "a missing transpose, `self.v.swapaxes(-1, -2)`?"]),
    ("attention returns its gradients in the wrong order", "scaled_dot_product_attention",
     "ScaledDotProductAttention",
     planted(nn.ScaledDotProductAttention, "return dq, dk, dv", "return dq, dv, dk"),
     ["backward returned the gradients of (q, v, k), by their shapes: return (dq, dk, dv)"]),
    ("mean pooling forgets the time axis", "pooling_and_bce", "MeanPool",
     planted(nn.MeanPool, "return np.repeat(dy[:, None, :] / self.T, self.T, axis=1)",
             "return dy / self.T"),
     ["your gradient of x has shape (2, 3), expected (2, 5, 3)"]),
    ("max pooling with the wrong sign", "pooling_and_bce", "MaxPool",
     planted(nn.MaxPool, "dy[:, None, :], 1)", "-dy[:, None, :], 1)"),
     ["wrong sign: your gradient of x is minus the right one"]),
    ("cross-entropy forgets the mean", "pooling_and_bce", "BinaryCrossEntropy",
     planted(nn.BinaryCrossEntropy, "/ (self.p * (1 - self.p)) / n", "/ (self.p * (1 - self.p))"),
     ["FAIL (p)", "off by a constant factor: your gradient of p is 12 times"]),
    ("linear softmax with the wrong sign", "linear_softmax_pooling", "LinearSoftmaxPool",
     planted(nn.LinearSoftmaxPool, "dx = (2 * self.x - self.y[:, None, :])",
             "dx = (self.y[:, None, :] - 2 * self.x)"),
     ["wrong sign: your gradient of x is minus the right one"]),
    ("linear softmax lets padded frames learn", "linear_softmax_pooling", "LinearSoftmaxPool",
     planted(nn.LinearSoftmaxPool, "return dx if self.keep is None else dx * self.keep",
             "return dx"),
     ["FAIL (x)", "padded clips of 5 and 2 frames"]),
]


@pytest.mark.parametrize("key, class_name, backward, expected", [p[1:] for p in PLANTED],
                         ids=[p[0] for p in PLANTED])
def test_planted_mistake_fails_and_its_hint_names_it(key, class_name, backward, expected,
                                                     tmp_path, capsys):
    file, replacements = solved(key, **{class_name: backward})
    code, out, err = check(write_exercise(tmp_path, file, replacements), capsys)
    assert code == 1, out + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err
    assert err.startswith("FAIL: ") and class_name in err
    for text in expected:
        assert text in out + err, f"{text!r} not in:\n{out}{err}"


def test_every_exercise_has_a_planted_mistake():
    assert {p[1] for p in PLANTED} == set(EXERCISES)


def test_the_four_usual_mistakes_are_planted():
    hints = " ".join(" ".join(p[4]) for p in PLANTED)
    for mistake in ("`=` instead of `+=`", "a term is missing", "wrong sign", "has shape"):
        assert mistake in hints


def test_feed_forward_names_the_unwritten_relu_it_calls(tmp_path, capsys):
    """FeedForward written, ReLU not: FeedForward's failure points at the ReLU's line."""
    file, replacements = solved("relu_feedforward")
    del replacements["ReLU"]
    path = write_exercise(tmp_path, file, replacements)
    relu_line = next(i for i, line in enumerate(path.read_text().splitlines(), 1)
                     if 'NotImplementedError("write ReLU.backward")' in line)
    code, out, err = check(path, capsys)
    assert code == 1
    assert f"FeedForward: not implemented yet: write backward (line {relu_line})" in err, err
    assert f"not implemented yet: write backward in {path} (line {relu_line})" in out


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=list(EXERCISES))
def test_its_lesson_ends_by_naming_the_exercise_and_the_check_command(exercise):
    lessons = sorted(EXERCISE_FOLDER.parent.glob(f"{exercise.lesson:02d}_*.py"))
    assert len(lessons) == 1, lessons
    tail = lessons[0].read_text().rstrip().rsplit("# %%", 1)[-1]          # the last cell
    assert f"python -m avt_np.exercises check lessons/exercises/{exercise.file}" in tail


def test_exercise_files_are_not_run_as_lessons():
    from tests.test_lessons import LESSONS          # imported here: the lessons test's own list
    assert LESSONS and not [p for p in LESSONS if EXERCISE_FOLDER in p.parents]


def test_a_gradient_equal_to_another_inputs_names_the_order():
    """Same-shaped inputs returned swapped: told by the values (their shapes cannot tell)."""
    from avt_np.exercises.grading import swapped
    rng = np.random.default_rng(0)
    right = (rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    kind, hint = swapped("a", right[1].copy(), ["a", "b"], right)
    assert kind == "outputs in the wrong order"
    assert hint == ("your gradient of a is the right gradient of b: return (da, db), in the "
                    "order forward takes its inputs")
    assert swapped("a", right[0] + 1.0, ["a", "b"], right) is None


def test_a_shape_error_in_the_learners_backward_is_one_line_without_numpys_message(tmp_path,
                                                                                    capsys):
    file, replacements = solved("linear", Linear=planted(
        nn.Linear, "return (dy2 @ W.T).reshape(self.x.shape)",
        "return (dy2 @ W).reshape(self.x.shape)"))
    code, out, err = check(write_exercise(tmp_path, file, replacements), capsys)
    assert code == 1
    assert "`dy2` (6, 5) @ `W` (6, 5): a matrix product needs the last axis of the left (5) " \
           "to equal the second-to-last of the right (6): a missing transpose, " \
           "`W.swapaxes(-1, -2)`?" in out
    assert "gufunc" not in out + err and "Traceback" not in out + err
