"""IPRec claim checks on planted package data (Tables 2 and 3, Sec. 5.4 of the paper).

For each seed (``claims.NUM_SEEDS`` of them) the data is regenerated
(:func:`tfrec_pkg.data.synthetic.packages`, whose click probabilities are known, so the
Bayes-optimal AUC is reported beside the models) and every model is trained from scratch on
the same splits, with early stopping on validation AUC; the metric is the paper's test AUC.
Each "A beats B" of the paper is a one-sided paired t-test over the seeds at ``claims.ALPHA``
(:func:`tfrec_pkg.claims.greater`):

* Table 2: IPRec > NeuMF, the paper's strongest collaborative-filtering baseline (on the planted
  data MF scores above it; both are in the table, NeuMF is the one tested), on all the training
  data and on 40 % of it (the ratio rows; :func:`~tfrec_pkg.data.synthetic.packages.training_fraction`
  rebuilds every derived feature from the kept impressions); IPRec > DiffNet, the strongest
  baseline on the paper's larger sets (social diffusion over the package friend graph).
* Table 3: IPRec > each ablation (w/o att, w/o dual, w/o inter).
* Sec. 5.4 (Fig. 4): a test user's main reason -- the combination with the highest gamma in
  most of the user's clicked test packages (the paper's rule, ``viz.iprec_plots.main_reasons``)
  -- agrees with the planted reason at least twice as often as chance. Chance is the
  agreement of independent guesses with the same marginals, sum_r P(planted = r) P(main = r);
  users planted with no reason ("none") are left out. Tested as a one-sided t-test over the
  seeds of agreement - 2 x chance > 0.

MF and DeepMF are reported, not tested.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec_pkg import experiment
from tfrec_pkg.claims import ALPHA, NUM_SEEDS, Claim, Claims, Paired, greater, means, seeds
from tfrec_pkg.evaluation import metrics

# name -> (registered model, config changes)
VARIANTS = {
    "IPRec": ("iprec", {}),
    "IPRec w/o att": ("iprec", {"package_attention": False}),
    "IPRec w/o dual": ("iprec", {"dual_attention": False}),
    "IPRec w/o inter": ("iprec", {"inter_package": False}),
    "NeuMF": ("neumf", {}),
    "DiffNet": ("diffnet", {}),
    "DeepMF": ("deep_mf", {}),
    "MF": ("mf", {}),
}
SMALL_TRAINING = 0.4  # Table 2's smallest ratio row
SMALL_VARIANTS = ("IPRec", "NeuMF")  # trained again on SMALL_TRAINING of the training data
PATIENCE = 3  # validation AUC on a few thousand rows is noisy: at 2 a 300-user pilot stopped one seed at epoch 3
# (a, b, label): the paper's "a beats b", each tested when both ran
CLAIMS = [("IPRec", "NeuMF", "Table 2, 100 % training"), ("IPRec", "DiffNet", "Table 2"),
          (f"IPRec ({SMALL_TRAINING:.0%})", f"NeuMF ({SMALL_TRAINING:.0%})", f"Table 2, {SMALL_TRAINING:.0%} training")] + [
          ("IPRec", a, "Table 3") for a in ("IPRec w/o att", "IPRec w/o dual", "IPRec w/o inter")]
# gamma's combinations (IntraPackageAttention.COMBINATIONS) -> the generator's planted reasons:
# every combination that holds the friends stands for the friends reason
REASON_OF = {"a": "article", "m": "media", "f": "friends", "a*m": "article+media", "a*f": "friends",
             "m*f": "friends", "a*m*f": "friends"}
MIN_AGREEMENT_OVER_CHANCE = 2.0
# 600 users with 100 impressions each: about 41k training rows. At the generator's default 30
# impressions (2000 users, the same rows) every model stayed below a per-user click-rate score
# (test AUC 0.595): about 5 training clicks per user cannot show a user's reason (CLAIMS.md).
FULL_USERS = 600
FULL_IMPRESSIONS = 100


def data(seed: int, quick: bool = False, num_users: int | None = None, impressions_per_user: int | None = None):
    """The planted data of the checks: ``FULL_USERS`` users with ``FULL_IMPRESSIONS`` each
    (quick: the registered quick size; ``num_users`` and ``impressions_per_user`` override them)."""
    entry, config = experiment.resolve("iprec")
    sizes = {} if impressions_per_user is None else {"impressions_per_user": impressions_per_user}
    if quick:
        return entry.data(config, quick=True, seed=seed, num_users=num_users, **sizes)
    return entry.data(config, seed=seed, num_users=num_users or FULL_USERS,
                      **({"impressions_per_user": FULL_IMPRESSIONS} | sizes))


def fit_and_score(name: str, splits, seed: int, changes: dict | None = None):
    """(test AUC and epochs, model) of variant ``name``, its config further changed by ``changes``."""
    model, base = VARIANTS[name]
    result = experiment.run((model, {**base, **(changes or {})}), splits=splits, seed=seed, protocol="pointwise",
                            verbose=0, patience=PATIENCE)
    return {"auc": float(result.row["auc"]), "epochs": len(result.history.history["loss"])}, result.model


def gammas(model, split) -> np.ndarray:
    """gamma [rows, 7] of every row of ``split`` (Eq. (8) of the target package)."""
    out = [model.explain(batch)["gamma"].numpy() for batch in split.dataset(1024, shuffle=False)]
    return np.concatenate(out)


def reason_agreement(model, split) -> dict:
    """Main reason (Sec. 5.4) of each test user with a clicked package vs the planted reason."""
    from tfrec_pkg.viz.iprec_plots import main_reasons

    frame = split.frame
    found = main_reasons(gammas(model, split), frame["user_id"].to_numpy(), clicked=frame["label"].to_numpy())
    planted = frame.groupby("user_id")["true_reason"].first().reindex(found.index)
    guessed = found["main_reason"].map(REASON_OF)
    keep = planted != "none"
    planted, guessed = planted[keep], guessed[keep]
    chance = float((planted.value_counts(normalize=True) * guessed.value_counts(normalize=True)).fillna(0).sum())
    return {"agreement": float((planted == guessed).mean()), "chance": chance, "users": int(keep.sum()),
            "confusion": pd.crosstab(planted, guessed)}


def results(quick: bool = False, seed: int = 0, variants=tuple(VARIANTS), num_seeds: int = NUM_SEEDS,
            num_users: int | None = None, small_training: bool = True) -> tuple[pd.DataFrame, list]:
    """(per-seed AUC of every variant, the Bayes-optimal and user x article Bayes AUCs; the
    reason agreement of IPRec per seed)."""
    from tfrec_pkg.data.synthetic.packages import training_fraction

    rows, agreement = [], []
    for s in seeds(seed, num_seeds):
        full = data(s, quick=quick, num_users=num_users)
        parts = [(full, "")]
        if small_training:
            parts.append((training_fraction(full, SMALL_TRAINING, seed=s), f" ({SMALL_TRAINING:.0%})"))
        for d, suffix in parts:
            splits = d.splits()
            test = splits[2]
            if not suffix:
                rows.append({"model": "Bayes-optimal", "seed": s, "auc": test.bayes_optimal()["auc"]})
                rows.append({"model": "Bayes (user x article only)", "seed": s,
                             "auc": metrics.auc(test.labels, test.frame["true_prob_user_article"].to_numpy())})
            for name in variants:
                if suffix and name not in SMALL_VARIANTS:
                    continue
                row, model = fit_and_score(name, splits, s)
                rows.append({"model": name + suffix, "seed": s, **row})
                print(f"seed {s} {name + suffix}: auc {row['auc']:.4f} ({row['epochs']} epochs)", flush=True)
                if name == "IPRec" and not suffix:
                    agreement.append(reason_agreement(model, test))
                    print(f"seed {s} main-reason agreement {agreement[-1]['agreement']:.3f} "
                          f"(chance {agreement[-1]['chance']:.3f})", flush=True)
                tf.keras.backend.clear_session()
    return pd.DataFrame(rows), agreement


def summed_confusion(agreement: list) -> pd.DataFrame:
    """Planted (rows) x found (columns) user counts, summed over the seeds."""
    return pd.concat([a["confusion"] for a in agreement]).fillna(0).groupby(level=0).sum().astype(int)


def agreement_claim(agreement: list) -> Claim:
    agree = np.array([a["agreement"] for a in agreement])
    chance = np.array([a["chance"] for a in agreement])
    test = Paired(agree - MIN_AGREEMENT_OVER_CHANCE * chance)  # one-sample: the excess over 2 x chance
    confusion = summed_confusion(agreement)
    cells = "; ".join(f"{p}->{g} {n}" for (p, g), n in confusion.stack().items() if n)
    return Claim("iprec", f"a user's main reason (the highest gamma in most clicked packages) agrees with the "
                          f"planted reason >= {MIN_AGREEMENT_OVER_CHANCE:g}x chance (Sec. 5.4; one-sided t-test, "
                          f"alpha {ALPHA:g})", test.greater(),
                 {"agreement": float(agree.mean()), "chance": float(chance.mean()),
                  "users": int(np.mean([a["users"] for a in agreement])), **test.numbers(),
                  "planted->found (all seeds)": cells})


def checks(quick: bool = False, seed: int = 0, only=None, num_seeds: int = NUM_SEEDS,
           num_users: int | None = None, small_training: bool = True) -> Claims:
    """Every claim whose models ran; ``only`` restricts the variants (and, without IPRec and
    NeuMF both, skips the 40 % runs, as ``small_training=False`` does), ``num_users`` the data
    size (the CI-sized check)."""
    variants = tuple(only or VARIANTS)
    table, agreement = results(quick=quick, seed=seed, variants=variants, num_seeds=num_seeds, num_users=num_users,
                               small_training=small_training and set(SMALL_VARIANTS) <= set(variants))
    summary = means(table, ("auc",))
    ran = set(table["model"])
    claims = [greater("iprec", table, a, b, "auc", claim=f"{a} auc > {b} ({label})")
              for a, b, label in CLAIMS if {a, b} <= ran]
    if agreement:
        claims.append(agreement_claim(agreement))
        print(summed_confusion(agreement).to_string())
    return Claims(claims, summary)
