"""The shared pessimistic rank (tfrec_pkg/evaluation/ranking.py), TF and numpy, against the
formulas the metrics and NextItemModel used before they shared it."""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS=1 before TensorFlow is imported)
from tfrec_pkg.evaluation.ranking import pessimistic_rank, pessimistic_rank_np

import tensorflow as tf  # noqa: E402


def _tie_heavy(seed, n=64, c=30):
    rng = np.random.default_rng(seed)
    scores = (rng.integers(0, 5, (n, c)) / 5.0).astype(np.float32)  # 5 distinct values: many ties
    scores[rng.random((n, c)) < 0.1] = -np.inf  # masked items, as all_item_scores writes them
    target = rng.integers(0, c, n)
    return scores, target


def _old_rank_of_target(scores, target):
    """metrics.rank_of_target / _RankAtK before: 1 + #greater + #(others equal)."""
    t = scores[np.arange(len(target)), target][:, None]
    return 1 + (scores > t).sum(1) + (scores == t).sum(1) - 1


def _old_target_ranks(scores, target, valid):
    """NextItemModel.target_ranks' block rule before: #(valid items with score >= target's)."""
    t = scores[np.arange(len(target)), target][:, None]
    return ((scores >= t) & valid[None]).sum(1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shared_rank_equals_the_old_rules_on_ties(seed):
    scores, target = _tie_heavy(seed)
    t_score = scores[np.arange(len(target)), target]
    old = _old_rank_of_target(scores, target)
    assert (old > 1).mean() > 0.5  # ties really decide most ranks
    np.testing.assert_array_equal(pessimistic_rank_np(scores, t_score), old)
    np.testing.assert_array_equal(pessimistic_rank(tf.constant(scores), tf.constant(t_score)).numpy(), old)

    valid = np.arange(scores.shape[1]) >= 2  # padding and OOV columns never rank
    old_valid = _old_target_ranks(scores, target, valid)
    np.testing.assert_array_equal(pessimistic_rank_np(scores, t_score, valid[None]), old_valid)
    got = pessimistic_rank(tf.constant(scores), tf.constant(t_score), tf.constant(valid)[None]).numpy()
    np.testing.assert_array_equal(got, old_valid)


def test_shared_rank_small_cases_and_dtypes():
    scores = np.array([[0.5, 0.9, 0.5, 0.5, 0.1],    # one above, two ties -> 4
                       [1.0, 1.0, 1.0, 1.0, 1.0],    # constant scores -> last, 5
                       [0.7, 0.2, -np.inf, 0.1, 0.0]])  # best -> 1
    t = np.array([0.5, 1.0, 0.7])
    np.testing.assert_array_equal(pessimistic_rank_np(scores, t), [4, 5, 1])
    assert pessimistic_rank_np(scores, t).dtype == np.int64
    ranks = pessimistic_rank(tf.constant(scores), tf.constant(t))
    assert ranks.dtype == tf.int32
    np.testing.assert_array_equal(ranks.numpy(), [4, 5, 1])
    # float64 target against float32 scores: compared in the scores' dtype
    np.testing.assert_array_equal(pessimistic_rank(tf.constant(scores, tf.float32), tf.constant(t)).numpy(), [4, 5, 1])
