"""python -m avt_np.tag: a trained model on new clips or on a split of a data set (tags,
events, pictures; docs/detection.md).

    trained.py      the run's epoch ensemble, threshold and event post-processing (run_model)
    inputs.py       the features of the files it is given, kept in a work directory
    __main__.py     the command: inputs -> predictions -> tags.tsv, events.tsv, pictures

Its imports inside the package (tests/test_imports.py checks this drawing, and that the
package, in the top layer of avt_np's map, imports no module above it and no circle):

    __main__ -> trained, inputs
    trained  -> (nothing of avt_np.tag)
    inputs   -> (nothing of avt_np.tag)
"""

from avt_np.tag.trained import TrainedRun, run_model

__all__ = ["TrainedRun", "run_model"]
