"""Paper-claim checks: one implementation, two entry points (``tfrec claims NAME`` and
``tests/claims``). A model names its checks when it registers (modules here are named
<model>_checks, so none shadows a builtin such as ``sum``). Each check trains on planted data
with fixed seeds and reports numbers.

The standard every model's checks meet: a claim the paper states as "A beats B" is tested in
that direction, as a one-sided paired t-test of the per-seed differences A - B over
``NUM_SEEDS`` seeds at level ``ALPHA`` (:func:`greater`), reported with both means, the mean
difference, its standard error and the p-value. A claim that the test does not support is
reported as failed with its numbers, never redefined. A non-inferiority check is used only
where a paper itself says "comparable", and its claim text says so.

    checks = tfrec_pkg.claims.run("base_model", quick=False, seed=0)   # -> list[Claim]
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
from scipy import stats

from tfrec_pkg.durations import readable
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


class Claims(list):
    """The claims of one run, with the per-model means over the seeds they were tested on
    (``means``: rows model, columns metric), so a record shows every model the claims cite,
    and any further results the run reports without testing them (``reported``: title ->
    table, e.g. a sensitivity sweep)."""

    def __init__(self, claims=(), means: pd.DataFrame | None = None, reported: dict | None = None):
        super().__init__(claims)
        self.means = means
        self.reported = dict(reported or {})


def means(table: pd.DataFrame, metrics) -> pd.DataFrame:
    """Per-model mean and standard deviation over the seeds (columns ``metric`` and
    ``metric sd``), printed as a run goes and kept for its record."""
    g = table.groupby("model")[list(metrics)]
    out = g.mean().join(g.std().add_suffix(" sd"))
    out = out[[c for m in metrics for c in (m, f"{m} sd")]]
    print(out.round(4).to_string(), flush=True)
    return out


def names() -> list[str]:
    """Registered models that name claim checks (``register(..., claims="module:function")``)."""
    return [n for n in registry.names() if registry.entry(n).claims]


def run(name: str, quick: bool = False, seed: int = 0) -> list[Claim]:
    if name not in names():
        raise KeyError(f"no claim checks for {name!r}; available: {names()}")
    return registry.entry(name).hook("claims")(quick=quick, seed=seed)


def estimate(name: str, quick: bool = False) -> str:
    """What ``tfrec claims NAME`` prints before it starts: how long the recorded run took
    (``Entry.claims_minutes``), and that the time left follows each seed (:func:`seeds`)."""
    recorded = registry.entry(name).claims_minutes
    if quick:
        took = "small data, a fraction of the full run's time"
    elif recorded is None:
        took = "no recorded run to time it by"
    else:
        took = f"about {readable(60 * recorded)} (its last recorded run, on a 2-core machine)"
    return (f"claims {name}{' --quick' if quick else ''}: {NUM_SEEDS} seeds, {took}; "
            "the time left is printed after each seed")


ALPHA = 0.05     # one-sided error rate of every directional claim
NUM_SEEDS = 5    # seeds of a full claim run: a paired t-test needs a few degrees of freedom


def seeds(seed: int, num_seeds: int = NUM_SEEDS, clock=time.perf_counter):
    """The seeds seed .. seed + num_seeds - 1 of a run's loop. After each seed's work it prints
    the time so far and the time left for the other seeds (their mean so far): a full run
    takes minutes to more than an hour."""
    start = clock()
    for done, s in enumerate(range(seed, seed + num_seeds), 1):
        yield s
        elapsed = clock() - start
        left = elapsed / done * (num_seeds - done)
        tail = f"; about {readable(left)} left for the other seeds" if done < num_seeds else ""
        print(f"seed {s}: done ({done} of {num_seeds}), {readable(elapsed)} so far{tail}", flush=True)


@dataclasses.dataclass
class Paired:
    """Paired comparison of models a and b on one metric over seeds: the per-seed differences
    a - b, their mean, its standard error sd / sqrt(n) and the one-sided paired t-test's
    p-value for "a > b" (H0: mean difference <= 0)."""
    diffs: np.ndarray

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def mean(self) -> float:
        return float(self.diffs.mean())

    @property
    def se(self) -> float:
        return float(self.diffs.std(ddof=1) / np.sqrt(self.n)) if self.n > 1 else float("nan")

    @property
    def margin(self) -> float:
        """The mean difference in standard errors (the t statistic)."""
        if self.se == 0:  # identical differences in every seed
            return float("inf") if self.mean > 0 else float("-inf") if self.mean < 0 else 0.0
        return self.mean / self.se

    @property
    def p_value(self) -> float:
        if self.n < 2:
            return float("nan")  # no spread to test against: never "held"
        return float(stats.t.sf(self.margin, df=self.n - 1))

    def greater(self, alpha: float = ALPHA) -> bool:
        """a > b at one-sided level ``alpha``."""
        return bool(self.p_value < alpha)

    def numbers(self) -> dict:
        return {"mean_diff": self.mean, "se": self.se, "p_value": self.p_value, "seeds": self.n}


def paired(results: pd.DataFrame, a: str, b: str, metric: str) -> Paired:
    """Models a and b on ``metric`` over the seeds both ran (rows: model, seed)."""
    g = results.pivot(index="seed", columns="model", values=metric)[[a, b]].dropna()
    return Paired((g[a] - g[b]).to_numpy(dtype=float))


def greater(model: str, results: pd.DataFrame, a: str, b: str, metric: str, alpha: float = ALPHA,
            claim: str | None = None) -> Claim:
    """The paper's "a beats b" as a one-sided paired t-test over the seeds at level ``alpha``;
    the numbers hold both means, the mean difference, its s.e. and the p-value."""
    test = paired(results, a, b, metric)
    mean = results.groupby("model")[metric].mean()
    text = claim or f"{a} {metric} > {b}"
    return Claim(model, f"{text} (one-sided paired t-test, alpha {alpha:g})", test.greater(alpha),
                 {f"{a} {metric}": float(mean[a]), f"{b} {metric}": float(mean[b]), **test.numbers()})


def table(claims: list[Claim]) -> pd.DataFrame:
    return pd.DataFrame([c.row() for c in claims])


def summary(claims: list[Claim]) -> str:
    held = sum(c.held for c in claims)
    return f"claims: {held} held, {len(claims) - held} failed"
