"""Random damage to one file, as disks, interrupted copies and hand edits do it.

Every operation takes (rng, path, others) and returns a short text saying what it did, so a
failing fuzz case can be read and replayed from its seed. `others` are the other files of the
same fixture, for "swap in another file's content". Operations never write into a file in
place: they unlink it and write a new one, so a fixture copied with hard links (see
harness.copy_tree) is never changed through its copy.

    flip      1-8 random bytes XOR-ed with a random non-zero byte
    cut       truncated at a random point (never at its full length)
    empty     0 bytes
    junk      1-64 random bytes appended
    delete    the file removed
    swap      the content of another file of the fixture
    text      a text file: a random field/line replaced (wrong type, NaN, inf, huge, negative,
              empty, junk), a line removed or doubled; a JSON file: a value anywhere in it
              replaced by one of another type or a bad number
    npz       an .npz file: one array replaced by one of another shape / dtype / with NaN or
              inf, removed, or an extra one added; or the bytes of one zip member damaged
"""

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

BAD_NUMBERS = [float("nan"), float("inf"), float("-inf"), -1, 0, -1e308, 1e308, 2 ** 63, 0.5,
               -0.5, 10 ** 30]
BAD_VALUES = [None, True, "", "x", "NaN", [], {}, [1, "a"], {"a": 1}, "\u00e9\u4e2d", -1, 0, 1.5]
BAD_FIELDS = ["", "nan", "NaN", "inf", "-inf", "-1", "0", "1e308", "-1e308", "abc", "\u00e9",
              "1,2", "\t", '"', "9" * 40, "0x10", " ", "None"]


def write_bytes(path, data):
    path = Path(path)
    if path.exists() or path.is_symlink():
        path.unlink()
    path.write_bytes(data)


def flip(rng, path, others):
    data = bytearray(Path(path).read_bytes())
    if not data:
        return empty(rng, path, others)
    n = int(rng.integers(1, 9))
    where = sorted(int(i) for i in rng.integers(0, len(data), n))
    for i in where:
        data[i] ^= int(rng.integers(1, 256))
    write_bytes(path, bytes(data))
    return f"flip {n} byte(s) at {where[:4]}{'...' if n > 4 else ''}"


def cut(rng, path, others):
    data = Path(path).read_bytes()
    at = int(rng.integers(0, max(len(data), 1)))
    write_bytes(path, data[:at])
    return f"cut at byte {at} of {len(data)}"


def empty(rng, path, others):
    write_bytes(path, b"")
    return "empty"


def junk(rng, path, others):
    extra = rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
    write_bytes(path, Path(path).read_bytes() + extra)
    return f"append {len(extra)} junk bytes"


def delete(rng, path, others):
    Path(path).unlink()
    return "delete"


def swap(rng, path, others):
    others = [o for o in others if Path(o) != Path(path)]
    if not others:
        return flip(rng, path, others)
    other = Path(others[int(rng.integers(len(others)))])
    write_bytes(path, other.read_bytes())
    return f"swap in the content of {other.name}"


# -- text, JSON, CSV ------------------------------------------------------------------------------
def json_paths(value, prefix=()):
    """Every path (tuple of keys / indices) to a value inside a JSON document, the root too."""
    paths = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            paths += json_paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            paths += json_paths(v, prefix + (i,))
    return paths


def replaced(value, where, new):
    if not where:
        return new
    value[where[0]] = replaced(value[where[0]], where[1:], new)
    return value


def damage_json(rng, text):
    """One value of a JSON document replaced by a value of another type or a bad number;
    (new text, description) or None when `text` is not JSON."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    paths = json_paths(doc)
    where = paths[int(rng.integers(len(paths)))]
    current = doc
    for key in where:
        current = current[key]
    if isinstance(current, (int, float)) and not isinstance(current, bool) and rng.random() < 0.6:
        new = BAD_NUMBERS[int(rng.integers(len(BAD_NUMBERS)))]
    else:
        choices = [v for v in BAD_VALUES if type(v) is not type(current)] + BAD_NUMBERS[:3]
        new = choices[int(rng.integers(len(choices)))]
    if isinstance(current, dict) and current and rng.random() < 0.3:
        key = list(current)[int(rng.integers(len(current)))]
        del current[key]
        return json.dumps(doc, indent=1), f"JSON: key {'/'.join(map(str, where + (key,)))} removed"
    doc = replaced(doc, where, new)
    return (json.dumps(doc, indent=1),              # NaN / Infinity as Python writes them
            f"JSON: {'/'.join(map(str, where)) or '(root)'} = {json.dumps(new)}")


def damage_lines(rng, text, separator):
    """A CSV / TSV / JSONL / plain text file: a field replaced, a line removed or doubled."""
    lines = text.split("\n")
    i = int(rng.integers(len(lines)))
    kind = rng.random()
    if kind < 0.15:
        del lines[i]
        return "\n".join(lines), f"line {i + 1} removed"
    if kind < 0.25:
        lines.insert(i, lines[i])
        return "\n".join(lines), f"line {i + 1} doubled"
    if separator == "json":
        out = damage_json(rng, lines[i])
        if out is not None:
            lines[i] = out[0].replace("\n", "")
            return "\n".join(lines), f"line {i + 1}: {out[1]}"
    fields = lines[i].split(separator) if separator != "json" else [lines[i]]
    j = int(rng.integers(len(fields)))
    new = BAD_FIELDS[int(rng.integers(len(BAD_FIELDS)))]
    if rng.random() < 0.15 and len(fields) > 1:
        del fields[j]
        what = f"line {i + 1}: field {j + 1} removed"
    else:
        fields[j] = new
        what = f"line {i + 1}: field {j + 1} = {new!r}"
    lines[i] = (separator if separator != "json" else "").join(fields)
    return "\n".join(lines), what


def text(rng, path, others):
    raw = Path(path).read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        return flip(rng, path, others)
    name = Path(path).name
    if name.endswith(".json"):
        out = damage_json(rng, content)
    elif name.endswith(".jsonl"):
        out = damage_lines(rng, content, "json")
    else:
        separator = "\t" if "\t" in content else ","
        out = damage_lines(rng, content, separator)
    if out is None:
        return flip(rng, path, others)
    write_bytes(path, out[0].encode("utf-8"))
    return out[1]


# -- .npz -----------------------------------------------------------------------------------------
def changed_array(rng, array):
    """(array, description): the same name with another shape, dtype or bad values."""
    kind = int(rng.integers(6))
    if kind == 0 and array.size:
        flat = array.astype(np.float64).ravel() if array.dtype.kind in "fiub" else None
        if flat is not None:
            flat[int(rng.integers(flat.size))] = [np.nan, np.inf, -np.inf][int(rng.integers(3))]
            return flat.reshape(array.shape).astype(
                array.dtype if array.dtype.kind == "f" else np.float64), "a NaN/inf value"
    if kind == 1:
        return array.reshape(-1)[: max(array.size - 1, 0)], "flattened and one shorter"
    if kind == 2:
        return np.zeros(array.shape + (2,), array.dtype), "an extra axis"
    if kind == 3:
        return np.zeros((), np.float32), "a scalar"
    if kind == 4:
        return np.array(["text"] * max(min(array.size, 3), 1)), "strings"
    return array.astype(np.complex64 if array.dtype.kind != "c" else np.int8), "another dtype"


def npz(rng, path, others):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception:
        return flip(rng, path, others)
    if not arrays:
        return junk(rng, path, others)
    if rng.random() < 0.25:
        return npz_member_bytes(rng, path, others)
    name = sorted(arrays)[int(rng.integers(len(arrays)))]
    kind = rng.random()
    if kind < 0.15:
        del arrays[name]
        what = f"npz: array {name} removed"
    elif kind < 0.25:
        arrays["zz_extra"] = np.zeros(3)
        what = "npz: an extra array zz_extra"
    else:
        arrays[name], how = changed_array(rng, arrays[name])
        what = f"npz: array {name} -> {how}"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes(path, buffer.getvalue())
    return what


def npz_member_bytes(rng, path, others):
    """Flip bytes inside one member's stored data (the zip directory stays valid: the CRC no
    longer matches, or the .npy header is garbled)."""
    data = bytearray(Path(path).read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        infos = z.infolist()
    info = infos[int(rng.integers(len(infos)))]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    if info.compress_size == 0:
        return flip(rng, path, others)
    n = int(rng.integers(1, 5))
    early = rng.random() < 0.5                            # the .npy header, or anywhere
    span = min(info.compress_size, 128) if early else info.compress_size
    where = sorted(start + int(i) for i in rng.integers(0, span, n))
    for i in where:
        data[i] ^= int(rng.integers(1, 256))
    write_bytes(path, bytes(data))
    return f"npz: {n} byte(s) of member {info.filename} flipped ({'header' if early else 'data'})"


GENERIC = [flip, cut, empty, junk, delete, swap]


def operations_for(path):
    """The operations that make sense for this file, weighted by repetition."""
    name = Path(path).name
    ops = list(GENERIC)
    if name.endswith((".json", ".jsonl", ".csv", ".tsv", ".txt", ".py", ".log")):
        ops += [text] * 4
    if name.endswith(".npz"):
        ops += [npz] * 4
    return ops


def damage(rng, root, targets):
    """Damage one file among `targets` (paths relative to `root`); returns the relative path
    and a description."""
    root = Path(root)
    target = targets[int(rng.integers(len(targets)))]
    path = root / target
    ops = operations_for(path)
    op = ops[int(rng.integers(len(ops)))]
    others = [root / t for t in targets]
    what = op(rng, path, others)
    return target, what

