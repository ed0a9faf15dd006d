# %% [markdown]
# # Lesson 13: the training protocol of Sec. 3.2
#
# What you learn here:
# - early stopping as the paper defines it: stop when the validation loss is higher than ALL of
#   the last 7 validation losses (not "has not improved for 7 epochs");
# - epoch ensembling: average the class probabilities of the models after the last 7 epochs;
# - one global threshold, chosen on validation to maximise micro-F1, applied to the test set;
# - micro-F1: F1 over all (clip, class) decisions pooled, so frequent classes weigh more.
# Then a short real run of `python -m avt_np.train` (its Python entry point) shows them at work.
#
# Run: python lessons/13_training_protocol.py   (15-20 s on 2 cores; see lessons/README.md)

# %%
import json
import shutil

import numpy as np

from avt_np import train
from avt_np.data import synthetic
from avt_np.metrics import best_global_threshold, ensemble_epochs, micro_f1, should_stop_early
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.plot import lesson_output
from avt_np.predict import predict
from avt_np.run_dir import snapshot_path

# %% [markdown]
# ## 1. Early stopping on made-up loss curves
# `should_stop_early(losses, patience)` looks only at the newest loss: is it higher than every
# one of the `patience` losses before it? A single bad epoch after steady progress does not
# stop training; a loss that has drifted above its whole recent past does.

# %%
noisy_but_improving = [0.30, 0.25, 0.22, 0.24, 0.21, 0.20, 0.23, 0.19]
overfitting = [0.30, 0.20, 0.18, 0.185, 0.19, 0.195, 0.20, 0.21, 0.22, 0.23]
for name, losses in (("noisy but improving", noisy_but_improving), ("overfitting", overfitting)):
    stops = [e + 1 for e in range(len(losses)) if should_stop_early(losses[: e + 1], 7)]
    print(f"{name:20s} losses {losses} -> stops after epoch {stops[0] if stops else 'never'}")
print("ensemble after 10 epochs:", ensemble_epochs(10, 7), "; after 4:", ensemble_epochs(4, 7))

# %% [markdown]
# ## 2. Micro-F1 and the global threshold
# Micro-F1 pools true positives, false positives and false negatives over every clip and class:
# F1 = 2 TP / (2 TP + FP + FN). One threshold for all classes is searched on validation.
# Worked example: 3 clips x 2 classes.

# %%
y_true = np.array([[1, 0], [0, 1], [1, 1]], bool)
probs = np.array([[0.9, 0.2], [0.4, 0.6], [0.3, 0.7]])
for t in (0.25, 0.5, 0.65):
    print(f"threshold {t}: predictions {(probs >= t).astype(int).tolist()} "
          f"micro-F1 {micro_f1(y_true, probs >= t):.3f}")
t, f1 = best_global_threshold(y_true, probs)
print(f"best threshold {t:.3f} (midway between two probabilities) gives micro-F1 {f1:.3f}")

# %% [markdown]
# ## 3. A short real run
# A small embedded set (2,000 training clips) and a short protocol: 5 epochs of 25 batches, an
# ensemble of the last 3. `train.run` is what `python -m avt_np.train` calls. The data set goes
# to lesson_output/13_training_protocol/data, removed when the lesson ends.

# %%
work = lesson_output("13_training_protocol")
print(f"\npictures go to {work}")
data = work / "data"
if data.exists():                          # a previous run of this lesson that did not finish
    shutil.rmtree(data)
synthetic.generate(data, seed=0, progress=False,
                   recipe=synthetic.Recipe(sizes={"train": 2000, "validation": 200, "test": 400}))
run_dir = work / "run"
if run_dir.exists():                       # a previous run of this lesson
    shutil.rmtree(run_dir)
metrics = train.run(["--data", str(data), "--first", "audio", "--second", "audio",
                     "--pos-enc", "none", "--epochs", "5", "--batches-per-epoch", "25",
                     "--ensemble", "3", "--out", str(run_dir)])
print((run_dir / "log.csv").read_text())

# %% [markdown]
# ## 4. Why ensemble? Compare each epoch's model alone with the ensemble
# The run kept the snapshots of the ensemble window. Score each on the test set with its own
# best validation threshold, then compare with the ensemble's number from metrics.json.
#
# What this one-minute run shows is not the paper's case. The model still improves every
# epoch, so averaging in the older, weaker epochs pulls the ensemble BELOW the last epoch
# alone; it beats only the average of its members. An ensemble pays off when its members are
# about equally good and wrong on different clips: the paper averages the last 7 epochs of a
# run whose validation loss has levelled off (Sec. 3.2.8; docs/training.md, for a full run).
# The cell checks both comparisons, so a change of data or seed that reverses them fails here.

# %%
config = ModelConfig(**json.loads((run_dir / "config.json").read_text())["model"])
dataset = synthetic.open_embedded(data)
model = AudiovisualTransformer(config)
val_true, test_true = dataset["validation"].labels > 0, dataset["test"].labels > 0
singles = []
for epoch in metrics["ensemble_epochs"]:
    model.load_state_dict(dict(np.load(snapshot_path(run_dir, epoch))))
    validation = predict(model, dataset["validation"], config).probabilities
    t, _ = best_global_threshold(val_true, validation)
    single = micro_f1(test_true, predict(model, dataset["test"], config).probabilities >= t)
    print(f"epoch {epoch} alone: test micro-F1 {single:.4f}")
    singles.append(single)
ensemble = metrics["test_micro_f1"]
print(f"ensemble of epochs {metrics['ensemble_epochs']}: test micro-F1 "
      f"{ensemble:.4f} (threshold {metrics['threshold']:.3f})")
print(f"members' mean {np.mean(singles):.4f} < ensemble {ensemble:.4f} < last epoch alone "
      f"{singles[-1]:.4f}: still improving, so the older members pull it down")
assert np.mean(singles) < ensemble < singles[-1], "the prose above no longer describes the run"
print(f"\nthe training curves are in {run_dir / 'curves.png'}")
shutil.rmtree(data)

# %% [markdown]
# ## Exercises
# 1. Change `should_stop_early` to "no improvement for 7 epochs" in your head: on which of the
#    two made-up curves would it stop earlier, and why might the paper's rule suit noisy
#    validation losses better?
# 2. Re-run section 3 with `--pooling max`. Max pooling lets one confident frame decide the
#    clip: how do the loss curves and the threshold change?
