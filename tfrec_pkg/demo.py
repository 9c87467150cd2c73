"""``tfrec demo``: for every registered demo model, generate its planted data at demo size (the
models' ``quick`` size: ``tfrec claims`` trains on the full size), train with early stopping,
evaluate with the model's protocol and print one table per protocol with the best score any
model could reach (the Bayes-optimal reference of the planted data).

``--quick`` is a smoke run: the same data, one epoch. A time estimate is printed first (each
model's measured time on an idle 2-core machine, ``Entry.demo_seconds``); on a terminal Keras
shows its progress bars, otherwise each model prints one line when it is done.
"""
from __future__ import annotations

import sys
import time

import pandas as pd

from tfrec_pkg import experiment
from tfrec_pkg.durations import readable
from tfrec_pkg.models import registry

SMOKE_EPOCHS = 1
# what the reference columns mean, printed under each protocol's table
LEGEND = {
    "pointwise": "bayes_*: the planted click probabilities' own AUC/GAUC, the best any model can reach; "
                 "auc_lift_ratio = (auc - 0.5) / (bayes_auc - 0.5), the share of that best lift reached.",
    "full_ranking": "each test target ranked over the whole catalogue; bayes_*: the targets ranked by the "
                    "planted probabilities themselves, the best any model can reach.",
    "stream": "each test interaction's item ranked over all items in time order, states carried on; "
              "bayes_*: the items ranked by the planted probabilities, the best any model can reach.",
}
_KEEP_LAST = ("n", "epochs", "train_examples", "train_seconds", "total_seconds")


def names(models=("all",)) -> list[str]:
    return [n for n in registry.names() if registry.entry(n).in_demo] if "all" in models else list(models)


def estimate_seconds(models, quick: bool = False) -> float:
    """The demo's expected run time on an idle 2-core machine (the smoke run: about half)."""
    total = sum(registry.entry(n).demo_seconds for n in models)
    return total / 2 if quick else total


def run_model(name: str, quick: bool = False, seed: int = 0, verbose="auto") -> dict:
    entry = registry.entry(name)
    start = time.perf_counter()
    result = experiment.run(name, quick=True, seed=seed, verbose=verbose,
                            **({"epochs": SMOKE_EPOCHS} if quick else {}))
    row = dict(result.row)
    row.update(experiment.bayes_reference(row, result.splits[2], entry.protocol))
    row.update(epochs=len(result.history.history["loss"]), train_examples=len(result.splits[0]),
               train_seconds=round(result.train_seconds, 1), total_seconds=round(time.perf_counter() - start, 1))
    return row


def tables(rows) -> dict[str, pd.DataFrame]:
    """One table per protocol, with only the columns that apply to it, metrics first."""
    out = {}
    frame = pd.DataFrame(list(rows))
    for protocol, part in frame.groupby("protocol", sort=False):
        part = part.dropna(axis=1, how="all").drop(columns=["protocol", "eval_seconds"], errors="ignore")
        last = [c for c in _KEEP_LAST if c in part]
        reference = [c for c in part if c.startswith("bayes_") or c == "auc_lift_ratio"]
        metrics = [c for c in part if c not in last and c not in reference]
        out[protocol] = part[metrics + reference + last].reset_index(drop=True)
    return out


def format_tables(by_protocol: dict[str, pd.DataFrame]) -> str:
    blocks = []
    for protocol, table in by_protocol.items():
        text = table.to_string(index=False, float_format=lambda v: f"{v:.4f}")
        blocks.append(f"{protocol}:\n{text}\n{LEGEND.get(protocol, '')}".rstrip())
    return "\n\n".join(blocks)


def run(models=("all",), quick: bool = False, seed: int = 0, verbose="auto") -> dict[str, pd.DataFrame]:
    chosen = names(models)
    seconds = estimate_seconds(chosen, quick)
    print(f"demo: {len(chosen)} model(s), about {readable(seconds)} on an idle 2-core machine"
          f"{' (smoke run: one epoch each)' if quick else ''}", flush=True)
    terminal = sys.stdout.isatty()
    rows = []
    for name in chosen:
        if terminal:
            print(f"== {name}: planted data -> fit -> evaluate", flush=True)
        row = run_model(name, quick=quick, seed=seed, verbose=verbose if terminal or verbose != "auto" else 0)
        rows.append(row)
        print(f"{name}: {row['epochs']} epoch(s) on {row['train_examples']} rows, {row['total_seconds']:.0f} s",
              flush=True)
    return tables(rows)
