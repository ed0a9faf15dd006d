"""The AudioSet converter streams: its peak memory does not grow with the number of input files.

Not a timing test: each conversion runs in its own process, which reports its own peak resident
set size (ru_maxrss), so the two runs are compared and nothing else in the test process counts.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from avt_np.data import audioset
from avt_np.data.tfrecord import write_record

try:
    from tests.data import tfrecord_writer as tw
except ImportError:                      # pytest run with tests/data itself on sys.path
    import tfrecord_writer as tw

REPO = Path(__file__).resolve().parents[2]
RECORDS, DCASE_PER_FILE = 400, 5         # per file: 0.6 MB, so 40 files hold 24 MB of records
GROWTH_BOUND_MB = 8                      # measured: 69.5 -> 69.1 MB from 5 to 40 files; a
                                         # converter that kept every record would grow ~21 MB

CHILD = """
import json, resource, sys
from avt_np.data import audioset
code = audioset.main(sys.argv[1:])
print(json.dumps({"code": code, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def release(folder, files, table):
    """`files` TFRecord files of RECORDS records (10 x 128 bytes), DCASE_PER_FILE DCASE clips each."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (10, 128), dtype=np.uint8)
    other = tw.audioset_example("notdcase000", 30.0, 40.0, [0], frames)
    dcase = iter(range(len(table)))
    folder.mkdir()
    for k in range(files):
        with open(folder / f"{k:03d}.tfrecord", "wb") as f:
            for r in range(RECORDS):
                payload = other
                if r % (RECORDS // DCASE_PER_FILE) == 0:
                    i = next(dcase)
                    ytid, start, end = table.clip_ids[i].rsplit("_", 2)
                    payload = tw.audioset_example(ytid, float(start), float(end), [0], frames)
                write_record(f, payload)


def peak_mb(features, out):
    run = subprocess.run([sys.executable, "-c", CHILD, "--features", str(features), "--out",
                          str(out), "--quiet"], capture_output=True, text=True, cwd=REPO,
                         check=True)
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["code"] == 0, run.stderr
    return result["peak_kb"] / 1024


def test_peak_memory_stays_flat_as_the_number_of_input_files_grows(tmp_path):
    table = audioset.ClipTable()
    peaks = {}
    for files in (5, 40):
        release(tmp_path / f"in{files}", files, table)
        peaks[files] = peak_mb(tmp_path / f"in{files}", tmp_path / f"out{files}")
        found = json.loads((tmp_path / f"out{files}" / "meta.json").read_text())["splits"]
        assert sum(found.values()) == files * DCASE_PER_FILE
    assert peaks[40] - peaks[5] < GROWTH_BOUND_MB, peaks
