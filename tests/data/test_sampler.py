"""The balanced sampler: ratio bound, every class present, determinism."""

import numpy as np
import pytest

from avt_np.data import dcase2017, synthetic
from avt_np.data.sampler import BalancedSampler, draw_probabilities, presentation_targets


@pytest.fixture(scope="module")
def real_labels():
    """Labels with the real training label-set distribution (48,883 clips)."""
    return synthetic.training_label_sets(np.random.default_rng(0), 48883, dcase2017.load(),
                                         dcase2017.classes())


def test_an_epoch_presents_every_class_within_the_ratio_bound(real_labels):
    sampler = BalancedSampler(real_labels, batch_size=40, batches_per_epoch=300, seed=0)
    for epoch in range(1, 11):
        batches = sampler.epoch(epoch)
        assert batches.shape == (300, 40)
        presented = sampler.presented(batches)       # every label of a clip counted
        assert presented.min() > 0
        assert presented.max() / presented.min() <= 5.0
    # uniform sampling would have shown ~130 cars per car alarm
    counts = real_labels.sum(axis=0)
    assert counts.max() / counts.min() > 100


@pytest.mark.parametrize("max_ratio", [1, 2, 10])
def test_the_bound_is_a_parameter(real_labels, max_ratio):
    sampler = BalancedSampler(real_labels, max_ratio=max_ratio, seed=1)
    presented = sampler.presented(sampler.epoch(1))
    assert presented.max() / presented.min() <= max_ratio * 1.0001 + (0.15 if max_ratio == 1 else 0)


def test_same_seed_and_epoch_give_the_same_batches(real_labels):
    a = BalancedSampler(real_labels, seed=5)
    b = BalancedSampler(real_labels, seed=5)
    np.testing.assert_array_equal(a.epoch(3), b.epoch(3))
    assert not np.array_equal(a.epoch(3), a.epoch(4))
    assert not np.array_equal(a.epoch(3), BalancedSampler(real_labels, seed=6).epoch(3))


def test_presented_rates_match_the_targets_despite_co_occurrence():
    # class 0 is frequent and rides along with every clip of class 1
    labels = np.array([[1, 0, 0]] * 600 + [[1, 1, 0]] * 100 + [[0, 0, 1]] * 50, np.uint8)
    q = draw_probabilities(labels, max_ratio=5)
    share = (labels.T.astype(float) @ labels) / labels.sum(axis=0)[:, None]
    presented = q @ share
    target = presentation_targets(labels.sum(axis=0), 5)
    np.testing.assert_allclose(presented / presented.sum(), target / target.sum(), rtol=1e-6)


def test_classes_without_clips_are_reported_not_drawn():
    labels = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]], np.uint8)
    sampler = BalancedSampler(labels, batch_size=4, batches_per_epoch=3)
    assert sampler.absent == [2]
    batches = sampler.epoch(0)
    assert set(batches.ravel().tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="no clip carries any label"):
        BalancedSampler(np.zeros((3, 2)))
