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
    ETA]". eta_is_bound: the work may end early (early stopping), so the ETA reads "<= ...".
    in_bytes: done and total count bytes, shown in MB (a download, a file being hashed); total
    0 or None: unknown (no ETA), and close() prints the last line."""

    def __init__(self, total, label="", every_seconds=5.0, stream=None, eta_is_bound=False,
                 in_bytes=False):
        self.total, self.label, self.in_bytes = total or 0, label, in_bytes
        self.eta_prefix = "<= " if eta_is_bound else ""
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.every = 0.2 if self.tty else every_seconds
        self.start = self.last = time.perf_counter()
        self.done, self.ended = 0, False
        self.silent = quiet()

    def update(self, done, extra=""):
        """Report that `done` of `total` items are finished; `extra` is appended (e.g. a loss)."""
        self.done = done
        now = time.perf_counter()
        finished = bool(self.total) and done >= self.total
        if self.silent or (now - self.last < self.every and not finished):
            return
        self.last = now
        self.draw(now, extra, finished)

    def close(self, extra=""):
        """End the line (once): for work whose total was unknown or that ended early."""
        if not (self.ended or self.silent):
            self.draw(time.perf_counter(), extra, True)

    def draw(self, now, extra, last):
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        unit, scale = (" MB", 1e6) if self.in_bytes else ("", 1)
        amount = f"{self.done / scale:.1f}" if self.in_bytes else f"{self.done}"
        if self.total:
            amount += f"/{self.total / scale:.1f}" if self.in_bytes else f"/{self.total}"
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            eta = f", ETA {self.eta_prefix}{format_seconds(eta)}"
        else:
            eta = ""
        line = (f"{self.label} {amount}{unit} {extra} "
                f"[{rate / scale:.1f}{unit}/s, {elapsed:.0f}s elapsed{eta}]")
        self.ended = last
        if self.tty:
            print("\r" + line, end="\n" if last else "", file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)


def format_seconds(s):
    if s == float("inf"):
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
