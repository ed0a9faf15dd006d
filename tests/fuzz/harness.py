"""The fuzz loop: copy a good fixture, damage one file, run the command, check the rule.

The rule, for every case:

    - the command exits 0, or 1 / 2 with a short error: its last line on stderr starts with
      "error: " (or "FAIL: " for exit 1), is one line of at most MAX_ERROR characters, and is
      the only line starting with "error: ";
    - no traceback (an exception escaping `main`, or "Traceback" printed), no Python warning;
    - no hang: the case is stopped after `timeout` seconds, and counts as a hang even when the
      code under test caught the `Hang` raised to stop it (an `except BaseException`);
    - nothing good lost: every file of the fixture other than the damaged one is still there,
      with the same content, unless the command is allowed to write it (`may_write`).

Commands run in this process through their `main(argv)` (each tool's `cli.main`), with stdout
and stderr captured: a case costs the command's own time, not a Python start-up. A case is
seeded by one integer; a failure prints it with the command that replays it alone.

Beyond the rule, a kind may check the answer itself (`extra_check`): a damaged weight file
must make `weights verify` exit 1, a damaged event file must not score as perfect. The tests of
tests/fuzz/test_harness.py plant fakes that break each part of the rule and check it fails.
"""

import fnmatch
import io
import os
import re
import shutil
import signal
import time
import traceback
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tests.fuzz import damage

MAX_ERROR = 300                  # characters of the one error line, the case directory
                                 # counted as CASE and a SHA-256 as 7
LINK_ABOVE = 1 << 20             # files larger than this are hard-linked into a case, not copied


class Hang(BaseException):
    """Raised by the alarm in a case that ran longer than its timeout (a BaseException, so
    that no `except Exception` in the code under test swallows it)."""


@dataclass
class Kind:
    """One file kind and the command that reads it.

    fixture: a good directory made by the real code; targets: files in it (relative paths) to
    damage; command(case_dir) -> (main, argv); may_write: globs (relative to the case
    directory) of files the command writes itself.
    """
    name: str
    fixture: Path
    targets: list
    command: Callable
    may_write: tuple = ()                  # or a function of the damaged file's path
    timeout: float = 120.0
    extra_check: Callable = None   # (case_dir, damaged, code, stdout, stderr) -> problem or None
    allow_warnings: tuple = field(default_factory=tuple)
    test: str = ""                         # the test's node id, for the replay line


def copy_tree(src, dst):
    """A copy of `src` at `dst`: small files copied, large ones hard-linked (the damage and
    every writer of avt_np replace files rather than write into them)."""
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            source = Path(root) / name
            if source.stat().st_size > LINK_ABOVE:
                os.link(source, dst / rel / name)
            else:
                shutil.copy2(source, dst / rel / name)


def files_of(root):
    return {str(p.relative_to(root)): p for p in Path(root).rglob("*") if p.is_file()}


def run_in_process(main, argv, timeout):
    """(exit code or "hang", stdout, stderr, escaped traceback or None, warnings)."""
    out, err = io.StringIO(), io.StringIO()
    escaped, code, alarm = None, None, []

    def on_alarm(signum, frame):
        alarm.append(True)                 # a hang, even if the code under test catches Hang
        raise Hang()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with redirect_stdout(out), redirect_stderr(err), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                code = main(argv)
            except Hang:
                code = "hang"
            except SystemExit as e:
                code = e.code
            except BaseException:                       # noqa: B902 -- exactly what we look for
                escaped = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if alarm:
        code = "hang"
    return code, out.getvalue(), err.getvalue(), escaped, [str(w.message) for w in caught]


def problems_of(kind, case_dir, damaged, before, result):
    code, stdout, stderr, escaped, caught = result
    problems = []
    if escaped:
        problems.append("traceback: " + escaped.strip().splitlines()[-1][:300])
    elif code == "hang":
        problems.append(f"hang: still running after {kind.timeout:.0f} s")
    elif code not in (0, 1, 2):
        problems.append(f"exit code {code}")
    if "Traceback" in stderr or "Traceback" in stdout:
        problems.append("a traceback printed")
    if code in (1, 2):
        lines = [line for line in stderr.splitlines() if line.strip()]
        last = (lines[-1] if lines else "").replace(str(case_dir), "CASE")   # paths and
        last = re.sub(r"[0-9a-f]{64}", "SHA-256", last)                      # digests: short
        start = "error: " if code == 2 else ("error: ", "FAIL: ")
        errors = sum(line.startswith("error: ") for line in lines)
        if not last.startswith(start):
            problems.append(f"exit {code} without an error line (last line: {last[:200]!r})")
        elif len(last) > MAX_ERROR:
            problems.append(f"error line of {len(last)} characters: {last[:200]}...")
        elif errors > 1:
            problems.append(f"{errors} error lines, expected one")
    noisy = [w for w in caught if not any(a in w for a in kind.allow_warnings)]
    if noisy:
        problems.append(f"warning: {noisy[0][:200]}")
    after = files_of(case_dir)
    may_write = kind.may_write(damaged) if callable(kind.may_write) else kind.may_write
    for rel, original in before.items():
        if rel == damaged or any(fnmatch.fnmatch(rel, g) for g in may_write):
            continue
        if rel not in after:
            problems.append(f"{rel} deleted")
        elif after[rel].read_bytes() != original.read_bytes():
            problems.append(f"{rel} changed")
    if kind.extra_check is not None and not problems:
        problem = kind.extra_check(case_dir, damaged, code, stdout, stderr)
        if problem:
            problems.append(problem)
    return problems


def run_case(kind, seed, work):
    """One case: (damaged file, damage, problems, exit code, last stderr line)."""
    case_dir = Path(work) / f"{kind.name}-{seed}"
    shutil.rmtree(case_dir, ignore_errors=True)
    copy_tree(kind.fixture, case_dir)
    rng = np.random.default_rng(seed)
    damaged, what = damage.damage(rng, case_dir, kind.targets)
    before = {rel: kind.fixture / rel for rel in files_of(kind.fixture) if rel != damaged}
    main, argv = kind.command(case_dir)
    result = run_in_process(main, argv, kind.timeout)
    problems = problems_of(kind, case_dir, damaged, before, result)
    lines = [line for line in result[2].splitlines() if line.strip()]
    if not problems:
        shutil.rmtree(case_dir, ignore_errors=True)
    return damaged, what, problems, result[0], lines[-1] if lines else ""


def fuzz(kind, cases, first_seed, work, report=None):
    """Run `cases` cases with seeds first_seed, first_seed + 1, ...; returns the failures as
    text lines (each with its replay command) and a tally {exit code: count}."""
    failures, tally = [], {}
    start = time.perf_counter()
    for seed in range(first_seed, first_seed + cases):
        damaged, what, problems, code, last = run_case(kind, seed, work)
        tally[code] = tally.get(code, 0) + 1
        if problems:
            failures.append(
                f"{kind.name} seed {seed}: {damaged}: {what} -> {'; '.join(problems)} "
                f"[exit {code}; last stderr line: {last[:160]!r}]\n    replay: python -m pytest "
                f"'{kind.test}' --fuzz-seed {seed} --fuzz-cases 1")
        if report is not None:
            report(f"{kind.name} seed {seed}: {damaged}: {what} -> exit {code}: {last[:120]}")
    seconds = time.perf_counter() - start
    return failures, tally, seconds


def check(kind, settings, work, request, cost=1):
    """fuzz() as a test: every failure listed in the assertion message, each with the command
    that replays it alone. settings: tests/fuzz/conftest.py's FuzzSettings; request: pytest's;
    cost: a kind whose case takes about `cost` times the usual ~0.3 s runs 1/cost of the
    default number of cases in the default pytest; --fuzz-cases N (or $AVT_NP_FUZZ_CASES)
    runs N cases of every kind, whatever its cost."""
    kind.test = request.node.nodeid
    cases = settings.cases if settings.given else max(4, settings.cases // cost)
    failures, tally, seconds = fuzz(kind, cases, settings.seed, work)
    summary = (f"{kind.name}: {cases} case(s) from seed {settings.seed} in "
               f"{seconds:.1f} s, exit codes {dict(sorted(tally.items(), key=str))}, "
               f"{len(failures)} failed")
    if settings.given:
        with request.getfixturevalue("capsys").disabled():
            print(f"\n  fuzz {summary}")
    assert not failures, summary + "\n" + "\n".join(failures[:20])
