"""Shared fixtures: a small embedded data set, and the full-size default one built once."""

import numpy as np
import pytest

from avt_np.data import synthetic

SMALL = {"train": 300, "validation": 40, "test": 60}


@pytest.fixture(scope="session")
def small_embedded(tmp_path_factory):
    """A 300/40/60-clip embedded set (same recipe otherwise), opened."""
    path = tmp_path_factory.mktemp("small") / "embedded"
    synthetic.generate(path, seed=3, recipe=synthetic.Recipe(sizes=dict(SMALL)), progress=False)
    return synthetic.open_embedded(path)


@pytest.fixture(scope="session")
def default_cache(tmp_path_factory):
    """A cache directory holding the full-size default set, built as a fresh machine does."""
    cache = tmp_path_factory.mktemp("cache")
    synthetic.default_dataset(cache=cache)
    return cache


def batch_equal(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a)
