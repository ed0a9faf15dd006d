"""Command-line conventions shared by every `python -m avt_np.<tool>`.

Exit codes, the same for every tool:

    0    done
    1    a check the tool ran failed (a gradient check, a run of a sweep)
    2    usage or input error: one line on stderr, never a traceback
    130  interrupted with Ctrl-C (finished work is kept)

A tool writes `run(argv)` and ends with

    def main(argv=None):
        return cli.main(run, argv, interrupted="...what is kept, how to continue...")

    if __name__ == "__main__":
        raise SystemExit(main())
"""

import argparse
import sys

OK, CHECK_FAILED, USAGE_ERROR, INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


class CheckFailed(Exception):
    """A check the tool ran failed (its report is already printed): exit code 1."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag is a UsageError (one line, exit code 2, no usage block), and
    flags are never abbreviated (`--epoch 3` is an error, not `--epochs 3`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see --help)")


def first_line(error):
    """The first line of an exception's message, or its type name when the message is empty:
    what a one-line error quotes of an exception raised by a library."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def main(run, argv=None, errors=(), interrupted="interrupted"):
    """Call `run(argv)` and turn its outcome into the exit code above.

    `errors`: further exception types that mean bad input for this tool (e.g. DataError); each
    is reported as the first line of its message. `interrupted`: what to tell the user after
    Ctrl-C (what was kept, how to continue).
    """
    try:
        run(argv)
    except (UsageError, *errors) as e:
        print(f"error: {first_line(e)}", file=sys.stderr)
        return USAGE_ERROR
    except CheckFailed as e:
        if str(e):
            print(f"FAIL: {e}", file=sys.stderr)
        return CHECK_FAILED
    except KeyboardInterrupt:
        print(f"\n{interrupted}", file=sys.stderr)
        return INTERRUPTED
    return OK
