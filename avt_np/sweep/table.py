"""The results of a sweep in Table 1's layout, beside the paper's values.

Read from whatever runs in SWEEP_DIR/runs/ have a metrics.json, so the tables are the same
whichever invocation, worker or machine finished the runs:

    table1.md    Markdown: one row per Table 1 row, per column our mean +- sd and the paper's
    table1.csv   the same numbers, one field each (mean, sd, n, paper, paper_complete_dcase2017)
    results.json the protocol, every cell's summary and every run's metrics.json
"""

import csv
import io as text_io
import json
import statistics
import sys
from pathlib import Path

from avt_np import io
from avt_np.cli import first_line
from avt_np.sweep.grid import COLUMNS, ROWS, Cell, paper_table


def collect(sweep_dir):
    """[(cell, seed, metrics)] of every finished run under sweep_dir/runs, sorted by name. A
    metrics.json that cannot be read (damaged, edited by hand) is left out with a note."""
    runs = []
    for path in sorted(Path(sweep_dir).glob("runs/*/metrics.json")):
        try:
            runs.append(run_entry(io.read_json(path), path))
        except ValueError as e:
            print(f"sweep: {first_line(e)}; left out of the tables (delete it to train the run "
                  f"again)", file=sys.stderr)
    return runs


def run_entry(metrics, path):
    """(cell, seed, metrics) of one run's metrics.json, or a ValueError naming the file."""
    try:
        s = metrics["config"]["settings"]
        cell = Cell(*(s[k] for k in ("first", "second", "pos_enc", "pooling", "attention")))
        seed, f1 = s["seed"], metrics["test_micro_f1"]
    except (KeyError, TypeError):
        raise ValueError(f"{path}: no config.settings or test_micro_f1") from None
    if not all(isinstance(v, str) for v in cell.__dict__.values()) or type(seed) is not int:
        raise ValueError(f"{path}: config.settings holds values of another type")
    if type(f1) not in (int, float) or not 0 <= f1 <= 1:
        raise ValueError(f"{path}: test_micro_f1 = {json.dumps(f1)[:40]}, expected 0..1")
    return cell, seed, metrics


def summarize(runs):
    """{cell: {"n", "mean", "sd", "seeds"}}, F1 in percent; sd is the sample standard
    deviation (None for a single run)."""
    by_cell = {}
    for cell, seed, metrics in runs:
        by_cell.setdefault(cell, []).append((seed, 100.0 * metrics["test_micro_f1"]))
    summary = {}
    for cell, pairs in by_cell.items():
        f1 = [v for _, v in sorted(pairs)]
        summary[cell] = {"n": len(f1), "mean": statistics.fmean(f1),
                         "sd": statistics.stdev(f1) if len(f1) > 1 else None,
                         "seeds": sorted(s for s, _ in pairs)}
    return summary


def ours_text(entry, usual_n):
    if entry is None:
        return "–"
    text = f"{entry['mean']:.1f}" + (f" ± {entry['sd']:.1f}" if entry["sd"] is not None else "")
    return text + (f" (n={entry['n']})" if entry["n"] != usual_n else "")


def paper_text(value):
    text = f"{value['f1']:.1f}"
    if value["f1_complete_dcase2017"] is not None:
        text += f" ({value['f1_complete_dcase2017']:.1f})"
    return text


def pos_enc_text(pos_enc):
    return pos_enc.replace(",", "/")                  # the paper writes audio/video


def markdown(summary, protocol):
    paper, notes = paper_table()
    ns = [entry["n"] for entry in summary.values()]
    usual_n = max(set(ns), key=lambda n: (ns.count(n), n)) if ns else 0   # ties: the larger
    header = ["first", "second", "positional encodings"]
    for pooling, attention in COLUMNS:
        header += [f"{pooling} pooling, {attention}", "paper"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in ROWS:
        fields = [row[0], row[1], pos_enc_text(row[2])]
        for column in COLUMNS:
            cell = Cell(*row, *column)
            fields += [ours_text(summary.get(cell), usual_n), paper_text(paper[cell])]
        lines.append("| " + " | ".join(fields) + " |")
    done = sum(1 for row in ROWS for column in COLUMNS if Cell(*row, *column) in summary)
    caption = (
        f"Test micro-F1 (%): ours, mean ± sample standard deviation over {usual_n} seed(s) per "
        f"cell (n= where a cell has another count; – not run yet); {done} of 60 cells, "
        f"{sum(ns)} runs. Protocol: {protocol_text(protocol)}.\n"
        f"paper: Table 1 of Boes & Van hamme (ACM MM 2019), mean of {notes['runs_per_cell']} "
        f"runs on its audiovisual DCASE 2017 Task 4 subset; in parentheses, the audio-only models "
        f"on the complete DCASE 2017 Task 4 set.\n")
    return caption + "\n" + "\n".join(lines) + "\n"


def protocol_text(protocol):
    return (f"at most {protocol['epochs']} epoch(s) of {protocol['batches_per_epoch']} batches "
            f"of {protocol['batch_size']} clips, ensemble of the last {protocol['ensemble']} "
            f"epoch(s), data {protocol['data']}")


def csv_text(summary):
    paper, _ = paper_table()
    header = ["first", "second", "pos_enc"]
    for pooling, attention in COLUMNS:
        stem = f"{pooling}_{attention}"
        header += [f"{stem}_mean", f"{stem}_sd", f"{stem}_n", f"{stem}_paper",
                   f"{stem}_paper_complete_dcase2017"]
    out = text_io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    number = lambda v: "" if v is None else f"{v:.4f}"        # noqa: E731
    for row in ROWS:
        fields = list(row)
        for column in COLUMNS:
            cell = Cell(*row, *column)
            entry = summary.get(cell) or {"mean": None, "sd": None, "n": 0}
            fields += [number(entry["mean"]), number(entry["sd"]), entry["n"],
                       paper[cell]["f1"], "" if paper[cell]["f1_complete_dcase2017"] is None
                       else paper[cell]["f1_complete_dcase2017"]]
        writer.writerow(fields)
    return out.getvalue()


def results(runs, summary, protocol):
    paper, notes = paper_table()
    cells = []
    for row in ROWS:
        for column in COLUMNS:
            cell = Cell(*row, *column)
            entry = summary.get(cell, {"n": 0, "mean": None, "sd": None, "seeds": []})
            cells.append({**cell.__dict__, "f1_percent": entry,
                          "paper_f1_percent": paper[cell]["f1"],
                          "paper_f1_complete_dcase2017_percent":
                              paper[cell]["f1_complete_dcase2017"]})
    return {"protocol": protocol, "paper": notes, "cells": cells,
            "runs": [{"name": cell.run_name(seed), **cell.__dict__, "seed": seed,
                      "metrics": metrics} for cell, seed, metrics in runs]}


def write_tables(sweep_dir, protocol):
    """Write table1.md, table1.csv and results.json (atomically); returns the Markdown."""
    sweep_dir = Path(sweep_dir)
    runs = collect(sweep_dir)
    summary = summarize(runs)
    text = markdown(summary, protocol)
    io.write_text(sweep_dir / "table1.md", text)
    io.write_text(sweep_dir / "table1.csv", csv_text(summary))
    io.write_json(sweep_dir / "results.json", results(runs, summary, protocol))
    return text
