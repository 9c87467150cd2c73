"""``tfrec demo``: for every registered model, generate its planted data, train with progress
bars, evaluate with its protocol and print one results table with the Bayes-optimal reference."""
from __future__ import annotations

import time

import pandas as pd

from tfrec_pkg import experiment
from tfrec_pkg.models import registry


def run_model(name: str, quick: bool = False, seed: int = 0, verbose="auto") -> dict:
    start = time.perf_counter()
    result = experiment.run(name, quick=quick, seed=seed, verbose=verbose)
    row = result.row
    if registry.entry(name).protocol == "pointwise":
        row.update(experiment.bayes_reference(row, result.splits[2]))
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
