"""Command-line conventions shared by every `python -m avt_np.<tool>`: errors are one line on
stderr and exit with code 2 (never a traceback for bad input)."""

import argparse
import sys


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line ("error: ...") and exit code 2, without the usage."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        fail(f"{self.prog}: {message} (see --help)")


def first_line(error):
    """The first line of an exception's message, or its type name when the message is empty:
    what a one-line error quotes of an exception raised by a library."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
