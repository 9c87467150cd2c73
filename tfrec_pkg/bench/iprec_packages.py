"""IPRec's benchmark numbers, each against NeuMF in the same run (so they read as ratios):

* training examples/s at the paper's dimensions (d = 64, K = 4, 20 friends per package, 50
  clicked packages, 2 x 20 neighbours, 50 objects per type, batch 512, RMSProp; Sec. 5.2: the
  rows up to 2026-12-05 trained with Adam, before RMSProp became IPRecConfig's default);
* latency of scoring 100 candidate packages for one user through ``serving_default`` (the
  user's side features repeated, each candidate with its own article, media and friends);
* the paper's scalability point (Sec. 4.4: "linear with the number of packages and users"):
  seconds per epoch on the first 25 %, 50 % and 100 % of a planted set's users (each user
  with all of their rows: every derived feature is per user, so the subsets are exact), and
  the ratios to 25 %.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import tensorflow as tf

from tfrec_pkg.bench.timing import p50_p99_ms, time_calls, train_examples_per_s
from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.synthetic import packages
from tfrec_pkg.export.signatures import serving_signatures
from tfrec_pkg.models.baselines.neumf import NeuMF, NeuMFConfig
from tfrec_pkg.models.iprec import IPRec, IPRecConfig
from tfrec_pkg.models.optimizers import make_optimizer

CANDIDATES = 100


def _candidates(model, split) -> dict:
    """One user's row with CANDIDATES packages of the split in place of its target."""
    frame = split.frame.head(CANDIDATES).copy()
    for column in frame.columns:
        if column.startswith(("user_", "hist_", "nb_")):  # the user's side, repeated
            frame[column] = [frame[column].iloc[0]] * len(frame)
    arrays = frame_to_arrays(frame, model.feature_spec, label=None)
    return {k: tf.constant(v) for k, v in arrays.items()}


def _users(data, fraction: float):
    users = data.frame["user_id"].unique()
    keep = data.frame["user_id"].isin(users[:max(1, int(len(users) * fraction))]).to_numpy()
    return dataclasses.replace(data, frame=data.frame[keep].reset_index(drop=True), split_of=data.split_of[keep])


def _epoch_seconds(data, fraction: float, config: IPRecConfig) -> float:
    train = _users(data, fraction).splits()[0]
    tf.keras.utils.set_random_seed(0)
    model = IPRec(config, train.vocab)
    model.compile(optimizer=make_optimizer(model))   # the config's: the planted config's Adam here
    model.fit(train.dataset(config.batch_size).take(2), verbose=0)  # trace outside the timing
    start = time.perf_counter()
    model.fit(train.dataset(config.batch_size), verbose=0)
    return time.perf_counter() - start


def package_bench(model, quick: bool = False) -> dict:
    out = {}
    paper = IPRecConfig()
    users = 200 if quick else 1000
    data = packages(num_users=users, num_articles=users, num_media=max(20, users // 20), seed=0,
                    max_friends=paper.max_friends, max_history=paper.max_history,
                    max_neighbours=paper.max_neighbours, max_objects=paper.max_objects)
    train = data.splits()[0]
    models = {"iprec": IPRec(paper, train.vocab), "neumf": NeuMF(NeuMFConfig(batch_size=paper.batch_size), train.vocab)}
    steps = 5 if quick else 30
    for name, m in models.items():
        out[f"{name}_paper_dims_train_examples_per_s"] = round(train_examples_per_s(m, train, steps))
        serve = serving_signatures(m)["serving_default"]
        request = _candidates(m, train)
        p50, p99 = p50_p99_ms(time_calls(lambda: serve(**request), 20 if quick else 200))
        out[f"{name}_score_{CANDIDATES}_candidates_p50_ms"] = round(p50, 3)
        out[f"{name}_score_{CANDIDATES}_candidates_p99_ms"] = round(p99, 3)
    out["iprec_over_neumf_train_examples_per_s"] = round(
        out["iprec_paper_dims_train_examples_per_s"] / out["neumf_paper_dims_train_examples_per_s"], 3)
    out[f"iprec_over_neumf_score_{CANDIDATES}_p50"] = round(
        out[f"iprec_score_{CANDIDATES}_candidates_p50_ms"] / out[f"neumf_score_{CANDIDATES}_candidates_p50_ms"], 1)
    # scalability on the planted config (the registered model's sizes); the rows of each subset
    # are in the output so the ratio can be read against the data ratio
    scale = packages(num_users=300 if quick else 2000, num_articles=300 if quick else 2000,
                     num_media=20 if quick else 100, seed=1, max_friends=model.config.max_friends,
                     max_history=model.config.max_history, max_neighbours=model.config.max_neighbours,
                     max_objects=model.config.max_objects)
    seconds = {f: _epoch_seconds(scale, f, model.config) for f in (0.25, 0.5, 1.0)}
    for f, s in seconds.items():
        out[f"iprec_epoch_s_{int(f * 100)}pct_users"] = round(s, 2)
        out[f"iprec_train_rows_{int(f * 100)}pct_users"] = int((_users(scale, f).split_of == "train").sum())
    out["iprec_epoch_50_over_25"] = round(seconds[0.5] / seconds[0.25], 2)
    out["iprec_epoch_100_over_25"] = round(seconds[1.0] / seconds[0.25], 2)
    return out
