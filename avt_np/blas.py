"""NumPy's BLAS as this process loaded it: its name, kernel and threads, and setting its threads.

NumPy's wheels bundle OpenBLAS with its symbols prefixed `scipy_` and suffixed `64_`; other
builds use the plain names. The library is found among the files mapped into this process
(/proc/self/maps, Linux). threadpoolctl does the same and more, but is not a dependency; where
no OpenBLAS is found (MKL, Apple Accelerate, no /proc), the kernel and threads are "unknown"
and `set_threads` does nothing: set OMP_NUM_THREADS / MKL_NUM_THREADS before starting Python.
"""

import ctypes
import functools
from contextlib import contextmanager
from pathlib import Path

import numpy as np

NAMINGS = (("scipy_", "64_"), ("", "64_"), ("scipy_", ""), ("", ""))


@functools.cache
def openblas():
    """{"corename", "get_num_threads", "set_num_threads"} of the loaded OpenBLAS, or None."""
    maps = Path("/proc/self/maps")
    if not maps.is_file():
        return None
    paths = sorted({line.split()[-1] for line in maps.read_text().splitlines()
                    if "openblas" in line.lower() and line.split()[-1].startswith("/")})
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix, suffix in NAMINGS:
            found = {name: getattr(lib, f"{prefix}openblas_{name}{suffix}", None)
                     for name in ("get_corename", "get_num_threads", "set_num_threads")}
            if all(f is not None for f in found.values()):
                found["get_corename"].restype = ctypes.c_char_p
                found["get_num_threads"].restype = ctypes.c_int
                found["set_num_threads"].argtypes = [ctypes.c_int]
                return found
    return None


def info():
    """(library and version, kernel, threads) of NumPy's BLAS, e.g. ("scipy-openblas 0.3.31",
    "SkylakeX", 2); kernel and threads "unknown" where no OpenBLAS is found."""
    blas = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    name = f"{blas.get('name', 'unknown BLAS')} {blas.get('version', '')}".strip()
    lib = openblas()
    if lib is None:
        return name, "unknown", "unknown"
    return name, lib["get_corename"]().decode(), lib["get_num_threads"]()


def line():
    name, kernel, threads = info()
    return f"{name}, kernel {kernel}, {threads} threads"


@contextmanager
def threads(n):
    """Run the body with OpenBLAS on n threads, then restore the previous count. Yields True
    when the count could be set, False where no OpenBLAS was found (nothing changes)."""
    lib = openblas()
    if lib is None:
        yield False
        return
    before = lib["get_num_threads"]()
    lib["set_num_threads"](n)
    try:
        yield True
    finally:
        lib["set_num_threads"](before)
