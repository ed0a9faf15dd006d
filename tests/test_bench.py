"""The benchmark's bookkeeping (its timings are not tested: speed is measured, not asserted)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from avt_np.bench import (main, matmul_flops, pytorch_reference,
                          step_matmuls)
from avt_np.model import AudiovisualTransformer, ModelConfig


def test_step_flops_match_the_reference_count_of_the_papers_model():
    # 5.755 and 4.942 GFLOP per step at batch 40 x 10 frames: 2 x the multiply-adds of every
    # product of forward and backward, counted by hand for this model (docs/speed.md).
    assert matmul_flops(step_matmuls(ModelConfig())) == 5_754_777_600
    audio_audio = ModelConfig(first="audio", second="audio", pos_enc=())
    assert matmul_flops(step_matmuls(audio_audio)) == 4_942_131_200


def test_step_flops_are_three_forward_passes_but_two_for_the_input_maps():
    # Forward products counted by hand from the layer shapes of a small model; backward costs
    # each twice again (dW and dx), the input maps once (dW only: their dx is never needed).
    config = ModelConfig(d_model=8, d_head=4, heads=2, d_ff=6, blocks=1,
                         dims={"audio": 5, "video": 7})
    B, T = 3, 4
    M = B * T
    qkv, out = 2 * M * 8 * 3 * 2 * 4, 2 * M * 2 * 4 * 8
    q, kv = 2 * M * 8 * 2 * 4, 2 * M * 8 * 2 * 2 * 4
    scores_and_sum = 2 * 2 * B * 2 * T * T * 4
    ff = 2 * (2 * M * 8 * 6)
    encoder = qkv + scores_and_sum + out + ff
    decoder = (qkv + scores_and_sum + out) + (q + kv + scores_and_sum + out) + ff
    body = encoder + decoder
    body += 2 * M * 8 * 17                                                  # classifier
    inputs = 2 * M * 7 * 8 + 2 * M * 5 * 8
    assert matmul_flops(step_matmuls(config, batch=B, frames=T)) == 3 * body + 2 * inputs
    # and the model built from that config has exactly the maps counted above
    model = AudiovisualTransformer(config)
    sizes = sorted(p.shape for name, p, _ in model.parameters() if name.endswith(".W"))
    # q, k, v and out (8 -> 2 heads x 4 and back) of three attentions, two feed-forwards, the
    # input maps and the classifier
    assert sizes == sorted(12 * [(8, 8)] + 2 * [(8, 6), (6, 8)] + [(7, 8), (5, 8), (8, 17)])


def test_benchmark_runs_and_reports_every_figure(capsys):
    main(["--rounds", "1", "--steps", "1", "--no-torch"])
    out = capsys.readouterr().out
    assert "GFLOP/s" in out and "MultiHeadAttention fwd+bwd" in out
    for pair in ("video/audio", "audio/audio"):
        assert f"training step {pair}, " in out
    assert out.count("160 matrix products alone") == 2
    assert out.count("Adam alone") == 2
    assert out.count("--cores 1 (the whole batch") == 2
    assert out.count("--cores 2 (two half batches in two processes") == 2
    assert out.count("step / products ") == 4


def test_pytorch_comparison_times_the_avt_np_step_in_its_own_process():
    # benchmarks/pytorch_reference.py alternates processes; the avt_np side needs no PyTorch
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "pytorch_reference.py"
    for pair in ("video/audio", "audio/audio"):
        out = subprocess.run([sys.executable, str(script), "--engine", "numpy", "--pair", pair,
                              "--steps", "1"], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["seconds"] > 0 and result["parameters"] is None


def test_benchmark_reports_processor_and_blas_and_says_when_pytorch_is_skipped(capsys):
    main(["--rounds", "1", "--steps", "1", "--no-torch"])
    out = capsys.readouterr().out
    assert out.startswith("processor: ") and "\nBLAS: " in out and "kernel " in out
    assert "PyTorch comparison: skipped (--no-torch)" in out
    assert "eager step" not in out


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="PyTorch is optional (pip install torch==2.13.0); not installed here")
def test_benchmark_times_pytorch_in_the_same_process_when_it_is_installed(capsys):
    main(["--rounds", "1", "--steps", "1"])
    out = capsys.readouterr().out
    assert out.count("eager step, same model, same process") == 2
    assert out.count("avt_np / PyTorch ") == 4               # --cores 1 and 2, both pairs


def test_pytorch_reference_is_found_only_with_pytorch_installed():
    reference = pytorch_reference()
    if importlib.util.find_spec("torch") is None:
        assert reference is None
    else:
        step, count = reference.torch_training_step("audio", "audio")
        audio_audio = ModelConfig(first="audio", second="audio", pos_enc=())
        assert count == AudiovisualTransformer(audio_audio).num_parameters()
