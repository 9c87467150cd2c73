"""Paper-claim checks: one implementation, two entry points (``tfrec claims NAME`` and
``tests/claims``). Each check trains on planted data with fixed seeds and reports numbers.

    checks = tfrec_pkg.claims.run("base_model", quick=False, seed=0)   # -> list[Claim]
"""
from __future__ import annotations

import dataclasses
import importlib

import pandas as pd

# model name -> module in this package whose ``checks(quick, seed)`` returns Claims
# modules are named <model>_checks so none shadows a builtin (e.g. `sum`) in this package
_MODULES = {"base_model": "tfrec_pkg.claims.base_model_checks", "sum": "tfrec_pkg.claims.sum_checks",
            "ipsrec": "tfrec_pkg.claims.ipsrec_checks"}


@dataclasses.dataclass
class Claim:
    model: str
    claim: str
    held: bool
    numbers: dict

    def row(self) -> dict:
        return {"model": self.model, "claim": self.claim, "held": self.held,
                **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.numbers.items()}}


def names() -> list[str]:
    return sorted(_MODULES)


def run(name: str, quick: bool = False, seed: int = 0) -> list[Claim]:
    if name not in _MODULES:
        raise KeyError(f"no claim checks for {name!r}; available: {names()}")
    return importlib.import_module(_MODULES[name]).checks(quick=quick, seed=seed)


def paired(results: pd.DataFrame, a: str, b: str, metric: str):
    """Paired difference of models a and b on ``metric`` over seeds (rows: model, seed):
    (mean difference, its standard error sd / sqrt(n_seeds), the per-seed differences)."""
    import numpy as np

    g = results.pivot(index="seed", columns="model", values=metric)
    diff = (g[a] - g[b]).to_numpy()
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
    return float(diff.mean()), float(se), diff


def table(claims: list[Claim]) -> pd.DataFrame:
    return pd.DataFrame([c.row() for c in claims])


def summary(claims: list[Claim]) -> str:
    held = sum(c.held for c in claims)
    return f"claims: {held} held, {len(claims) - held} failed"
