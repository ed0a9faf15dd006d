"""The public pretrained files feature extraction needs: where they live, how to fetch them.

    python -m avt_np.weights list              what is expected and what is present
    python -m avt_np.weights fetch [NAME ...]  download (progress on stderr), print SHA-256,
                                               and write VGG16 with fc7 exposed as an output
    python -m avt_np.weights expose-fc7 SRC DST   the graph surgery alone, on a file you have
                                               (fc7 as an output, batch made symbolic)
    python -m avt_np.weights sha256 FILE ...   checksums of files you fetched another way

Files go to `weights/` at the repository root, or to $AVT_NP_WEIGHTS when set. They are never
committed (.gitignore). weights/README.md says where each URL comes from, the licences, the
tensor names and the exact preprocessing; weights/manifest.json is the same list as data.
No checksum is written down here that was not computed from a downloaded file: `fetch`
prints the SHA-256 it computed; when manifest.json holds one, `fetch` compares against it.
"""

import hashlib
import json
import os
import shutil
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avt_np import cli
from avt_np.cli import first_line
from avt_np.io import atomic_write

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = REPO_ROOT / "weights" / "manifest.json"
FC7 = "vgg0_dense1_relu_fwd"   # fc7 after its ReLU in the ONNX zoo's vgg16-7 (MXNet Gluon names)


class WeightsError(RuntimeError):
    """A weight file is missing or is not what avt_np expects (message is one line)."""


@dataclass
class WeightFile:
    name: str                  # key used on the command line
    filename: str              # file name inside the weights directory
    urls: list                 # tried in order
    description: str
    sha256: str = None         # only ever a checksum computed from a real download
    derived_from: str = None   # made locally from another entry (no download)
    min_bytes: int = None      # a sanity floor, far below the real size: smaller is a stub
    optional: bool = False
    notes: dict = field(default_factory=dict)


def _load_manifest():
    entries = json.loads(MANIFEST.read_text())["files"]
    return {e["name"]: WeightFile(**e) for e in entries}


FILES = _load_manifest()


def weights_dir():
    """The directory weight files are read from and fetched into."""
    return Path(os.environ.get("AVT_NP_WEIGHTS", REPO_ROOT / "weights"))


def weight_path(name):
    """Where the file called `name` in the manifest is expected (it may not exist)."""
    return weights_dir() / FILES[name].filename


def require(name_or_path, name=None):
    """Path of an existing weight file, else WeightsError naming the command that makes it.

    name_or_path: a manifest name ("vggish", "vgg16_fc7", ...) or an explicit file path;
    name: the manifest entry an explicit path stands for (for the message).
    """
    if name_or_path in FILES:
        name, path = name_or_path, weight_path(name_or_path)
    else:
        path = Path(name_or_path)
    if path.is_file():
        return path
    hint = f"python -m avt_np.weights fetch {name}" if name else "python -m avt_np.weights fetch"
    raise WeightsError(f"weight file {path} not found: run `{hint}` (see weights/README.md)")


# -- download ----------------------------------------------------------------------------------
class Progress:
    """Byte progress on stderr: redrawn in place on a terminal, a line every 5 s in a log."""

    def __init__(self, label, total, stream=None):
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = self.last = time.monotonic()

    def update(self, n):
        self.done += n
        now = time.monotonic()
        if now - self.last >= (0.2 if self.tty else 5.0):
            self.last = now
            self._draw(end="\r" if self.tty else "\n")

    def close(self):
        self._draw(end="\n")

    def _draw(self, end):
        mb, secs = self.done / 1e6, max(time.monotonic() - self.start, 1e-9)
        if self.total:
            pct = 100.0 * self.done / self.total
            text = f"{self.label}: {pct:5.1f}% {mb:8.1f}/{self.total / 1e6:.1f} MB"
        else:
            text = f"{self.label}: {mb:8.1f} MB"
        self.stream.write(f"{text} {mb / secs:6.1f} MB/s{end}")
        self.stream.flush()


def sha256_of(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


LFS_POINTER = b"version https://git-lfs"


def check_payload(head, size, url, min_bytes=None):
    """WeightsError if a download (its first 512 bytes `head`, `size` bytes in all) is an HTML
    page, a Git LFS pointer stub or far smaller than the manifest's lower bound (a login page or
    a mirror's error page saved as .onnx)."""
    if head.startswith(LFS_POINTER):
        raise WeightsError(f"{url}: got a {size}-byte Git LFS pointer, not the file "
                           "(the host serves the LFS stub; try the next URL)")
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        raise WeightsError(f"{url}: got a {size}-byte HTML page, not the file "
                           "(an error or login page)")
    if min_bytes and size < min_bytes:
        raise WeightsError(f"{url}: got {size} bytes, far fewer than the {min_bytes} at least "
                           "expected (see weights/manifest.json)")


def download(url, dest, label=None, timeout=60, min_bytes=None):
    """Stream url into dest through atomic_write (a temporary file beside dest, renamed when
    complete and checked); return dest's SHA-256. On any failure dest is left as it was."""
    dest = Path(dest)
    h = hashlib.sha256()
    req = urllib.request.Request(url, headers={"User-Agent": "avt_np-weights"})

    def write(out):
        head, size = b"", 0
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            bar = Progress(label or dest.name, total)
            while block := resp.read(1 << 20):
                out.write(block)
                h.update(block)
                head += block[:512 - len(head)]
                size += len(block)
                bar.update(len(block))
            bar.close()
        if total and size != total:
            raise WeightsError(f"{url}: got {size} bytes, expected {total}")
        check_payload(head, size, url, min_bytes)   # raised here: the file is never renamed

    atomic_write(dest, write)
    return h.hexdigest()


# -- graph surgery -----------------------------------------------------------------------------
def load_onnx(path):
    """onnx.ModelProto from a file, or WeightsError (one line) if it is not an ONNX model."""
    import onnx                             # imported here: slow to load, graph surgery only
    try:
        return onnx.load(str(path))
    except Exception as e:  # google.protobuf DecodeError, OSError, ...
        raise WeightsError(f"{path}: not an ONNX model (onnx cannot parse it: "
                           f"{first_line(e)})") from None


def free_batch(graph, name="N"):
    """Make a fixed batch dimension symbolic: dim 0 of the first input, of every output and of
    intermediate shapes that repeat it. The zoo's vgg16-7 declares batch 1 although its
    operators (Conv, Flatten, Gemm) work for any batch. Returns the old batch (None if free)."""
    first = graph.input[0].type.tensor_type.shape.dim
    if not first or first[0].dim_param or first[0].dim_value <= 0:
        return None
    old = first[0].dim_value
    for info in [graph.input[0], *graph.output, *graph.value_info]:
        dims = info.type.tensor_type.shape.dim
        if dims and not dims[0].dim_param and dims[0].dim_value == old:
            dims[0].dim_param = name               # setting dim_param clears dim_value
    return old


def runs_with_batch(model_bytes, batch=2):
    """True if onnxruntime runs a serialized model (onnx's SerializeToString()) on `batch` zero
    inputs (all input dims but 0 fixed)."""
    import onnxruntime as ort               # imported here, as onnx below: only graph surgery
                                            # needs them, and they take a second to load
    quiet = ort.RunOptions()
    quiet.log_severity_level = 4            # failing is an answer here, not an error to print
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        (inp,) = session.get_inputs()
        shape = [batch] + [int(d) for d in inp.shape[1:]]
        outs = session.run(None, {inp.name: np.zeros(shape, np.float32)}, quiet)
        return all(np.asarray(o).shape[:1] == (batch,) for o in outs)
    except Exception:
        return False


def expose_output(src, dst, tensor=FC7, width=4096, symbolic_batch=True):
    """Copy an ONNX model, adding the internal tensor `tensor` to its graph outputs.

    The zoo's vgg16-7 only outputs the 1000 logits (vgg0_dense2_fwd); fc7 after its ReLU is
    the internal tensor vgg0_dense1_relu_fwd. It is declared [batch, width]. vgg16-7 declares
    batch 1, so with symbolic_batch a fixed batch becomes the symbol N (free_batch), checked by
    running a batch of 2 in onnxruntime; if that fails the file keeps its fixed batch (the
    runner then feeds it one frame at a time) and a note goes to stderr. src is read once and
    dst written once (atomic_write).
    """
    import onnx                             # imported here: slow to load, graph surgery only
    from onnx import TensorProto, helper

    model = load_onnx(src)
    graph = model.graph
    if not graph.input:
        raise WeightsError(f"{src}: the graph has no input")
    if not any(o.name == tensor for o in graph.output):
        produced = {out for node in graph.node for out in node.output}
        if tensor not in produced:
            raise WeightsError(f"{src}: no tensor named {tensor!r} in the graph; is this the ONNX "
                               "zoo's vgg16-7.onnx? (see weights/README.md)")
        batch = graph.input[0].type.tensor_type.shape.dim[0]
        batch = batch.dim_param or (batch.dim_value if batch.dim_value > 0 else "N")
        graph.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, [batch, width]))
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise WeightsError(f"{src}: the model with output {tensor} fails onnx's checker "
                           f"({first_line(e)})") from None
    data = model.SerializeToString()               # the model with the batch src declares
    fixed = free_batch(graph) if symbolic_batch else None
    if fixed is not None:
        free = model.SerializeToString()           # the same with batch N
        if runs_with_batch(free):
            data = free
        else:
            print(f"note: {src} does not run with a free batch; {dst} keeps batch {fixed}",
                  file=sys.stderr)
    atomic_write(dst, lambda f: f.write(data))
    return dst


def fetch(names, force=False, out=None):
    """Download the named files (and make derived ones); print 'sha256  path' for each to out
    (default: the current sys.stdout)."""
    out = out or sys.stdout
    failures = []
    for name in names:
        entry = FILES[name]
        dest = weight_path(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_file() and not force:
            print(f"{name}: {dest} already present", file=sys.stderr)
            digest = sha256_of(dest)
        elif entry.derived_from:
            src = weight_path(entry.derived_from)
            if not src.is_file():
                failures.append(f"{name}: needs {src} first")
                continue
            print(f"{name}: adding output {FC7} to {src.name} -> {dest.name}", file=sys.stderr)
            expose_output(src, dest)
            digest = sha256_of(dest)
        else:
            digest = None
            for url in entry.urls:
                print(f"{name}: downloading {url}", file=sys.stderr)
                try:
                    digest = download(url, dest, label=name, min_bytes=entry.min_bytes)
                    break
                except Exception as e:  # network errors of every kind: try the next URL
                    print(f"{name}: failed ({type(e).__name__}: {e})", file=sys.stderr)
            if digest is None:
                failures.append(f"{name}: every URL failed")
                continue
        if entry.sha256 and digest != entry.sha256:
            failures.append(f"{name}: SHA-256 {digest} differs from manifest {entry.sha256}")
        print(f"{digest}  {dest}", file=out)
    return failures


def run(argv=None):
    p = cli.ArgumentParser(prog="python -m avt_np.weights", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="show each expected file, its path and whether it is present")
    f = sub.add_parser("fetch", help="download files into the weights directory "
                                     "(default: the required ones: vggish, vgg16, vgg16_fc7)")
    f.add_argument("names", nargs="*", help=f"any of {', '.join(FILES)}")
    f.add_argument("--force", action="store_true", help="download again even if present")
    e = sub.add_parser("expose-fc7", help=f"copy SRC to DST with {FC7} added as an output")
    e.add_argument("src")
    e.add_argument("dst")
    s = sub.add_parser("sha256", help="print the SHA-256 of files")
    s.add_argument("files", nargs="+")
    args = p.parse_args(argv)
    if args.cmd == "list":
        for name, entry in FILES.items():
            path = weight_path(name)
            state = "present" if path.is_file() else "missing"
            tag = " (optional)" if entry.optional else ""
            print(f"{name:10s} {state:8s} {path}{tag}  {entry.description}")
    elif args.cmd == "fetch":
        names = args.names or [n for n, e in FILES.items() if not e.optional]
        unknown = [n for n in names if n not in FILES]
        if unknown:
            raise WeightsError(f"unknown weight name(s) {unknown}; expected any of {list(FILES)}")
        # derived files after their sources, whatever order was asked
        names = sorted(names, key=lambda n: FILES[n].derived_from is not None)
        if shutil.disk_usage(weights_dir().parent if not weights_dir().exists()
                             else weights_dir()).free < 2e9:
            print("warning: under 2 GB free for the weights", file=sys.stderr)
        failures = fetch(names, force=args.force)
        if failures:
            raise WeightsError("; ".join(failures))
    elif args.cmd == "expose-fc7":
        expose_output(require(args.src), args.dst)
        print(f"{sha256_of(args.dst)}  {args.dst}")
    elif args.cmd == "sha256":
        for path in args.files:
            print(f"{sha256_of(require(path))}  {path}")


def main(argv=None):
    return cli.main(run, argv, errors=(WeightsError, OSError),
                    interrupted="interrupted: no partial file is left; run fetch again")


if __name__ == "__main__":
    raise SystemExit(main())
