"""IPRec's claim checks (tfrec_pkg/claims/iprec_checks.py) built from per-seed tables and from
a model with known gamma: each claim holds in the paper's direction and fails in the other,
the 40 % rows are paired with each other, and the main-reason agreement and its chance level are
what the definitions give. (The full-size run is `tfrec claims iprec`; the CI-sized run of
IPRec > NeuMF, 300 users over 3 seeds, is tests/claims/test_iprec_claim.py.)"""
import numpy as np
import pandas as pd
import pytest

from tfrec_pkg.claims import iprec_checks
from tfrec_pkg.data.synthetic.base import Split

SMALL = f"({iprec_checks.SMALL_TRAINING:.0%})"


def _table(gain: float, small_gain: float) -> pd.DataFrame:
    """Per-seed AUCs: IPRec beats every other model by ``gain`` (at 40 %: NeuMF by ``small_gain``)."""
    rng = np.random.default_rng(0)
    rows = []
    for s in range(5):
        base = 0.6 + 0.01 * rng.normal()
        for name in ("NeuMF", "DiffNet", "IPRec w/o att", "IPRec w/o dual", "IPRec w/o inter"):
            rows.append({"model": name, "seed": s, "auc": base + 0.002 * rng.normal()})
        rows.append({"model": "IPRec", "seed": s, "auc": base + gain + 0.002 * rng.normal()})
        rows.append({"model": f"NeuMF {SMALL}", "seed": s, "auc": base - 0.03})
        rows.append({"model": f"IPRec {SMALL}", "seed": s, "auc": base - 0.03 + small_gain + 0.002 * rng.normal()})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("gain, small_gain, held", [(0.02, 0.02, True), (-0.02, -0.02, False)])
def test_every_table_claim_follows_the_papers_direction(monkeypatch, gain, small_gain, held):
    monkeypatch.setattr(iprec_checks, "results", lambda **kw: (_table(gain, small_gain), []))
    result = iprec_checks.checks()
    names = [c.claim for c in result]
    assert len(result) == 6 and all(c.held is held for c in result), names
    assert any("IPRec auc > DiffNet" in n for n in names) and any(f"IPRec {SMALL} auc > NeuMF {SMALL}" in n
                                                                  for n in names)


def test_the_40_percent_claim_is_paired_within_the_40_percent_runs(monkeypatch):
    monkeypatch.setattr(iprec_checks, "results", lambda **kw: (_table(0.02, -0.02), []))
    result = iprec_checks.checks()
    full = next(c for c in result if c.claim.startswith("IPRec auc > NeuMF"))
    small = next(c for c in result if c.claim.startswith(f"IPRec {SMALL} auc > NeuMF {SMALL}"))
    assert full.held and not small.held


class KnownGamma:
    """explain() returns a fixed gamma per row: the rows' own one-hot combination."""

    def __init__(self, combos):
        self.combos = combos

    def explain(self, batch):
        import tensorflow as tf

        rows = batch["row"].numpy()
        gamma = np.zeros((len(rows), 7), np.float32)
        gamma[np.arange(len(rows)), [self.combos[r] for r in rows]] = 1.0
        return {"gamma": tf.constant(gamma)}


def test_reason_agreement_and_chance():
    from tfrec_pkg.features import FeatureSpec

    # users 1-4 planted article, friends, media, none; each clicks two packages
    frame = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3, 4, 4, 1], "row": np.arange(9),
                          "label": [1, 1, 1, 1, 1, 1, 1, 1, 0],
                          "true_reason": ["article"] * 2 + ["friends"] * 2 + ["media"] * 2 + ["none"] * 2 + ["article"]})
    # found: user 1 "a" (right), user 2 "a*f" (friends: right), user 3 "a" (wrong), user 4 left out;
    # row 8 is not clicked and its "m" must not count
    combos = [0, 0, 4, 4, 0, 0, 2, 2, 1]
    split = Split("test", frame, [FeatureSpec("row", "int64")], {})
    out = iprec_checks.reason_agreement(KnownGamma(combos), split)
    assert out["users"] == 3 and out["agreement"] == pytest.approx(2 / 3)
    # planted shares article, friends, media = 1/3 each; found article 2/3, friends 1/3
    assert out["chance"] == pytest.approx(1 / 3 * 2 / 3 + 1 / 3 * 1 / 3)
    assert out["confusion"].loc["media", "article"] == 1


def test_agreement_claim_is_tested_against_twice_chance():
    def seeds(agree, chance):
        return [{"agreement": a, "chance": chance, "users": 100,
                 "confusion": pd.DataFrame([[60]], index=["friends"], columns=["friends"])} for a in agree]

    assert iprec_checks.agreement_claim(seeds([0.62, 0.60, 0.65, 0.61, 0.63], 0.25)).held
    assert not iprec_checks.agreement_claim(seeds([0.45, 0.52, 0.48, 0.50, 0.47], 0.25)).held  # < 2 x 0.25
    claim = iprec_checks.agreement_claim(seeds([0.62, 0.60, 0.65, 0.61, 0.63], 0.25))
    assert claim.numbers["planted->found (all seeds)"] == "friends->friends 300"


def test_small_training_false_skips_the_40_percent_runs(monkeypatch):
    seen = []

    def results(**kw):
        seen.append(kw["small_training"])
        return _table(0.02, 0.02), []

    monkeypatch.setattr(iprec_checks, "results", results)
    iprec_checks.checks(only=("IPRec", "NeuMF"))
    iprec_checks.checks(only=("IPRec", "NeuMF"), small_training=False)
    iprec_checks.checks(only=("IPRec", "DiffNet"))
    assert seen == [True, False, False]
