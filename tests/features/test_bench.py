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
