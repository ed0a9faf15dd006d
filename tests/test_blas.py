"""avt_np.blas: NumPy's BLAS as loaded, and setting its threads for a block of code."""

import numpy as np
import pytest

from avt_np import blas


def test_the_line_names_the_library_kernel_and_threads():
    name, kernel, threads = blas.info()
    assert name and kernel                  # "unknown" where the library does not say
    assert threads == "unknown" or threads >= 1
    assert blas.line() == f"{name}, kernel {kernel}, {threads} threads"


def test_threads_sets_the_count_for_the_block_and_restores_it():
    if blas.openblas() is None:
        pytest.skip("NumPy's BLAS here is not an OpenBLAS found in /proc/self/maps")
    before = blas.info()[2]
    with blas.threads(1) as done:
        assert done and blas.info()[2] == 1
        a = np.ones((64, 64), np.float32)
        assert (a @ a)[0, 0] == 64                     # BLAS still works on one thread
    assert blas.info()[2] == before
    with pytest.raises(RuntimeError):
        with blas.threads(1):
            raise RuntimeError("the count is restored on errors too")
    assert blas.info()[2] == before
