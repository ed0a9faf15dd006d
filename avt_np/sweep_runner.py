"""Running the runs of a sweep: one `python -m avt_np.train` process per run, a few at a time on
this machine or as tasks on a Dask distributed cluster.

A job is a plain dict (picklable, JSON-able): the run directory, its log file, the train flags
and the BLAS threads of the run's process. `run_job(job) -> result` is the whole unit of work,
the same on a local thread pool and on a Dask worker:

- a run whose metrics.json exists is finished and is not touched;
- a run with a config.json was stopped midway: it continues with `avt_np.train --resume`;
- otherwise it starts afresh (a directory without config.json holds nothing worth keeping);
- the run's log file is locked (flock) by the run's process for as long as it lives, so a
  second sweep on the same directory, or a rerun after the sweep itself was killed while a run
  went on, skips the run instead of training it twice at once.

Each run is its own process: BLAS threads are set before NumPy starts (REFERENCE.md, "Running
many jobs"), memory is returned after every run, and a thread pool is enough to drive them.
"""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from avt_np.cli import UsageError

KEEP = ("all", "ensemble", "none")      # checkpoints left in a finished run directory
_running = set()                        # Popen objects of this process's runs (for Ctrl-C)
_running_lock = threading.Lock()


def run_job(job):
    """Train one run to the end (or find it finished); returns a small JSON-able result:
    {"name", "status": finished|done|failed|interrupted|busy, "seconds", "test_micro_f1",
    "message"}. The run directory is the train CLI's; the log is train's stdout + stderr."""
    run_dir, log = Path(job["run_dir"]), Path(job["log"])
    result = {"name": job["name"], "status": "finished", "seconds": 0.0}
    if (run_dir / "metrics.json").is_file():
        return dict(result, test_micro_f1=read_f1(run_dir))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return dict(result, status="busy", message=f"{log} is locked by another process")
        if (run_dir / "metrics.json").is_file():            # finished while we waited
            return dict(result, test_micro_f1=read_f1(run_dir))
        resume = (run_dir / "config.json").is_file()
        if not resume:
            shutil.rmtree(run_dir, ignore_errors=True)       # e.g. a half-written config.json
        argv = [sys.executable, "-m", "avt_np.train", *job["train_args"], "--out", str(run_dir)]
        argv += ["--resume"] if resume else []
        threads = str(job["threads"])
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
                   MKL_NUM_THREADS=threads)
        f.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv[1:])}\n".encode())
        f.flush()
        start = time.perf_counter()
        # The child shares this open file (and so its lock): the lock lives as long as the run.
        process = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env)
        with _running_lock:
            _running.add(process)
        try:
            code = process.wait()
        finally:
            with _running_lock:
                _running.discard(process)
        result["seconds"] = time.perf_counter() - start
    if code != 0:
        status = "interrupted" if code in (130, -signal.SIGINT) else "failed"
        return dict(result, status=status, message=f"exit code {code}: {last_line(log)}")
    prune_checkpoints(run_dir, job["keep"])
    return dict(result, status="done", test_micro_f1=read_f1(run_dir))


def read_f1(run_dir):
    import json
    return json.loads((Path(run_dir) / "metrics.json").read_text())["test_micro_f1"]


def last_line(path):
    lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(empty log)"


def prune_checkpoints(run_dir, keep):
    """After a finished run: "all" keeps everything, "ensemble" drops last.npz (the optimizer
    state, only needed to resume; the ensemble snapshots stay for evaluate / visualize), "none"
    drops checkpoints/ (metrics, log and curves remain). A paper-size sweep is 1,500 runs."""
    checkpoints = Path(run_dir) / "checkpoints"
    if keep == "ensemble":
        (checkpoints / "last.npz").unlink(missing_ok=True)
    elif keep == "none":
        shutil.rmtree(checkpoints, ignore_errors=True)


def interrupt_running():
    """Pass Ctrl-C on to the runs in progress (train saves finished epochs and exits)."""
    with _running_lock:
        for process in _running:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)


# -- executors: each calls on_result(result) as runs end ---------------------------------------
def run_local(jobs, workers, on_result):
    """At most `workers` runs at a time on this machine."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep")
    futures = [pool.submit(run_job, job) for job in jobs]
    try:
        for future in as_completed(futures):
            on_result(future.result())
    except BaseException:                       # KeyboardInterrupt: stop cleanly, keep progress
        pool.shutdown(wait=False, cancel_futures=True)
        interrupt_running()
        pool.shutdown(wait=True)
        raise
    pool.shutdown()


def run_dask(address, jobs, on_result):
    """The same jobs as tasks on the Dask distributed scheduler at `address`.

    Workers run `run_job` and so write the run directories themselves: the sweep directory and
    the data must be at the same path on the client and on every worker (one machine, or a
    shared file system), and avt_np must be importable on the workers. The client only collects
    the small results and writes the tables."""
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise UsageError("--dask needs dask.distributed, which is optional: "
                         "pip install -r requirements-scaleout.txt") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as e:
        raise UsageError(f"--dask {address}: cannot connect to a Dask scheduler ({e})") from None
    with client:
        futures = client.map(run_job, jobs, pure=False)
        names = {future.key: job["name"] for future, job in zip(futures, jobs)}
        for future in dask_completed(futures):
            try:
                result = future.result()
            except Exception as e:              # the task raised on the worker
                result = {"name": names[future.key], "status": "failed", "seconds": 0.0,
                          "message": f"{type(e).__name__}: {e}"}
            on_result(result)
