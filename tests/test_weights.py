"""avt_np.weights: fetching over file:// URLs (offline, for real), refusing stubs, fc7 surgery."""

import hashlib
import shutil
import subprocess

import numpy as np
import onnx
import pytest

from avt_np import weights
from avt_np.weights import WeightFile, WeightsError
from tests.features import standins


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A 'server' folder with stand-ins behind file:// URLs, a manifest pointing at them, and
    $AVT_NP_WEIGHTS -> an empty folder."""
    server = tmp_path / "server"
    server.mkdir()
    standins.make_vggish(server / "vggish.onnx")
    standins.make_vgg16(server / "vgg16-7.onnx")
    (server / "lfs.onnx").write_bytes(b"version https://git-lfs.github.com/spec/v1\n"
                                      b"oid sha256:abc\nsize 553000000\n")
    files = {
        "vggish": WeightFile("vggish", "vggish.onnx", [(server / "vggish.onnx").as_uri()], "v"),
        "vgg16": WeightFile("vgg16", "vgg16-7.onnx", [(server / "lfs.onnx").as_uri(),
                                                      (server / "vgg16-7.onnx").as_uri()], "z"),
        "vgg16_fc7": WeightFile("vgg16_fc7", "vgg16-7-fc7.onnx", [], "f", derived_from="vgg16"),
    }
    monkeypatch.setattr(weights, "FILES", files)
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(tmp_path / "weights"))
    return server


def test_fetch_downloads_prints_the_files_sha256_and_exposes_fc7(served, tmp_path, capsys):
    assert weights.main(["fetch"]) == 0
    out, err = capsys.readouterr()
    folder = tmp_path / "weights"
    got = {line.split()[1]: line.split()[0] for line in out.splitlines()}
    for name in ("vggish.onnx", "vgg16-7.onnx", "vgg16-7-fc7.onnx"):
        assert got[str(folder / name)] == sha(folder / name)
    assert sha(folder / "vggish.onnx") == sha(served / "vggish.onnx")
    assert "vggish: 100.0%" in err and "vgg16: 100.0%" in err            # progress on stderr
    assert "Git LFS pointer" in err                                     # first vgg16 URL refused
    assert sorted(p.name for p in folder.iterdir()) == ["vgg16-7-fc7.onnx", "vgg16-7.onnx",
                                                         "vggish.onnx"]    # no temporary file
    fc7 = onnx.load(str(folder / "vgg16-7-fc7.onnx"))
    assert weights.FC7 in [o.name for o in fc7.graph.output]


@pytest.mark.parametrize("payload, message", [
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n", "Git LFS pointer"),
    (b"\n  <!DOCTYPE html><html><body>Sign in</body></html>", "HTML page"),
    (b"\x08\x07" + bytes(100), "far fewer than the 1000"),
])
def test_download_refuses_stubs_and_leaves_no_temporary_file(tmp_path, payload, message):
    src = tmp_path / "remote.onnx"
    src.write_bytes(payload)
    dest = tmp_path / "out" / "model.onnx"
    dest.parent.mkdir()
    with pytest.raises(WeightsError, match=message) as e:
        weights.download(src.as_uri(), dest, min_bytes=1000)
    assert "\n" not in str(e.value)
    assert list(dest.parent.iterdir()) == []


def test_an_interrupted_download_removes_its_temporary_file(tmp_path, monkeypatch):
    src = tmp_path / "remote.bin"
    src.write_bytes(bytes(5000))

    def killed(self, n):
        raise KeyboardInterrupt
    monkeypatch.setattr(weights.Progress, "update", killed)
    dest = tmp_path / "out" / "model.onnx"
    dest.parent.mkdir()
    with pytest.raises(KeyboardInterrupt):
        weights.download(src.as_uri(), dest)
    assert list(dest.parent.iterdir()) == []


def test_expose_fc7_on_a_file_that_is_not_onnx_is_one_line_and_exit_2(tmp_path, capsys):
    junk = tmp_path / "notonnx.onnx"
    junk.write_bytes(b"\xff\xfe this is not a protobuf \x00\x01")
    assert weights.main(["expose-fc7", str(junk), str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {junk}: not an ONNX model")
    assert not (tmp_path / "x.onnx").exists()


def test_expose_fc7_makes_the_batch_symbolic_so_frames_run_together(tmp_path):
    zoo = standins.make_vgg16(tmp_path / "vgg16-7.onnx", batch=1)       # batch 1, like the zoo
    out = weights.expose_output(zoo, tmp_path / "fc7.onnx")
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
    out = weights.expose_output(zoo, tmp_path / "fc7.onnx")
    assert "keeps batch 1" in capsys.readouterr().err
    assert onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    from avt_np.features.vgg16 import VGG16
    runner = VGG16(out)
    assert runner.batch == 1
    assert runner(np.zeros((3, 224, 224, 3), np.uint8) + 128).shape == (3, 4096)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc7.onnx", "z.onnx"]


def test_a_model_that_keeps_its_fixed_batch_is_read_once_and_written_once(tmp_path,
                                                                          monkeypatch):
    zoo = standins.make_vgg16(tmp_path / "z.onnx", batch=1, reshape_to_batch=True)
    calls = []
    load, write = weights.load_onnx, weights.atomic_write
    monkeypatch.setattr(weights, "load_onnx", lambda path: calls.append("load") or load(path))
    monkeypatch.setattr(weights, "atomic_write",
                        lambda path, fn: calls.append("write") or write(path, fn))
    weights.expose_output(zoo, tmp_path / "fc7.onnx")
    assert calls == ["load", "write"]


def test_a_download_leaves_other_files_beside_its_target_alone(tmp_path):
    src = tmp_path / "remote.bin"
    src.write_bytes(bytes(5000))
    dest = tmp_path / "out" / "model.onnx"
    dest.parent.mkdir()
    other = dest.parent / "model.onnx.part"        # e.g. another fetch's partial file
    other.write_bytes(b"theirs")
    weights.download(src.as_uri(), dest)
    assert dest.read_bytes() == bytes(5000) and other.read_bytes() == b"theirs"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_everything_in_weights_but_its_docs_is_git_ignored():
    names = ["weights/vgg16-7.onnx", "weights/vgg16-7.onnx.part", "weights/vggish_pca_params.npz",
             "weights/.vgg16-7-fc7.onnx.x1y2.tmp", "weights/README.md", "weights/manifest.json"]
    done = subprocess.run(["git", "check-ignore", *names], cwd=weights.REPO_ROOT,
                          capture_output=True, text=True)
    assert done.stdout.split() == names[:4]
