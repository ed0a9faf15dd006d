"""docs/sync_study.py, the script behind docs/attention.md's study, on a tiny embedded set."""

import importlib.util
from pathlib import Path

import pytest

from avt_np.data import synthetic

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "sync_study.py"


@pytest.fixture
def sync_study(monkeypatch):
    spec = importlib.util.spec_from_file_location("sync_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert len(module.CONFIGS) == 24                  # 2 orders x 2 functions x 3 memories x 2
    # two of the cells, one per direction, keep the test short
    monkeypatch.setattr(module, "CONFIGS", [module.CONFIGS[4], module.CONFIGS[19]])
    return module


def test_study_trains_every_configuration_scores_it_and_skips_finished_runs(
        tmp_path, sync_study, capsys):
    data = tmp_path / "embedded"
    synthetic.generate(data, seed=1, progress=False,
                       recipe=synthetic.Recipe(sizes={"train": 60, "validation": 20, "test": 200}))
    out = tmp_path / "study"
    args = ["--out", str(out), "--seeds", "1", "--data", str(data),
            "--epochs", "1", "--batches-per-epoch", "2", "--batch-size", "8"]
    sync_study.main(args)
    first = capsys.readouterr()
    short = first.out.split("Full protocol")[0]
    rows = [line for line in short.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 2                                  # header + one row per cell
    assert rows[1].startswith("| video / audio | softmax | 3 | mean | 1 |")
    assert rows[2].startswith("| audio / video | normalized-sigmoid | 0 | max | 1 |")
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        f1, chance, share, std, shuffled = (float(cells[i]) for i in (5, 6, 7, 10, 11))
        assert 0 < chance < 1 and 0 <= share <= 1 and std >= 0 and 0 <= shuffled <= 1
    for name in ("short_video-audio_softmax_memory3_mean_seed0",
                 "short_audio-video_normalized-sigmoid_memory0_max_seed0"):
        probes = out / "runs" / name / "probes.json"
        assert probes.is_file() and "sync_by_memory" in probes.read_text()
    assert (out / "table.md").read_text().strip() == first.out.strip()
    assert first.err.count(": done") == 2 and "[2/2] " in first.err

    sync_study.main(args)                                      # everything finished: no training
    again = capsys.readouterr()
    assert again.err.count(": finished earlier") == 2 and ": done" not in again.err
    assert again.out == first.out
