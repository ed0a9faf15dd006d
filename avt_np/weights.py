"""The public pretrained files feature extraction needs: where they live, how to fetch and verify them.

    python -m avt_np.weights list              what is expected and what is present
    python -m avt_np.weights fetch [NAME ...]  download (progress on stderr), verify, print
                                               SHA-256, and write VGG16 with fc7 as an output
    python -m avt_np.weights verify [NAME ...] check the files on disk against the manifest's
                                               public checksums and the local lock file
    python -m avt_np.weights expose-fc7 SRC DST   the graph surgery alone, on a file you have
                                               (fc7 as an output, batch made symbolic)
    python -m avt_np.weights sha256 FILE ...   checksums of files you fetched another way

Files go to `weights/` at the repository root, or to $AVT_NP_WEIGHTS when set. They are never
committed (.gitignore). weights/README.md says where each URL and checksum comes from, the
licences, the tensor names and the exact preprocessing; weights/manifest.json is the same list
as data ($AVT_NP_WEIGHTS_MANIFEST names another manifest file, e.g. for tests).

What a file is checked against:
- a public checksum in the manifest (`sha256`, `bytes`: VGG16, from the ONNX model zoo's own
  manifest): the size, then the SHA-256, while downloading; a mismatch is refused, the
  partial file removed, and the next URL tried;
- no public checksum (the ailia-models VGGish export): trust on first use. `fetch` records the
  SHA-256 and size of the first download in `weights.lock.json` beside the files and refuses a
  later download that differs, unless told `--accept-new`;
- a derived file (VGG16 with fc7 exposed): the lock records its SHA-256 and that of the
  verified source it was built from; `fetch` rebuilds it when either no longer matches.
Exit codes: 0 done; 1 `verify` found a mismatch or a missing required file; 2 bad input, a
damaged manifest or lock file, or a download every URL failed (one line).
"""

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from avt_np import cli, io
from avt_np.cli import UsageError, first_line
from avt_np.download import (DownloadError, Expected, Refused, cached_sha256, download,
                             sha256_of)
from avt_np.io import is_a, write_json

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = REPO_ROOT / "weights" / "manifest.json"
LOCK_NAME = "weights.lock.json"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
URL = re.compile(r"(https?|file)://[^\s\x00-\x1f\x7f]+")   # a scheme we fetch, no blanks


class WeightsError(UsageError):
    """A weight file is missing or is not what avt_np expects (one line, exit 2)."""


@dataclass
class WeightFile:
    name: str                  # key used on the command line
    filename: str              # file name inside the weights directory
    urls: list                 # tried in order
    description: str
    sha256: str = None         # a public checksum (its source in notes["checksum"]), else None
    bytes: int = None          # the size from the same source
    derived_from: str = None   # made locally from another entry (no download)
    min_bytes: int = None      # a sanity floor, far below the real size: smaller is a stub
    optional: bool = False
    notes: dict = field(default_factory=dict)


# -- reading the manifest and the lock file: every byte may be damaged --------------------------
def checked_json(path, what):
    """The JSON value in `path`, or WeightsError naming the file, what is wrong with it
    (missing, unreadable, not UTF-8, not JSON: io.read_json) and its role `what`."""
    if not Path(path).is_file():
        raise WeightsError(f"{path}: no such file (the {what})")
    try:
        return io.read_json(path)
    except ValueError as e:
        raise WeightsError(f"{e}, expected the {what}") from None


def is_sha256(value):
    return isinstance(value, str) and SHA256_HEX.fullmatch(value) is not None


def is_line(value):
    """A string that prints as one line (no control characters)."""
    return isinstance(value, str) and not re.search(r"[\x00-\x1f\x7f]", value)


def is_count(value, least=0):
    """An int >= least (JSON numbers only: a bool is not a count, nor is 3.0)."""
    return is_a(value, int) and value >= least


MANIFEST_FIELDS = {   # field: (check, what it must be)
    "name": (lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_.-]+", v),
             "a name of letters, digits, '_', '.', '-'"),
    "filename": (lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", v)
                 and v != LOCK_NAME, "a plain file name (no folder)"),
    "urls": (lambda v: isinstance(v, list) and all(isinstance(u, str) and URL.fullmatch(u)
                                                   for u in v), "a list of http(s) URLs"),
    "description": (lambda v: isinstance(v, str), "a string"),
    "sha256": (lambda v: v is None or is_sha256(v), "null or 64 lowercase hex digits"),
    "bytes": (lambda v: v is None or is_count(v, 1), "null or a positive integer"),
    "derived_from": (lambda v: v is None or isinstance(v, str), "null or an entry's name"),
    "min_bytes": (lambda v: v is None or is_count(v, 1), "null or a positive integer"),
    "optional": (lambda v: isinstance(v, bool), "true or false"),
    "notes": (lambda v: isinstance(v, dict), "an object"),
}
REQUIRED_FIELDS = ("name", "filename", "urls", "description")


def load_manifest(path=None):
    """{name: WeightFile} from a manifest file (default: manifest_path()), checked field by
    field: WeightsError naming the file, the entry and the field for anything else."""
    path = Path(path or manifest_path())
    data = checked_json(path, "weights manifest")
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise WeightsError(f"{path}: expected an object with a \"files\" list (the weights "
                           "manifest)")
    entries = {}
    for k, e in enumerate(data["files"]):
        where = f"{path}: files[{k}]"
        if not isinstance(e, dict):
            raise WeightsError(f"{where}: expected an object, got {type(e).__name__}")
        unknown = sorted(set(e) - set(MANIFEST_FIELDS))
        missing = [f for f in REQUIRED_FIELDS if f not in e]
        if unknown or missing:
            raise WeightsError(f"{where}: " + (f"unknown field(s) {unknown}" if unknown else
                                               f"missing field(s) {missing}"))
        for name, value in e.items():
            check, expected = MANIFEST_FIELDS[name]
            if not check(value):
                raise WeightsError(f"{where}: \"{name}\" must be {expected}, got "
                                   f"{json.dumps(value)[:40]}")
        if e["name"] in entries:
            raise WeightsError(f"{where}: a second entry named {e['name']!r}")
        entries[e["name"]] = WeightFile(**e)
    filenames = [e.filename for e in entries.values()]
    for e in entries.values():
        source = entries.get(e.derived_from) if e.derived_from else None
        if e.derived_from and (source is None or source.derived_from):
            raise WeightsError(f"{path}: {e.name}: derived_from {e.derived_from!r} is not a "
                               "downloaded entry of this manifest")
        if not e.derived_from and not e.urls:
            raise WeightsError(f"{path}: {e.name}: no URL to download it from")
        if filenames.count(e.filename) > 1:
            raise WeightsError(f"{path}: two entries write the file {e.filename}")
    return entries


def manifest_path():
    return Path(os.environ.get("AVT_NP_WEIGHTS_MANIFEST") or MANIFEST)


_manifests = {}   # (path, size, mtime) -> {name: WeightFile}


def files():
    """The manifest's entries {name: WeightFile}, read on first use (a damaged manifest is a
    one-line WeightsError where it is needed, not a traceback when avt_np.weights is imported)."""
    path = manifest_path()
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None                                 # load_manifest says what is wrong
    if key not in _manifests:
        entries = load_manifest(path)
        _manifests.clear()
        _manifests[key] = entries
    return _manifests[key]


def weights_dir():
    """The directory weight files are read from and fetched into."""
    return Path(os.environ.get("AVT_NP_WEIGHTS", REPO_ROOT / "weights"))


def weight_path(name):
    """Where the file called `name` in the manifest is expected (it may not exist)."""
    return weights_dir() / files()[name].filename


def require(name_or_path, name=None):
    """Path of an existing weight file, else WeightsError naming the command that makes it.

    name_or_path: a manifest name ("vggish", "vgg16_fc7", ...) or an explicit file path;
    name: the manifest entry an explicit path stands for (for the message).
    """
    if name_or_path in files():
        name, path = name_or_path, weight_path(name_or_path)
    else:
        path = Path(name_or_path)
    if path.is_file():
        return path
    hint = f"python -m avt_np.weights fetch {name}" if name else "python -m avt_np.weights fetch"
    raise WeightsError(f"weight file {path} not found: run `{hint}` (see weights/README.md)")


# -- the lock file: checksums of files no one publishes one for ----------------------------------
LOCK_ABOUT = ("SHA-256 and size of weight files that have no public checksum, recorded by "
              "python -m avt_np.weights fetch at their first download (trust on first use), and "
              "of files it derived from verified ones; a later download that differs is refused "
              "unless fetch is given --accept-new. Local: not committed. See weights/README.md.")


def lock_path():
    return weights_dir() / LOCK_NAME


def read_lock():
    """{filename: entry} of the lock file ({} when there is none), checked: WeightsError naming
    the file for anything damaged. An entry: sha256, bytes, and optionally url, locked_at, how,
    derived_from {name, sha256}."""
    path = lock_path()
    if not path.exists():
        return {}
    data = checked_json(path, "weights lock file")
    hint = f"fix it or delete it (fetch then records the files present again)"
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise WeightsError(f"{path}: expected an object with a \"files\" object; {hint}")
    for filename, e in data["files"].items():
        where = f"{path}: files[{filename!r}]"
        if not isinstance(e, dict):
            raise WeightsError(f"{where}: expected an object; {hint}")
        if not is_sha256(e.get("sha256")) or not is_count(e.get("bytes")):
            raise WeightsError(f"{where}: needs \"sha256\" (64 lowercase hex digits) and "
                               f"\"bytes\" (an integer); {hint}")
        if any(not is_line(e.get(k, "")) for k in ("url", "locked_at", "how")):
            raise WeightsError(f"{where}: \"url\", \"locked_at\" and \"how\" must be "
                               f"one-line strings; {hint}")
        source = e.get("derived_from")
        if source is not None and not (isinstance(source, dict)
                                       and isinstance(source.get("name"), str)
                                       and is_sha256(source.get("sha256"))):
            raise WeightsError(f"{where}: \"derived_from\" must be {{\"name\": ..., \"sha256\": "
                               f"...}}; {hint}")
    return data["files"]


def record(lock, path, digest, how, **extra):
    """Add or replace the lock entry of the file at `path` (digest: its SHA-256) and write the
    lock file (atomically)."""
    lock[path.name] = dict(sha256=digest, bytes=path.stat().st_size, how=how,
                           locked_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra)
    write_json(lock_path(), {"about": LOCK_ABOUT, "files": lock})


# -- checking the files on disk ------------------------------------------------------------------
OK, MISMATCH, MISSING, NOT_LOCKED = "OK", "MISMATCH", "MISSING", "NOT LOCKED"


def expected_of(entry, lock):
    """What a download of `entry` must match: the manifest's public checksum, else the lock's
    record of an earlier download, else None (nothing known yet)."""
    if entry.sha256:
        return Expected(entry.sha256, entry.bytes, "manifest.json")
    locked = lock.get(entry.filename)
    if locked:
        when = " ".join(locked.get(k, "") for k in ("how", "locked_at")).strip()
        return Expected(locked["sha256"], locked["bytes"],
                        f"{LOCK_NAME}, {when}" if when else LOCK_NAME)
    return None


def check_file(entry, path, lock, source_sha256=None, label=None):
    """(status, detail, sha256 or None) of the file `path` stands for `entry`: MISSING; OK or
    MISMATCH against the manifest's checksum, else against the lock (size first: a file of the
    wrong size is not hashed); NOT LOCKED when neither knows it. A derived file must also have
    been built from the source now expected (source_sha256, default: the source's manifest or
    lock checksum)."""
    if not path.is_file():
        return MISSING, ("optional, " if entry.optional else "") + \
            f"fetch it with: python -m avt_np.weights fetch {entry.name}", None
    size = path.stat().st_size
    expected = expected_of(entry, lock)
    if expected is None and entry.derived_from:
        return NOT_LOCKED, (f"no entry in {LOCK_NAME}: python -m avt_np.weights fetch "
                            f"{entry.name} rebuilds it from the verified source"), None
    if expected is None:
        return NOT_LOCKED, (f"no public checksum and no entry in {LOCK_NAME}: "
                            f"python -m avt_np.weights fetch {entry.name} records it"), None
    if expected.bytes is not None and size != expected.bytes:
        return MISMATCH, f"{size:,} bytes, {expected.source} says {expected.bytes:,}", None
    digest = sha256_of(path, label=label)
    if digest != expected.sha256:
        return MISMATCH, (f"SHA-256 {digest} differs from {expected.sha256} "
                          f"({expected.source})"), digest
    if entry.derived_from:
        source = files()[entry.derived_from]
        if source_sha256 is None:
            source_expected = expected_of(source, lock)
            source_sha256 = source_expected.sha256 if source_expected else None
        built_from = (lock.get(entry.filename, {}).get("derived_from") or {}).get("sha256")
        if source_sha256 and built_from != source_sha256:
            return MISMATCH, (f"built from a {source.filename} with SHA-256 "
                              f"{str(built_from)[:16]}..., not the expected "
                              f"{source_sha256[:16]}...: fetch rebuilds it"), digest
        return OK, f"as {LOCK_NAME} recorded when fetch built it from a verified " \
                   f"{source.filename}", digest
    return OK, f"SHA-256 and size as in {expected.source}", digest


def verify(names, out=None):
    """Print one line per file: status, name, path, detail. Returns the lines of files that
    failed (a MISMATCH, or a required file MISSING)."""
    out = out or sys.stdout
    lock = read_lock()
    failed = []
    for name in names:
        entry = files()[name]
        path = weight_path(name)
        status, detail, _ = check_file(entry, path, lock, label=f"{name}: hashing")
        line = f"{status:<10s} {name:<10s} {path}  {detail}"
        print(line, file=out)
        if status == MISMATCH or (status == MISSING and not entry.optional):
            failed.append(f"{name} {status}")
    return failed


# -- fetch -------------------------------------------------------------------------------------
def fetch(names, force=False, accept_new=False, out=None):
    """Download the named files (and build derived ones), each verified as check_file says;
    print 'sha256  path' for each to out (default: the current sys.stdout). Returns one line per
    file that could not be fetched or verified (nothing unverified is kept or left in place)."""
    out = out or sys.stdout
    lock = read_lock()                   # a damaged lock stops everything before any download
    verified = {}                        # name -> SHA-256 of the file in place, checked now
    failures = []
    for name in names:
        entry = files()[name]
        dest = weight_path(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if entry.derived_from:
            problem = build_derived(entry, dest, force, lock, verified)
        else:
            problem = fetch_one(entry, dest, force, accept_new, lock, verified)
        if problem:
            failures.append(problem)
        else:
            print(f"{verified[name]}  {dest}", file=out)
    return failures


def fetch_one(entry, dest, force, accept_new, lock, verified):
    """Fetch (or check the present copy of) one downloaded entry; a problem line or None."""
    name = entry.name
    if dest.is_file() and not force:
        status, detail, digest = check_file(entry, dest, lock, label=f"{name}: hashing")
        if status == OK:
            print(f"{name}: {dest} already present; {detail}", file=sys.stderr)
        elif status == NOT_LOCKED or (status == MISMATCH and accept_new and not entry.sha256):
            digest = digest or sha256_of(dest)
            how = "present when fetch first ran" if status == NOT_LOCKED else \
                "accepted with --accept-new"
            record(lock, dest, digest, how)
            print(f"{name}: {dest} already present; no public checksum: its SHA-256 is now "
                  f"recorded in {lock_path()} ({how})", file=sys.stderr)
        else:
            fix = (f"--force {name} downloads a verified copy" if entry.sha256 else
                   f"--accept-new {name} records this file instead, --force {name} downloads "
                   "it again")
            return f"{name}: {dest}: {detail} ({fix})"
        verified[name] = digest
        return None
    expect = None if accept_new and not entry.sha256 else expected_of(entry, lock)
    digest, refusals = None, 0
    for url in entry.urls:
        print(f"{name}: downloading {url}", file=sys.stderr)
        try:
            digest = download(url, dest, label=name, min_bytes=entry.min_bytes, expect=expect)
            break
        except DownloadError as e:
            refusals += isinstance(e, Refused)
            print(f"{name}: {first_line(e)}", file=sys.stderr)
        except Exception as e:  # network errors of every kind: try the next URL
            print(f"{name}: {url}: failed ({type(e).__name__}: {first_line(e)})",
                  file=sys.stderr)
    if digest is None:
        why = f"{name}: every URL failed ({len(entry.urls)} tried); no download kept"
        if refusals and expect and not entry.sha256:
            why += (f"; {refusals} served a file that differs from the one recorded in "
                    f"{lock_path()}: if its publisher changed it, fetch --accept-new {name}")
        return why
    if not entry.sha256 and (accept_new or entry.filename not in lock):
        how = "accepted with --accept-new" if entry.filename in lock else "first download"
        record(lock, dest, digest, how, url=url)
        print(f"{name}: no public checksum: SHA-256 recorded in {lock_path()} ({how})",
              file=sys.stderr)
    verified[name] = digest
    return None


def build_derived(entry, dest, force, lock, verified):
    """Build (or check the present copy of) a derived entry from its verified source."""
    name, source = entry.name, files()[entry.derived_from]
    src = weight_path(source.name)
    src_digest = verified.get(source.name)
    if src_digest is None:
        if not src.is_file():
            return f"{name}: needs {src} first (python -m avt_np.weights fetch {source.name})"
        status, detail, src_digest = check_file(source, src, lock, label=f"{source.name}: hashing")
        if status == MISMATCH:
            return f"{name}: not built: {src}: {detail}"
        src_digest = src_digest or sha256_of(src)
    if dest.is_file() and not force:
        status, detail, digest = check_file(entry, dest, lock, source_sha256=src_digest)
        if status == OK:
            print(f"{name}: {dest} already present; {detail}", file=sys.stderr)
            verified[name] = digest
            return None
        print(f"{name}: rebuilding {dest.name} ({status}: {detail})", file=sys.stderr)
    from avt_np.features import vgg16_graph  # imported here: it loads avt_np.features (SciPy)
    print(f"{name}: adding output {vgg16_graph.FC7} to {src.name} -> {dest.name}",
          file=sys.stderr)
    vgg16_graph.expose_output(src, dest)
    verified[name] = sha256_of(dest)
    record(lock, dest, verified[name], f"built by fetch from {src.name}",
           derived_from={"name": source.name, "sha256": src_digest})
    return None


# -- provenance: were a data set, a run or a work dir made with the weights on disk? --------------
PROVENANCE_MODELS = {"vggish": "vggish", "vgg16": "vgg16_fc7"}   # key -> file features uses


def weights_differ(recorded, paths=None, made="it"):
    """One line per model whose file on disk hashes differently from the hash `recorded` holds
    (no line: the same weights, or nothing to compare).

    recorded: what python -m avt_np.features records, {"vggish_sha256": ..., "vgg16_sha256":
        ...} (a work dir's settings.json, a data set's provenance), a data set's meta.json
        (its "provenance" is used), or the path of a JSON file holding one of these; a missing
        or unreadable file, or a model without a recorded hash, gives no line (the tools that
        read those files report their damage).
    paths: {"vggish": path, "vgg16": path} of the files the caller uses now (None: that model
        is not used); default: the weights directory's vggish.onnx and vgg16-7-fc7.onnx.
    made: what was made with the recorded weights, for the message ("work dir data/x.work").
    A file's SHA-256 is computed once per process (cached_sha256).
    """
    if isinstance(recorded, (str, os.PathLike)):
        try:
            recorded = io.read_json(recorded)
        except ValueError:                                  # missing, unreadable, not JSON
            return []
    if not isinstance(recorded, dict):
        return []
    if isinstance(recorded.get("provenance"), dict):
        recorded = recorded["provenance"]
    lines = []
    for model, default in PROVENANCE_MODELS.items():
        then = recorded.get(f"{model}_sha256")
        if then is None:
            continue
        if paths is not None:
            path = paths.get(model)
        else:
            path = weights_dir() / files()[default].filename
        if path is None or not Path(path).is_file():
            continue
        if not is_sha256(then):
            lines.append(f"{model}: {made} records {model}_sha256 {json.dumps(then)[:40]}, "
                         "not a SHA-256: cannot tell whether it was made with these weights")
            continue
        now = cached_sha256(path)
        if now != then:
            lines.append(f"{model}: {path} has SHA-256 {now[:16]}..., but {made} was made "
                         f"with {then[:16]}...: other weights, features not comparable")
    return lines


# -- command line ------------------------------------------------------------------------------
def run(argv=None):
    p = cli.ArgumentParser(prog="python -m avt_np.weights", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="show each expected file, its path and whether it is present")
    f = sub.add_parser("fetch", help="download files into the weights directory and verify "
                                     "them (default: the required ones: vggish, vgg16, "
                                     "vgg16_fc7)")
    f.add_argument("names", nargs="*", help="names in weights/manifest.json")
    f.add_argument("--force", action="store_true",
                   help="download again even if present (the old file stays until a new one "
                        "is verified)")
    f.add_argument("--accept-new", action="store_true",
                   help=f"for files with no public checksum: accept a file that differs from "
                        f"the one recorded in {LOCK_NAME}, and record it instead (default: "
                        "refuse it)")
    v = sub.add_parser("verify", help="check the files on disk against the manifest's "
                                      f"checksums and {LOCK_NAME}: exit 1 on a mismatch or a "
                                      "missing required file")
    v.add_argument("names", nargs="*", help="names in weights/manifest.json (default: all)")
    e = sub.add_parser("expose-fc7", help="copy SRC to DST with fc7 (vgg0_dense1_relu_fwd) "
                                          "added as an output")
    e.add_argument("src")
    e.add_argument("dst")
    s = sub.add_parser("sha256", help="print the SHA-256 of files")
    s.add_argument("files", nargs="+")
    args = p.parse_args(argv)
    if args.cmd == "list":
        for name, entry in files().items():
            path = weight_path(name)
            state = "present" if path.is_file() else "missing"
            tag = " (optional)" if entry.optional else ""
            print(f"{name:10s} {state:8s} {path}{tag}  {entry.description}")
    elif args.cmd in ("fetch", "verify"):
        default = [n for n, e in files().items() if not e.optional or args.cmd == "verify"]
        names = args.names or default
        unknown = [n for n in names if n not in files()]
        if unknown:
            raise WeightsError(f"unknown weight name(s) {unknown}; expected any of "
                               f"{list(files())}")
        # derived files after their sources, whatever order was asked
        names = sorted(dict.fromkeys(names), key=lambda n: files()[n].derived_from is not None)
        if args.cmd == "verify":
            failed = verify(names)
            if failed:
                raise cli.CheckFailed(", ".join(failed))
            return
        if shutil.disk_usage(weights_dir().parent if not weights_dir().exists()
                             else weights_dir()).free < 2e9:
            print("warning: under 2 GB free for the weights", file=sys.stderr)
        failures = fetch(names, force=args.force, accept_new=args.accept_new)
        if failures:
            raise WeightsError("; ".join(failures))
    elif args.cmd == "expose-fc7":
        from avt_np.features import vgg16_graph  # imported here: it loads SciPy; surgery only
        vgg16_graph.expose_output(require(args.src), args.dst)
        print(f"{sha256_of(args.dst)}  {args.dst}")
    elif args.cmd == "sha256":
        for path in args.files:
            print(f"{sha256_of(require(path))}  {path}")


def main(argv=None):
    return cli.main(run, argv, errors=(OSError,),
                    interrupted="interrupted: no partial file is left; run fetch again")


if __name__ == "__main__":
    raise SystemExit(main())
