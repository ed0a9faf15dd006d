"""Downloads checked while they stream, and SHA-256 checksums of files (avt_np.weights uses
both: fetch, verify).

A download goes through io.atomic_write, so the target is only ever replaced by a complete,
checked file. What it is checked against (an Expected: size and SHA-256) is refused with
`Refused`; a stub served instead of the file (an HTML error page, a Git LFS pointer, a file far
below a size floor) is a DownloadError.
"""

import hashlib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from avt_np.cli import UsageError
from avt_np.io import atomic_write
from avt_np.progress import Progress


class DownloadError(UsageError):
    """A download that failed or served something other than a file (one line, exit 2)."""


class Refused(DownloadError):
    """A download that is not the file expected: its size or SHA-256 differs from what an
    Expected says (avt_np.weights then tries the next URL, and counts the refusal)."""


def sha256_of(path, chunk=1 << 20, label=None):
    """SHA-256 of a file, read in chunks; with a label, byte progress on stderr."""
    h = hashlib.sha256()
    bar = Progress(Path(path).stat().st_size, label, in_bytes=True) if label else None
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
            if bar:
                bar.update(bar.done + len(block))
    if bar:
        bar.close()
    return h.hexdigest()


_hashes = {}   # (path, size, mtime_ns, inode) -> SHA-256, for this process


def cached_sha256(path):
    """sha256_of, computed once per process for a file that has not changed since (same path,
    size, modification time and inode): hashing VGG16 reads 553 MB."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _hashes:
        _hashes[key] = sha256_of(path)
    return _hashes[key]


@dataclass
class Expected:
    """What a download must be: its SHA-256 and size (None: unknown) and where they come from."""
    sha256: str
    bytes: int = None
    source: str = "manifest.json"

    def check(self, size, digest, url):
        if self.bytes is not None and size != self.bytes:
            raise Refused(f"{url}: refused: {size:,} bytes, {self.source} says "
                               f"{self.bytes:,}; the file was removed")
        if digest != self.sha256:
            raise Refused(f"{url}: refused: SHA-256 {digest} differs from {self.sha256} "
                               f"({self.source}); the file was removed")


LFS_POINTER = b"version https://git-lfs"


def check_payload(head, size, url, min_bytes=None):
    """WeightsError if a download (its first 512 bytes `head`, `size` bytes in all) is an HTML
    page, a Git LFS pointer stub or far smaller than the manifest's lower bound (a login page or
    a mirror's error page saved as .onnx)."""
    if head.startswith(LFS_POINTER):
        raise DownloadError(f"{url}: got a {size}-byte Git LFS pointer, not the file "
                           "(the host serves the LFS stub; try the next URL)")
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        raise DownloadError(f"{url}: got a {size}-byte HTML page, not the file "
                           "(an error or login page)")
    if min_bytes and size < min_bytes:
        raise DownloadError(f"{url}: got {size} bytes, far fewer than the {min_bytes} at least "
                           "expected (see weights/manifest.json)")


def content_length(headers):
    try:
        return max(int(headers.get("Content-Length") or 0), 0)
    except ValueError:
        return 0


def download(url, dest, label=None, timeout=60, min_bytes=None, expect=None):
    """Stream url into dest through atomic_write (a temporary file beside dest, renamed when
    complete and checked); return dest's SHA-256. On any failure dest is left as it was and the
    temporary file is removed.

    expect: an Expected the file must match: the size announced by the server is compared once
    the first block has shown the payload is not a stub (a wrong size is refused before the
    rest is downloaded), the bytes are counted while streaming (one too many ends the
    download), then the size and the SHA-256 of the whole file are compared.
    """
    dest = Path(dest)
    h = hashlib.sha256()
    req = urllib.request.Request(url, headers={"User-Agent": "avt_np-weights"})

    def write(out):
        head, size = b"", 0
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            total = content_length(resp.headers)
            bar = Progress(total, label or dest.name, in_bytes=True)
            while block := resp.read(1 << 20):
                if not size and expect and expect.bytes is not None and total:
                    check_payload(block[:512], total, url)          # a stub says what it is
                    if total != expect.bytes:
                        raise Refused(f"{url}: refused: the server announces {total:,} "
                                           f"bytes, {expect.source} says {expect.bytes:,}; "
                                           "nothing kept")
                out.write(block)
                h.update(block)
                head += block[:512 - len(head)]
                size += len(block)
                bar.update(size)
                if expect and expect.bytes is not None and size > expect.bytes:
                    raise Refused(f"{url}: refused: more than the {expect.bytes:,} bytes "
                                       f"{expect.source} says; nothing kept")
            bar.close()
        if total and size != total:
            raise DownloadError(f"{url}: got {size} bytes, expected {total}")
        check_payload(head, size, url, min_bytes)   # raised here: the file is never renamed
        if expect:
            expect.check(size, h.hexdigest(), url)

    atomic_write(dest, write)
    return h.hexdigest()
