"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A crash or a kill mid-write leaves either the old file or the new one, never half of one.
"""

import json
import os
import shutil
import tempfile
import tokenize
import zipfile
from pathlib import Path

import numpy as np

from avt_np.cli import first_line

# What NumPy raises on a damaged .npy / .npz file (cut short, emptied, or not one at all): the
# last two come from its header parser reading a garbled header.
NUMPY_FILE_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, SyntaxError,
                     tokenize.TokenError)


def is_a(value, kinds):
    """isinstance(value, kinds) as a JSON reader means it: True and False are not numbers
    (to Python a bool is an int, so `isinstance(True, int)` holds). kinds: int, float, str or
    a tuple of them, never bool."""
    return isinstance(value, kinds) and not isinstance(value, bool)


def atomic_write(path, write):
    """Call write(file_object) on a temporary binary file, then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~current_umask())       # mkstemp makes 0600; use the usual mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def keep_as(path, kept):
    """Make `kept` hold what `path` holds now, without copying a byte: a hard link, renamed over
    `kept` (so a kill leaves the old `kept` or the new one). `path` itself is untouched, and
    the next atomic_write of `path` gives it a new file, so `kept` keeps the old contents.
    Where hard links are not supported (some network and FAT file systems), a copy."""
    path, kept = Path(path), Path(kept)
    tmp = kept.with_name(f".{kept.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:                                   # no hard links here: copy instead
        atomic_write(kept, lambda f: f.write(path.read_bytes()))
        return
    os.replace(tmp, kept)
    tmp.unlink(missing_ok=True)       # still there if `kept` already was `path` (rename no-op)


def partial_dir(path):
    """A new, empty directory `.NAME.partial-PID` beside `path`, to build the directory `path` in
    and then rename it into place. Partial directories left by processes that no longer run (a
    build killed mid-way: they can hold gigabytes) are removed first; those of running
    processes are left alone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f".{path.name}.partial-*"):
        pid = old.name.rpartition("-")[2]
        if pid.isdigit() and (int(pid) == os.getpid() or not process_running(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    tmp = path.parent / f".{path.name}.partial-{os.getpid()}"
    tmp.mkdir()
    return tmp


def process_running(pid):
    try:
        os.kill(pid, 0)                       # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:                   # exists, owned by someone else
        return True
    return True


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text):
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=1) + "\n")


def write_npz(path, arrays):
    """Arrays by name into an uncompressed .npz (plain arrays, never pickles)."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def settings_changed(path, settings):
    """Guard a resumable work directory against a rerun with other settings.

    The first call writes `settings` (a JSON-able dict) to `path`; later calls return the sorted
    keys whose stored value differs from `settings` (an empty list when they agree)."""
    path = Path(path)
    if not path.exists():
        write_json(path, settings)
        return []
    old = read_json(path)
    if not isinstance(old, dict):
        raise ValueError(f"{path}: expected a JSON object of settings; delete the folder it is "
                         "in to start it again")
    return sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))


def read_npz(path):
    """{name: array} of an .npz file; ValueError naming the file if it cannot be read (a file
    cut short by a full disk or a copy, or not an .npz at all)."""
    try:
        with open(path, "rb") as f:                   # (np.load(path) leaves it open on errors)
            data = np.load(f, allow_pickle=False)
            if not hasattr(data, "files"):
                raise ValueError("a single .npy array")
            with data:
                return {name: data[name] for name in data.files}
    except NUMPY_FILE_ERRORS as e:
        raise ValueError(f"{path}: unreadable .npz file (truncated, or not an .npz: "
                         f"{first_line(e)[:80]})") from None


def read_json(path):
    """The JSON document in `path`; ValueError naming the file if it is missing, not UTF-8 or
    not JSON (a file cut short, emptied or edited by hand)."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except (OSError, ValueError, RecursionError) as e:
        raise ValueError(f"{path}: unreadable JSON ({first_line(e)})") from None
