"""Foundation claim: BaseModel learns the planted CTR signal.

On ``ctr_with_history`` the click probability is known, so the Bayes-optimal test AUC
(AUC*, the AUC of the true probabilities) is known. Claim: BaseModel reaches at least 90 %
of the possible AUC lift, (AUC - 0.5) / (AUC* - 0.5) >= 0.9.
"""
from __future__ import annotations

import tensorflow as tf

from tfrec_pkg.claims import Claim
from tfrec_pkg.evaluation import metrics
from tfrec_pkg.evaluation.protocols import predict_split
from tfrec_pkg.models import registry
from tfrec_pkg.training import train

MIN_LIFT_RATIO = 0.9


def checks(quick: bool = False, seed: int = 0) -> list[Claim]:
    entry = registry.entry("base_model")
    config = entry.planted_config()
    train_split, val_split, test_split = entry.data(config, quick=quick, seed=seed).splits()
    tf.keras.utils.set_random_seed(seed)
    model = entry.model_class(config, train_split.vocab)
    train(model, train_split, val_split, verbose=0, seed=seed)
    auc = metrics.auc(test_split.labels, predict_split(model, test_split))
    best = metrics.auc(test_split.labels, test_split.true_probabilities)
    ratio = (auc - 0.5) / (best - 0.5)
    # Quick mode trains on 1/5 of the data: it shows the check runs, the bar stays the same.
    return [Claim("base_model", f"AUC lift >= {MIN_LIFT_RATIO:.0%} of Bayes-optimal lift", ratio >= MIN_LIFT_RATIO,
                  {"auc": auc, "bayes_auc": best, "lift_ratio": ratio, "seed": seed, "n_test": len(test_split)})]
