"""Progress lines on stderr: redrawn in place on a terminal, one line every few seconds in a
log file or CI (no carriage returns where nobody sees them redrawn), none at all when the
environment says AVT_NP_PROGRESS=0 (the book's executor does: a lesson's page shows what its
cells computed, not how fast)."""

import os
import sys
import time

QUIET = "AVT_NP_PROGRESS"     # "0": no progress lines


def quiet():
    """Whether progress lines are switched off (AVT_NP_PROGRESS=0)."""
    return os.environ.get(QUIET, "").strip() == "0"


class Progress:
    """Progress(total, label).update(done, extra) prints "label done/total extra [rate, elapsed,
    ETA]". eta_is_bound: the work may end early (early stopping), so the ETA reads "<= ..."."""

    def __init__(self, total, label="", every_seconds=5.0, stream=None, eta_is_bound=False):
        self.total, self.label = total, label
        self.eta_prefix = "<= " if eta_is_bound else ""
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.every = 0.2 if self.tty else every_seconds
        self.start = self.last = time.perf_counter()
        self.done = 0
        self.silent = quiet()

    def update(self, done, extra=""):
        """Report that `done` of `total` items are finished; `extra` is appended (e.g. a loss)."""
        self.done = done
        now = time.perf_counter()
        if self.silent:
            return
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        line = (f"{self.label} {done}/{self.total} {extra} "
                f"[{rate:.1f}/s, {elapsed:.0f}s elapsed, "
                f"ETA {self.eta_prefix}{format_seconds(eta)}]")
        if self.tty:
            print("\r" + line, end="\n" if done >= self.total else "", file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)


def format_seconds(s):
    if s == float("inf"):
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
