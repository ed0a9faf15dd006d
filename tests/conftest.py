"""Options of the whole test suite.

--fuzz-cases N   cases per file kind of the fuzz suite (tests/fuzz/), N for every kind
                 [default: $AVT_NP_FUZZ_CASES, else 24, 8 for the kinds that train: a few
                 seconds per kind]; e.g. 1000 for a long run
--fuzz-seed S    seed of the first case (cases use S, S+1, ...) [default: 0]; with
                 --fuzz-cases 1 it replays the one case a failure names
"""

import os
import shutil
import tempfile

DEFAULT_FUZZ_CASES = 24


def pytest_addoption(parser):
    group = parser.getgroup("fuzz", "the fuzz suite of damaged input (tests/fuzz/)")
    group.addoption("--fuzz-cases", type=int, default=None,
                    help="cases per file kind [default: $AVT_NP_FUZZ_CASES or "
                         f"{DEFAULT_FUZZ_CASES}]")
    group.addoption("--fuzz-seed", type=int, default=0,
                    help="seed of the first case; cases use SEED, SEED+1, ... [default: 0]")


def pytest_configure(config):
    """The embedded default set's cache, for this test session alone: tests and the commands they
    start (lesson 12, the book's lessons) never read or build ~/.cache/avt_np, which trainings
    and book builds beside the suite share, so a set being built or damaged there by another job
    cannot decide a test. The default set is built once per session (~3 s idle)."""
    config.avt_np_cache = tempfile.mkdtemp(prefix="avt_np-test-cache-")
    config.avt_np_cache_before = os.environ.get("AVT_NP_CACHE")
    os.environ["AVT_NP_CACHE"] = config.avt_np_cache


def pytest_unconfigure(config):
    if getattr(config, "avt_np_cache", None):
        shutil.rmtree(config.avt_np_cache, ignore_errors=True)
        if config.avt_np_cache_before is None:
            os.environ.pop("AVT_NP_CACHE", None)
        else:
            os.environ["AVT_NP_CACHE"] = config.avt_np_cache_before
