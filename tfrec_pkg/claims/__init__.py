"""Paper-claim checks: one implementation, two entry points (``tfrec claims NAME`` and
``tests/claims``). A model names its checks when it registers (modules here are named
<model>_checks, so none shadows a builtin such as ``sum``). Each check trains on planted data
with fixed seeds and reports numbers.

    checks = tfrec_pkg.claims.run("base_model", quick=False, seed=0)   # -> list[Claim]
"""
from __future__ import annotations

import dataclasses

import pandas as pd

from tfrec_pkg.models import registry


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
    """Registered models that name claim checks (``register(..., claims="module:function")``)."""
    return [n for n in registry.names() if registry.entry(n).claims]


def run(name: str, quick: bool = False, seed: int = 0) -> list[Claim]:
    if name not in names():
        raise KeyError(f"no claim checks for {name!r}; available: {names()}")
    return registry.entry(name).hook("claims")(quick=quick, seed=seed)


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
