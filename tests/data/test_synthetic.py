"""The embedded default data set: determinism, real statistics, documented structure."""

import json
import shutil

import numpy as np
import pytest

from avt_np.data import dcase2017, synthetic
from avt_np.data import open as open_data
from avt_np.data.format import DataError, open_dataset
from avt_np.data.synthetic import (LITTLE_VISUAL, ROAD_VEHICLES, SIRENS, Recipe, audible_frames,
                                   frames_covered)


CLASSES = dcase2017.classes()


def real_training_counts():
    counts = np.zeros(17)
    for s in dcase2017.load()["training_label_sets"]:
        counts[s["labels"]] += s["clips"]
    return counts


def test_shipped_statistics_are_the_published_ones():
    stats = dcase2017.load()
    assert len(CLASSES) == 17 and CLASSES[0] == "Train horn" and CLASSES[-1] == "Train"
    counts = real_training_counts()
    assert stats["training_clips"] == 51172 == sum(s["clips"] for s in stats["training_label_sets"])
    assert counts[CLASSES.index("Car")] == 25077 and counts[CLASSES.index("Car alarm")] == 180
    assert counts.sum() / 51172 == pytest.approx(1.097, abs=5e-4)      # labels per clip
    assert len(stats["training_label_sets"]) == 128
    assert (len(stats["validation_clips"]), len(stats["test_clips"])) == (488, 1103)
    # 688 + 1706 strong rows, minus 36 + 150 "could not hear" markers
    assert sum(len(d) for d in stats["event_durations"].values()) == 2208
    assert "Apache" in stats["attribution"] and "CC BY 4.0" in stats["attribution"]


def stored_lengths(dataset, split):
    """The real frames per clip a split stores (lengths.npy, as the standard format)."""
    return np.load(dataset.path / split / "lengths.npy")


def test_the_default_training_set_follows_the_real_class_frequencies(default_cache):
    labels = synthetic.default_dataset(cache=default_cache)["train"].labels   # what train uses
    assert labels.shape == (48883, 17)
    real = real_training_counts()
    expected = real * 48883 / 51172
    # drawing 48,883 of 51,172 clips without replacement: hypergeometric spread per class
    p = real / 51172
    sd = np.sqrt(48883 * p * (1 - p) * (51172 - 48883) / (51172 - 1))
    assert np.all(np.abs(labels.sum(axis=0) - expected) <= 5 * sd + 1)
    assert labels.sum(axis=0).max() / labels.sum(axis=0).min() > 100      # the real imbalance


def test_the_first_run_builds_the_default_set_and_a_second_run_reuses_it(default_cache, capsys):
    folders = list(default_cache.iterdir())
    assert len(folders) == 1 and folders[0].name.startswith(f"embedded-v{synthetic.GENERATOR_VERSION}-")
    stamp = (folders[0] / "meta.json").stat().st_mtime_ns
    dataset = synthetic.default_dataset(cache=default_cache)
    assert "building" not in capsys.readouterr().err
    assert (folders[0] / "meta.json").stat().st_mtime_ns == stamp
    assert [len(dataset[s]) for s in ("train", "validation", "test")] == [48883, 465, 1050]
    size = sum(f.stat().st_size for f in folders[0].rglob("*") if f.is_file())
    assert size < 200e6
    # --data can name the cached folder too
    assert len(open_data(folders[0])["test"]) == 1050


def test_same_seed_gives_identical_arrays_and_another_seed_does_not(tmp_path, small_embedded):
    SMALL = small_embedded.meta["splits"]
    recipe = Recipe(sizes=dict(SMALL))
    again = synthetic.open_embedded(synthetic.generate(tmp_path / "a", 3, recipe, progress=False))
    other = synthetic.open_embedded(synthetic.generate(tmp_path / "b", 4, recipe, progress=False))
    idx = np.arange(SMALL["test"])
    for split in ("train", "validation", "test"):
        x, y = small_embedded[split], again[split]
        n = np.arange(len(x))
        for key, value in x.batch(n).items():
            np.testing.assert_array_equal(value, y.batch(n)[key])
    assert not np.array_equal(small_embedded["test"].batch(idx)["audio"],
                              other["test"].batch(idx)["audio"])


def test_embeddings_look_like_relu_features(small_embedded):
    batch = small_embedded["train"].batch(np.arange(100))
    assert batch["audio"].shape == (100, 10, 128) and batch["video"].shape == (100, 10, 4096)
    assert batch["audio"].dtype == batch["video"].dtype == np.float32
    for modality, sparsity in Recipe().sparsity.items():
        x = batch[modality]
        assert x.min() == 0.0
        assert abs((x == 0).mean() - sparsity) < 0.08


def test_ground_truth_agrees_with_the_labels(small_embedded):
    little = [CLASSES.index(c) for c in LITTLE_VISUAL]
    for split in ("train", "validation", "test"):
        s = small_embedded[split]
        labels = s.labels.astype(bool)
        np.testing.assert_array_equal(s.audible.any(axis=2), labels)   # every label heard, only labels
        assert not (s.visible.any(axis=2) & ~labels).any()
        assert not s.visible[~s.informative_video].any()               # unrelated videos show nothing
    s = small_embedded["train"]
    seen = s.visible.any(axis=2)
    labelled = s.labels.astype(bool) & s.informative_video[:, None]
    other = [c for c in range(17) if c not in little]
    assert seen[:, little].sum() / labelled[:, little].sum() < 0.35
    assert seen[:, other].sum() / labelled[:, other].sum() > 0.75


def test_validation_and_test_carry_real_clips_and_their_real_timing(small_embedded):
    real = {c["file"]: c for c in dcase2017.load()["validation_clips"]}
    s = small_embedded["validation"]
    assert len(set(s.sources)) == len(s) and set(s.sources) <= set(real)
    lengths = stored_lengths(small_embedded, "validation")
    for i, source in enumerate(s.sources):
        clip = real[source]
        np.testing.assert_array_equal(np.flatnonzero(s.labels[i]), clip["labels"])
        assert lengths[i] == clip["vggish_examples"]                     # the clip's real length
        for c, onset, offset in clip["events"]:
            covered = frames_covered(np.array([onset]), np.array([offset]), 10)[0]
            assert s.audible[i, c][covered & (np.arange(10) < lengths[i])].all()   # real frames


def test_frame_coverage_rule_on_hand_cases():
    onset = np.array([0.917, 0.0, 9.8, 2.0, -5.0])
    offset = np.array([2.029, 10.0, 10.0, 2.2, -1.0])
    covered = frames_covered(onset, offset, 10)
    # 0.917-2.029 s covers all of frame 1 but only 0.04 s of frame 0 and 0.11 s of frame 2
    assert np.flatnonzero(covered[0]).tolist() == [1]
    assert covered[1].all()
    assert not covered[2].any()               # beyond the 10th frame (9.6 s)
    assert np.flatnonzero(covered[3]).tolist() == [2]   # short event: half of it is in frame 2
    assert not covered[4].any()               # shifted out of the clip
    heard = audible_frames(onset[:4], offset[:4], 10)
    assert heard[2].tolist() == [False] * 9 + [True]   # an event is always audible somewhere


def test_sound_alike_groups_share_their_sound_but_not_their_look():
    sounds, looks = synthetic.sounds_and_looks(np.random.default_rng(0), CLASSES, Recipe())
    for group in (SIRENS, ROAD_VEHICLES):
        idx = [CLASSES.index(c) for c in group]
        cos_sound = sounds[idx] @ sounds[idx].T
        cos_look = looks[idx] @ looks[idx].T
        off = ~np.eye(len(idx), dtype=bool)
        assert cos_sound[off].min() > 0.5
        assert np.abs(cos_look[off]).max() < 0.6


def test_materialize_writes_the_standard_format(tmp_path, small_embedded):
    out = synthetic.materialize(small_embedded, tmp_path / "m", chunk=64)
    dataset = open_dataset(out, CLASSES)
    idx = np.arange(len(small_embedded["validation"]))
    a, b = dataset["validation"].batch(idx), small_embedded["validation"].batch(idx)
    np.testing.assert_allclose(a["video"], b["video"], rtol=1e-3, atol=1e-2)   # float16 on disk
    np.testing.assert_array_equal(a["visible"], b["visible"])
    assert dataset.meta["provenance"]["materialized_from"] == str(small_embedded.path)


def damage_latent(folder):
    latent = np.load(folder / "train" / "video_latent.npy")
    latent[17, 3, 5] = np.nan
    np.save(folder / "train" / "video_latent.npy", latent)


def damage_labels(folder, change):
    labels = np.load(folder / "train" / "labels.npy")
    np.save(folder / "train" / "labels.npy", change(labels))


def set_label_to_two(labels):
    labels[5, 2] = 2
    return labels


def damage_map(folder):
    maps = dict(np.load(folder / "maps.npz"))
    maps["video_bias"][3] = np.nan
    np.savez(folder / "maps.npz", **maps)


# a cached embedded set damaged on disk must fail on opening, not train on NaN
EMBEDDED_DAMAGE = {
    "nan in a map": (damage_map, "maps.npz: 1 NaN/inf value"),
    "maps cut": (lambda p: (p / "maps.npz").write_bytes((p / "maps.npz").read_bytes()[:1000]),
                 "maps.npz: unreadable .npz file"),
    "labels cut": (lambda p: damage_labels(p, lambda y: y[:100]),
                   r"train/labels.npy: shape \(100, 17\), expected \(300, 17\)"),
    "label of 2": (lambda p: damage_labels(p, set_label_to_two),
                   "train/labels.npy: labels must be 0 or 1, found 2"),
    "nan latent": (damage_latent, "train/video_latent.npy: 1 NaN/inf value.*first in clip 17"),
    "ground truth cut": (lambda p: np.save(p / "test" / "audible.npy",
                                           np.load(p / "test" / "audible.npy")[:, :, :9]),
                         r"test/audible.npy: shape \(60, 17, 9\), expected \(60, 17, 10\)"),
    "ids missing a line": (lambda p: (p / "validation" / "clip_ids.txt").write_text("a\n"),
                           "validation/clip_ids.txt: 1 lines for 40 clips"),
}


@pytest.mark.parametrize("case", sorted(EMBEDDED_DAMAGE))
def test_a_damaged_embedded_cache_fails_on_opening_in_one_line(tmp_path, small_embedded, case):
    folder = tmp_path / "embedded"
    shutil.copytree(small_embedded.path, folder)
    damage, message = EMBEDDED_DAMAGE[case]
    damage(folder)
    for opener in (synthetic.open_embedded, open_data):          # default set and --data DIR
        with pytest.raises(DataError, match=message) as error:
            opener(folder)
        assert "\n" not in str(error.value) and "delete" in str(error.value)


def test_a_damaged_embedded_meta_json_says_to_delete_the_cache(tmp_path, small_embedded):
    folder = tmp_path / "embedded"
    shutil.copytree(small_embedded.path, folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["frames"] = "ten"
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="meta.json") as error:
        synthetic.open_embedded(folder)
    assert "\n" not in str(error.value) and f"delete {folder}" in str(error.value)


# -- clip lengths ------------------------------------------------------------------------------
def test_shipped_vggish_example_counts_are_the_real_ones():
    examples = dcase2017.load()["vggish_examples_per_clip"]
    train = {int(k): v for k, v in examples["train"].items()}
    assert sum(train.values()) == 51172 and train[10] == 43524 and train[9] == 6699
    assert sum(v for k, v in train.items() if k < 10) == 7648           # 15% of clips
    assert sum(examples["validation"].values()) == 488 and examples["validation"]["10"] == 427
    clips = dcase2017.load()["validation_clips"]
    assert sum(c["vggish_examples"] < 10 for c in clips) == 61
    assert all("vggish_examples" not in c for c in dcase2017.load()["test_clips"])


def test_default_clip_lengths_follow_the_real_dcase_distribution(default_cache):
    dataset = synthetic.open_embedded(next(default_cache.iterdir()))
    train = stored_lengths(dataset, "train")
    assert train.shape == (48883,) and train.dtype == np.int16
    assert train.min() >= 1 and train.max() == 10
    real = dcase2017.load()["vggish_examples_per_clip"]["train"]
    for k in (8, 9, 10):                                  # shares within 5 binomial sd
        p = real[str(k)] / 51172
        assert abs((train == k).sum() - 48883 * p) <= 5 * np.sqrt(48883 * p * (1 - p)) + 1
    test = stored_lengths(dataset, "test")
    support = {int(k) for k, v in dcase2017.load()["vggish_examples_per_clip"]["validation"].items()
               if v}
    assert set(np.unique(test)) <= support and 0.05 < (test < 10).mean() < 0.25


def test_padded_frames_are_zero_and_never_audible_or_visible(small_embedded):
    for split in ("train", "validation", "test"):
        s, lengths = small_embedded[split], stored_lengths(small_embedded, split)
        assert len(lengths) == len(s) and lengths.min() >= 1 and lengths.max() <= 10
        padded = np.arange(10) >= lengths[:, None]                          # (N, T)
        batch = s.batch(np.arange(len(s)))
        assert (batch["audio"][padded] == 0).all() and (batch["video"][padded] == 0).all()
        assert not s.audible.transpose(0, 2, 1)[padded].any()
        assert not s.visible.transpose(0, 2, 1)[padded].any()
        real = ~padded
        assert (batch["audio"][real] != 0).any(axis=-1).all()              # real frames carry sound
    assert (stored_lengths(small_embedded, "train") < 10).any()


def test_events_beyond_the_real_frames_get_the_last_real_frame():
    onset, offset = np.array([9.8, 0.0, 5.0]), np.array([10.0, 10.0, 6.0])
    heard = audible_frames(onset, offset, 10, lengths=np.array([10, 4, 3]))
    assert np.flatnonzero(heard[0]).tolist() == [9]
    assert np.flatnonzero(heard[1]).tolist() == [0, 1, 2, 3]               # cut at the length
    assert np.flatnonzero(heard[2]).tolist() == [2]                       # after the real audio


def test_a_recipe_whose_padding_would_not_embed_to_zero_is_refused(tmp_path):
    recipe = Recipe(sizes={"train": 5, "validation": 2, "test": 2},
                    sparsity={"audio": 0.4, "video": 0.75})
    with pytest.raises(ValueError, match="sparsity below 0.5"):
        synthetic.generate(tmp_path / "x", recipe=recipe, progress=False)
