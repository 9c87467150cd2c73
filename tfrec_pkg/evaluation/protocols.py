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
* ``stream``: models with a memory carried through an interaction stream (IMN-Net, JODIE) on a
  :class:`~tfrec_pkg.data.tbatch_windows.StreamSplit`: the model's ``evaluate_stream(stream,
  split, warm_up)`` rebuilds its memory over the splits before this one, then ranks each of the
  split's interactions over all items in time order and takes it into the memory; the model's
  metrics (IMN-Net: Recall@10/20, NDCG@10/20, MRR). ``ks`` (optional) only checks that the
  model reports those cut-offs: the model fixes them.

Ranking protocols need ``model.score_candidates(features, candidates)`` -> [B, C] scores, where
``candidates`` is a dict of raw candidate item features shaped [B, C]. RecModel provides a
generic version for pointwise models (each candidate replaces the target features).
Ties are ranked pessimistically (the rule of ``evaluation/ranking.py``). A model that scores its
whole catalogue in one call (``model.score_catalogue(features)`` -> (item ids [V], scores [B, V]),
the next-item models) is ranked by full ranking that way: one matrix product per block of cases
instead of one candidate gather per case, the same ranks (tests/evaluation/test_protocols.py).

What a model knows of the items comes from its vocabulary: when the catalogue's key column
(e.g. ``item_id``) is a feature of ``model.feature_spec`` with a vocabulary in ``model.vocab``
(every RecModel: vocabularies are fitted on the training split), catalogue items outside that
vocabulary are not candidates (the model cannot recommend them; scored, they would all share
the untrained OOV row's score), and a test target outside it is a miss: rank infinity, 0 in
HR, MRR and NDCG at every k, and never scored. A model without such a vocabulary ranks the
whole catalogue.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.synthetic.base import as_split
from tfrec_pkg.evaluation import metrics
from tfrec_pkg.evaluation.ranking import pessimistic_rank_np
from tfrec_pkg.features import NUM_RESERVED

PROTOCOLS = ("pointwise", "full_ranking", "sampled_ranking", "stream")


def evaluate(model, data, protocol: str = "pointwise", *, ks=None, batch_size: int = 1024,
             num_negatives: int = 100, seed: int = 0, name: str | None = None) -> pd.DataFrame:
    """One results row of ``model`` on ``data`` (a split, or a DataFrame with the model's input
    columns: ``data.synthetic.base.as_split``) under ``protocol`` (module docstring)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    start = time.perf_counter()
    data = as_split(data, model, "test")
    if protocol == "pointwise":
        row = _pointwise(model, data, batch_size, () if ks is None else ks)
    elif protocol == "stream":
        row = _stream(model, data, ks)
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


def _stream(model, data, ks):
    if not hasattr(data, "stream") or not hasattr(data, "warm_up"):
        raise ValueError(f"the stream protocol needs a stream split (data.tbatch_windows.StreamSplit), "
                         f"got {type(data).__name__}")
    if not hasattr(model, "evaluate_stream"):
        raise ValueError(f"the stream protocol needs a model with a memory (evaluate_stream); "
                         f"{type(model).__name__} has none")
    out = model.evaluate_stream(data.stream, data.name, warm_up=data.warm_up)
    row = {k: v for k, v in out.items() if k != "n"}  # evaluate() adds n = len(data)
    missing = [k for k in (ks or ()) if f"ndcg@{k}" not in row]
    if missing:
        raise ValueError(f"{type(model).__name__} ranks at fixed cut-offs "
                         f"{sorted(int(c.split('@')[1]) for c in row if c.startswith('ndcg@'))}; ks {missing} not among them")
    return row


def known_items(model, column: str, ids) -> np.ndarray:
    """bool [n]: which raw ids of the catalogue's ``column`` the model's vocabulary holds (all
    True when the model has no vocabulary for that column)."""
    spec = next((s for s in model.feature_spec if s.name == column), None)
    vocab = getattr(model, "vocab", {}).get(spec.vocabulary) if spec is not None and spec.vocabulary else None
    if vocab is None:
        return np.ones(len(ids), dtype=bool)
    # the numpy twin of the model's in-graph lookup: OOV (1) is "never seen in training"
    return vocab.lookup(np.asarray(ids)) >= NUM_RESERVED


def _ranking(model, data, protocol, ks, batch_size, num_negatives, seed):
    if data.items is None:
        raise ValueError(f"{protocol} needs the split's item catalogue (split.items)")
    cases = data.positives.reset_index(drop=True)
    if cases.empty:
        raise ValueError("ranking protocols need at least one positive test row")
    catalogue = data.items.reset_index(drop=True)
    item_key = catalogue.columns[0]
    missing = pd.Index(catalogue[item_key]).get_indexer(cases[item_key]) < 0
    if missing.any():
        raise ValueError(f"{int(missing.sum())} test targets are not in the item catalogue")
    # Candidates are the catalogue items the model knows; a target it does not know is a miss.
    items = catalogue[known_items(model, item_key, catalogue[item_key])].reset_index(drop=True)
    position = pd.Index(items[item_key]).get_indexer(cases[item_key])  # -1: an unknown target
    known = position >= 0
    rng = np.random.default_rng(seed)
    arrays = frame_to_arrays(cases, model.feature_spec, label=None)
    if protocol == "full_ranking" and hasattr(model, "score_catalogue"):
        ranks = _catalogue_ranks(model, arrays, cases[item_key].to_numpy(), items[item_key].to_numpy(), known,
                                 batch_size)
        return _ranking_row(ranks, known, ks)
    ranks = np.zeros(len(cases), dtype=np.int64)
    step = max(1, batch_size if protocol == "sampled_ranking" else max(1, 65_536 // max(1, len(items))))
    rows = np.flatnonzero(known)  # misses are never scored
    for lo in range(0, len(rows), step):
        batch = rows[lo:lo + step]
        if protocol == "full_ranking":
            cand_rows = np.broadcast_to(np.arange(len(items)), (len(batch), len(items)))
            target = position[batch]
        else:
            neg = rng.integers(0, len(items) - 1, size=(len(batch), num_negatives))
            neg = neg + (neg >= position[batch, None])  # skip the target's own row
            cand_rows = np.concatenate([position[batch, None], neg], axis=1)
            target = np.zeros(len(batch), dtype=np.int64)
        candidates = {c: tf.constant(items[c].to_numpy()[cand_rows]) for c in items.columns}
        feats = {k: tf.constant(v[batch]) for k, v in arrays.items()}
        scores = np.asarray(model.score_candidates(feats, candidates))
        ranks[batch] = metrics.rank_of_target(scores, target)
    return _ranking_row(ranks, known, ks)


def _catalogue_ranks(model, arrays, targets, candidates, known, batch_size):
    """Ranks of the known ``targets`` among the ``candidates`` (raw ids) from whole-catalogue
    scores, in blocks of rows that keep a block's [rows, V] scores near 64 MB."""
    ranks = np.zeros(len(targets), dtype=np.int64)
    rows = np.flatnonzero(known)
    lo, step, valid, column = 0, 1, None, None  # the first block is one row: it tells V
    while lo < len(rows):
        batch = rows[lo:lo + step]
        ids, scores = model.score_catalogue({k: tf.constant(v[batch]) for k, v in arrays.items()})
        if valid is None:  # the model's catalogue: its known items, in its own column order
            ids = np.asarray(ids)
            valid = np.isin(ids, candidates)[None]
            column = pd.Index(ids).get_indexer(targets)
        scores = np.asarray(scores)
        ranks[batch] = pessimistic_rank_np(scores, scores[np.arange(len(batch)), column[batch]], valid)
        lo += len(batch)
        step = max(1, min(batch_size, (1 << 24) // scores.shape[1]))
    return ranks


def _ranking_row(ranks, known, ks):
    row = {}
    for k in ks:  # a miss adds 0 to every metric but counts in the mean over all cases
        for name, fn in (("hr", metrics.hit_rate), ("mrr", metrics.mrr), ("ndcg", metrics.ndcg)):
            row[f"{name}@{k}"] = fn(ranks[known], k) * known.mean() if known.any() else 0.0
    return row


def results_table(rows) -> pd.DataFrame:
    """Concatenate result rows of several models into one table."""
    return pd.concat(list(rows), ignore_index=True)
