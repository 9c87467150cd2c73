"""Offline evaluation metrics (numpy) and streaming ranking metrics (Keras).

Conventions
-----------
Inputs
    Every numpy function accepts Python lists, numpy arrays or pandas Series. Inputs must
    be 1-D (``rank_of_target``'s ``scores`` is 2-D), non-empty and of equal length;
    otherwise a ``ValueError`` names the argument, what was found and what was expected.

``auc`` (ROC AUC)
    Labels must be 0/1 (or bool). Tied scores are handled exactly as
    ``sklearn.metrics.roc_auc_score`` does: AUC is the Mann-Whitney statistic with average
    ranks, i.e. a (positive, negative) pair with equal scores counts 1/2.
    Labels with a single class make AUC undefined and raise ``ValueError``.

``gauc`` (group AUC, e.g. per user)
    AUC is computed inside each group and averaged with weight = group size (number of
    rows in the group). Groups whose labels are all 0 or all 1 have no defined AUC and are
    skipped (they contribute neither AUC nor weight). If every group is skipped the result
    is ``float('nan')`` (no exception, so a sweep over many slices does not crash).

``logloss``
    Mean binary cross-entropy; ``probs`` must lie in [0, 1] and are clipped to
    [eps, 1 - eps] so that a confident mistake costs a large but finite amount.

Ranking metrics (``hit_rate``, ``mrr``, ``ndcg``, ``recall``)
    ``ranks`` holds the 1-based rank of the single target item of each test case
    (leave-one-out / sampled-candidates protocol). Ranks must be integers >= 1.
    HR@K = mean(rank <= K); MRR@K = mean(1/rank if rank <= K else 0);
    NDCG@K = mean(1/log2(rank + 1) if rank <= K else 0) (one relevant item, so IDCG = 1);
    Recall@K with one target per case equals HR@K. ``k`` must be a positive int; a K
    larger than the number of candidates is allowed and simply counts every case.

``rank_of_target`` ties
    Default ``ties="pessimistic"``: the target is ranked below every other item with the
    same score, so rank = 1 + #(score > target) + #(other items with score == target),
    i.e. #(items with score >= target), the target included -- the rule of
    ``evaluation/ranking.py``, which every pessimistic rank in the package goes through.
    This stops a model that outputs a constant score from getting HR@K = 1.
    ``"optimistic"`` ranks it above them (1 + #greater); ``"average"`` uses the midpoint
    (1 + #greater + #equal / 2, may be a half-integer, which the HR/MRR/NDCG functions
    reject). NaN scores raise ``ValueError``; +-inf is allowed (e.g. masked items).

``grouped_target_ranks`` / ``grouped_ndcg`` (pointwise data, e.g. 1 clicked + 4 shown items per user)
    Each positive row is ranked among its group's candidates: itself and the group's negative
    rows (other positives of the group do not compete), with the pessimistic rule above, so
    rank = #(candidates with score >= the positive's score), the positive included. Ranks
    come in the order of the positive rows. ``grouped_ndcg`` is ``ndcg`` of these ranks;
    ``float('nan')`` when there is no positive row (like ``gauc`` with no valid group).

``rel_impr``
    RelaImpr = ((AUC_model - 0.5) / (AUC_base - 0.5) - 1) * 100, in percent
    (Yan et al. 2014 / DIN paper). ``auc_base <= 0.5`` raises ``ValueError``.

Keras metrics (``HitRateAtK``, ``NDCGAtK``, ``MRRAtK``)
    Streaming versions for ``model.fit``/``evaluate``. ``y_true`` is a one-hot
    [batch, n_candidates] label matrix, ``y_pred`` the scores of the same shape. The
    target is the first column with the largest label (``argmax``), so a multi-hot row is
    scored on its first positive only; rows without any positive are ignored. The rank is
    the pessimistic one, so these agree with ``rank_of_target`` + the numpy functions.
    For streaming AUC use ``tf.keras.metrics.AUC`` (not re-implemented here).
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

# Importing the parent package first (implicit, we live inside it) sets
# TF_USE_LEGACY_KERAS=1, so tf.keras below is Keras 2 (tf_keras).
import tensorflow as tf

from tfrec_pkg.evaluation.ranking import pessimistic_rank, pessimistic_rank_np

__all__ = [
    "auc",
    "gauc",
    "logloss",
    "hit_rate",
    "mrr",
    "ndcg",
    "recall",
    "rank_of_target",
    "grouped_target_ranks",
    "grouped_ndcg",
    "rel_impr",
    "HitRateAtK",
    "NDCGAtK",
    "MRRAtK",
]

_TIES = ("pessimistic", "optimistic", "average")


# ---------------------------------------------------------------------------
# Input validation helpers
# ---------------------------------------------------------------------------


def _as_1d(x, name: str) -> np.ndarray:
    """Turn a list / array / Series into a non-empty 1-D numpy array."""
    arr = x.to_numpy() if isinstance(x, (pd.Series, pd.Index)) else np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, but has shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; expected at least one row")
    return arr


def _same_length(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{a_name} has {len(a)} rows but {b_name} has {len(b)}; expected equal lengths")


def _as_float(x: np.ndarray, name: str) -> np.ndarray:
    """Numeric, NaN-free float64 view of ``x``."""
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name} must be numeric, but has dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if np.isnan(x).any():
        raise ValueError(f"{name} contains {int(np.isnan(x).sum())} NaN value(s); expected none")
    return x


def _binary_labels(labels, name: str = "labels") -> np.ndarray:
    """Validate 0/1 (or bool) labels and return them as float64."""
    y = _as_1d(labels, name)
    if y.dtype == bool:
        return y.astype(np.float64)
    y = _as_float(y, name)
    bad = ~((y == 0) | (y == 1))
    if bad.any():
        found = np.unique(y[bad])[:5].tolist()
        raise ValueError(f"{name} must contain only 0 and 1, but found other values such as {found}")
    return y


def _check_k(k) -> int:
    # bool is an int subclass, but k=True is certainly a bug.
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive int, but got {k!r}")
    return int(k)


def _check_ranks(ranks) -> np.ndarray:
    """Validate 1-based integer ranks; integer-valued floats are accepted."""
    r = _as_1d(ranks, "ranks")
    r = _as_float(r, "ranks")
    if not np.isfinite(r).all():
        raise ValueError("ranks contains inf; expected finite integer ranks >= 1")
    if (r < 1).any():
        raise ValueError(f"ranks must be >= 1 (1-based), but found minimum {r.min():g}")
    if (r != np.floor(r)).any():
        example = r[r != np.floor(r)][0]
        raise ValueError(
            f"ranks must be integers, but found {example:g} "
            "(rank_of_target(ties='average') gives half-integers; use 'pessimistic' or 'optimistic')"
        )
    return r


# ---------------------------------------------------------------------------
# Classification metrics
# ---------------------------------------------------------------------------


def _tie_average_positions(keys_sorted_equal_prev: np.ndarray) -> np.ndarray:
    """0-based average position of each element's tie run in a sorted array.

    ``keys_sorted_equal_prev[i]`` is True when element i ties with element i - 1.
    """
    n = len(keys_sorted_equal_prev)
    run_start = np.flatnonzero(~keys_sorted_equal_prev)  # element 0 always starts a run
    run_end = np.append(run_start[1:], n)  # exclusive
    run_id = np.cumsum(~keys_sorted_equal_prev) - 1
    return ((run_start + run_end - 1) / 2.0)[run_id]


def auc(labels, scores) -> float:
    """ROC AUC of ``scores`` for binary ``labels``.

    Computed as the Mann-Whitney U statistic with average ranks, so tied scores count
    1/2 per (positive, negative) pair, exactly like ``sklearn.metrics.roc_auc_score``.

    Raises:
        ValueError: bad/mismatched inputs, or ``labels`` contains a single class
            (AUC is undefined without both positives and negatives).
    """
    y = _binary_labels(labels)
    s = _as_float(_as_1d(scores, "scores"), "scores")
    _same_length(y, "labels", s, "scores")
    n_pos = y.sum()
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        only = "1s" if n_neg == 0 else "0s"
        raise ValueError(
            f"auc is undefined when labels contain a single class: found only {only} in "
            f"{len(y)} rows; expected both 0 and 1"
        )
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    ties = np.concatenate(([False], s_sorted[1:] == s_sorted[:-1]))
    ranks = _tie_average_positions(ties) + 1.0  # 1-based average ranks
    rank_sum_pos = ranks[y[order] == 1].sum()
    return float((rank_sum_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _grouped(labels, scores, groups):
    """Checked (labels, scores, dense group codes) of equal length."""
    y = _binary_labels(labels)
    s = _as_float(_as_1d(scores, "scores"), "scores")
    g = _as_1d(groups, "groups")
    _same_length(y, "labels", s, "scores")
    _same_length(y, "labels", g, "groups")
    # factorize handles any hashable id type (ints, strings, mixed) -> dense codes.
    codes, _ = pd.factorize(g)
    if (codes < 0).any():
        raise ValueError(f"groups contains {int((codes < 0).sum())} missing value(s); expected none")
    return y, s, codes


def gauc(labels, scores, groups) -> float:
    """Group AUC: per-group ROC AUC averaged with weight = group size.

    Groups whose labels are a single class are skipped (AUC undefined there).
    Returns ``float('nan')`` if every group is skipped. Fully vectorised: one lexsort,
    then per-group sums with ``np.bincount`` (1M rows / 50k groups in well under a second).

    Raises:
        ValueError: bad/mismatched inputs, or missing (NaN/None) group ids.
    """
    y, s, codes = _grouped(labels, scores, groups)
    n_groups = int(codes.max()) + 1

    # Sort by group, then by score inside the group.
    order = np.lexsort((s, codes))
    c_sorted, s_sorted, y_sorted = codes[order], s[order], y[order]
    # A tie run is a stretch of equal scores inside the same group.
    ties = np.concatenate(([False], (c_sorted[1:] == c_sorted[:-1]) & (s_sorted[1:] == s_sorted[:-1])))
    pos_global = _tie_average_positions(ties)
    size = np.bincount(c_sorted, minlength=n_groups).astype(np.float64)
    group_start = np.cumsum(size) - size
    ranks = pos_global - group_start[c_sorted] + 1.0  # 1-based average rank within the group

    n_pos = np.bincount(c_sorted, weights=y_sorted, minlength=n_groups)
    n_neg = size - n_pos
    rank_sum_pos = np.bincount(c_sorted, weights=ranks * y_sorted, minlength=n_groups)
    valid = (n_pos > 0) & (n_neg > 0)
    if not valid.any():
        return float("nan")
    auc_g = (rank_sum_pos[valid] - n_pos[valid] * (n_pos[valid] + 1) / 2.0) / (n_pos[valid] * n_neg[valid])
    w = size[valid]
    return float((auc_g * w).sum() / w.sum())


def logloss(labels, probs, eps: float = 1e-7) -> float:
    """Mean binary log loss; ``probs`` (in [0, 1]) are clipped to [eps, 1 - eps].

    Raises:
        ValueError: bad/mismatched inputs, probs outside [0, 1] (e.g. logits passed by
            mistake), or eps outside (0, 0.5).
    """
    if not (0 < eps < 0.5):
        raise ValueError(f"eps must be in (0, 0.5), but got {eps!r}")
    y = _binary_labels(labels)
    p = _as_float(_as_1d(probs, "probs"), "probs")
    _same_length(y, "labels", p, "probs")
    if p.min() < 0 or p.max() > 1:
        raise ValueError(
            f"probs must lie in [0, 1], but found min {p.min():g} and max {p.max():g} (logits instead of probabilities?)"
        )
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


# ---------------------------------------------------------------------------
# Ranking metrics (single target item per test case)
# ---------------------------------------------------------------------------


def hit_rate(ranks, k: int) -> float:
    """HR@K = fraction of cases whose 1-based target rank is <= k."""
    k = _check_k(k)
    r = _check_ranks(ranks)
    return float(np.mean(r <= k))


def mrr(ranks, k: int) -> float:
    """MRR@K = mean of 1/rank, counting 0 for ranks beyond k."""
    k = _check_k(k)
    r = _check_ranks(ranks)
    return float(np.mean(np.where(r <= k, 1.0 / r, 0.0)))


def ndcg(ranks, k: int) -> float:
    """NDCG@K = mean of 1/log2(rank + 1), counting 0 beyond k (one relevant item, IDCG = 1)."""
    k = _check_k(k)
    r = _check_ranks(ranks)
    return float(np.mean(np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0)))


def recall(ranks, k: int) -> float:
    """Recall@K with one target item per case, which is identical to HR@K."""
    return hit_rate(ranks, k)


def rank_of_target(scores, target_index, ties: str = "pessimistic") -> np.ndarray:
    """1-based rank of the target column in each row of ``scores`` [n_cases, n_candidates].

    ``ties``: ``"pessimistic"`` (default: target below all equal-score items),
    ``"optimistic"`` (above them) or ``"average"`` (midpoint, float result).
    Returns int64 ranks, or float64 for ``"average"``.

    Raises:
        ValueError: non-2-D/empty/NaN scores, target_index of wrong length or out of
            range, or an unknown ``ties`` mode.
    """
    if ties not in _TIES:
        raise ValueError(f"ties must be one of {_TIES}, but got {ties!r}")
    sc = scores.to_numpy() if isinstance(scores, pd.DataFrame) else np.asarray(scores)
    if sc.ndim != 2:
        raise ValueError(f"scores must be 2-D [n_cases, n_candidates], but has shape {sc.shape}")
    if sc.size == 0:
        raise ValueError(f"scores is empty (shape {sc.shape}); expected at least one case and one candidate")
    if sc.dtype == bool or not np.issubdtype(sc.dtype, np.number):
        raise ValueError(f"scores must be numeric, but has dtype {sc.dtype}")
    if np.isnan(sc).any():
        raise ValueError(f"scores contains {int(np.isnan(sc).sum())} NaN value(s); expected none")
    idx = _as_1d(target_index, "target_index")
    if len(idx) != sc.shape[0]:
        raise ValueError(f"target_index has {len(idx)} rows but scores has {sc.shape[0]}; expected equal lengths")
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"target_index must contain integers, but has dtype {idx.dtype}")
    if idx.min() < 0 or idx.max() >= sc.shape[1]:
        raise ValueError(
            f"target_index must be in [0, {sc.shape[1] - 1}] (scores has {sc.shape[1]} columns), "
            f"but found values from {idx.min()} to {idx.max()}"
        )
    target = sc[np.arange(sc.shape[0]), idx]
    rank = pessimistic_rank_np(sc, target)  # 1 + #greater + #(others equal)
    if ties == "pessimistic":
        return rank
    greater = (sc > target[:, None]).sum(axis=1)
    if ties == "optimistic":
        return (1 + greater).astype(np.int64)
    return (1.0 + greater + rank) / 2.0  # midpoint of the optimistic and pessimistic ranks


def grouped_target_ranks(labels, scores, groups) -> np.ndarray:
    """1-based pessimistic rank of each positive row among its group's candidates (itself and
    the group's negative rows), in the order of the positive rows; int64.

    Work is O(sum over positive rows of their group's size): cases are taken per group size,
    so no row is padded out to a larger group.

    Raises:
        ValueError: bad/mismatched inputs, or missing (NaN/None) group ids.
    """
    y, s, codes = _grouped(labels, scores, groups)
    order = np.argsort(codes, kind="stable")  # rows of group c: order[start[c]:start[c] + size[c]]
    size = np.bincount(codes)
    start = np.cumsum(size) - size
    cases = np.flatnonzero(y == 1)
    ranks = np.empty(len(cases), dtype=np.int64)
    case_size = size[codes[cases]]
    for width in np.unique(case_size):
        at = np.flatnonzero(case_size == width)
        step = max(1, 65_536 // int(width))  # [cases, width] blocks of bounded size
        for lo in range(0, len(at), step):
            part = at[lo:lo + step]
            case = cases[part]
            rows = order[start[codes[case]][:, None] + np.arange(width)]
            candidate = (y[rows] == 0) | (rows == case[:, None])
            ranks[part] = pessimistic_rank_np(s[rows], s[case], candidate)
    return ranks


def grouped_ndcg(labels, scores, groups, k: int) -> float:
    """NDCG@K of each positive row ranked within its group (``grouped_target_ranks``), averaged
    over positive rows; ``float('nan')`` when there is none."""
    k = _check_k(k)
    ranks = grouped_target_ranks(labels, scores, groups)
    return ndcg(ranks, k) if len(ranks) else float("nan")


def rel_impr(auc_model: float, auc_base: float) -> float:
    """RelaImpr in percent: ((auc_model - 0.5) / (auc_base - 0.5) - 1) * 100.

    Raises:
        ValueError: non-finite inputs, or ``auc_base <= 0.5`` (no lift over random to
            compare against; the ratio would be undefined or sign-flipped).
    """
    for name, v in (("auc_model", auc_model), ("auc_base", auc_base)):
        if not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, but got {v!r}")
    if auc_base <= 0.5:
        raise ValueError(f"auc_base must be > 0.5 for RelaImpr, but got {auc_base!r}")
    return float(((auc_model - 0.5) / (auc_base - 0.5) - 1.0) * 100.0)


# ---------------------------------------------------------------------------
# Streaming Keras metrics (one positive column per row)
# ---------------------------------------------------------------------------


class _RankAtK(tf.keras.metrics.Metric):
    """Base: mean over examples of ``_gain(rank)``, rank = pessimistic rank of the positive."""

    def __init__(self, k: int, name: str | None = None, dtype=None, **kwargs):
        k = _check_k(k)
        super().__init__(name=name or f"{self._prefix}_at_{k}", dtype=dtype, **kwargs)
        self.k = k
        self.total = self.add_weight(name="total", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    _prefix = "rank"

    def _gain(self, rank: tf.Tensor) -> tf.Tensor:  # rank: float, 1-based
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, self.dtype)
        y_pred = tf.cast(y_pred, self.dtype)
        # NaN compares False everywhere and would silently give rank 1.
        tf.debugging.Assert(tf.logical_not(tf.reduce_any(tf.math.is_nan(y_pred))), ["y_pred contains NaN"])
        target = tf.argmax(y_true, axis=-1)
        t_score = tf.gather(y_pred, target, axis=-1, batch_dims=1)
        rank = pessimistic_rank(y_pred, t_score)
        # Rows with no positive label have no target: weight 0.
        weight = tf.cast(tf.reduce_max(y_true, axis=-1) > 0, self.dtype)
        if sample_weight is not None:
            weight = weight * tf.reshape(tf.cast(sample_weight, self.dtype), [-1])
        self.update_ranks(rank, weight)

    def update_ranks(self, rank, weight=None):
        """Adds examples by their positive's rank (1-based; beyond k a miss), for ranks computed
        elsewhere (a model that ranks its targets in blocks of rows)."""
        rank = tf.cast(rank, self.dtype)
        weight = tf.ones_like(rank) if weight is None else tf.cast(weight, self.dtype)
        gain = tf.where(rank <= float(self.k), self._gain(rank), tf.zeros_like(rank))
        self.total.assign_add(tf.reduce_sum(gain * weight))
        self.count.assign_add(tf.reduce_sum(weight))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class HitRateAtK(_RankAtK):
    """Streaming HR@K over (one-hot y_true, scores y_pred) batches."""

    _prefix = "hit_rate"

    def _gain(self, rank):
        return tf.ones_like(rank)


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class NDCGAtK(_RankAtK):
    """Streaming NDCG@K (single relevant item) over (one-hot y_true, scores y_pred) batches."""

    _prefix = "ndcg"

    def _gain(self, rank):
        return tf.math.log(tf.constant(2.0, rank.dtype)) / tf.math.log(rank + 1.0)  # = 1 / log2(rank + 1)


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class MRRAtK(_RankAtK):
    """Streaming MRR@K over (one-hot y_true, scores y_pred) batches."""

    _prefix = "mrr"

    def _gain(self, rank):
        return 1.0 / rank


def normalized_mutual_information(a, b) -> float:
    """NMI of two labelings of the same samples: I(a; b) / ((H(a) + H(b)) / 2) (arithmetic-mean
    normalisation, natural logs); 1.0 when both are constant (identical partitions)."""
    a, b = _as_1d(a, "a"), _as_1d(b, "b")
    _same_length(a, "a", b, "b")
    if len(a) == 0:
        raise ValueError("NMI needs at least one sample")
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1.0)
    joint /= len(a)
    pa, pb = joint.sum(1), joint.sum(0)
    nz = joint > 0
    mi = float((joint[nz] * np.log(joint[nz] / np.outer(pa, pb)[nz])).sum())
    h = lambda p: float(-(p[p > 0] * np.log(p[p > 0])).sum())  # noqa: E731
    mean_h = (h(pa) + h(pb)) / 2
    return 1.0 if mean_h == 0 else max(0.0, mi / mean_h)

