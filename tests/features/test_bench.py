"""python -m avt_np.features.bench runs and prints one line per input (timing is not tested)."""

import json

from avt_np.features import bench


def test_bench_prints_a_line_per_input_with_seconds_of_audio_per_second(capsys):
    assert bench.main(["--seconds", "1", "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "median of 1 rounds" in lines[0] and "load average" in lines[0]
    assert [ln.split(":")[0] for ln in lines[1:]] == list(bench.CASES)
    assert all(" s of audio per s, " in ln and ln.endswith(" ms per 10 s clip") for ln in lines[1:])


def test_bench_json_has_every_input(capsys):
    assert bench.main(["--seconds", "1", "--rounds", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == list(bench.CASES)
    assert all(r["audio_seconds_per_second"] > 0 for r in result.values())


def test_the_architectures_have_the_public_exports_parameter_counts():
    from avt_np.features import architectures
    assert architectures.parameter_count(architectures.vggish_layers()) == 72_141_184
    assert architectures.parameter_count(architectures.vgg16_layers()) == 138_357_544


def test_small_architecture_files_load_in_the_runners_like_the_public_exports(tmp_path):
    import numpy as np

    from avt_np.features.vgg16 import VGG16
    from avt_np.features.vggish import VGGish
    paths = bench.build_networks(tmp_path, divide=32)
    vggish, vgg16 = VGGish(paths["vggish"]), VGG16(paths["vgg16"])
    assert vggish.layout == "NCHW" and vgg16.input_name == "data" and vgg16.batch is None
    rng = np.random.default_rng(0)
    assert vggish(rng.standard_normal((3, 96, 64))).shape == (3, 128)
    assert vgg16(rng.integers(0, 256, (2, 224, 224, 3), np.uint8)).shape == (2, 4096)


def test_network_bench_reports_every_stage_with_the_load(capsys):
    assert bench.main(["--networks", "--divide", "32", "--batches", "2", "--threads", "1",
                       "--items", "1", "--same-process", "--rounds", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "load average" in out[0] and "onnxruntime" in out[0]
    rows = [ln.split(" | ") for ln in out[3:]]
    assert [r[0].strip("| ").split(" (")[0] for r in rows] == ["decode", "log_mel", "vggish",
                                                               "vgg16"]
    assert all(len(r) == 7 for r in rows)


def test_end_to_end_bench_checks_the_paths_agree(capsys):
    assert bench.main(["--end-to-end", "--divide", "32", "--clips", "1", "--rounds", "1",
                       "--batch", "20", "--same-process"]) == 0
    out = capsys.readouterr().out
    rows = {ln.split(" | ")[0].strip("| "): ln.split(" | ") for ln in out.splitlines()
            if ln.startswith("| ") and not ln.startswith("| path") and "---" not in ln}
    assert list(rows) == ["one", "batched", "overlap"]
    assert all(float(r[-1].strip(" |")) < 1e-3 for r in rows.values())    # same features
