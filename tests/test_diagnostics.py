"""avt_np/diagnostics.py on constructed cases, and train --diagnostics on a tiny run."""

import json
import threading

import numpy as np
import pytest

from avt_np import diagnostics, train
from avt_np.data import synthetic
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.nn import Linear


def test_a_saturated_row_is_counted_as_saturated_and_its_row_sum_reported():
    weights = np.array([[[0.0, 1.0, 0.0, 1.0],            # 2 near 0, 2 near 1
                         [0.5, 0.5, 0.5, 0.5]]])          # nothing saturated, row sum 2
    stats = diagnostics.attention_stats(weights)
    assert stats["near_0"] == pytest.approx(2 / 8) and stats["near_1"] == pytest.approx(2 / 8)
    assert stats["row_sum_mean"] == pytest.approx(2.0) and stats["row_sum_max"] == 2.0
    assert stats["max_weight_mean"] == pytest.approx(0.75)


def test_padded_keys_are_not_counted_as_saturated_near_zero():
    weights = np.array([[[[0.5, 0.5, 0.0, 0.0]]]])        # (B, H, T_q, T_k), 2 padded keys
    mask = np.array([True, True, False, False])[None, None, None, :]
    stats = diagnostics.attention_stats(weights, mask)
    assert stats["near_0"] == 0.0 and stats["row_sum_mean"] == pytest.approx(1.0)


def test_scores_are_q_k_transposed_times_scale_over_real_keys():
    q = np.array([[[1.0, 0.0]]])                          # (1, T_q=1, d=2)
    k = np.array([[[2.0, 0.0], [-4.0, 0.0], [100.0, 0.0]]])
    mask = np.array([True, True, False])[None, None, :]
    stats = diagnostics.score_stats(q, k, 0.5, mask)      # real scores 1 and -2
    assert stats["abs_mean"] == pytest.approx(1.5) and stats["abs_max"] == pytest.approx(2.0)
    assert stats["row_std_mean"] == pytest.approx(1.5)


def test_a_known_gradient_norm_is_reported_per_group_and_per_parameter():
    layer = Linear(2, 2, np.random.default_rng(0), np.float64)
    layer.grads["W"][...] = [[3.0, 0.0], [0.0, 0.0]]
    layer.grads["b"][...] = [0.0, 4.0]
    assert diagnostics.gradient_norms(layer, group=None) == pytest.approx({"W": 3.0, "b": 4.0})
    assert diagnostics.gradient_norms(layer, group=lambda name: "all") == {"all": 5.0}
    assert diagnostics.parameter_group("encoder.0.self_attn.q.W") == "encoder.0.self_attn.q"


def test_residual_ratio_is_branch_rms_over_skip_rms():
    skip = np.full((2, 3, 4), 0.5)
    assert diagnostics.residual_ratio(skip, np.full((2, 3, 4), -2.0)) == pytest.approx(4.0)


def test_a_sequence_constant_over_frames_has_zero_temporal_variation():
    rng = np.random.default_rng(0)
    constant = np.repeat(rng.standard_normal((3, 1, 5)), 6, axis=1)
    assert diagnostics.temporal_variation(constant)["relative"] == pytest.approx(0.0, abs=1e-12)
    varying = rng.standard_normal((3, 6, 5))
    assert diagnostics.temporal_variation(varying)["relative"] > 0.5
    # padded frames do not count: a constant clip padded with other values is still constant
    padded = constant.copy()
    padded[:, 4:] = 9.0
    real = np.arange(6)[None, :] < np.array([4, 4, 4])[:, None]
    assert diagnostics.temporal_variation(padded, real)["std_over_frames"] == pytest.approx(0.0)


@pytest.mark.parametrize("attention", ["softmax", "sigmoid"])
def test_model_diagnostics_cover_every_block_and_see_sigmoid_row_sums_near_half_the_keys(
        attention):
    config = ModelConfig(attention=attention, blocks=2, heads=2, d_model=8, d_head=4, d_ff=8,
                         dims={"audio": 5, "video": 9})
    model = AudiovisualTransformer(config, seed=0, dtype=np.float64)
    rng = np.random.default_rng(0)
    p = model(rng.standard_normal((3, 10, 9)), rng.standard_normal((3, 10, 5)), np.array([10, 10, 6]))
    model.backward(np.ones_like(p))
    record = diagnostics.model_diagnostics(model)
    assert {"encoder.0", "encoder.1", "decoder.0", "decoder.1"} <= set(record)
    assert set(record["decoder.1"]["residual"]) == {"self_attn", "cross_attn", "ff"}
    grads = record["grad_norm"]
    assert grads["encoder_input.project"] > 0 and "classifier" in grads
    row_sum = record["encoder.0"]["self_attn"]["weights"]["row_sum_mean"]
    expected = 1.0 if attention == "softmax" else (10 + 10 + 6) / 3 / 2   # real keys / 2
    assert row_sum == pytest.approx(expected, rel=0.2)
    json.dumps(record)                                    # plain floats: JSON-ready
    assert set(diagnostics.summary(record)) >= {"enc_row_sum", "enc_out_relative_std"}


def test_appended_lines_from_several_writers_stay_whole(tmp_path):
    path = tmp_path / "d.jsonl"
    record = {"x": "y" * 2000}

    def write(i):
        for _ in range(50):
            diagnostics.append_jsonl(path, dict(record, i=i))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 200 and all(json.loads(line)["x"] == record["x"] for line in lines)


def test_train_with_diagnostics_writes_one_line_per_k_steps(tmp_path):
    data = tmp_path / "data"
    synthetic.generate(data, seed=1, progress=False, recipe=synthetic.Recipe(
        sizes={"train": 60, "validation": 20, "test": 20}))
    out = tmp_path / "run"
    train.run(["--data", str(data), "--epochs", "2", "--batches-per-epoch", "3",
               "--batch-size", "8", "--ensemble", "1", "--attention", "sigmoid",
               "--diagnostics", "2", "--out", str(out)])
    lines = [json.loads(line) for line in (out / "diagnostics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 4, 6]
    assert [r["epoch"] for r in lines] == [1, 1, 2, 2]
    assert lines[0]["encoder.0"]["self_attn"]["weights"]["row_sum_mean"] > 1.5
