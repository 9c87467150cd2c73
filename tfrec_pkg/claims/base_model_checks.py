"""Foundation claim: BaseModel learns the planted CTR signal.

On ``ctr_with_history`` the click probability is known, so the Bayes-optimal test AUC
(AUC*, the AUC of the true probabilities) is known. Claim: BaseModel reaches more than 90 %
of the possible AUC lift, (AUC - 0.5) / (AUC* - 0.5) > 0.9, tested as a one-sided t-test of
the mean lift ratio over the seeds (data and weights regenerated per seed) at ``claims.ALPHA``.
"""
from __future__ import annotations

import numpy as np

from tfrec_pkg import experiment
from tfrec_pkg.claims import ALPHA, NUM_SEEDS, Claim, Paired, seeds

MIN_LIFT_RATIO = 0.9


def checks(quick: bool = False, seed: int = 0, num_seeds: int = NUM_SEEDS) -> list[Claim]:
    rows = []
    for s in seeds(seed, num_seeds):
        result = experiment.run("base_model", quick=quick, seed=s, verbose=0)
        reference = experiment.bayes_reference(result.row, result.splits[2])
        rows.append((float(result.row["auc"]), reference["bayes_auc"], reference["auc_lift_ratio"]))
        print(f"seed {s}: auc {rows[-1][0]:.4f}, bayes auc {rows[-1][1]:.4f}, lift ratio {rows[-1][2]:.4f}", flush=True)
    auc, best, ratio = np.array(rows).T
    test = Paired(ratio - MIN_LIFT_RATIO)  # one-sample test: the ratio's excess over the bar
    # Quick mode trains on 1/5 of the data: it shows the check runs, the bar stays the same.
    return [Claim("base_model", f"AUC lift > {MIN_LIFT_RATIO:.0%} of Bayes-optimal lift "
                                f"(one-sided t-test, alpha {ALPHA:g})", test.greater(),
                  {"auc": float(auc.mean()), "bayes_auc": float(best.mean()), "lift_ratio": float(ratio.mean()),
                   "min_lift_ratio": float(ratio.min()), **test.numbers()})]
