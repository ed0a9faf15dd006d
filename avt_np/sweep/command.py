"""Reproduce the paper's Table 1: every configuration x every seed, resumable, local or on Dask.

    python -m avt_np.sweep --quick --out /tmp/s                   # all 60 cells in ~25 s here
    python -m avt_np.sweep --out sweeps/t1 --seeds 25             # the paper's 1,500 runs
    python -m avt_np.sweep --out sweeps/t1 --only 'first=video,pooling=max' --seeds 3
    python -m avt_np.sweep --out sweeps/t1 --dask tcp://scheduler:8786

The grid is Table 1's 60 cells (grid.py): 10 rows (first / second modality and the
modalities with positional encodings; the unimodal rows have encodings on their one modality or
none) x 6 columns (mean / max pooling x softmax / sigmoid / normalized-sigmoid attention). Each
run is avt_np.train in its own directory, SWEEP_DIR/runs/NAME (the train CLI's
format), its output in SWEEP_DIR/logs/NAME.log. Runs with a metrics.json are skipped and
half-finished ones resumed, so the same command after a kill finishes only what is missing.
The protocol (epochs, batches, data) is fixed per SWEEP_DIR in sweep.json.

Every invocation rewrites SWEEP_DIR/table1.md, table1.csv and results.json from the runs that
have finished (table.py), and prints the Markdown table.
"""

import json
import os
import sys
import time
from pathlib import Path

from avt_np import cli, data, io
from avt_np.cli import ArgumentParser, CheckFailed, UsageError
from avt_np.data import EMBEDDED, synthetic
from avt_np.progress import Progress
from avt_np.sweep.grid import parse_only, select
from avt_np.dask_client import connect
from avt_np.sweep.runner import (KEEP, THREAD_VARIABLES, busy_note, run_dask, run_local,
                                 wait_for)
from avt_np.sweep.table import write_tables
from avt_np.train import SETTINGS

PROTOCOL = ("epochs", "batches_per_epoch", "batch_size", "ensemble")
# --quick: enough to show the table's format and exercise every configuration, not to learn much
QUICK = {"epochs": 1, "batches_per_epoch": 4, "batch_size": 16, "ensemble": 1, "seeds": 1,
         "keep": "none"}
QUICK_SIZES = {"train": 200, "validation": 40, "test": 80}   # a small embedded set, SWEEP_DIR/data


def build_parser():
    parser = ArgumentParser(prog="python -m avt_np.sweep", description=__doc__)
    parser.add_argument("--out", help="sweep directory [default: sweeps/table1, or sweeps/quick "
                                      "with --quick]")
    parser.add_argument("--data", help=f"data set directory [default: {EMBEDDED}, the embedded "
                                       "default set; with --quick a small embedded set generated "
                                       "into SWEEP_DIR/data]")
    parser.add_argument("--seeds", type=int, help="runs per cell, seeds 0..N-1 [default: 25 as "
                                                  "in Sec. 4.1; 1 with --quick]")
    parser.add_argument("--only", default="", help="run only matching cells, e.g. "
                        "'first=video,pooling=max' or 'pos_enc=audio+video,attention=softmax|"
                        "sigmoid' (keys: first second pos_enc pooling attention seed) [default: "
                        "all 60]")
    for name in PROTOCOL:
        default, text = SETTINGS[name]
        parser.add_argument("--" + name.replace("_", "-"), type=int,
                            help=f"{text} [default: {default}; {QUICK[name]} with --quick]")
    parser.add_argument("--workers", type=int, default=2,
                        help="runs at a time on this machine [default: 2]")
    parser.add_argument("--threads", type=int,
                        help="BLAS threads per run [default: OPENBLAS_NUM_THREADS, "
                             "OMP_NUM_THREADS or MKL_NUM_THREADS when one is set in the "
                             "environment (the first set, in that order; of a list like 4,2 "
                             "the first number), else cores // workers, at least 1; 1 with "
                             "--dask]")
    parser.add_argument("--keep", choices=KEEP, help="checkpoints kept in a finished run: all, "
                        "ensemble (drop the optimizer state: evaluate / visualize still work) or "
                        "none [default: ensemble; none with --quick]")
    parser.add_argument("--quick", action="store_true",
                        help=f"a minute-sized sweep: {QUICK['epochs']} epochs x "
                             f"{QUICK['batches_per_epoch']} batches of {QUICK['batch_size']}, "
                             f"1 seed, a {QUICK_SIZES['train']}/{QUICK_SIZES['validation']}/"
                             f"{QUICK_SIZES['test']}-clip embedded set")
    parser.add_argument("--dask", metavar="tcp://HOST:PORT",
                        help="run on this Dask distributed scheduler instead of local processes "
                             "(needs `pip install -r requirements-scaleout.txt`; SWEEP_DIR and "
                             "--data must be at the same path on every worker)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the selected runs and their state, run nothing")
    return parser


def options(args):
    """Settings of this invocation: flags, else --quick's values, else the defaults."""
    pick = lambda name, default: (getattr(args, name) if getattr(args, name) is not None  # noqa
                                  else QUICK[name] if args.quick else default)
    protocol = {name: pick(name, SETTINGS[name][0]) for name in PROTOCOL}
    seeds, keep = pick("seeds", 25), pick("keep", "ensemble")
    for name, value in [*protocol.items(), ("seeds", seeds), ("workers", args.workers),
                        ("threads", args.threads if args.threads is not None else 1)]:
        if value < 1:
            raise UsageError(f"--{name.replace('_', '-')} {value}: must be at least 1")
    threads = args.threads or default_threads(args.workers, args.dask)
    sweep_dir = Path(args.out or ("sweeps/quick" if args.quick else "sweeps/table1")).resolve()
    if args.data is not None:
        if not Path(args.data).is_dir():
            raise UsageError(f"--data {args.data}: not a directory")
        protocol["data"] = str(Path(args.data).resolve())
    else:
        protocol["data"] = str(sweep_dir / "data") if args.quick else EMBEDDED
    return sweep_dir, protocol, seeds, keep, threads


def default_threads(workers, dask):
    """BLAS threads per run without --threads: 1 on Dask; else a thread count the caller set in
    the environment (OPENBLAS_NUM_THREADS=1 python -m avt_np.sweep means one thread per run);
    else the cores shared among the workers."""
    if dask:
        return 1
    for name in THREAD_VARIABLES:
        value = os.environ.get(name, "").split(",")[0].strip()   # OpenMP allows "4,2": nesting
        if value:
            if not value.isdigit() or int(value) < 1:
                raise UsageError(f"{name}={value}: expected a positive whole number of BLAS "
                                 f"threads (or pass --threads)")
            return int(value)
    return max(1, (os.cpu_count() or 1) // workers)


def check_protocol(sweep_dir, protocol):
    """A sweep directory holds runs of one protocol: sweep.json records it on first use."""
    existing = next(p for p in (sweep_dir, *sweep_dir.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"--out {sweep_dir}: {existing} is a file, expected a directory")
    path = sweep_dir / "sweep.json"
    if path.is_file():
        try:
            saved = io.read_json(path)["protocol"]
            saved.items()
        except ValueError as e:
            raise UsageError(f"{e}; it records the sweep's protocol: restore it (results.json "
                             "holds a copy, as \"protocol\") or use another --out") from None
        except (KeyError, TypeError, AttributeError):
            raise UsageError(f"{path}: no \"protocol\" object; restore it (results.json holds "
                             "a copy) or use another --out") from None
        for name, value in protocol.items():
            if saved.get(name) != value:
                raise UsageError(f"--out {sweep_dir}: holds a sweep with {name} = "
                                 f"{saved.get(name)}, not {value}; use its settings (and --quick "
                                 f"if it was made with it) or another --out")
    elif sweep_dir.exists() and any(sweep_dir.iterdir()):
        raise UsageError(f"--out {sweep_dir}: not empty and not a sweep directory (no sweep.json)")


def prepare_data(protocol, quick, selection):
    """Build the --quick data set if missing, then open the data once here: bad data is one
    line now rather than 60 failed runs, and the embedded default is built before the runs
    start (not by two workers at once)."""
    path = Path(protocol["data"]) if protocol["data"] != EMBEDDED else None
    if quick and path is not None and not (path / "meta.json").is_file():
        print(f"sweep: generating the --quick data set in {path}", file=sys.stderr)
        synthetic.generate(path, seed=0, recipe=synthetic.Recipe(sizes=QUICK_SIZES),
                           progress=False)
    for first, second in sorted({(cell.first, cell.second) for cell, _ in selection}):
        data.open(protocol["data"], (first, second))


def jobs_for(selection, sweep_dir, protocol, keep, threads):
    # Each run in one process (--cores 1): the sweep's workers already fill the cores.
    train_args = ["--data", protocol["data"], "--cores", "1"]
    for name in PROTOCOL:
        train_args += ["--" + name.replace("_", "-"), str(protocol[name])]
    jobs = []
    for cell, seed in selection:
        name = cell.run_name(seed)
        jobs.append({"name": name, "run_dir": str(sweep_dir / "runs" / name),
                     "log": str(sweep_dir / "logs" / f"{name}.log"), "keep": keep,
                     "threads": threads,
                     "train_args": train_args + [
                         "--first", cell.first, "--second", cell.second,
                         "--pos-enc", cell.pos_enc, "--pooling", cell.pooling,
                         "--attention", cell.attention, "--seed", str(seed)]})
    return jobs


def state(job):
    run_dir = Path(job["run_dir"])
    return ("finished" if (run_dir / "metrics.json").is_file()
            else "partial" if (run_dir / "config.json").is_file() else "new")


def run(argv=None):
    """The sweep; returns (selected jobs, results of the runs started now)."""
    args = build_parser().parse_args(argv)
    sweep_dir, protocol, seeds, keep, threads = options(args)
    selection = select(parse_only(args.only), seeds)
    if not selection:
        raise UsageError(f"--only {args.only}: matches no run of the 60 cells x {seeds} seed(s)")
    check_protocol(sweep_dir, protocol)
    jobs = jobs_for(selection, sweep_dir, protocol, keep, threads)
    states = [state(job) for job in jobs]
    if args.dry_run:
        for job, s in zip(jobs, states):
            print(f"{s}\t{job['name']}")
        return jobs, []
    client = connect(args.dask) if args.dask else None
    prepare_data(protocol, args.quick, selection)
    io.write_json(sweep_dir / "sweep.json", {"protocol": protocol})

    todo = [job for job, s in zip(jobs, states) if s != "finished"]
    where = f"Dask at {args.dask}" if args.dask else \
        f"{args.workers} worker(s) x {threads} BLAS thread(s)"
    print(f"sweep: {len(jobs)} runs selected: {states.count('finished')} finished, "
          f"{states.count('partial')} to resume, {states.count('new')} to start; {where} "
          f"-> {sweep_dir}", file=sys.stderr, flush=True)
    results, busy = [], []
    progress = Progress(len(todo), "sweep: runs")
    start = time.perf_counter()

    def on_result(result):
        if result["status"] == "busy":                  # trained elsewhere: wait, see below
            busy.append(next(job for job in todo if job["name"] == result["name"]))
            print(busy_note(busy[-1]), file=sys.stderr, flush=True)
            return
        results.append(result)
        f1 = result.get("test_micro_f1")
        last = f"{result['name']} {result['status']}" + (f" F1 {f1:.3f}" if f1 is not None
                                                         else "")
        progress.update(len(results), f"(last: {last})")
        if result["status"] == "failed":
            print(f"sweep: {result['name']} failed: {result['message']}", file=sys.stderr,
                  flush=True)

    try:
        pending = todo
        while pending:
            if client is not None:
                run_dask(client, pending, on_result)
            else:
                run_local(pending, args.workers, threads, on_result)
            pending, busy[:] = list(busy), []
            for job in pending:       # runs another process trains: their results are ours too
                wait_for(job)
    finally:
        if client is not None:
            client.close()
        table = write_tables(sweep_dir, protocol)
    print(table, end="")
    failed = [r for r in results if r["status"] not in ("done", "finished")]
    print(f"sweep: {len(results) - len(failed)} of {len(todo)} runs finished in "
          f"{time.perf_counter() - start:.1f} s; tables in {sweep_dir}/table1.md, table1.csv, "
          f"results.json" + (f"; {len(failed)} not finished, see {sweep_dir}/logs/"
                             if failed else ""), file=sys.stderr)
    if failed:
        raise CheckFailed(f"{len(failed)} run(s) did not finish (see {sweep_dir}/logs/)")
    return jobs, results


def main(argv=None):
    return cli.main(run, argv, interrupted="sweep: interrupted; finished runs are kept and the "
                                          "tables written; the same command continues")


if __name__ == "__main__":
    raise SystemExit(main())
