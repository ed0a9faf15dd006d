"""The synchronization score of a run (avt_np/sync.py) for `python -m avt_np.visualize
--sync-report` and lesson 14: read from metrics.json when it was computed on the asked split of
the run's own data (no snapshot needed, so runs trained with --keep none answer), else computed
now with the run's last ensemble snapshot."""

import sys

from avt_np.data import open as open_data
from avt_np.data import same_data
from avt_np.io import is_a
from avt_np.run_dir import load_model, read_finished
from avt_np.run_dir import snapshot_path
from avt_np.sync import model_sync_report, skip_reason
from avt_np.sync_probes import probe_report
from avt_np.visualize.clip_view import split_of


def stored_sync(saved, metrics, split_name, data=None):
    """metrics.json's "sync" entry when it was computed on `split_name` of `data` (None:
    the run's own data), else None."""
    stored = metrics.get("sync")
    if stored is None or not isinstance(stored, dict) or stored.get("split") != split_name:
        return None
    if not well_formed(stored):                   # a cached score: computed again instead
        print("note: metrics.json's \"sync\" entry is damaged; computing the score again",
              file=sys.stderr)
        return None
    if data is not None and not same_data(data, saved["data"]):
        return None
    return stored


def well_formed(report):
    """Whether a stored score has every field format_sync prints, of the right type."""
    def number(x):
        return is_a(x, (int, float))

    def numbers(x):
        return isinstance(x, list) and all(number(v) for v in x)

    if isinstance(report.get("skipped"), str):
        return True
    blocks = report.get("blocks")
    return (all(number(report.get(k)) for k in ("clips", "pairs", "excluded_pairs", "chance"))
            and all(isinstance(report.get(k), str) for k in ("query", "key"))
            and isinstance(blocks, list) and all(
                isinstance(b, dict) and is_a(b.get("block"), int) and number(b.get("share"))
                and number(b.get("top1")) and numbers(b.get("share_per_head"))
                and numbers(b.get("top1_per_head")) for b in blocks))


def sync_for_run(run, split_name="test"):
    """The score of a loaded Run on `split_name` of its data."""
    stored = stored_sync(run.saved, run.metrics, split_name, run.data)
    if stored is not None:
        return stored
    split = split_of(run.dataset, split_name)
    return {"epoch": run.epoch, **model_sync_report(run.model, split, run.config)}


def sync_for_run_dir(run_dir, split_name="test", data=None):
    """sync_for_run from a run directory, loading the model only when the score must be
    computed."""
    saved, config, metrics, epoch = read_finished(run_dir)
    stored = stored_sync(saved, metrics, split_name, data)
    if stored is not None:
        return stored
    split = split_of(open_data(data or saved["data"], (config.first, config.second)),
                     split_name)
    reason = skip_reason(split, config)
    if reason:
        return {"epoch": epoch, "split": split.name, "skipped": reason}
    where = f"--data {data}" if data is not None else "the run's own data"
    model = load_model(run_dir, config, epoch,
                       needed_for=f"the score on the {split_name} split of {where}")
    return {"epoch": epoch, **model_sync_report(model, split, config)}


def format_sync(report):
    """The report as a few lines of text (one table row per decoder block)."""
    if "skipped" in report:
        return f"synchronization score skipped ({report['split']} split): {report['skipped']}"
    lines = [f"synchronization score, {report['split']} split ({report['clips']} clips, "
             f"model of epoch {report.get('epoch', '?')})",
             f"  queries: {report['query']}; attention mass counted on: {report['key']}",
             f"  {report['pairs']} (clip, class, query frame) pairs scored, "
             f"{report['excluded_pairs']} excluded (event absent from every key frame)",
             f"  chance (fraction of key frames where the event is present): "
             f"{report['chance']:.3f}" if report["pairs"] else "  no pair to score",
             "  block  share  gain   share per head        top-1  top-1 per head"]
    if report["pairs"]:
        for b in report["blocks"]:
            gain = (b["share"] - report["chance"]) / max(1 - report["chance"], 1e-12)
            lines.append(f"  {b['block'] + 1:>5}  {b['share']:.3f}  {gain:+.3f} "
                         + " ".join(f"{s:.3f}" for s in b["share_per_head"]).ljust(20)
                         + f"  {b['top1']:.3f}  " + " ".join(f"{s:.3f}" for s in b["top1_per_head"]))
    return "\n".join(lines)


def probes_for_run_dir(run_dir, split_name="test", data=None):
    """avt_np/sync_probes.py's probes of the run's last ensemble snapshot on `split_name`, or
    {"skipped": why} when the run kept no snapshot."""
    saved, config, metrics, epoch = read_finished(run_dir)
    if not snapshot_path(run_dir, epoch).is_file():
        return {"skipped": f"they need the model of epoch {epoch}, which this run did not keep"}
    split = split_of(open_data(data or saved["data"], (config.first, config.second)),
                     split_name)
    model = load_model(run_dir, config, epoch)
    return {"epoch": epoch, **probe_report(model, split, config, metrics["threshold"])}
