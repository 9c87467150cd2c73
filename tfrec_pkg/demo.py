"""``tfrec demo``: for every registered model, generate its planted data, train with progress
bars, evaluate with its protocol and print one results table with the Bayes-optimal reference."""
from __future__ import annotations

import time

import pandas as pd
import tensorflow as tf

from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.models import registry
from tfrec_pkg.training import train


def run_model(name: str, quick: bool = False, seed: int = 0, verbose="auto") -> dict:
    entry = registry.entry(name)
    config = entry.planted_config()
    start = time.perf_counter()
    train_split, val_split, test_split = entry.data(config, quick=quick, seed=seed).splits()
    tf.keras.utils.set_random_seed(seed)
    model = entry.model_class(config, train_split.vocab)
    t0 = time.perf_counter()
    train(model, train_split, val_split, verbose=verbose, seed=seed)
    train_seconds = time.perf_counter() - t0
    row = evaluate(model, test_split, entry.protocol, name=name).iloc[0].to_dict()
    if entry.protocol == "pointwise":
        best = test_split.bayes_optimal()
        row["bayes_auc"], row["bayes_gauc"] = best["auc"], best["gauc"]
        row["auc_lift_ratio"] = (row["auc"] - 0.5) / (best["auc"] - 0.5)
    row.update(train_examples=len(train_split), train_seconds=round(train_seconds, 1),
               total_seconds=round(time.perf_counter() - start, 1))
    return row


def run(models=("all",), quick: bool = False, seed: int = 0, verbose="auto") -> pd.DataFrame:
    names = [n for n in registry.names() if registry.entry(n).in_demo] if "all" in models else list(models)
    rows = []
    for name in names:
        print(f"== {name}: planted data -> fit -> evaluate", flush=True)
        rows.append(run_model(name, quick=quick, seed=seed, verbose=verbose))
    return pd.DataFrame(rows)
