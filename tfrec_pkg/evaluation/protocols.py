"""Evaluation protocols -> one results row per model (pandas), printed like the papers' tables.

* ``pointwise``: CTR prediction. AUC, GAUC (grouped by the split's group column, usually
  the user) and LogLoss of ``model.predict`` on the split; with ``ks``, also NDCG@K of each
  positive row ranked among its group's rows (``metrics.grouped_ndcg``, e.g. SUM's NDCG@3
  over each user's 1 + 4 candidates). ``ks`` defaults to none here and to (5, 10) for the
  ranking protocols.
* ``full_ranking``: each positive test row's target is ranked against every item of the
  catalogue (``split.items``); HR/MRR/NDCG@K. Scored in batches of cases so memory stays
  bounded (cases x items scores at a time).
* ``sampled_ranking``: the target against ``num_negatives`` items sampled uniformly
  (never the target); HR/MRR/NDCG@K.

Ranking protocols need ``model.score_candidates(features, candidates)`` -> [B, C] scores, where
``candidates`` is a dict of raw candidate item features shaped [B, C]. RecModel provides a
generic version for pointwise models (each candidate replaces the target features).
Ties are ranked pessimistically (the rule of ``evaluation/ranking.py``).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.evaluation import metrics

PROTOCOLS = ("pointwise", "full_ranking", "sampled_ranking")


def evaluate(model, data, protocol: str = "pointwise", *, ks=None, batch_size: int = 1024,
             num_negatives: int = 100, seed: int = 0, name: str | None = None) -> pd.DataFrame:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    start = time.perf_counter()
    if protocol == "pointwise":
        row = _pointwise(model, data, batch_size, () if ks is None else ks)
    else:
        row = _ranking(model, data, protocol, (5, 10) if ks is None else ks, batch_size, num_negatives, seed)
    row = {"model": name or model.name, "protocol": protocol, **row, "n": len(data),
           "eval_seconds": round(time.perf_counter() - start, 2)}
    return pd.DataFrame([row])


def predict_split(model, data, batch_size: int = 1024) -> np.ndarray:
    return np.asarray(model.predict(data.dataset(batch_size, shuffle=False), verbose=0)).reshape(-1)


def _pointwise(model, data, batch_size, ks):
    p = predict_split(model, data, batch_size)
    y, groups = data.labels, data.frame[data.group].to_numpy()
    row = {"auc": metrics.auc(y, p), "gauc": metrics.gauc(y, p, groups),
           "logloss": metrics.logloss(y, np.clip(p, 0.0, 1.0))}
    for k in ks:
        row[f"ndcg@{k}"] = metrics.grouped_ndcg(y, p, groups, k)
    return row


def _ranking(model, data, protocol, ks, batch_size, num_negatives, seed):
    if data.items is None:
        raise ValueError(f"{protocol} needs the split's item catalogue (split.items)")
    cases = data.frame[data.frame[data.label] == 1].reset_index(drop=True)
    if cases.empty:
        raise ValueError("ranking protocols need at least one positive test row")
    items = data.items.reset_index(drop=True)
    item_key = items.columns[0]
    position = pd.Index(items[item_key]).get_indexer(cases[item_key])
    if (position < 0).any():
        raise ValueError(f"{int((position < 0).sum())} test targets are not in the item catalogue")
    rng = np.random.default_rng(seed)
    arrays = frame_to_arrays(cases, model.feature_spec, label=None)
    ranks = []
    step = max(1, batch_size if protocol == "sampled_ranking" else max(1, 65_536 // len(items)))
    for lo in range(0, len(cases), step):
        hi = min(lo + step, len(cases))
        if protocol == "full_ranking":
            cand_rows = np.broadcast_to(np.arange(len(items)), (hi - lo, len(items)))
            target = position[lo:hi]
        else:
            neg = rng.integers(0, len(items) - 1, size=(hi - lo, num_negatives))
            neg = neg + (neg >= position[lo:hi, None])  # skip the target's own row
            cand_rows = np.concatenate([position[lo:hi, None], neg], axis=1)
            target = np.zeros(hi - lo, dtype=np.int64)
        candidates = {c: tf.constant(items[c].to_numpy()[cand_rows]) for c in items.columns}
        feats = {k: tf.constant(v[lo:hi]) for k, v in arrays.items()}
        scores = np.asarray(model.score_candidates(feats, candidates))
        ranks.append(metrics.rank_of_target(scores, target))
    ranks = np.concatenate(ranks)
    row = {}
    for k in ks:
        row[f"hr@{k}"] = metrics.hit_rate(ranks, k)
        row[f"mrr@{k}"] = metrics.mrr(ranks, k)
        row[f"ndcg@{k}"] = metrics.ndcg(ranks, k)
    return row


def results_table(rows) -> pd.DataFrame:
    """Concatenate result rows of several models into one table."""
    return pd.concat(list(rows), ignore_index=True)
