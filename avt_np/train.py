"""Train the audiovisual transformer with the paper's protocol (Sec. 3.2).

    python -m avt_np.train                     # paper's best setting, on the embedded default data
    python -m avt_np.train --first audio --second audio --pos-enc none --out runs/aa
    python -m avt_np.train --out runs/aa --resume          # continue after a kill

Protocol: balanced batches (max class ratio 5, Sec. 3.2.2), 300 batches x 40 clips per epoch, at
most 30 epochs; binary cross-entropy and Adam (Sec. 3.2.8); early stopping when the validation
loss is higher than all of the last 7 (Sec. 3.2.8); the models after the last 7 epochs are
averaged (Sec. 3.2.9); one global threshold maximising validation micro-F1 (Sec. 3.2.10);
micro-F1 on test (Sec. 4.1).

The run directory holds config.json, log.csv, checkpoints/ (epoch snapshots of the ensemble
window, and last.npz with the optimizer state for --resume), curves.png and metrics.json.
Every file is written atomically. Same seed, same machine, same --cores (and with --cores 1 the
same number of BLAS threads) -> the same metrics.json, resumed or not (OpenBLAS rounds
differently on one thread than on two). --cores 2, the default, splits each batch between this
process and a forked worker (avt_np/training_step.py).
"""

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from avt_np import cli, data, diagnostics, io
from avt_np.cli import ArgumentParser, CheckFailed, UsageError
from avt_np.data import EMBEDDED, dcase2017
from avt_np.data.sampler import BalancedSampler
from avt_np.evaluate import has_strong_labels, score_ensemble
from avt_np.metrics import best_global_threshold, ensemble_epochs, should_stop_early
from avt_np.model import MODALITIES, AudiovisualTransformer, ModelConfig
from avt_np.nn import ATTENTION_FUNCTIONS, POOLING, BinaryCrossEntropy
from avt_np.optim import Adam
from avt_np.plot import training_curves
from avt_np.predict import predict
from avt_np.progress import Progress
from avt_np.run_dir import (load_state, read_finished, resume_hint, save_state,
                            snapshot_path, write_log)
from avt_np.training_step import allocator, training_step

PADDING = ("mask", "include")
BEFORE = {"cores": 1}       # settings newer than a saved run: the value such runs were trained with

# flag -> (default, help). Defaults are the paper's best configuration and protocol.
SETTINGS = {
    "first": ("video", "modality read by the encoder: audio or video (Table 1)"),
    "second": ("audio", "modality read by the decoder: audio or video (Table 1)"),
    "pos_enc": ("video", "modalities with sinusoidal positional encodings: none, audio, video "
                         "or audio,video (Sec. 2.2.6); without the flag, video when the model "
                         "reads video and none for audio/audio"),
    "pooling": ("mean", "clip-level aggregation of frame probabilities: mean or max (Sec. "
                        "2.2.4), or, ours for detection, linear-softmax or attention "
                        "(docs/detection.md)"),
    "attention": ("softmax", "attention function: softmax, sigmoid or normalized-sigmoid "
                             "(Sec. 2.2.5)"),
    "memory_block": (3, "encoder output the decoder's cross-attention reads: 3 = the last "
                        "encoder block (the paper, Fig. 3), 1 or 2 = an earlier block, 0 = the "
                        "input stream before any encoder block (an ablation of ours)"),
    "self_window": ("all", "self-attention of encoder and decoder: each frame attends only to "
                           "frames within +-W of it (W frames of 0.96 s), or all (the paper). "
                           "Ours, for detection (docs/detection.md)"),
    "cross_window": ("all", "cross-attention: each decoder frame attends only to encoder frames "
                            "within +-W of its own index, or all (the paper). Ours, for "
                            "detection"),
    "frame_skip": ("off", "on: add the decoder's input stream (each frame's own embedding) to "
                          "the last decoder block's output before the classifier; off: the "
                          "paper's model. Ours, for detection"),
    "padding": ("mask", "zero-padded frames of short clips: mask (never attended to, left out "
                        "of pooling) or include (treated as frames, the unmasked variant; the "
                        "paper does not say)"),
    "epochs": (30, "maximum number of epochs (Sec. 3.2.2)"),
    "batches_per_epoch": (300, "batches per epoch (Sec. 3.2.2)"),
    "batch_size": (40, "clips per batch (Sec. 3.2.2)"),
    "max_ratio": (5.0, "largest ratio between the most and least presented class in the "
                       "balanced sampler (Sec. 3.2.2)"),
    "patience": (7, "early stopping: stop when the validation loss exceeds all of the last "
                    "PATIENCE epochs (Sec. 3.2.8)"),
    "ensemble": (7, "number of last epochs whose models are averaged (Sec. 3.2.9)"),
    "seed": (0, "seed of initialisation, sampling and dropout"),
    "cores": (2, "processes a training step runs on: 2 = each batch split into two halves, one "
                 "per process, each on one BLAS thread (avt_np/training_step.py); 1 = the whole "
                 "batch in one process, on OPENBLAS_NUM_THREADS threads. The two give "
                 "different numbers"),
    "data": (EMBEDDED, "data set directory in the avt_np format (default: the embedded "
                       "synthetic DCASE-2017-like set, built on first use)"),
}


# --preset NAME: settings given as if flag by flag; a flag given beside it wins.
PRESETS = {
    # The options docs/detection.md's study found to keep time (issue 30): each frame's own
    # embedding reaches the classifier past the attention layers (frame skip), self-attention
    # reads only neighbouring frames, so the encoder's frames stay apart for cross-attention,
    # and linear-softmax pooling rewards frames for differing. Not the paper's model.
    "detection": {"pooling": "linear-softmax", "frame_skip": "on", "self_window": "1"},
}


def build_parser():
    parser = ArgumentParser(prog="python -m avt_np.train", description=__doc__)
    for name, (default, text) in SETTINGS.items():
        kind = type(default) if not isinstance(default, str) else str
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                            help=f"{text} [default: {default}]")
    parser.add_argument("--preset", choices=list(PRESETS),
                        help="a named set of settings, as if each were given as its flag (a "
                             "flag given beside it wins): detection = "
                             + " ".join(f"--{k.replace('_', '-')} {v}"
                                        for k, v in PRESETS["detection"].items())
                             + " (docs/detection.md)")
    parser.add_argument("--out", help="run directory [default: runs/FIRST-SECOND-seedSEED]")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last finished epoch")
    parser.add_argument("--diagnostics", type=int, default=0, metavar="K",
                        help="every K steps (and at step 1), append attention, residual, "
                             "encoder-output and gradient statistics to RUN_DIR/"
                             "diagnostics.jsonl (avt_np/diagnostics.py); 0: off [default: 0]")
    return parser


def parse_pos_enc(text):
    if text == "none":
        return ()
    parts = tuple(sorted(set(text.split(","))))
    if not parts or any(p not in MODALITIES for p in parts):
        raise UsageError(f"--pos-enc {text}: expected none, audio, video or audio,video")
    return parts


def parse_window(name, text):
    """--self-window / --cross-window: "all" -> None (every frame), "W" -> W >= 0 frames."""
    if text == "all":
        return None
    if not text.isdigit():
        raise UsageError(f"--{name.replace('_', '-')} {text}: expected all or a number of "
                         f"frames >= 0")
    return int(text)


def settings_from(args, saved=None):
    """The run's settings: flags given on the command line, else the saved ones, else defaults.
    With a saved run (--resume), a flag that contradicts it is an error."""
    settings = {}
    args.data = data.resolved(args.data)                # a resumed run may start elsewhere
    for name, (default, _) in SETTINGS.items():
        given = getattr(args, name)
        if saved is not None:
            was = saved.get(name, BEFORE.get(name, default))    # a setting newer than the run
            if given is not None and given != was:
                raise UsageError(f"--{name.replace('_', '-')} {given}: the run in {args.out} was "
                                 f"started with {was}; resume it without changing settings")
            settings[name] = was
        else:
            settings[name] = default if given is None else given
    if saved is None and args.pos_enc is None and "video" not in (settings["first"],
                                                                  settings["second"]):
        settings["pos_enc"] = "none"        # the paper's best encodes video; audio/audio has none
    for name, allowed in (("first", MODALITIES), ("second", MODALITIES), ("pooling", POOLING),
                          ("attention", ATTENTION_FUNCTIONS), ("padding", PADDING),
                          ("frame_skip", ("on", "off"))):
        if settings[name] not in allowed:
            raise UsageError(f"--{name.replace('_', '-')} {settings[name]}: expected "
                             f"{' or '.join(allowed)}")
    for name in ("self_window", "cross_window"):
        parse_window(name, settings[name])
    if settings["cores"] not in (1, 2):
        raise UsageError(f"--cores {settings['cores']}: expected 1 or 2")
    for name in ("epochs", "batches_per_epoch", "batch_size", "ensemble", "patience"):
        if settings[name] < 1:
            raise UsageError(f"--{name.replace('_', '-')} {settings[name]}: must be at least 1")
    blocks = ModelConfig().blocks
    if not 0 <= settings["memory_block"] <= blocks:
        raise UsageError(f"--memory-block {settings['memory_block']}: expected 0..{blocks} "
                         f"(0 = the input stream, {blocks} = the last encoder block, the paper)")
    if settings["max_ratio"] < 1:
        raise UsageError(f"--max-ratio {settings['max_ratio']}: must be at least 1")
    return settings


# -- settings -------------------------------------------------------------------------------------
def apply_preset(args):
    """Fill the flags of --preset that were not given; print what it set (stderr)."""
    if args.preset is None:
        return
    given = []
    for name, value in PRESETS[args.preset].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
            given.append(f"--{name.replace('_', '-')} {value}")
    print(f"--preset {args.preset}: {' '.join(given) or 'nothing (every flag given)'}",
          file=sys.stderr)


def settings_and_run_dir(args):
    """The run's settings (saved ones when resuming) and its directory, checked before any
    data is opened."""
    apply_preset(args)
    saved = None
    if args.resume:
        if args.out is None:
            raise UsageError("--resume needs --out RUN_DIR")
        config_path = Path(args.out) / "config.json"
        if not config_path.is_file():
            raise UsageError(f"{config_path}: not found; nothing to resume in {args.out}")
        saved = saved_settings(config_path)
    try:
        settings = settings_from(args, saved)
    except UsageError as e:
        raise (UsageError(f"{config_path}: {e}") if saved is not None else e) from None
    run_dir = Path(args.out or f"runs/{settings['first']}-{settings['second']}-seed{settings['seed']}")
    if not args.resume and run_dir.exists() and any(run_dir.iterdir()):
        raise UsageError(f"--out {run_dir}: already holds a run; continue it with --resume "
                         f"or choose another directory")
    parse_pos_enc(settings["pos_enc"])
    return settings, run_dir


def saved_settings(path):
    """config.json's "settings", each of the type of its flag (it may have been edited by hand)."""
    try:
        saved = io.read_json(path)["settings"]
    except ValueError as e:
        raise UsageError(f"{e}; nothing to resume") from None
    except (KeyError, TypeError):
        raise UsageError(f"{path}: no \"settings\" (is it a run directory of avt_np.train?)") \
            from None
    if not isinstance(saved, dict):
        raise UsageError(f"{path}: \"settings\" must be an object of the train flags")
    for name, (default, _) in SETTINGS.items():
        value = saved.get(name, default)
        kinds = (int, float) if isinstance(default, float) else (type(default),)
        expected = "a number" if isinstance(default, float) else type(default).__name__
        if not io.is_a(value, kinds) \
                or (isinstance(value, float) and not np.isfinite(value)):
            raise UsageError(f"{path}: settings.{name} = {json.dumps(value)[:40]}, expected "
                             f"{expected}")
    return saved


# -- data -----------------------------------------------------------------------------------------
def open_data(settings):
    """The data set of --data and the balanced sampler of its training split (Sec. 3.2.2)."""
    dataset = data.open(settings["data"], (settings["first"], settings["second"]))
    if list(dataset.classes) != dcase2017.classes():
        print(f"note: --data {settings['data']} has other classes than DCASE 2017 Task 4's 17 "
              f"({len(dataset.classes)}: {', '.join(dataset.classes[:3])}, ...); the model is "
              f"built for them", file=sys.stderr)
    try:
        sampler = BalancedSampler(dataset["train"].labels, batch_size=settings["batch_size"],
                                  batches_per_epoch=settings["batches_per_epoch"],
                                  max_ratio=settings["max_ratio"], seed=settings["seed"])
    except ValueError as e:
        raise UsageError(f"--data {settings['data']}: train split: {e}") from None
    if sampler.absent:
        print(f"note: no training clip carries {', '.join(dataset.classes[c] for c in sampler.absent)};"
              " those classes are never presented", file=sys.stderr)
    return dataset, sampler


# -- model ----------------------------------------------------------------------------------------
def model_config(settings, dataset):
    dims = {m: int(d) for m, d in dataset.dims.items() if m in MODALITIES}
    try:
        return ModelConfig(first=settings["first"], second=settings["second"],
                           pos_enc=parse_pos_enc(settings["pos_enc"]), pooling=settings["pooling"],
                           attention=settings["attention"], classes=len(dataset.classes),
                           dims=dims, mask_padding=settings["padding"] == "mask",
                           memory_block=settings["memory_block"],
                           self_window=parse_window("self_window", settings["self_window"]),
                           cross_window=parse_window("cross_window", settings["cross_window"]),
                           frame_skip=settings["frame_skip"] == "on")
    except ValueError as e:
        raise UsageError(str(e)) from None


def start_or_resume(run_dir, settings, config, model, adam, dataset_classes, preset=None):
    """The history of finished epochs: empty for a new run (config.json written), else the one
    saved in checkpoints/last.npz with the model and Adam state restored."""
    if (run_dir / "checkpoints" / "last.npz").is_file():
        history = load_state(run_dir, model, adam)
        print(f"resuming {run_dir} after epoch {len(history)}", file=sys.stderr)
        return history
    if (run_dir / "checkpoints" / "previous.npz").is_file():     # last.npz deleted: resume from
        raise UsageError(f"{run_dir / 'checkpoints' / 'last.npz'}: missing"   # the epoch before
                         f"{resume_hint(run_dir)}")
    # (no state at all: killed before the first save_state; epoch 1 is trained again)
    if not (run_dir / "config.json").is_file():
        io.write_json(run_dir / "config.json", {"settings": settings, "model": config.to_dict(),
                                                "data": settings["data"],
                                                "classes": list(dataset_classes),
                                                "preset": preset})
    return []


# -- epochs ---------------------------------------------------------------------------------------
def train_epoch(steps, sampler, epoch, settings, progress, diagnose=None):
    """One epoch of balanced batches, each a step of `steps` (avt_np/training_step.py); returns
    the mean training loss. `progress` counts the batches of the whole run, so its ETA is the
    run's. diagnose(step, epoch, loss), if given, runs after each backward, before the update."""
    losses = []
    # Randomness from (seed, epoch) alone, so a resumed run draws exactly the same batches
    # and dropout masks as an uninterrupted one.
    with steps.epoch(settings["seed"], epoch):
        for indices in sampler.epoch(epoch):
            step = progress.done + 1
            check = None if diagnose is None else (lambda loss: diagnose(step, epoch, loss))
            losses.append(steps.step(indices, check))
            if not np.isfinite(losses[-1]):
                raise CheckFailed(diverged(f"the training loss is {losses[-1]} at epoch {epoch}, "
                                           f"step {len(losses)} of {settings['batches_per_epoch']}",
                                           epoch))
            progress.update(step, f"epoch {epoch}/{settings['epochs']}, "
                                  f"loss {np.mean(losses[-50:]):.4f}")
    return float(np.mean(losses))


def diverged(what, epoch):
    """The one line that stops a run whose numbers stopped being numbers."""
    kept = f"epochs 1-{epoch - 1} are kept" if epoch > 1 else "no epoch was finished"
    return (f"{what}: training stops ({kept}; --resume would repeat the same steps); try "
            f"another --seed, or softmax attention (--attention softmax) if this run uses "
            f"another")


def validate(model, loss_fn, split, config):
    probs = predict(model, split, config).probabilities
    labels = split.labels.astype(probs.dtype)
    _, f1 = best_global_threshold(labels > 0.5, probs)
    return float(loss_fn(probs, labels)), f1


def train_epochs(model, adam, dataset, sampler, settings, config, run_dir, history,
                 diagnose=None):
    """Epochs until --epochs or early stopping (Sec. 3.2.8), each saved when it ends; each
    step on --cores cores (avt_np/training_step.py). -> (history, stopped_early)."""
    loss_fn = BinaryCrossEntropy()
    val_losses = [row["val_loss"] for row in history]
    stopped_early = bool(history) and should_stop_early(val_losses, settings["patience"])
    epoch = len(history)
    left = 0 if stopped_early else settings["epochs"] - epoch
    progress = Progress(left * settings["batches_per_epoch"], "run: batch",
                        eta_is_bound=True)              # early stopping may end the run sooner
    with training_step(model, adam, dataset["train"], config, settings["cores"]) as steps:
        while epoch < settings["epochs"] and not stopped_early:
            epoch += 1
            start = time.perf_counter()
            train_loss = train_epoch(steps, sampler, epoch, settings, progress, diagnose)
            val_loss, val_f1 = validate(model, loss_fn, dataset["validation"], config)
            if not np.isfinite(val_loss):
                raise CheckFailed(diverged(f"the validation loss is {val_loss} after epoch "
                                           f"{epoch}", epoch))
            history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                            "val_micro_f1": val_f1, "seconds": time.perf_counter() - start})
            val_losses.append(val_loss)
            io.write_npz(snapshot_path(run_dir, epoch), model.state_dict())
            save_state(run_dir, model, adam, history)
            write_log(run_dir, history)
            snapshot_path(run_dir, epoch - settings["ensemble"]).unlink(missing_ok=True)  # keep the
            stopped_early = should_stop_early(val_losses, settings["patience"])         # window
            print(f"epoch {epoch}: train loss {train_loss:.4f}, validation loss {val_loss:.4f}, "
                  f"validation micro-F1 {val_f1:.4f}, {history[-1]['seconds']:.1f} s"
                  + (" -> early stop" if stopped_early else ""), file=sys.stderr)
    return history, stopped_early


def diagnostics_writer(model, run_dir, every, steps_before):
    """diagnose(step, epoch, loss) appending model_diagnostics to RUN_DIR/diagnostics.jsonl at
    step 1 and every `every` steps of the run (steps counted over resumed epochs too)."""
    def diagnose(step, epoch, loss):
        step += steps_before
        if step == 1 or step % every == 0:
            record = {"step": step, "epoch": epoch, "loss": loss}
            record.update(diagnostics.model_diagnostics(model))
            diagnostics.append_jsonl(run_dir / "diagnostics.jsonl", record)
    return diagnose


# -- score ----------------------------------------------------------------------------------------
def score(model, run_dir, dataset, settings, config, history, stopped_early):
    """curves.png, then the ensemble of the last epochs scored on test (Sec. 3.2.9-3.2.10):
    metrics.json."""
    epochs = ensemble_epochs(len(history), settings["ensemble"])
    if len(epochs) < settings["ensemble"]:
        print(f"note: --ensemble {settings['ensemble']} but only {len(history)} epoch(s) were "
              f"trained: the ensemble averages epochs {epochs[0]}-{epochs[-1]}", file=sys.stderr)
    curves = training_curves([r["train_loss"] for r in history], [r["val_loss"] for r in history],
                             [r["val_micro_f1"] for r in history], window=(epochs[0], epochs[-1]),
                             stop=len(history) if stopped_early else None)
    io.atomic_write(run_dir / "curves.png", lambda f: curves.save(f, format="PNG"))
    metrics = score_ensemble(model, run_dir, epochs, dataset, config, dataset.classes,
                             events=has_strong_labels(dataset))
    metrics.update({"epochs_trained": len(history), "stopped_early": stopped_early,
                    "config": {"settings": settings, "model": config.to_dict()}})
    io.write_json(run_dir / "metrics.json", metrics)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ensemble of epochs {metrics['ensemble_epochs']}, threshold {metrics['threshold']:.3f}, "
          f"validation micro-F1 {metrics['val_micro_f1']:.4f}; peak memory {peak_mb:.0f} MB",
          file=sys.stderr)
    if "events" in metrics:
        scores = metrics["events"]["test"]
        print(f"events (DCASE 2017 Task 4 subtask B) on test: segment-based error rate "
              f"{scores['error_rate']:.3f}, F1 {scores['f1']:.3f}", file=sys.stderr)
    print(f"test micro-F1 {metrics['test_micro_f1']:.4f}  ({run_dir}/metrics.json)")
    return metrics


def time_options(config):
    """", frame skip, self-attention +-1 frames, ..." for the options that are not the paper's."""
    parts = [f"{name} attention +-{w} frames" for name, w in
             (("self", config.self_window), ("cross", config.cross_window)) if w is not None]
    return "".join(", " + p for p in (["frame skip"] if config.frame_skip else []) + parts)


def run(argv=None):
    """settings -> data -> model -> epochs -> score; returns the metrics."""
    args = build_parser().parse_args(argv)
    settings, run_dir = settings_and_run_dir(args)
    dataset, sampler = open_data(settings)
    config = model_config(settings, dataset)
    model = AudiovisualTransformer(config, seed=settings["seed"])
    adam = Adam(model, allocate=allocator(settings["cores"]))
    if (run_dir / "metrics.json").is_file():
        metrics = read_finished(run_dir)[2]           # one-line errors for a damaged file
        f1 = metrics.get("test_micro_f1")
        print(f"{run_dir} has already finished: test micro-F1 "
              + (f"{f1:.4f}" if type(f1) in (int, float) else f"{f1!r} in metrics.json"))
        return metrics
    history = start_or_resume(run_dir, settings, config, model, adam, dataset.classes,
                              args.preset)
    print(f"training {config.first}/{config.second}, positional encodings "
          f"{','.join(config.pos_enc) or 'none'}, {config.pooling} pooling, {config.attention} "
          f"attention{time_options(config)}, {model.num_parameters():,} parameters, data {settings['data']} "
          f"({len(dataset['train'])} train clips) -> {run_dir}", file=sys.stderr)
    diagnose = None
    if args.diagnostics > 0:
        diagnose = diagnostics_writer(model, run_dir, args.diagnostics,
                                      len(history) * settings["batches_per_epoch"])
    history, stopped_early = train_epochs(model, adam, dataset, sampler, settings, config,
                                          run_dir, history, diagnose)
    return score(model, run_dir, dataset, settings, config, history, stopped_early)


def main(argv=None):
    return cli.main(run, argv, interrupted="interrupted: finished epochs are saved; continue "
                                          "with --resume")


if __name__ == "__main__":
    raise SystemExit(main())
