"""avt_np/sync.py: the synchronization score on constructed attention matrices."""

import numpy as np
import pytest

from avt_np.sync import (pair_scores, roles, sync_pairs, sync_report,
                         sync_score)

B, C, H, T = 3, 4, 2, 10


@pytest.fixture
def truth():
    """Query- and key-modality presence (B, C, T) with at least one scored pair per clip and
    some key frames that are not present (so chance < 1)."""
    rng = np.random.default_rng(0)
    query = rng.random((B, C, T)) < 0.4
    key = rng.random((B, C, T)) < 0.3
    key[:, :, 0], key[:, :, 1] = True, False          # every event shows somewhere, never everywhere
    query[:, 0, 5] = True
    return query, key


def attention_on(mask_per_query):
    """(B, T_q, T_k) bool -> (B, H, T_q, T_k) softmax-like rows: equal mass on the mask."""
    w = mask_per_query.astype(float)
    w /= w.sum(-1, keepdims=True)
    return np.repeat(w[:, None], H, axis=1)


def test_all_mass_on_the_present_key_frames_scores_one(truth):
    query, key = truth
    # with one class per clip present in the query frames, put each row's mass on its key frames
    query = np.zeros_like(query)
    query[:, 2, 3:7] = True
    w = attention_on(np.repeat(key[:, 2][:, None, :], T, axis=1))
    score = sync_score(w, query, key)
    assert score["pairs"] == B * 4
    assert score["share"] == pytest.approx(1.0) and score["share_per_head"] == pytest.approx([1, 1])
    assert score["top1"] == pytest.approx(1.0) and score["gain"] == pytest.approx(1.0)
    assert score["chance"] < 1


def test_uniform_attention_scores_exactly_chance(truth):
    query, key = truth
    score = sync_score(np.full((B, H, T, T), 0.1), query, key)
    b, c, q, _ = sync_pairs(query, key)
    expected_chance = key[b, c].mean(-1).mean()
    assert score["chance"] == pytest.approx(expected_chance)
    assert score["share"] == pytest.approx(expected_chance)
    assert score["share_per_head"] == pytest.approx([expected_chance] * H)
    assert score["top1"] == pytest.approx(expected_chance)       # ties share the hit
    assert score["gain"] == pytest.approx(0.0, abs=1e-12)


def test_all_mass_elsewhere_scores_zero(truth):
    query, key = truth
    query = np.zeros_like(query)
    query[:, 1, :] = True
    w = attention_on(np.repeat(~key[:, 1][:, None, :], T, axis=1))
    score = sync_score(w, query, key)
    assert score["share"] == 0.0 and score["top1"] == 0.0 and score["share_per_head"] == [0, 0]
    assert score["gain"] < 0


def test_unnormalised_sigmoid_rows_are_scored_as_shares(truth):
    query, key = truth
    uniform = sync_score(np.full((B, H, T, T), 0.1), query, key)
    scaled = sync_score(np.full((B, H, T, T), 0.73), query, key)   # sigmoid rows need not sum to 1
    assert scaled["share"] == pytest.approx(uniform["share"])


def test_heads_are_scored_separately_and_averaged(truth):
    query, key = truth
    on = attention_on(np.repeat(key[:, 0][:, None, :], T, axis=1))[:, :1]    # head 1: on target
    off = attention_on(np.repeat(~key[:, 0][:, None, :], T, axis=1))[:, :1]  # head 2: avoids it
    only = np.zeros_like(query)
    only[:, 0, :] = True
    score = sync_score(np.concatenate([on, off], axis=1), only, key)
    assert score["share_per_head"] == pytest.approx([1.0, 0.0])
    assert score["share"] == pytest.approx(0.5)
    assert score["top1_per_head"] == pytest.approx([1.0, 0.0])


def test_events_absent_from_every_key_frame_are_excluded_not_scored():
    query = np.zeros((1, 2, 4), bool)
    key = np.zeros((1, 2, 4), bool)
    query[0, 0, :2] = True            # class 0 present in 2 query frames, never in a key frame
    query[0, 1, 3] = True
    key[0, 1, 2] = True               # class 1: one pair, its key frame is 2
    w = np.zeros((1, 1, 4, 4))
    w[..., 2] = 1.0
    score = sync_score(w, query, key)
    assert score["pairs"] == 1 and score["excluded_pairs"] == 2
    assert score["share"] == 1.0 and score["chance"] == 0.25


def test_no_pair_gives_none_rather_than_nan():
    score = sync_score(np.ones((1, 1, 3, 3)), np.zeros((1, 1, 3), bool), np.ones((1, 1, 3), bool))
    assert score["pairs"] == 0 and score["share"] is None and score["chance"] is None


def test_report_has_one_entry_per_block_and_the_last_block(truth):
    query, key = truth
    blocks = [np.full((B, H, T, T), 0.1),
              attention_on(np.repeat(key[:, 0][:, None, :], T, axis=1))]
    report = sync_report(blocks, query, key)
    assert [b["block"] for b in report["blocks"]] == [0, 1]
    assert report["last_block"] == report["blocks"][1]
    assert report["blocks"][0]["share"] == pytest.approx(report["chance"])


def test_pair_scores_shapes(truth):
    query, key = truth
    s = pair_scores(np.random.default_rng(1).random((B, H, T, T)), query, key)
    P = len(s["chance"])
    assert s["share"].shape == s["top1"].shape == (P, H)
    assert s["share_mean_head"].shape == (P,)


def test_queries_come_from_the_second_modality_and_keys_from_the_first():
    assert roles("video", "audio") == {"query": "audio", "key": "video",
                                       "query_truth": "audible", "key_truth": "visible"}
    assert roles("audio", "video") == {"query": "video", "key": "audio",
                                       "query_truth": "visible", "key_truth": "audible"}




def test_chance_counts_only_the_real_key_frames_of_a_padded_clip():
    query = np.zeros((1, 1, 5), bool)
    query[0, 0, 1] = True
    key = np.zeros((1, 1, 5), bool)
    key[0, 0, 0] = True                                   # present in 1 of 2 real key frames
    weights = np.zeros((1, 1, 5, 5))
    weights[..., :2] = 0.5                                # uniform over the real frames
    assert sync_score(weights, query, key)["chance"] == pytest.approx(0.2)
    padded = sync_score(weights, query, key, lengths=[2])
    assert padded["chance"] == pytest.approx(0.5) and padded["gain"] == pytest.approx(0.0)
