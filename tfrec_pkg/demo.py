"""``tfrec demo``: for every registered model, generate its planted data, train with progress
bars, evaluate with its protocol and print one results table with the Bayes-optimal reference
(pointwise models: AUC/GAUC; stream models: Recall@10, NDCG@10 and MRR of the true ranks). Rows
of different protocols share the table: a column a row's protocol has no value for is empty."""
from __future__ import annotations

import time

import pandas as pd

from tfrec_pkg import experiment
from tfrec_pkg.models import registry


def run_model(name: str, quick: bool = False, seed: int = 0, verbose="auto") -> dict:
    start = time.perf_counter()
    result = experiment.run(name, quick=quick, seed=seed, verbose=verbose)
    row = result.row
    protocol = registry.entry(name).protocol
    if protocol == "pointwise":
        row.update(experiment.bayes_reference(row, result.splits[2]))
    elif protocol == "stream":  # the planted stream's true ranks: the best Recall@10 / NDCG@10 / MRR
        row.update({f"bayes_{k}": v for k, v in result.splits[2].bayes_optimal().items() if not k.startswith("blind_")})
    row.update(train_examples=len(result.splits[0]), train_seconds=round(result.train_seconds, 1),
               total_seconds=round(time.perf_counter() - start, 1))
    return row


def run(models=("all",), quick: bool = False, seed: int = 0, verbose="auto") -> pd.DataFrame:
    names = [n for n in registry.names() if registry.entry(n).in_demo] if "all" in models else list(models)
    rows = []
    for name in names:
        print(f"== {name}: planted data -> fit -> evaluate", flush=True)
        rows.append(run_model(name, quick=quick, seed=seed, verbose=verbose))
    return pd.DataFrame(rows)
