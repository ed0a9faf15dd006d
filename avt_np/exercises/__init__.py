"""Exercises you can check: write a layer's backward pass yourself and grade it.

    python -m avt_np.exercises list
    python -m avt_np.exercises check lessons/exercises/03_layer_norm.py

Each file in lessons/exercises/ gives a layer's forward and leaves its backward as
`raise NotImplementedError`; `check` grades it with the gradient checker (float64) and against
the package's own layer on the same random inputs, tensor by tensor, with a hint for the usual
mistakes (docs/gradcheck.md, "Grading an exercise").

    catalogue.py     the exercises, the classes each file defines, the cases they are graded on
    learner_file.py  loading a learner's file, every breakage as one line
    grading.py       grading one class: the checker, the package's layer, what backward returned
    hints.py         telling the usual mistakes apart
    command.py       python -m avt_np.exercises
"""

from avt_np.exercises.catalogue import EXERCISES
from avt_np.exercises.command import check_file, main

__all__ = ["EXERCISES", "check_file", "main"]
