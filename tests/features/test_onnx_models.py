"""VGGish / VGG16 runners on stand-in ONNX files with the real exports' tensor names and shapes."""

import numpy as np
import pytest

from avt_np.features import vgg16_graph
from avt_np.features.onnx_model import ModelFileError
from avt_np.features.vgg16 import VGG16, normalise
from avt_np.features.vggish import PCAQuantizer, VGGish, dequantize
from tests.features import standins


def examples(n, seed=0):
    return np.random.default_rng(seed).normal(-2.0, 1.0, (n, 96, 64)).astype(np.float32)


@pytest.mark.parametrize("layout", ["NCHW", "NHW", "NHWC"])
def test_vggish_runs_every_accepted_input_layout_and_reads_names_from_the_session(tmp_path, layout):
    path = standins.make_vggish(tmp_path / "v.onnx", layout=layout, input_name="mel_in",
                                output_name="emb_out", relu=False)
    model = VGGish(path)
    assert (model.input_name, model.output_name, model.layout) == ("mel_in", "emb_out", layout)
    x = examples(5)
    np.testing.assert_allclose(model(x), standins.vggish_expected(x, relu=False), atol=1e-5)


def test_vggish_with_a_fixed_batch_of_one_runs_any_number_of_examples(tmp_path):
    model = VGGish(standins.make_vggish(tmp_path / "v.onnx", batch=1))
    x = examples(3)
    np.testing.assert_allclose(model(x), standins.vggish_expected(x), atol=1e-5)
    assert model(np.zeros((0, 96, 64), np.float32)).shape == (0, 128)


def test_vggish_reports_a_final_relu_only_when_no_output_is_negative(tmp_path):
    x = examples(8)
    with_relu = VGGish(standins.make_vggish(tmp_path / "a.onnx", relu=True))
    with_relu(x)
    assert with_relu.check.has_final_relu and "ReLU" in with_relu.findings()[0]
    plain = VGGish(standins.make_vggish(tmp_path / "b.onnx", relu=False))
    plain(x)
    assert plain.check.has_final_relu is False and plain.findings() == []


def test_vggish_file_of_the_wrong_shape_is_a_one_line_error(tmp_path):
    path = standins.make_vggish(tmp_path / "v.onnx", output_width=64)
    with pytest.raises(ModelFileError, match=r"exactly one \[N, 128\] output") as e:
        VGGish(path)
    assert "\n" not in str(e.value)


def test_missing_weight_names_the_fetch_command_and_junk_is_not_an_onnx_model(tmp_path, monkeypatch):
    monkeypatch.setenv("AVT_NP_WEIGHTS", str(tmp_path))
    with pytest.raises(ModelFileError, match="python -m avt_np.weights fetch vggish"):
        VGGish("vggish")
    junk = tmp_path / "vggish.onnx"
    junk.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelFileError, match="cannot load it as an ONNX model") as e:
        VGGish("vggish")
    assert "\n" not in str(e.value)


def test_vgg16_zoo_file_needs_fc7_exposed_and_expose_output_adds_it(tmp_path):
    zoo = standins.make_vgg16(tmp_path / "vgg16-7.onnx")            # logits only, like the zoo
    with pytest.raises(ModelFileError, match="expose-fc7"):
        VGG16(zoo)
    fc7 = vgg16_graph.expose_output(zoo, tmp_path / "vgg16-7-fc7.onnx")
    model = VGG16(fc7)
    # the zoo file declares batch 1; expose_output makes it symbolic (None: free)
    assert (model.input_name, model.output_name, model.batch) == ("data", vgg16_graph.FC7, None)
    frames = np.random.default_rng(0).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    out = model(frames)
    assert out.shape == (3, 4096) and out.dtype == np.float32 and (out >= 0).all()
    np.testing.assert_allclose(standins.vgg16_mean_rgb(out), frames.reshape(3, -1, 3).mean(1),
                               atol=1e-2)


def test_expose_output_refuses_a_graph_without_the_fc7_tensor(tmp_path):
    other = standins.make_vggish(tmp_path / "v.onnx")
    with pytest.raises(vgg16_graph.GraphError, match="no tensor named"):
        vgg16_graph.expose_output(other, tmp_path / "out.onnx")


def test_vgg16_pre_relu_tensor_is_rejected_as_not_fc7(tmp_path):
    zoo = standins.make_vgg16(tmp_path / "z.onnx")
    pre = vgg16_graph.expose_output(zoo, tmp_path / "pre.onnx", tensor="vgg0_dense1_fwd")
    model = VGG16(pre, output="vgg0_dense1_fwd")
    dark = np.zeros((1, 224, 224, 3), np.uint8)                     # negative normalised means
    with pytest.raises(ModelFileError, match="not fc7 after ReLU"):
        model(dark)
    with pytest.raises(ModelFileError, match=r"expected \[N, 4096\]"):
        VGG16(standins.make_vgg16(tmp_path / "l.onnx"), output="vgg0_dense2_fwd")


@pytest.mark.parametrize("style", ["gluon", "caffe"])
def test_preprocessing_styles_follow_their_documented_formulas(style):
    px = np.array([[[[255, 128, 0]]]], np.uint8)                    # one RGB pixel
    x = normalise(px, style)[0, :, 0, 0]
    if style == "gluon":
        expected = (np.array([255, 128, 0]) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    else:
        expected = np.array([0, 128, 255]) - [103.939, 116.779, 123.68]
    np.testing.assert_allclose(x, expected, rtol=1e-5)


def test_pca_quantizer_whitens_clips_and_truncates_like_audioset(tmp_path):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(128, 128)))
    means = rng.normal(size=128)
    np.savez(tmp_path / "pca.npz", pca_eigen_vectors=q, pca_means=means.reshape(128, 1))
    emb = rng.normal(size=(4, 128)) * 3
    out = PCAQuantizer(tmp_path / "pca.npz")(emb)
    pca = np.clip((emb - means) @ q.T, -2, 2)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.floor((pca + 2) * 255 / 4).astype(np.uint8))
    # yt8m dequantisation puts every code at the centre of its bin, within half a bin
    assert np.abs(dequantize(out) - pca).max() <= 4 / 255
    np.savez(tmp_path / "bad.npz", pca_means=means)
    with pytest.raises(ModelFileError, match="pca_eigen_vectors"):
        PCAQuantizer(tmp_path / "bad.npz")
