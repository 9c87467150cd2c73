"""Foundation claim: BaseModel learns the planted CTR signal.

On ``ctr_with_history`` the click probability is known, so the Bayes-optimal test AUC
(AUC*, the AUC of the true probabilities) is known. Claim: BaseModel reaches at least 90 %
of the possible AUC lift, (AUC - 0.5) / (AUC* - 0.5) >= 0.9.
"""
from __future__ import annotations

from tfrec_pkg import experiment
from tfrec_pkg.claims import Claim

MIN_LIFT_RATIO = 0.9


def checks(quick: bool = False, seed: int = 0) -> list[Claim]:
    result = experiment.run("base_model", quick=quick, seed=seed, verbose=0)
    test_split = result.splits[2]
    auc = float(result.row["auc"])
    reference = experiment.bayes_reference(result.row, test_split)
    best, ratio = reference["bayes_auc"], reference["auc_lift_ratio"]
    # Quick mode trains on 1/5 of the data: it shows the check runs, the bar stays the same.
    return [Claim("base_model", f"AUC lift >= {MIN_LIFT_RATIO:.0%} of Bayes-optimal lift", ratio >= MIN_LIFT_RATIO,
                  {"auc": auc, "bayes_auc": best, "lift_ratio": ratio, "seed": seed, "n_test": len(test_split)})]
