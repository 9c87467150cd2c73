"""Why IPRec's main reasons agree with the planted ones at chance (CLAIMS.md, iprec: the
Sec. 5.4 claim failed), measured on the planted package data of the claim checks.

    python tools/iprec_reason_diagnosis.py [--seed 0] [--quick] [--impressions N] [--set KEY=VALUE ...]

(``--impressions``: impressions per user instead of the checks' 100; ``--set``: a change to
IPRec's config, e.g. ``--set fusion=add`` or ``--set predictor_input=concat_product``.)

* ``ceiling``: how well the planted reasons can be told apart from a user's training
  impressions at all. The oracle knows the generator (the base logit with the user's and the
  article's biases, whether the user likes the article's topic and subscribes to its media, how
  many of the package's friends are influential on it) and picks, per user, the reason under
  which the user's training labels are most likely (``ceiling_agreement``, users planted "none"
  left out as in the check): about the best agreement any model's main reasons can reach.
* ``auc_by_reason``: test AUC of IPRec, NeuMF (trained as in the checks) and the two Bayes
  scores on the users of each planted reason: whether IPRec gains where the package's objects
  matter, whatever its attention shows.
* ``gamma_by_reason``: IPRec's mean gamma (Eq. (8)) per combination over the clicked test
  packages of each planted reason group, and the found main reasons (the check's rule).
  ``between_user_sd``: the spread across users of their mean gamma, against the spread of gamma
  across one user's packages (``within_user_sd``).
"""
from __future__ import annotations

import argparse
import ast
import time

import tfrec_pkg  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)
import numpy as np
import pandas as pd
from scipy.special import logsumexp

from tfrec_pkg.claims import iprec_checks
from tfrec_pkg.data.synthetic.packages import REASON_WEIGHTS, REASONS
from tfrec_pkg.evaluation import metrics
from tfrec_pkg.layers.package import IntraPackageAttention

COMBINATIONS = list(IntraPackageAttention.COMBINATIONS)


def reason_logits(frame: pd.DataFrame, strength: float) -> np.ndarray:
    """[rows, reasons]: each row's true logit had its user been planted with each reason."""
    objects = np.stack([frame["true_liked"], frame["subscribe_label"], frame["true_influence"],
                        frame["true_liked"] * frame["subscribe_label"]], axis=1).astype(np.float64)
    weights = strength * np.array([REASON_WEIGHTS[r] for r in REASONS], dtype=np.float64)  # [reasons, terms]
    return frame["true_logit_base"].to_numpy()[:, None] + objects @ weights.T


def ceiling(data, train_frame: pd.DataFrame) -> dict:
    """The oracle's per-user maximum-likelihood reason from the training impressions (and its
    posterior under a flat prior), against the planted one."""
    params = data.world.params
    logits = reason_logits(train_frame, params["strength"])
    y = train_frame["label"].to_numpy()[:, None]
    loglik = pd.DataFrame(y * -np.logaddexp(0, -logits) + (1 - y) * -np.logaddexp(0, logits), columns=list(REASONS))
    loglik["user"] = train_frame["user_id"].to_numpy()
    per_user = loglik.groupby("user")[list(REASONS)].sum()
    posterior = per_user.to_numpy()  # a flat prior over the reasons
    posterior = np.exp(posterior - logsumexp(posterior, axis=1, keepdims=True))
    found = pd.Series(np.array(REASONS)[posterior.argmax(axis=1)], index=per_user.index)
    planted = train_frame.groupby("user_id")["true_reason"].first().reindex(per_user.index)
    keep = planted != "none"
    return {"ceiling_agreement": float((found[keep] == planted[keep]).mean()),
            "mean_posterior_of_planted": float(posterior[np.arange(len(planted)),
                                                         [REASONS.index(r) for r in planted]][keep.to_numpy()].mean()),
            "confusion": pd.crosstab(planted[keep].rename("planted"), found[keep].rename("oracle"))}


def auc_by_reason(frame: pd.DataFrame, scores: dict) -> pd.DataFrame:
    rows = []
    for reason, part in frame.groupby("true_reason"):
        labels = part["label"].to_numpy()
        rows.append({"reason": reason, "rows": len(part),
                     **{name: metrics.auc(labels, s[part.index.to_numpy()]) for name, s in scores.items()}})
    return pd.DataFrame(rows).set_index("reason")


def setting(text: str) -> tuple:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a bare string such as fusion=add


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="the registered quick size (a smoke run)")
    parser.add_argument("--impressions", type=int, default=None, help="impressions per user (default: the checks')")
    parser.add_argument("--set", type=setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a change to IPRec's config (repeatable)")
    args = parser.parse_args()
    changes = dict(args.set)
    start = time.time()
    print(f"IPRec {changes or ''} and NeuMF on the planted package data of the claim checks, seed {args.seed}; "
          f"about {1 if args.quick else 5 * (args.impressions or 100) // 100} min on 2 cores", flush=True)
    data = iprec_checks.data(args.seed, quick=args.quick, impressions_per_user=args.impressions)
    train, _, test = data.splits()
    out = ceiling(data, train.frame)
    print(f"ceiling: oracle agreement {out['ceiling_agreement']:.3f}, mean posterior of the planted reason "
          f"{out['mean_posterior_of_planted']:.3f}\n{out['confusion'].to_string()}\n", flush=True)

    scores = {"Bayes-optimal": test.frame["true_prob"].to_numpy(),
              "Bayes (user x article)": test.frame["true_prob_user_article"].to_numpy()}
    models = {}
    for name in ("IPRec", "NeuMF"):
        row, models[name] = iprec_checks.fit_and_score(name, (train, _, test), args.seed,
                                                       changes if name == "IPRec" else None)
        scores[name] = models[name].predict(test.dataset(1024, shuffle=False), verbose=0).reshape(-1)
        print(f"{name}: test auc {row['auc']:.4f} ({row['epochs']} epochs)", flush=True)
    frame = test.frame.reset_index(drop=True)
    print("\nauc_by_reason:\n" + auc_by_reason(frame, scores).round(4).to_string(), flush=True)

    gamma = iprec_checks.gammas(models["IPRec"], test)
    clicked = frame["label"].to_numpy() == 1
    table = pd.DataFrame(gamma[clicked], columns=COMBINATIONS)
    table["reason"] = frame.loc[clicked, "true_reason"].to_numpy()
    print("\ngamma_by_reason (mean gamma over clicked test packages):\n"
          + table.groupby("reason")[COMBINATIONS].mean().round(3).to_string())
    per_user = table.assign(user=frame.loc[clicked, "user_id"].to_numpy()).groupby("user")[COMBINATIONS]
    spread = pd.DataFrame({"between_user_sd": per_user.mean().std(), "within_user_sd": per_user.std().mean()})
    print("\n" + spread.round(4).to_string())
    agreement = iprec_checks.reason_agreement(models["IPRec"], test)
    print(f"\nplanted x found main reason (the check's rule and mapping):\n{agreement['confusion'].to_string()}\n"
          f"IPRec agreement {agreement['agreement']:.3f} (chance {agreement['chance']:.3f}); {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
