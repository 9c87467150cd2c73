"""The rank of a target among candidates: the one rule behind every ranking number here.

    rank = number of valid candidates whose score is >= the target's score, the target included

so 1 is the best rank and ties count against the target (pessimistic): a model that gives
every candidate the same score ranks each target last, not first. The rule in TensorFlow,
:func:`pessimistic_rank`, serves the streaming Keras metrics (``metrics.HitRateAtK`` ...) and
``NextItemModel.target_ranks``; the same rule in numpy, :func:`pessimistic_rank_np`, serves
``metrics.rank_of_target`` (the ranking protocols) and ``metrics.grouped_target_ranks`` (the
pointwise protocol's NDCG@K). Both take the target's score, not its column, so a caller can
read it from the very score matrix it ranks in (an exact self-tie, however the scores were
computed).

This module imports nothing from ``tfrec_pkg.models``, so models may use it.
"""
from __future__ import annotations

import numpy as np

# Importing the parent package first (implicit, we live inside it) sets
# TF_USE_LEGACY_KERAS=1, so tf.keras is Keras 2 (tf_keras).
import tensorflow as tf

__all__ = ["pessimistic_rank", "pessimistic_rank_np"]


def pessimistic_rank(scores, target_score, valid=None) -> tf.Tensor:
    """int32 rank [...] of ``target_score`` [...] among ``scores`` [..., C] (last axis: the
    candidates). ``valid``: bool, broadcastable to ``scores``; None counts every candidate.
    NaN compares False, so callers that may see NaN check for it first."""
    scores = tf.convert_to_tensor(scores)
    ahead = scores >= tf.expand_dims(tf.cast(target_score, scores.dtype), -1)
    if valid is not None:
        ahead = tf.logical_and(ahead, valid)
    return tf.reduce_sum(tf.cast(ahead, tf.int32), -1)


def pessimistic_rank_np(scores, target_score, valid=None) -> np.ndarray:
    """int64 rank [...] of ``target_score`` [...] among ``scores`` [..., C], as
    :func:`pessimistic_rank`."""
    ahead = np.asarray(scores) >= np.asarray(target_score)[..., None]
    if valid is not None:
        ahead &= np.asarray(valid, dtype=bool)
    return ahead.sum(axis=-1).astype(np.int64)
