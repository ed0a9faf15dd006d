"""Options of the whole test suite.

--fuzz-cases N   cases per file kind of the fuzz suite (tests/fuzz/), N for every kind
                 [default: $AVT_NP_FUZZ_CASES, else 24, 8 for the kinds that train: a few
                 seconds per kind]; e.g. 1000 for a long run
--fuzz-seed S    seed of the first case (cases use S, S+1, ...) [default: 0]; with
                 --fuzz-cases 1 it replays the one case a failure names
"""

import os

DEFAULT_FUZZ_CASES = 24


def pytest_addoption(parser):
    group = parser.getgroup("fuzz", "the fuzz suite of damaged input (tests/fuzz/)")
    group.addoption("--fuzz-cases", type=int, default=None,
                    help="cases per file kind [default: $AVT_NP_FUZZ_CASES or "
                         f"{DEFAULT_FUZZ_CASES}]")
    group.addoption("--fuzz-seed", type=int, default=0,
                    help="seed of the first case; cases use SEED, SEED+1, ... [default: 0]")
