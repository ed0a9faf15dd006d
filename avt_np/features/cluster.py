"""Feature extraction on a Dask distributed cluster: python -m avt_np.features ... --dask ADDRESS.

The clips to extract are cut into groups; each group is one task, `extract_group(job, items)`,
which runs on a worker exactly what a local run does (`extract.extract_all` with the same
Extractor, batching and decoding threads) and so writes each finished clip into the shared
work directory as `<work>/clips/<clip id>.npz` the moment it is done. The client only collects
small results (skipped clips, notes, VGGish output statistics) and, at the end, writes the data
set from the work directory once, as a local run does.

- A killed run (client or cluster) resumes from the clips already in the work directory: the
  same command skips them, and a task skips the clips of its group that are already there.
- A worker lost mid-group: Dask runs the task again on another worker (the scheduler's
  allowed-failures, 3 by default), which skips the group's finished clips and extracts the
  rest; only the unfinished clips are redone.
- Paths (clips, frames folder, weights, work directory) must be the same on every worker:
  one machine, or a shared file system. Workers need avt_np installed, and load the models
  once per worker thread (VGG16 ~553 MB, VGGish ~289 MB): start them with `--nthreads 1`.
"""

import os
import sys
import threading
from pathlib import Path

from avt_np.cli import first_line
from avt_np.features import extract
from avt_np.weights import require

MODEL_KEYS = ("vggish", "vgg16", "vgg16_output", "vgg16_preprocess", "pca", "threads")



def absolute(path):
    return str(Path(path).resolve()) if path else None


def job_settings(args, vggish, vgg16, settings, work):
    """What every task needs besides its clips (plain JSON-able values, absolute paths)."""
    return {"vggish": absolute(vggish.path), "vgg16": absolute(vgg16.path) if vgg16 else None,
            "vgg16_output": vgg16.output_name if vgg16 else None,
            "vgg16_preprocess": vgg16.style if vgg16 else None,
            "pca": absolute(require(args.pca, "vggish_pca")) if args.pca else None,
            "dequantize": args.dequantize, "frames": args.frames,
            "frames_dir": absolute(args.frames_dir), "threads": args.threads,
            "batch": args.batch, "prefetch": args.prefetch,
            "work": absolute(work.path), "settings": settings}


_MODELS = {}                     # (thread, model settings) -> (vggish, vgg16, pca), per worker
_LOCK = threading.Lock()


def models_for(job):
    """The job's runners, loaded once per worker thread (a thread runs one task at a time, so
    the VGGish output statistics of a task are its own)."""
    from avt_np.features.vgg16 import VGG16                # imported here: onnxruntime, slow
    from avt_np.features.vggish import PCAQuantizer, VGGish  # to load, and only workers need it
    key = (threading.get_ident(), tuple(job[k] for k in MODEL_KEYS))
    with _LOCK:
        if key not in _MODELS:
            for old in [k for k in _MODELS if k[0] == key[0]]:
                del _MODELS[old]                             # another run's models
            vggish = VGGish(job["vggish"], threads=job["threads"])
            vgg16 = VGG16(job["vgg16"], output=job["vgg16_output"], style=job["vgg16_preprocess"],
                          threads=job["threads"]) if job["vgg16"] else None
            pca = PCAQuantizer(job["pca"]) if job["pca"] else None
            _MODELS[key] = (vggish, vgg16, pca)
        return _MODELS[key]


def extract_group(job, items, log_mel_splits=()):
    """Extract items [(Clip, split, None)] into the job's work dir (on a worker). Returns
    {'failures': {id: message}, 'notes': {id: note}, 'extracted': [ids], 'check': VGGish
    output statistics of these clips (vars of vggish.OutputCheck)}."""
    from avt_np.features.vggish import OutputCheck         # imported here: onnxruntime, slow
    vggish, vgg16, pca = models_for(job)
    vggish.check = OutputCheck()
    extractor = extract.Extractor(vggish, vgg16, frames=job["frames"],
                                  frames_dir=job["frames_dir"], pca=pca,
                                  dequantize=job["dequantize"])
    extractor.set_batch(job["batch"])
    work = extract.WorkDir(job["work"], job["settings"])
    before = {c.clip_id for c, _, _ in items if work.has(c.clip_id)}
    failures = extract.extract_all(items, extractor, work, progress=False,
                                   log_mel_splits=tuple(log_mel_splits),
                                   group=extract.clips_per_group(job["batch"], job["frames"]),
                                   prefetch=job["prefetch"])
    extracted = [c.clip_id for c, _, _ in items
                 if work.has(c.clip_id) and c.clip_id not in before]
    return {"failures": failures, "notes": dict(extractor.notes), "extracted": extracted,
            "check": vars(vggish.check), "worker": f"{os.uname().nodename}:{os.getpid()}"}


def merge_checks(states):
    """One vggish.OutputCheck from the statistics of several tasks."""
    from avt_np.features.vggish import OutputCheck         # imported here: onnxruntime, slow
    total = OutputCheck()
    for s in states:
        for k in ("count", "values", "negative", "non_integer"):
            setattr(total, k, getattr(total, k) + s[k])
        total.min, total.max = min(total.min, s["min"]), max(total.max, s["max"])
        total.uint8 = total.uint8 or s["uint8"]
    return total


def extract_on_cluster(client, matched, job, work, group=8, log_mel_splits=(),
                       task=extract_group, on_result=None):
    """Extract the clips of `matched` not yet in `work` on the cluster, `group` clips a task.
    Returns (failures {id: message}, notes {id: note}, VGGish findings [lines]), as a local run
    has them. on_result(result) is called as each task ends (tests)."""
    from distributed import as_completed

    from avt_np.features.onnx_model import ModelFileError  # imported here: onnxruntime, slow
    todo = extract.to_extract(matched, work, log_mel_splits)
    items = [(extract.Clip(c.clip_id, absolute(c.audio), absolute(c.video)), s, None)
             for c, s, _ in todo]
    groups = [items[i:i + group] for i in range(0, len(items), group)]
    futures = [client.submit(task, job, g, tuple(log_mel_splits), pure=False) for g in groups]
    which = {f.key: g for f, g in zip(futures, groups)}
    bar = extract.ClipProgress(len(items)) if items else None
    failures, notes, checks = {}, {}, []
    try:
        for future in as_completed(futures):
            try:
                result = future.result()
            except ModelFileError:
                raise                                  # the model is wrong for every clip
            except Exception as e:                     # e.g. KilledWorker: it died 3 times
                g = which[future.key]
                result = {"failures": {c.clip_id: f"task failed: {type(e).__name__}: "
                                                  f"{first_line(e)}"
                                       for c, _, _ in g if not work.has(c.clip_id)},
                          "notes": {}, "extracted": [], "check": None}
                for cid, message in result["failures"].items():
                    work.log_error(cid, message)
            for cid, message in result["failures"].items():
                print(f"skip {cid}: {message}", file=sys.stderr)
            for cid, note in result["notes"].items():
                print(f"note {cid}: {note}", file=sys.stderr)
            failures.update(result["failures"])
            notes.update(result["notes"])
            if result["check"]:
                checks.append(result["check"])
            if bar:
                for cid in [c.clip_id for c, _, _ in which[future.key]]:
                    bar.step(cid in result["failures"])
            if on_result:
                on_result(result)
    except BaseException:
        client.cancel(futures)           # tasks already running finish and keep their clips
        raise
    return failures, notes, merge_checks(checks).findings()
