import numpy as np
import pytest

from avt_np.metrics import (best_global_threshold, ensemble_epochs, micro_f1, per_class_scores,
                            should_stop_early)


def test_micro_f1_by_hand():
    y_true = np.array([[1, 0, 1], [0, 1, 0]])
    y_pred = np.array([[1, 1, 0], [0, 1, 0]])
    # TP = 2, FP = 1, FN = 1 -> 2*2 / (4 + 1 + 1)
    assert micro_f1(y_true, y_pred) == pytest.approx(4 / 6)


def test_micro_f1_counts_clips_with_no_prediction():
    y_true = np.array([[1, 0], [1, 0]])
    y_pred = np.array([[1, 0], [0, 0]])                   # second clip: nothing predicted
    assert micro_f1(y_true, y_pred) == pytest.approx(2 / 3)


def test_micro_f1_degenerate_and_shape_errors():
    assert micro_f1(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0
    with pytest.raises(ValueError, match="shape"):
        micro_f1(np.zeros((2, 3)), np.zeros((3, 2)))


def test_per_class_scores_by_hand():
    y_true = np.array([[1, 0], [1, 1], [0, 1]])
    y_pred = np.array([[1, 1], [0, 1], [0, 0]])
    a, b = per_class_scores(y_true, y_pred, ["a", "b"])
    assert (a["precision"], a["recall"], a["support"]) == (1.0, 0.5, 2)
    assert a["f1"] == pytest.approx(2 / 3)
    assert (b["precision"], b["recall"]) == (0.5, 0.5)


def test_best_threshold_by_hand():
    y = np.array([[1, 0, 1, 0]])
    p = np.array([[0.9, 0.8, 0.7, 0.1]])
    # cut after 0.9: F1 2/3; after 0.8: 2*1/(2+1+1) = 0.5; after 0.7: 2*2/(4+1) = 0.8 (best)
    t, f1 = best_global_threshold(y, p)
    assert f1 == pytest.approx(0.8)
    assert t == pytest.approx((0.7 + 0.1) / 2)
    assert micro_f1(y, p >= t) == pytest.approx(f1)


def test_best_threshold_never_splits_ties():
    y = np.array([1, 0, 1])
    p = np.array([0.5, 0.5, 0.2])
    t, f1 = best_global_threshold(y, p)
    assert micro_f1(y, p >= t) == pytest.approx(f1)
    assert t < 0.5                                         # both 0.5 predicted together


def test_best_threshold_matches_brute_force():
    rng = np.random.default_rng(0)
    y = rng.random((50, 17)) < 0.1
    p = np.clip(y * 0.3 + rng.random((50, 17)) * 0.7, 0, 1).round(2)
    t, f1 = best_global_threshold(y, p)
    brute = max(micro_f1(y, p >= c) for c in np.unique(p))
    assert f1 == pytest.approx(brute)
    assert micro_f1(y, p >= t) == pytest.approx(brute)


def test_early_stopping_on_constructed_loss_sequences():
    improving = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    assert not should_stop_early(improving)
    # higher than every one of the last 7: stop
    assert should_stop_early([0.5, 0.4, 0.41, 0.42, 0.43, 0.44, 0.45, 0.46, 0.47])
    # higher than 6 of the last 7 but lower than the 0.9 among them: go on
    assert not should_stop_early([0.5, 0.9, 0.41, 0.42, 0.43, 0.44, 0.45, 0.46, 0.47])
    # the losses before the last 7 do not count
    assert should_stop_early([9.0, 0.4, 0.41, 0.42, 0.43, 0.44, 0.45, 0.46, 0.47])
    # fewer than 8 epochs: never
    assert not should_stop_early([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])


def test_ensemble_takes_the_last_seven_epochs():
    assert ensemble_epochs(30) == list(range(24, 31))
    assert ensemble_epochs(9) == [3, 4, 5, 6, 7, 8, 9]
    assert ensemble_epochs(3) == [1, 2, 3]
