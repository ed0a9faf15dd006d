"""avt_np.weights: fetching for real from a local HTTP server and over file:// URLs (offline),
verifying against the manifest's checksums and the lock file, refusing stubs, fc7 surgery,
warnings about data made with other weights."""

import functools
import hashlib
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest

from avt_np import download, progress, weights
from avt_np.download import DownloadError
from avt_np.features import vgg16_graph
from tests.features import standins


def sha(path_or_bytes):
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    return hashlib.sha256(data).hexdigest()


def payload(n=5000, seed=0):
    """n random bytes: a stand-in weight file (never the real 553 MB)."""
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def flipped(data, at=1234):
    """The same bytes with one bit changed: the same size, another SHA-256."""
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def use_manifest(monkeypatch, tmp_path, entries):
    """Write a manifest with `entries`, point $AVT_NP_WEIGHTS_MANIFEST at it and
    $AVT_NP_WEIGHTS at an empty tmp_path/weights; returns that folder."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"about": "test", "files": entries}))
    monkeypatch.setenv("AVT_NP_WEIGHTS_MANIFEST", str(manifest))
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(tmp_path / "weights"))
    return tmp_path / "weights"


def entry(name, urls, **fields):
    return dict(name=name, filename=f"{name}.onnx", urls=urls, description=name, **fields)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; /unannounced/NAME sends NAME without a Content-Length header (HTTP/1.0:
    the body ends when the connection closes), as some servers and proxies do."""

    def do_GET(self):
        if not self.path.startswith("/unannounced/"):
            return super().do_GET()
        data = (Path(self.directory) / self.path.rpartition("/")[2]).read_bytes()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 (a thread) serving tmp_path/served: (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    for var in ("no_proxy", "NO_PROXY"):                 # never through a configured proxy
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def lock_of(folder):
    return json.loads((folder / weights.LOCK_NAME).read_text())["files"]


# -- public checksums: the manifest's SHA-256 and size ------------------------------------------
def test_a_file_whose_sha256_differs_from_the_manifest_is_refused_removed_and_the_next_url_kept(
        server, tmp_path, monkeypatch, capsys):
    served, base = server
    good = payload()
    (served / "tampered.onnx").write_bytes(flipped(good))
    (served / "zoo.onnx").write_bytes(good)
    folder = use_manifest(monkeypatch, tmp_path, [entry(
        "zoo", [f"{base}/tampered.onnx", f"{base}/zoo.onnx"], sha256=sha(good), bytes=len(good))])
    assert weights.main(["fetch", "zoo"]) == 0
    out, err = capsys.readouterr()
    assert (folder / "zoo.onnx").read_bytes() == good
    assert out == f"{sha(good)}  {folder / 'zoo.onnx'}\n"
    refusals = [line for line in err.splitlines() if "refused" in line]
    assert len(refusals) == 1
    assert f"{base}/tampered.onnx: refused: SHA-256 {sha(flipped(good))} differs from " \
           f"{sha(good)} (manifest.json)" in refusals[0]
    assert listing(folder) == ["zoo.onnx"]          # no temporary file, no lock (public checksum)


def test_a_wrong_size_is_refused_before_the_body_is_downloaded(server, tmp_path, monkeypatch,
                                                              capsys):
    served, base = server
    good = payload(5000)
    (served / "longer.onnx").write_bytes(payload(3 << 20, seed=1))     # three 1 MB blocks
    (served / "zoo.onnx").write_bytes(good)
    folder = use_manifest(monkeypatch, tmp_path, [entry(
        "zoo", [f"{base}/longer.onnx", f"{base}/zoo.onnx"], sha256=sha(good), bytes=len(good))])
    written = []
    update = progress.Progress.update
    monkeypatch.setattr(progress.Progress, "update",
                        lambda self, n: written.append((self.label, n)) or update(self, n))
    assert weights.main(["fetch", "zoo"]) == 0
    err = capsys.readouterr().err
    assert f"{base}/longer.onnx: refused: the server announces 3,145,728 bytes, manifest.json " \
           "says 5,000" in err
    assert written == [("zoo", 5000)]              # nothing of the longer file was written
    assert (folder / "zoo.onnx").read_bytes() == good


def test_a_file_longer_than_expected_is_cut_off_while_streaming(server, tmp_path, monkeypatch,
                                                               capsys):
    served, base = server
    good = payload(5000)
    (served / "longer.onnx").write_bytes(payload(3 << 20, seed=1))
    (served / "zoo.onnx").write_bytes(good)
    folder = use_manifest(monkeypatch, tmp_path, [entry(
        "zoo", [f"{base}/unannounced/longer.onnx", f"{base}/zoo.onnx"], sha256=sha(good),
        bytes=len(good))])
    written = []
    update = progress.Progress.update
    monkeypatch.setattr(progress.Progress, "update",
                        lambda self, n: written.append(n) or update(self, n))
    assert weights.main(["fetch", "zoo"]) == 0
    assert "longer.onnx: refused: more than the 5,000 bytes manifest.json says; nothing kept" \
        in capsys.readouterr().err
    assert max(written) <= (1 << 20) + 5000         # stopped after the first 1 MB block
    assert listing(folder) == ["zoo.onnx"]


def test_when_every_url_fails_fetch_says_so_in_one_error_line_exit_2_and_keeps_nothing(
        server, tmp_path, monkeypatch, capsys):
    served, base = server
    good = payload()
    (served / "tampered.onnx").write_bytes(flipped(good))
    (served / "short.onnx").write_bytes(good[:4000])
    folder = use_manifest(monkeypatch, tmp_path, [entry(
        "zoo", [f"{base}/tampered.onnx", f"{base}/missing.onnx", f"{base}/short.onnx"],
        sha256=sha(good), bytes=len(good))])
    assert weights.main(["fetch", "zoo"]) == 2
    err = capsys.readouterr().err.splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert errors == ["error: zoo: every URL failed (3 tried); no download kept"]
    assert sum("refused" in line for line in err) == 2
    assert any("missing.onnx: failed (HTTPError: HTTP Error 404" in line for line in err)
    assert "Traceback" not in "\n".join(err)
    assert listing(folder) == []


def test_a_present_file_that_differs_from_the_manifest_is_not_used_and_force_replaces_it(
        server, tmp_path, monkeypatch, capsys):
    served, base = server
    good = payload()
    (served / "zoo.onnx").write_bytes(good)
    folder = use_manifest(monkeypatch, tmp_path, [entry(
        "zoo", [f"{base}/zoo.onnx"], sha256=sha(good), bytes=len(good))])
    folder.mkdir()
    (folder / "zoo.onnx").write_bytes(flipped(good))
    assert weights.main(["fetch", "zoo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: zoo: {folder / 'zoo.onnx'}: SHA-256") and "--force" in err[-1]
    assert (folder / "zoo.onnx").read_bytes() == flipped(good)    # the user's file is not deleted
    assert weights.main(["fetch", "--force", "zoo"]) == 0
    assert (folder / "zoo.onnx").read_bytes() == good


# -- no public checksum: the lock file ----------------------------------------------------------
def test_a_changed_file_without_public_checksum_is_refused_against_the_lock_until_accepted(
        server, tmp_path, monkeypatch, capsys):
    served, base = server
    first, changed = payload(seed=2), payload(seed=3)
    (served / "ailia.onnx").write_bytes(first)
    folder = use_manifest(monkeypatch, tmp_path, [entry("ailia", [f"{base}/ailia.onnx"])])
    assert weights.main(["fetch"]) == 0
    assert "SHA-256 recorded in" in capsys.readouterr().err
    locked = lock_of(folder)["ailia.onnx"]
    assert (locked["sha256"], locked["bytes"], locked["how"], locked["url"]) == \
        (sha(first), len(first), "first download", f"{base}/ailia.onnx")

    (served / "ailia.onnx").write_bytes(changed)              # the publisher replaced it
    assert weights.main(["fetch", "--force", "ailia"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert any(f"refused: SHA-256 {sha(changed)} differs from {sha(first)} "
               f"(weights.lock.json, first download" in line for line in err)
    assert err[-1].startswith("error: ailia: every URL failed") and "--accept-new ailia" in err[-1]
    assert (folder / "ailia.onnx").read_bytes() == first       # the verified file stays
    assert lock_of(folder)["ailia.onnx"]["sha256"] == sha(first)
    assert listing(folder) == ["ailia.onnx", weights.LOCK_NAME]

    (folder / "ailia.onnx").unlink()                           # a fresh fetch is checked too
    assert weights.main(["fetch", "ailia"]) == 2
    assert listing(folder) == [weights.LOCK_NAME]

    assert weights.main(["fetch", "--accept-new", "ailia"]) == 0
    assert (folder / "ailia.onnx").read_bytes() == changed
    locked = lock_of(folder)["ailia.onnx"]
    assert (locked["sha256"], locked["bytes"], locked["how"]) == \
        (sha(changed), len(changed), "accepted with --accept-new")


def test_a_file_present_before_the_lock_existed_is_recorded_and_then_checked(
        tmp_path, monkeypatch, capsys):
    remote = tmp_path / "remote.onnx"
    remote.write_bytes(payload())
    folder = use_manifest(monkeypatch, tmp_path, [entry("ailia", [remote.as_uri()])])
    folder.mkdir()
    (folder / "ailia.onnx").write_bytes(payload(seed=4))       # e.g. fetched by an older avt_np
    assert weights.main(["verify"]) == 0                      # nothing to check it against
    assert verify_lines(capsys)[0] == {"ailia": "NOT LOCKED"}
    assert weights.main(["fetch"]) == 0
    assert lock_of(folder)["ailia.onnx"]["sha256"] == sha(payload(seed=4))
    assert "present when fetch first ran" in capsys.readouterr().err
    (folder / "ailia.onnx").write_bytes(payload(seed=5))
    assert weights.main(["fetch"]) == 2
    assert "--accept-new ailia records this file" in capsys.readouterr().err
    assert weights.main(["fetch", "--accept-new"]) == 0
    assert lock_of(folder)["ailia.onnx"]["sha256"] == sha(payload(seed=5))


# -- verify ------------------------------------------------------------------------------------
@pytest.fixture
def fetched(tmp_path, monkeypatch):
    """A public-checksum file, a locked one and an optional missing one, fetched over file://."""
    remote = tmp_path / "remote"
    remote.mkdir()
    for k, name in enumerate(["zoo", "ailia", "extra"]):
        (remote / f"{name}.onnx").write_bytes(payload(seed=10 + k))
    zoo = payload(seed=10)
    folder = use_manifest(monkeypatch, tmp_path, [
        entry("zoo", [(remote / "zoo.onnx").as_uri()], sha256=sha(zoo), bytes=len(zoo)),
        entry("ailia", [(remote / "ailia.onnx").as_uri()]),
        entry("extra", [(remote / "extra.onnx").as_uri()], optional=True)])
    assert weights.main(["fetch"]) == 0
    return folder


def verify_lines(capsys):
    """({name: status}, stdout, stderr) of a verify just run."""
    out, err = capsys.readouterr()
    status = {line[11:].split()[0]: line[:10].strip() for line in out.splitlines()}
    return status, out, err


def test_verify_reports_each_file_ok_or_missing_and_exit_0(fetched, capsys):
    capsys.readouterr()
    assert weights.main(["verify"]) == 0
    status, out, _ = verify_lines(capsys)
    assert status == {"zoo": "OK", "ailia": "OK", "extra": "MISSING"}     # extra is optional
    assert "as in manifest.json" in out and "as in weights.lock.json, first download" in out


def test_verify_finds_a_changed_file_and_a_missing_one_and_exits_1(fetched, capsys):
    (fetched / "ailia.onnx").write_bytes(flipped(payload(seed=11)))
    (fetched / "zoo.onnx").unlink()
    capsys.readouterr()
    assert weights.main(["verify"]) == 1
    status, out, err = verify_lines(capsys)
    assert status == {"zoo": "MISSING", "ailia": "MISMATCH", "extra": "MISSING"}
    assert err.strip().splitlines()[-1] == "FAIL: zoo MISSING, ailia MISMATCH"
    assert weights.main(["verify", "ailia"]) == 1 and weights.main(["verify", "extra"]) == 0


def test_verify_refuses_a_file_of_the_wrong_size_without_hashing_it(fetched, capsys,
                                                                   monkeypatch):
    (fetched / "zoo.onnx").write_bytes(payload(seed=10) + b"x")
    monkeypatch.setattr(weights, "sha256_of", lambda *a, **k: pytest.fail("hashed"))
    assert weights.main(["verify", "zoo"]) == 1
    assert "5,001 bytes, manifest.json says 5,000" in capsys.readouterr().out


# -- damaged manifest and lock files: one line naming the file, exit 2 ---------------------------
def good_lock():
    return {"about": "x", "files": {"ailia.onnx": {"sha256": sha(b"a"), "bytes": 1}}}


LOCK_DAMAGE = {
    "cut": lambda: json.dumps(good_lock()).encode()[:30],
    "empty": lambda: b"",
    "not utf-8": lambda: b"\xff\xfe{\x00",
    "not JSON": lambda: b"sha256 ailia.onnx abc",
    "deeply nested": lambda: b"[" * 100000 + b"]" * 100000,
    "a list": lambda: b"[1, 2]",
    "files a list": lambda: json.dumps({"files": []}).encode(),
    "entry a string": lambda: json.dumps({"files": {"ailia.onnx": "abc"}}).encode(),
    "sha256 a number": lambda: json.dumps(
        {"files": {"ailia.onnx": {"sha256": 123, "bytes": 1}}}).encode(),
    "sha256 too short": lambda: json.dumps(
        {"files": {"ailia.onnx": {"sha256": "abc", "bytes": 1}}}).encode(),
    "bytes a string": lambda: json.dumps(
        {"files": {"ailia.onnx": {"sha256": sha(b"a"), "bytes": "1"}}}).encode(),
    "bytes NaN": lambda: b'{"files": {"ailia.onnx": {"sha256": "%s", "bytes": NaN}}}'
    % sha(b"a").encode(),
    "how two lines": lambda: json.dumps({"files": {"ailia.onnx": {
        "sha256": sha(b"a"), "bytes": 1, "how": "first\ndownload"}}}).encode(),
    "derived_from a string": lambda: json.dumps({"files": {"ailia.onnx": {
        "sha256": sha(b"a"), "bytes": 1, "derived_from": "zoo"}}}).encode(),
    "huge integer": lambda: b'{"files": {"a": {"sha256": "0", "bytes": ' + b"9" * 5000 + b"}}}",
}


@pytest.mark.parametrize("command", [["verify"], ["fetch"]])
@pytest.mark.parametrize("damage", LOCK_DAMAGE, ids=list(LOCK_DAMAGE))
def test_a_damaged_lock_file_is_one_line_naming_it_and_exit_2(tmp_path, monkeypatch, capsys,
                                                              damage, command):
    remote = tmp_path / "remote.onnx"
    remote.write_bytes(payload())
    folder = use_manifest(monkeypatch, tmp_path, [entry("ailia", [remote.as_uri()])])
    folder.mkdir()
    (folder / weights.LOCK_NAME).write_bytes(LOCK_DAMAGE[damage]())
    assert weights.main(command) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith(f"error: {folder / weights.LOCK_NAME}: ")
    assert listing(folder) == [weights.LOCK_NAME]              # nothing downloaded


def good_entry():
    return entry("zoo", ["https://example.org/zoo.onnx"])


MANIFEST_DAMAGE = {
    "cut": lambda: json.dumps({"files": [good_entry()]}).encode()[:40],
    "empty": lambda: b"  \n",
    "not utf-8": lambda: b'{"files": [\xff]}',
    "not JSON": lambda: b"files: zoo",
    "files an object": lambda: json.dumps({"files": {"zoo": good_entry()}}).encode(),
    "entry a list": lambda: json.dumps({"files": [["zoo"]]}).encode(),
    "urls a string": lambda: json.dumps({"files": [dict(good_entry(), urls="https://x")]}).encode(),
    "url not http": lambda: json.dumps({"files": [dict(good_entry(), urls=["zoo.onnx"])]}).encode(),
    "url with a newline": lambda: json.dumps(
        {"files": [dict(good_entry(), urls=["https://x.org/a\nb"])]}).encode(),
    "no urls": lambda: json.dumps({"files": [dict(good_entry(), urls=[])]}).encode(),
    "sha256 upper case": lambda: json.dumps(
        {"files": [dict(good_entry(), sha256=sha(b"a").upper())]}).encode(),
    "bytes a bool": lambda: json.dumps({"files": [dict(good_entry(), bytes=True)]}).encode(),
    "bytes a float": lambda: json.dumps({"files": [dict(good_entry(), bytes=5.0)]}).encode(),
    "filename with a folder": lambda: json.dumps(
        {"files": [dict(good_entry(), filename="../zoo.onnx")]}).encode(),
    "unknown field": lambda: json.dumps({"files": [dict(good_entry(), sha="x")]}).encode(),
    "missing field": lambda: json.dumps({"files": [{"name": "zoo"}]}).encode(),
    "duplicate name": lambda: json.dumps({"files": [good_entry(), good_entry()]}).encode(),
    "unknown source": lambda: json.dumps({"files": [dict(
        good_entry(), name="fc7", filename="fc7.onnx", urls=[], derived_from="vgg")]}).encode(),
}


@pytest.mark.parametrize("command", [["verify"], ["fetch"], ["list"]])
@pytest.mark.parametrize("damage", MANIFEST_DAMAGE, ids=list(MANIFEST_DAMAGE))
def test_a_damaged_manifest_is_one_line_naming_it_and_exit_2(tmp_path, monkeypatch, capsys,
                                                             damage, command):
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(MANIFEST_DAMAGE[damage]())
    monkeypatch.setenv("AVT_NP_WEIGHTS_MANIFEST", str(manifest))
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(tmp_path / "weights"))
    assert weights.main(command) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith(f"error: {manifest}: ")


def test_the_repository_manifest_records_vgg16s_public_checksum_and_the_direct_lfs_url():
    entries = weights.load_manifest(weights.MANIFEST)
    vgg16 = entries["vgg16"]
    assert (vgg16.sha256, vgg16.bytes) == (
        "f20805a3ecccaa88647bbab4ad011ff2412a9838485ea844de0fcbce349820b9", 553437328)
    assert "ONNX_HUB_MANIFEST.json" in vgg16.notes["checksum"]
    assert ("https://media.githubusercontent.com/media/onnx/models/main/validated/vision/"
            "classification/vgg/model/vgg16-7.onnx") in vgg16.urls
    assert entries["vggish"].sha256 is None                 # no public checksum: the lock's job


# -- the derived file: VGG16 with fc7 exposed --------------------------------------------------
@pytest.fixture
def served(tmp_path, monkeypatch):
    """A 'server' folder with stand-ins behind file:// URLs, a manifest pointing at them (VGG16
    with the stand-in's checksum), and $AVT_NP_WEIGHTS -> an empty folder."""
    server = tmp_path / "server"
    server.mkdir()
    standins.make_vggish(server / "vggish.onnx")
    standins.make_vgg16(server / "vgg16-7.onnx")
    (server / "lfs.onnx").write_bytes(b"version https://git-lfs.github.com/spec/v1\n"
                                      b"oid sha256:abc\nsize 553000000\n")
    use_manifest(monkeypatch, tmp_path, [
        dict(entry("vggish", [(server / "vggish.onnx").as_uri()]), filename="vggish.onnx"),
        dict(entry("vgg16", [(server / "lfs.onnx").as_uri(), (server / "vgg16-7.onnx").as_uri()],
                   sha256=sha(server / "vgg16-7.onnx")), filename="vgg16-7.onnx"),
        dict(entry("vgg16_fc7", [], derived_from="vgg16"), filename="vgg16-7-fc7.onnx"),
    ])
    return server


def test_fetch_downloads_prints_the_files_sha256_and_exposes_fc7(served, tmp_path, capsys):
    assert weights.main(["fetch"]) == 0
    out, err = capsys.readouterr()
    folder = tmp_path / "weights"
    got = {line.split()[1]: line.split()[0] for line in out.splitlines()}
    for name in ("vggish.onnx", "vgg16-7.onnx", "vgg16-7-fc7.onnx"):
        assert got[str(folder / name)] == sha(folder / name)
    assert sha(folder / "vggish.onnx") == sha(served / "vggish.onnx")
    size = (served / "vggish.onnx").stat().st_size / 1e6
    assert f"vggish {size:.1f}/{size:.1f} MB" in err                     # progress on stderr
    assert "Git LFS pointer" in err                                     # first vgg16 URL refused
    assert listing(folder) == ["vgg16-7-fc7.onnx", "vgg16-7.onnx", "vggish.onnx",
                               weights.LOCK_NAME]                        # no temporary file
    fc7 = onnx.load(str(folder / "vgg16-7-fc7.onnx"))
    assert vgg16_graph.FC7 in [o.name for o in fc7.graph.output]
    built = lock_of(folder)["vgg16-7-fc7.onnx"]
    assert built["sha256"] == sha(folder / "vgg16-7-fc7.onnx")
    assert built["derived_from"] == {"name": "vgg16", "sha256": sha(served / "vgg16-7.onnx")}


def test_the_derived_file_is_verified_against_the_lock_and_rebuilt_when_changed(served,
                                                                               tmp_path, capsys):
    folder = tmp_path / "weights"
    assert weights.main(["fetch"]) == 0
    assert weights.main(["verify"]) == 0
    assert verify_lines(capsys)[0]["vgg16_fc7"] == "OK"
    assert weights.main(["fetch"]) == 0
    assert "vgg16_fc7: " + f"{folder / 'vgg16-7-fc7.onnx'} already present" in \
        capsys.readouterr().err
    good = (folder / "vgg16-7-fc7.onnx").read_bytes()
    (folder / "vgg16-7-fc7.onnx").write_bytes(good[:-10])                # damaged
    assert weights.main(["verify"]) == 1
    assert verify_lines(capsys)[0]["vgg16_fc7"] == "MISMATCH"
    assert weights.main(["fetch"]) == 0
    assert "vgg16_fc7: rebuilding vgg16-7-fc7.onnx (MISMATCH" in capsys.readouterr().err
    assert (folder / "vgg16-7-fc7.onnx").read_bytes() == good            # the surgery repeats
    assert weights.main(["verify"]) == 0


def test_files_fetched_before_the_lock_existed_are_recorded_or_rebuilt(served, tmp_path, capsys):
    folder = tmp_path / "weights"
    assert weights.main(["fetch"]) == 0
    (folder / weights.LOCK_NAME).unlink()                 # as an older avt_np left the folder
    capsys.readouterr()
    assert weights.main(["verify"]) == 0
    assert verify_lines(capsys)[0] == {"vggish": "NOT LOCKED", "vgg16": "OK",
                                       "vgg16_fc7": "NOT LOCKED"}
    assert weights.main(["fetch"]) == 0
    err = capsys.readouterr().err
    assert "vggish: " in err and "(present when fetch first ran)" in err
    assert "vgg16_fc7: rebuilding vgg16-7-fc7.onnx (NOT LOCKED: no entry in" in err
    assert sorted(lock_of(folder)) == ["vgg16-7-fc7.onnx", "vggish.onnx"]
    assert weights.main(["verify"]) == 0
    assert set(verify_lines(capsys)[0].values()) == {"OK"}


def test_the_derived_file_is_not_built_from_a_source_that_fails_its_checksum(served, tmp_path,
                                                                            capsys):
    folder = tmp_path / "weights"
    folder.mkdir()
    standins.make_vgg16(folder / "vgg16-7.onnx", batch=2)               # not the zoo's file
    assert weights.main(["fetch", "vgg16_fc7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    size = (folder / "vgg16-7.onnx").stat().st_size / 1e6
    assert err[0].startswith(f"vgg16: hashing {size:.1f}/{size:.1f} MB")   # progress
    assert err[1:] == [f"error: vgg16_fc7: not built: {folder / 'vgg16-7.onnx'}: SHA-256 "
                       f"{sha(folder / 'vgg16-7.onnx')} differs from "
                       f"{sha(served / 'vgg16-7.onnx')} (manifest.json)"]
    assert listing(folder) == ["vgg16-7.onnx"]


# -- provenance: weights_differ ----------------------------------------------------------------
def test_weights_differ_names_each_model_whose_file_changed_and_hashes_once(tmp_path,
                                                                           monkeypatch):
    vggish, vgg16 = tmp_path / "vggish.onnx", tmp_path / "fc7.onnx"
    vggish.write_bytes(payload(seed=20))
    vgg16.write_bytes(payload(seed=21))
    paths = {"vggish": vggish, "vgg16": vgg16}
    recorded = {"vggish_sha256": sha(vggish), "vgg16_sha256": sha(vgg16)}
    assert weights.weights_differ(recorded, paths) == []
    calls = []
    sha256_of = download.sha256_of
    monkeypatch.setattr(download, "sha256_of", lambda p, **k: calls.append(p) or sha256_of(p))
    vgg16.write_bytes(payload(seed=22))
    lines = weights.weights_differ(recorded, paths, made="data set data/mine")
    assert lines == [f"vgg16: {vgg16} has SHA-256 {sha(vgg16)[:16]}..., but data set data/mine "
                     f"was made with {recorded['vgg16_sha256'][:16]}...: other weights, "
                     "features not comparable"]
    assert weights.weights_differ({"provenance": recorded}, paths, made="x") != []  # meta.json
    (tmp_path / "settings.json").write_text(json.dumps(recorded))
    assert len(weights.weights_differ(tmp_path / "settings.json", paths)) == 1      # a path
    assert calls == [vgg16.resolve()]                # the changed file, hashed once per process


def test_weights_differ_says_nothing_when_there_is_nothing_to_compare(tmp_path):
    vggish = tmp_path / "vggish.onnx"
    vggish.write_bytes(payload())
    paths = {"vggish": vggish, "vgg16": None}
    assert weights.weights_differ({"vgg16_sha256": sha(b"x")}, paths) == []   # vgg16 unused
    assert weights.weights_differ({}, paths) == []                            # audio only
    assert weights.weights_differ(tmp_path / "no-such.json", paths) == []
    (tmp_path / "cut.json").write_text('{"vggish_sha256": "ab')
    assert weights.weights_differ(tmp_path / "cut.json", paths) == []       # its reader reports
    lines = weights.weights_differ({"vggish_sha256": 12}, paths, made="run r")
    assert lines == ["vggish: run r records vggish_sha256 12, not a SHA-256: cannot tell "
                     "whether it was made with these weights"]


def test_features_warns_when_resuming_a_work_dir_made_with_other_weights(tmp_path, monkeypatch,
                                                                        capsys):
    from avt_np.features.__main__ import main as features
    from tests.features.conftest import write_wav
    folder = tmp_path / "weights"
    folder.mkdir()
    standins.make_vggish(folder / "vggish.onnx")
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(folder))
    (tmp_path / "clips").mkdir()
    args = ["--clips", str(tmp_path / "clips"), "--out", str(tmp_path / "data"), "--audio-only"]
    for k, split in enumerate(["train", "validation", "test"]):
        write_wav(tmp_path / "clips" / f"c{k}.wav", 1.0)
        (tmp_path / f"{split}.csv").write_text(f"c{k}.wav\t0\t10\tCar\n")
        args += ["--labels", f"{split}={tmp_path / f'{split}.csv'}"]
    work = tmp_path / "data.work"
    work.mkdir()
    (work / "settings.json").write_text(json.dumps({"vggish_sha256": sha(b"other weights")}))
    assert features(args) == 2                       # the work dir's settings refuse it...
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2] == (f"warning: vggish: {folder / 'vggish.onnx'} has SHA-256 "
                       f"{sha(folder / 'vggish.onnx')[:16]}..., but work dir {work} was made "
                       f"with {sha(b'other weights')[:16]}...: other weights, features not "
                       "comparable")                 # ...and the warning says which weights
    assert err[-1].startswith(f"error: work dir {work} was made with other settings")


# -- download details and graph surgery --------------------------------------------------------
@pytest.mark.parametrize("data, message", [
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n", "Git LFS pointer"),
    (b"\n  <!DOCTYPE html><html><body>Sign in</body></html>", "HTML page"),
    (b"\x08\x07" + bytes(100), "far fewer than the 1000"),
])
def test_download_refuses_stubs_and_leaves_no_temporary_file(tmp_path, data, message):
    src = tmp_path / "remote.onnx"
    src.write_bytes(data)
    dest = tmp_path / "out" / "model.onnx"
    dest.parent.mkdir()
    with pytest.raises(DownloadError, match=message) as e:
        download.download(src.as_uri(), dest, min_bytes=1000)
    assert "\n" not in str(e.value)
    assert listing(dest.parent) == []


def test_an_lfs_pointer_is_named_as_such_even_when_a_size_is_expected(tmp_path):
    src = tmp_path / "remote.onnx"
    src.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n")
    dest = tmp_path / "out" / "model.onnx"
    with pytest.raises(DownloadError, match="Git LFS pointer"):
        download.download(src.as_uri(), dest, expect=download.Expected(sha(b"x"), 553437328))
    assert listing(dest.parent) == []


def test_an_interrupted_download_removes_its_temporary_file(tmp_path, monkeypatch):
    src = tmp_path / "remote.bin"
    src.write_bytes(bytes(5000))

    def killed(self, n):
        raise KeyboardInterrupt
    monkeypatch.setattr(progress.Progress, "update", killed)
    dest = tmp_path / "out" / "model.onnx"
    dest.parent.mkdir()
    with pytest.raises(KeyboardInterrupt):
        download.download(src.as_uri(), dest)
    assert listing(dest.parent) == []


def test_expose_fc7_on_a_file_that_is_not_onnx_is_one_line_and_exit_2(tmp_path, capsys):
    junk = tmp_path / "notonnx.onnx"
    junk.write_bytes(b"\xff\xfe this is not a protobuf \x00\x01")
    assert weights.main(["expose-fc7", str(junk), str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {junk}: not an ONNX model")
    assert not (tmp_path / "x.onnx").exists()


def test_expose_fc7_makes_the_batch_symbolic_so_frames_run_together(tmp_path):
    zoo = standins.make_vgg16(tmp_path / "vgg16-7.onnx", batch=1)       # batch 1, like the zoo
    out = vgg16_graph.expose_output(zoo, tmp_path / "fc7.onnx")
    model = onnx.load(str(out))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert all(o.type.tensor_type.shape.dim[0].dim_param == "N" for o in model.graph.output)

    from avt_np.features.vgg16 import VGG16
    runner = VGG16(out)
    assert runner.batch is None
    calls = []
    run = runner.session.run
    runner.session.run = lambda names, feeds: calls.append(len(feeds["data"])) or run(names, feeds)
    frames = np.random.default_rng(0).integers(0, 256, (5, 224, 224, 3), dtype=np.uint8)
    fc7 = runner(frames)
    assert calls == [5]                                                  # one run for 5 frames
    np.testing.assert_allclose(standins.vgg16_mean_rgb(fc7), frames.reshape(5, -1, 3).mean(1),
                               atol=1e-2)


def test_a_model_that_truly_needs_batch_one_keeps_it_and_runs_frame_by_frame(tmp_path, capsys):
    zoo = standins.make_vgg16(tmp_path / "z.onnx", batch=1, reshape_to_batch=True)
    out = vgg16_graph.expose_output(zoo, tmp_path / "fc7.onnx")
    assert "keeps batch 1" in capsys.readouterr().err
    assert onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    from avt_np.features.vgg16 import VGG16
    runner = VGG16(out)
    assert runner.batch == 1
    assert runner(np.zeros((3, 224, 224, 3), np.uint8) + 128).shape == (3, 4096)
    assert listing(tmp_path) == ["fc7.onnx", "z.onnx"]


def test_a_model_that_keeps_its_fixed_batch_is_read_once_and_written_once(tmp_path,
                                                                          monkeypatch):
    zoo = standins.make_vgg16(tmp_path / "z.onnx", batch=1, reshape_to_batch=True)
    calls = []
    load, write = vgg16_graph.load_onnx, vgg16_graph.atomic_write
    monkeypatch.setattr(vgg16_graph, "load_onnx", lambda path: calls.append("load") or load(path))
    monkeypatch.setattr(vgg16_graph, "atomic_write",
                        lambda path, fn: calls.append("write") or write(path, fn))
    vgg16_graph.expose_output(zoo, tmp_path / "fc7.onnx")
    assert calls == ["load", "write"]


def test_a_download_leaves_other_files_beside_its_target_alone(tmp_path):
    src = tmp_path / "remote.bin"
    src.write_bytes(bytes(5000))
    dest = tmp_path / "out" / "model.onnx"
    dest.parent.mkdir()
    other = dest.parent / "model.onnx.part"        # e.g. another fetch's partial file
    other.write_bytes(b"theirs")
    download.download(src.as_uri(), dest)
    assert dest.read_bytes() == bytes(5000) and other.read_bytes() == b"theirs"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_everything_in_weights_but_its_docs_is_git_ignored():
    names = ["weights/vgg16-7.onnx", "weights/vgg16-7.onnx.part", "weights/vggish_pca_params.npz",
             "weights/.vgg16-7-fc7.onnx.x1y2.tmp", f"weights/{weights.LOCK_NAME}",
             "weights/README.md", "weights/manifest.json"]
    done = subprocess.run(["git", "check-ignore", *names], cwd=weights.REPO_ROOT,
                          capture_output=True, text=True)
    assert done.stdout.split() == names[:5]
