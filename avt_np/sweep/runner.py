"""Running the runs of a sweep: a few at a time in worker processes on this machine, or as
tasks on a Dask distributed cluster.

A job is a plain dict (picklable, JSON-able): the run directory, its log file, the train flags,
the BLAS threads of the run and where it trains. `run_job(job) -> result` is the whole unit of
work, the same in a local worker process and on a Dask worker:

- a run whose metrics.json exists is finished and is not touched;
- a run with a config.json was stopped midway: it continues with `avt_np.train --resume`;
- otherwise it starts afresh (a directory without config.json holds nothing worth keeping);
- the run's log file is locked (flock) while the run trains, so a second sweep on the same
  directory, or a rerun after the sweep was killed while a run went on, never trains it twice
  at once: it gets the status "busy", the sweep names the process holding the lock
  (`busy_note`), waits for the lock once the other runs are done (`wait_for`) and runs the job
  again, which finds the run finished (or resumes it, if its process died first).

A local worker whose sweep is gone (killed with SIGKILL: nothing could stop its workers)
finishes the run it is training, keeping its lock, starts no other, and exits.

Local workers are long-lived processes that call `avt_np.train.run` in-process, one run at a
time (a fresh `python -m avt_np.train` per run spends ~1 s importing SciPy and NumPy: half of a
--quick run). Their BLAS threads are set in the environment before they start (one per worker: two
workers with two threads each thrash the 2 cores; docs/sweep.md). On Dask each run is a child
process instead: a Dask worker may run several tasks in threads of one process, which would
share stdout and BLAS threads.
"""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import redirect_stderr, redirect_stdout
from multiprocessing import get_context
from pathlib import Path

from avt_np import train
from avt_np.cli import UsageError

KEEP = ("all", "ensemble", "none")      # checkpoints left in a finished run directory
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def run_job(job):
    """Train one run to the end (or find it finished); returns a small JSON-able result:
    {"name", "status": finished|done|failed|interrupted|busy, "seconds", "test_micro_f1",
    "message"}. The run directory is the train CLI's; the log is train's stdout + stderr."""
    run_dir = Path(job["run_dir"])
    result = {"name": job["name"], "status": "finished", "seconds": 0.0}
    if (run_dir / "metrics.json").is_file():
        return dict(result, test_micro_f1=read_f1(run_dir))
    if orphaned():                                        # the sweep is gone: start nothing
        return dict(result, status="interrupted", message="the sweep that queued it is gone")
    TRAINING.set()                   # from the lock to the pruned checkpoints: never cut short
    try:
        return train_locked(job, result)
    finally:
        TRAINING.clear()


def train_locked(job, result):
    """run_job's work once its checks passed: lock the log, train or resume, prune."""
    run_dir, log = Path(job["run_dir"]), Path(job["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", buffering=1) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return dict(result, status="busy", message=f"{log} is locked by another process")
        if (run_dir / "metrics.json").is_file():            # finished while we looked
            return dict(result, test_micro_f1=read_f1(run_dir))
        resume = (run_dir / "config.json").is_file()
        if not resume:
            shutil.rmtree(run_dir, ignore_errors=True)       # e.g. a half-written config.json
        argv = [*job["train_args"], "--out", str(run_dir)] + (["--resume"] if resume else [])
        print(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} avt_np.train {' '.join(argv)}", file=f)
        start = time.perf_counter()
        train = train_in_child if job["child_process"] else train_here
        code = train(argv, f, job["threads"])
        result["seconds"] = time.perf_counter() - start
        if code != 0:
            status = "interrupted" if code in (130, -signal.SIGINT) else "failed"
            return dict(result, status=status, message=f"exit code {code}: {last_line(log)}")
        prune_checkpoints(run_dir, job["keep"])          # before the lock is released
    return dict(result, status="done", test_micro_f1=read_f1(run_dir))


def train_here(argv, log, threads):
    """avt_np.train.run(argv) in this process, its output into `log`; the exit code train's
    command line would give. BLAS threads were set when this worker started."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)   # Ctrl-C stops the run
    try:
        with redirect_stdout(log), redirect_stderr(log):
            try:
                train.run(argv)
                return 0
            except UsageError as e:
                print(f"error: {e}", file=log)
                return 2
            except KeyboardInterrupt:
                print("interrupted: finished epochs are saved", file=log)
                return 130
            except Exception:
                traceback.print_exc(file=log)
                return 1
    finally:
        signal.signal(signal.SIGINT, previous)


def train_in_child(argv, log, threads):
    """`python -m avt_np.train argv` with `threads` BLAS threads. The child shares the open log
    file, and so its lock: the lock lives as long as the run, even if this process dies."""
    env = dict(os.environ, **{name: str(threads) for name in THREAD_VARIABLES})
    return subprocess.run([sys.executable, "-m", "avt_np.train", *argv], stdout=log,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env).returncode


def lock_holder(path):
    """PID of the process holding the flock of `path` (Linux's /proc/locks), or None."""
    try:
        inode = os.stat(path).st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:              # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
        fields = line.split()
        if "FLOCK" in fields and "->" not in fields:      # ("->": a process waiting for it)
            i = fields.index("FLOCK")
            if len(fields) > i + 4 and fields[i + 4].rpartition(":")[2] == str(inode):
                return int(fields[i + 3])
    return None


def busy_note(job):
    """What a sweep says of a run another process trains, naming the process."""
    pid = lock_holder(job["log"])
    return (f"sweep: {job['name']} is being trained by "
            f"{f'process {pid}' if pid else 'another process'} (its log is locked: another "
            "sweep, or a worker of one killed earlier); its result is awaited")


def wait_for(job):
    """Block until no process holds the lock of `job`'s log."""
    with open(job["log"], "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)                   # released when the file is closed


def read_f1(run_dir):
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
        (checkpoints / "previous.npz").unlink(missing_ok=True)     # the state one epoch back
    elif keep == "none":
        shutil.rmtree(checkpoints, ignore_errors=True)


# -- executors: each calls on_result(result) as runs end ---------------------------------------
TRAINING = threading.Event()        # set while this process trains a run of run_job
PARENT = None                       # in a local worker: the sweep's PID


def orphaned():
    """Is this a local worker whose sweep is gone (its parent PID changed)?"""
    return PARENT is not None and os.getppid() != PARENT


def start_worker():
    """Initializer of a local worker. Idle workers ignore Ctrl-C (the sweep passes it on to
    runs in progress). A thread ends the worker once its sweep is gone and no run is training
    (after a SIGKILL of the sweep, the pool cannot stop its workers: they would wait for work
    forever)."""
    global PARENT
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    PARENT = os.getppid()

    def exit_when_orphaned():
        while not (orphaned() and not TRAINING.is_set()):
            time.sleep(0.5)
        os._exit(0)
    threading.Thread(target=exit_when_orphaned, daemon=True).start()


def run_local(jobs, workers, threads, on_result):
    """At most `workers` runs at a time in worker processes with `threads` BLAS threads each."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})   # read by the workers
    try:                                                                     # as they start
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                   initializer=start_worker)
        futures = {pool.submit(run_job, dict(job, child_process=False)): job for job in jobs}
    finally:
        for name, value in saved.items():
            os.environ.pop(name) if value is None else os.environ.update({name: value})
    try:
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as e:                 # a worker died (out of memory, killed)
                result = {"name": futures[future]["name"], "status": "failed", "seconds": 0.0,
                          "message": f"{type(e).__name__}: {e}"}
            on_result(result)
    except BaseException:                          # Ctrl-C: stop the runs, keep their epochs
        workers = list((pool._processes or {}).values())     # shutdown forgets them
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:                    # a Ctrl-C at a terminal reached them too;
            if process.is_alive():                 # `kill -INT` of the sweep did not
                os.kill(process.pid, signal.SIGINT)
        for process in workers:
            process.join()
        raise
    pool.shutdown()



def run_dask(client, jobs, on_result):
    """The same jobs as tasks on a Dask distributed cluster.

    Workers run `run_job` and so write the run directories themselves: the sweep directory and
    the data must be at the same path on the client and on every worker (one machine, or a
    shared file system), and avt_np must be importable on the workers. The client only collects
    the small results and writes the tables. Each run is a child process of its Dask worker
    (BLAS threads from the job), so a worker's threads never share one run's stdout."""
    from distributed import as_completed as dask_completed
    futures = client.map(run_job, [dict(job, child_process=True) for job in jobs], pure=False)
    names = {future.key: job["name"] for future, job in zip(futures, jobs)}
    try:
        for future in dask_completed(futures):
            try:
                result = future.result()
            except Exception as e:              # the task raised on the worker
                result = {"name": names[future.key], "status": "failed", "seconds": 0.0,
                          "message": f"{type(e).__name__}: {e}"}
            on_result(result)
    except BaseException:
        client.cancel(futures)                  # runs already training finish on their workers
        raise
