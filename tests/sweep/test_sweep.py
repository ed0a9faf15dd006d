"""python -m avt_np.sweep: Table 1's grid and values, --only, resuming after a kill, the tables,
bad input, a Dask LocalCluster on loopback, and the --quick full table."""

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avt_np import train
from avt_np.sweep import table as sweep_table
from avt_np.data import synthetic
from avt_np.data.writer import DatasetWriter
from avt_np.sweep.grid import COLUMNS, ROWS, Cell, cells, paper_table, parse_only, select

# A few seconds per run: enough to exercise the protocol (2 epochs, resume, ensemble, scoring).
SHORT = ["--epochs", "2", "--batches-per-epoch", "2", "--batch-size", "8", "--ensemble", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "embedded"
    sizes = {"train": 120, "validation": 30, "test": 40}
    synthetic.generate(path, seed=1, recipe=synthetic.Recipe(sizes=sizes), progress=False)
    return str(path)


HAVE_DASK = importlib.util.find_spec("distributed") is not None
NO_DASK = "Dask is optional (pip install -r requirements-scaleout.txt); CI installs it"

def sweep(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "avt_np.sweep", *args], capture_output=True,
                          text=True, **kwargs)


def finished_runs(out):
    return sorted(p.parent.name for p in (out / "runs").glob("*/metrics.json"))


# -- the grid and the paper's numbers ----------------------------------------------------------
def test_the_grid_is_table_1s_60_cells_with_the_unimodal_rows_own_encoding_options():
    grid = cells()
    assert len(grid) == 60 and len(set(grid)) == 60
    assert len(ROWS) == 10 and len(COLUMNS) == 6
    assert set(COLUMNS) == {(p, a) for p in ("mean", "max")
                            for a in ("softmax", "sigmoid", "normalized-sigmoid")}
    options = {}
    for first, second, pos_enc in ROWS:
        options.setdefault((first, second), []).append(pos_enc)
    assert options == {("audio", "video"): ["audio,video", "video", "none"],
                       ("video", "audio"): ["audio,video", "video", "none"],
                       ("video", "video"): ["video", "none"],
                       ("audio", "audio"): ["audio", "none"]}
    assert len({c.run_name(0) for c in grid}) == 60                 # one directory per run


def test_the_paper_table_file_has_exactly_the_grid_and_the_papers_numbers():
    values, notes = paper_table()
    assert list(values) == cells()                                   # same cells, same order
    assert notes["runs_per_cell"] == 25 and "parenthes" in notes["parenthesised"]
    f1 = {cell: v["f1"] for cell, v in values.items()}
    assert all(isinstance(v, float) and 55 < v < 71 for v in f1.values())
    best = max(f1, key=f1.get)                                       # Sec. 4.1.4: 70.1%
    assert (f1[best], best) == (70.1, Cell("video", "audio", "video", "mean", "sigmoid"))
    assert f1[Cell("audio", "video", "audio,video", "mean", "softmax")] == 66.1
    assert f1[Cell("audio", "video", "none", "max", "normalized-sigmoid")] == 68.9
    assert f1[Cell("video", "video", "video", "mean", "normalized-sigmoid")] == 59.3
    complete = {c: v["f1_complete_dcase2017"] for c, v in values.items()
                if v["f1_complete_dcase2017"] is not None}           # the parenthesised values
    assert {c.row for c in complete} == {("audio", "audio", "audio"), ("audio", "audio", "none")}
    assert len(complete) == 12
    assert complete[Cell("audio", "audio", "audio", "max", "sigmoid")] == 56.7
    assert complete[Cell("audio", "audio", "none", "mean", "sigmoid")] == 59.5


# -- --only ------------------------------------------------------------------------------------
@pytest.mark.parametrize("only, seeds, count", [
    ("", 1, 60),
    ("", 3, 180),
    ("first=video,pooling=max", 1, 15),           # 5 rows start with video, 3 max columns
    ("pos_enc=audio+video", 1, 12),
    ("pos-enc=audio/video,attention=softmax|sigmoid", 1, 8),
    ("first=audio,second=audio", 2, 24),
    ("seed=1", 3, 60),
])
def test_only_selects_the_matching_cells_and_seeds(only, seeds, count):
    chosen = select(parse_only(only), seeds)
    assert len(chosen) == count and len(set(chosen)) == count
    wanted = parse_only(only)
    for cell, seed in chosen:
        assert all(({**cell.__dict__, "seed": seed}[k] in v) for k, v in wanted.items())


def test_dry_run_lists_the_selected_runs_without_running_them(tmp_path, data):
    done = sweep("--out", str(tmp_path / "s"), "--data", data, *SHORT,
                 "--only", "first=video,pooling=max", "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 15 * 25                                     # 25 seeds by default
    assert all(line.startswith("new\tvideo-") and "_max_" in line for line in lines)
    assert not (tmp_path / "s").exists()


# -- resuming ----------------------------------------------------------------------------------
def test_a_rerun_after_a_partial_sweep_runs_only_what_is_missing(tmp_path, data, monkeypatch):
    out = tmp_path / "s"
    common = ["--out", str(out), "--data", data, *SHORT, "--seeds", "1", "--keep", "all"]
    first = sweep(*common, "--only", "first=audio,second=audio,pos_enc=none,pooling=mean")
    assert first.returncode == 0, first.stderr
    done_before = finished_runs(out)
    assert len(done_before) == 3
    mtimes = {n: (out / "runs" / n / "metrics.json").stat().st_mtime_ns for n in done_before}

    # One more run killed in its second epoch, as a killed sweep leaves it.
    half = Cell("audio", "audio", "none", "max", "softmax").run_name(0)
    real_epoch = train.train_epoch

    def killed_in_epoch_2(steps, sampler, epoch, *rest):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(steps, sampler, epoch, *rest)

    monkeypatch.setattr(train, "train_epoch", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train.run(["--data", data, *SHORT, "--cores", "1", "--first", "audio", "--second",
                   "audio", "--pos-enc", "none", "--pooling", "max", "--attention", "softmax",
                   "--seed", "0", "--out", str(out / "runs" / half)])     # as the sweep runs it

    again = sweep(*common, "--only", "first=audio,second=audio,pos_enc=none")
    assert again.returncode == 0, again.stderr
    assert "6 runs selected: 3 finished, 1 to resume, 2 to start" in again.stderr
    assert len(finished_runs(out)) == 6
    assert all((out / "runs" / n / "metrics.json").stat().st_mtime_ns == t
               for n, t in mtimes.items())                          # finished runs untouched
    assert "resuming" in (out / "logs" / f"{half}.log").read_text()
    table = (out / "table1.md").read_text()
    assert "6 of 60 cells, 6 runs" in table and table == again.stdout


def test_a_killed_sweep_finishes_only_the_missing_runs_when_rerun(tmp_path, data):
    out = tmp_path / "s"
    args = [sys.executable, "-m", "avt_np.sweep", "--out", str(out), "--data", data, *SHORT,
            "--seeds", "1", "--only", "first=audio,second=audio,pos_enc=audio", "--workers", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 600                # a hang guard
    while len(finished_runs(out)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)                  # the sweep and its workers, mid-run
    proc.wait()
    killed_at = finished_runs(out)
    assert 2 <= len(killed_at) < 6

    again = subprocess.run(args, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"6 runs selected: {len(killed_at)} finished" in again.stderr
    assert f"{6 - len(killed_at)} of {6 - len(killed_at)} runs finished" in again.stderr
    assert len(finished_runs(out)) == 6


def children_of(pid):
    """PIDs of the processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_sweep_killed_with_sigkill_and_resumed_at_once_waits_for_its_orphaned_runs(
        tmp_path, data):
    out = tmp_path / "s"
    # runs long enough (~10 s) to be still training when the resumed sweep looks at them
    longer = ["--epochs", "2", "--batches-per-epoch", "40", "--batch-size", "8", "--ensemble", "1"]
    args = [sys.executable, "-m", "avt_np.sweep", "--out", str(out), "--data", data, *longer,
            "--seeds", "1", "--only", "first=audio,second=audio,pos_enc=audio,pooling=mean",
            "--workers", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600                # a hang guard
    while not (out / "runs").is_dir() or len(list((out / "runs").glob("*/config.json"))) < 2:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    workers = children_of(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)                # the sweep alone: its workers go on
    proc.wait()
    assert len(finished_runs(out)) < 3

    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    waited = [line for line in again.stderr.splitlines() if "is being trained by" in line]
    assert waited, again.stderr                      # the runs the orphans were training
    assert all(int(line.split("by process ")[1].split()[0]) in workers for line in waited)
    assert "3 of 60 cells, 3 runs" in again.stdout and len(finished_runs(out)) == 3
    assert "not finished" not in again.stderr
    deadline = time.monotonic() + 10                 # the orphaned workers have exited
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}/stat").exists()
                and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"]


def test_ctrl_c_stops_the_runs_writes_the_tables_and_exits_130(tmp_path, data):
    out = tmp_path / "s"
    # A shell without job control starts background jobs with Ctrl-C ignored, and the sweep
    # would inherit that (Python keeps an ignored SIGINT ignored): give it the default back.
    proc = subprocess.Popen([sys.executable, "-m", "avt_np.sweep", "--out", str(out), "--data",
                             data, *SHORT, "--seeds", "1", "--only", "first=audio,second=audio"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 600                # hang guards, 10x the expected time
    while not finished_runs(out) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)                 # to the sweep only: it stops its workers
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert "runs" in (out / "table1.md").read_text() and len(finished_runs(out)) < 12


# -- the tables --------------------------------------------------------------------------------
def fake_run(out, cell, seed, f1):
    settings = {"first": cell.first, "second": cell.second, "pos_enc": cell.pos_enc,
                "pooling": cell.pooling, "attention": cell.attention, "seed": seed}
    run_dir = out / "runs" / cell.run_name(seed)
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(
        {"test_micro_f1": f1, "val_micro_f1": 0.5, "config": {"settings": settings}}))


def test_tables_show_mean_and_sd_over_seeds_beside_the_papers_value(tmp_path):
    va = Cell("video", "audio", "video", "mean", "sigmoid")
    aa = Cell("audio", "audio", "none", "max", "normalized-sigmoid")
    for seed, f1 in enumerate([0.60, 0.62, 0.64]):
        fake_run(tmp_path, va, seed, f1)
    fake_run(tmp_path, aa, 0, 0.5)
    protocol = {"epochs": 30, "batches_per_epoch": 300, "batch_size": 40, "ensemble": 7,
                "data": "embedded"}
    text = sweep_table.write_tables(tmp_path, protocol)
    assert text == (tmp_path / "table1.md").read_text()
    rows = {tuple(r.split(" | ")[:3]): r.split(" | ")[3:] for r in text.splitlines()
            if r.startswith("| audio") or r.startswith("| video")}
    assert len(rows) == 10
    va_row = rows[("| video", "audio", "video")]
    assert va_row[2:4] == ["62.0 ± 2.0", "70.1"]                     # mean ± sd, paper beside
    assert va_row[0:2] == ["–", "69.7"]                              # not run yet
    aa_row = rows[("| audio", "audio", "none")]
    assert aa_row[-2:] == ["50.0 (n=1)", "58.7 (59.0) |"]            # parenthesised paper value
    assert "2 of 60 cells, 4 runs" in text and "over 3 seed(s)" in text

    records = list(csv.DictReader((tmp_path / "table1.csv").open()))
    assert len(records) == 10 and len(records[0]) == 3 + 6 * 5
    fields = {(r["first"], r["second"], r["pos_enc"]): r for r in records}
    row = fields[("video", "audio", "video")]
    assert (row["mean_sigmoid_mean"], row["mean_sigmoid_sd"], row["mean_sigmoid_n"],
            row["mean_sigmoid_paper"]) == ("62.0000", "2.0000", "3", "70.1")
    assert fields[("audio", "audio", "none")]["max_normalized-sigmoid_paper_complete_dcase2017"] \
        == "59.0"

    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["cells"]) == 60 and len(results["runs"]) == 4
    assert results["protocol"] == protocol
    assert {r["name"] for r in results["runs"]} >= {va.run_name(2), aa.run_name(0)}


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--only", "first=smell"], "first=smell is not in Table 1"),
    (["--only", "colour=red"], "'colour=red' is not KEY=VALUE"),
    (["--only", "seed=one"], "seed=one is not a seed number"),
    (["--only", "first=audio,second=audio,pos_enc=video"], "matches no run"),
    (["--seeds", "0"], "--seeds 0: must be at least 1"),
    (["--workers", "0"], "--workers 0: must be at least 1"),
    (["--epochs", "0"], "--epochs 0: must be at least 1"),
    (["--data", "/no/such/dir"], "--data /no/such/dir: not a directory"),
    (["--keep", "some"], "--keep"),
    pytest.param(["--dask", "nonsense://x"], "cannot connect to a Dask scheduler",
                 marks=pytest.mark.skipif(not HAVE_DASK, reason=NO_DASK)),
    pytest.param(["--dask", "tcp://127.0.0.1:1"], "--dask needs dask.distributed",
                 marks=pytest.mark.skipif(HAVE_DASK, reason="Dask is installed here")),
    (["--bogus"], "--bogus"),
])
def test_bad_input_gives_one_line_and_exit_code_2(tmp_path, args, message):
    done = sweep("--out", str(tmp_path / "s"), *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "s").exists()


def test_out_naming_a_file_is_one_line_and_exit_code_2(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for out in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "s"):
        done = sweep("--out", str(out), "--quick")
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert f"{tmp_path / 'notes.txt'} is a file, expected a directory" in done.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("environment, flags, threads", [
    ({"OPENBLAS_NUM_THREADS": "1"}, ["--workers", "1"], 1),
    ({"OMP_NUM_THREADS": "3"}, ["--workers", "1"], 3),
    ({"OMP_NUM_THREADS": "4,2"}, ["--workers", "1"], 4),            # OpenMP's nested form
    ({"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "5"}, [], 2),
    ({"OPENBLAS_NUM_THREADS": "1"}, ["--threads", "4"], 4),          # the flag wins
    ({}, ["--workers", "1"], os.cpu_count() or 1),                  # cores // workers
    ({"OPENBLAS_NUM_THREADS": "4"}, ["--dask", "tcp://x:1"], 1),
])
def test_threads_default_respects_blas_threads_set_in_the_environment(monkeypatch, environment,
                                                                        flags, threads):
    from avt_np.sweep import command as sweep_cli
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    args = sweep_cli.build_parser().parse_args(["--quick", *flags])
    assert sweep_cli.options(args)[4] == threads


def test_a_bad_blas_thread_variable_is_one_line_and_exit_code_2(tmp_path):
    done = sweep("--out", str(tmp_path / "s"), "--quick", "--dry-run",
                 env=dict(os.environ, OPENBLAS_NUM_THREADS="many"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "OPENBLAS_NUM_THREADS=many: expected a positive whole number" in done.stderr


def test_a_sweep_directory_keeps_its_protocol(tmp_path, data):
    out = tmp_path / "s"
    only = ["--only", "first=audio,second=audio,pos_enc=none,pooling=mean,attention=softmax"]
    assert sweep("--out", str(out), "--data", data, *SHORT, "--seeds", "1", *only).returncode == 0
    other = sweep("--out", str(out), "--data", data, *SHORT[:-2], "--ensemble", "2", *only)
    assert other.returncode == 2 and other.stderr.count("\n") == 1
    assert "holds a sweep with ensemble = 1, not 2" in other.stderr
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "notes.txt").write_text("mine")
    foreign = sweep("--out", str(tmp_path / "elsewhere"), "--data", data, *only)
    assert foreign.returncode == 2 and "not a sweep directory" in foreign.stderr


def test_data_without_video_is_refused_before_any_run(tmp_path, data):
    source = synthetic.open_embedded(data)
    audio_only = tmp_path / "audio"
    with DatasetWriter(audio_only, source.classes, {"audio": 128}) as writer:
        for name in ("train", "validation", "test"):
            split = source[name]
            writer.append(name, audio=split.batch(np.arange(len(split)))["audio"],
                          labels=split.labels, clip_ids=split.clip_ids)
    done = sweep("--out", str(tmp_path / "s"), "--data", str(audio_only), *SHORT,
                 "--only", "first=video,second=audio")
    assert done.returncode == 2 and "has no video" in done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "s" / "runs").exists()


# -- Dask --------------------------------------------------------------------------------------
def test_the_same_runs_go_to_a_dask_cluster_on_loopback(tmp_path, data):
    # CI installs dask[distributed] from requirements-scaleout.txt (.ci/run)
    distributed = pytest.importorskip("distributed", reason=NO_DASK)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        out = tmp_path / "s"
        only = ["--only", "first=audio,second=audio,pos_enc=none,pooling=mean"]
        done = sweep("--out", str(out), "--data", data, *SHORT, "--seeds", "1",
                     "--dask", address, *only)
        assert done.returncode == 0, done.stderr
        assert f"Dask at {address}" in done.stderr
        assert finished_runs(out) == sorted(c.run_name(0) for c in cells()
                                            if c.row == ("audio", "audio", "none")
                                            and c.pooling == "mean")
        assert "3 of 60 cells, 3 runs" in (out / "table1.md").read_text()
        again = sweep("--out", str(out), "--data", data, *SHORT, "--seeds", "1",
                      "--dask", address, *only)
        assert again.returncode == 0 and "3 finished, 0 to resume, 0 to start" in again.stderr


# -- --quick -----------------------------------------------------------------------------------
def test_quick_produces_the_complete_table(tmp_path):
    out = tmp_path / "quick"
    done = sweep("--quick", "--out", str(out))        # its time: python -m avt_np.bench quick-sweep
    assert done.returncode == 0, done.stderr
    assert "60 of 60 cells, 60 runs" in done.stdout and "–" not in done.stdout.split("\n\n")[1]
    assert len(finished_runs(out)) == 60
    assert not any((out / "runs").glob("*/checkpoints"))            # --quick keeps no weights
    again = sweep("--quick", "--out", str(out))
    assert again.returncode == 0 and "60 finished, 0 to resume, 0 to start" in again.stderr
