"""The claims' statistics (tfrec_pkg/claims/__init__.py): a one-sided paired t-test over the
seeds, and the claim lists of the model checks built from per-seed tables -- including tables
in which the paper's direction does not hold, so that each claim is seen to fail."""
import numpy as np
import pandas as pd
import pytest

from tfrec_pkg import claims
from tfrec_pkg.claims import Paired, ipsrec_checks, sum_checks

# Student t, 4 degrees of freedom: the one-sided 5 % and 1 % critical values (printed tables)
T4_95, T4_99 = 2.1318, 3.7469


def _table(values: dict, metric: str = "m") -> pd.DataFrame:
    return pd.DataFrame([{"model": name, "seed": s, metric: v} for name, per_seed in values.items()
                         for s, v in enumerate(per_seed)])


def _diffs_with_t(t: float, n: int = 5) -> np.ndarray:
    """n differences whose one-sample t statistic is exactly t."""
    z = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])[:n]
    z = z / (z.std(ddof=1) / np.sqrt(n))  # se 1
    return z + t


@pytest.mark.parametrize("t,alpha", [(T4_95, 0.05), (T4_99, 0.01)])
def test_p_value_at_the_critical_value_is_alpha(t, alpha):
    test = Paired(_diffs_with_t(t))
    assert test.margin == pytest.approx(t)
    assert test.p_value == pytest.approx(alpha, abs=2e-4)
    assert Paired(_diffs_with_t(t + 0.01)).greater(alpha) and not Paired(_diffs_with_t(t - 0.01)).greater(alpha)


def test_mean_se_and_direction():
    d = np.array([0.03, 0.01, 0.02, 0.04, 0.00])
    test = Paired(d)
    assert test.mean == pytest.approx(0.02) and test.se == pytest.approx(d.std(ddof=1) / np.sqrt(5))
    assert test.greater() and not Paired(-d).greater()  # the other direction fails
    assert Paired(-d).p_value == pytest.approx(1 - test.p_value)


def test_degenerate_spreads():
    assert Paired(np.full(5, 0.01)).greater() and Paired(np.full(5, 0.01)).p_value == 0.0
    assert not Paired(np.zeros(5)).greater() and not Paired(np.full(5, -0.01)).greater()
    assert not Paired(np.array([0.5])).greater()  # one seed: no test, never held


def test_paired_pairs_by_seed_and_greater_reports_both_means():
    table = _table({"A": [0.90, 0.91, 0.92, 0.93, 0.94], "B": [0.89, 0.905, 0.90, 0.925, 0.93]})
    shuffled = table.sample(frac=1.0, random_state=0)
    assert np.allclose(claims.paired(shuffled, "A", "B", "m").diffs, [0.01, 0.005, 0.02, 0.005, 0.01])
    c = claims.greater("x", shuffled, "A", "B", "m")
    assert c.held and c.numbers["A m"] == pytest.approx(0.92) and c.numbers["seeds"] == 5
    assert "one-sided paired t-test, alpha 0.05" in c.claim
    assert not claims.greater("x", shuffled, "B", "A", "m").held


def test_ipsrec_claims_follow_the_paper_direction(monkeypatch):
    good = {"IPSRec-S": [0.25, 0.26, 0.24, 0.27, 0.25], "IPSRec-C": [0.25, 0.26, 0.24, 0.27, 0.25],
            "SASRec": [0.20, 0.22, 0.19, 0.21, 0.20], "SASRec + provider emb": [0.20, 0.22, 0.19, 0.21, 0.20],
            "GRU4Rec": [0.1] * 5, "IPSRec-S w/o CL": [0.20, 0.22, 0.19, 0.21, 0.20],
            "IPSRec-C w/o CL": [0.20, 0.22, 0.19, 0.21, 0.20],
            "IPSRec-S plain_causal mask": [0.20, 0.22, 0.19, 0.21, 0.20]}
    table = pd.concat([_table(good, "hr@10"), _table(good, "ndcg@10")["ndcg@10"]], axis=1)
    for m in ipsrec_checks.METRICS:
        table[m] = table.get(m, table["hr@10"])
    monkeypatch.setattr(ipsrec_checks, "results", lambda **kw: table)
    held = ipsrec_checks.checks()
    assert len(held) == 9 and all(c.held for c in held)
    # the control as good as IPSRec-S: the mechanism claim fails, the others still hold
    table.loc[table["model"] == "SASRec + provider emb", ["hr@10", "ndcg@10"]] = \
        table.loc[table["model"] == "IPSRec-S", ["hr@10", "ndcg@10"]].to_numpy() + 0.001
    verdicts = {c.claim: c.held for c in ipsrec_checks.checks()}
    assert [k for k, v in verdicts.items() if not v] == [
        f"IPSRec-S {m} > SASRec + provider emb (control) (one-sided paired t-test, alpha 0.05)"
        for m in ("hr@10", "ndcg@10")]


def test_sum_claims_and_utilisation_claim(monkeypatch):
    names = ["SUM", *sum_checks.BASELINES, *sum_checks.CONTROLS, *sum_checks.ABLATIONS, *sum_checks.EXTRAS]
    gauc = {n: [0.90, 0.91, 0.92, 0.93, 0.94] for n in names}
    gauc["SUM"] = [0.92, 0.925, 0.94, 0.945, 0.95]
    gauc["w/o highway channel"] = [0.93, 0.93, 0.95, 0.95, 0.96]  # an ablation better than SUM
    table = _table(gauc, "gauc")
    table["logloss"] = table["ndcg@3"] = 0.0
    # untrained: K=3 1.0, K=8 0.95; trained: K=3 0.98, K=8 0.70 (+ per-seed noise)
    util = pd.DataFrame([{"K": k, "seed": s, "trained": t, "utilisation": u + 0.001 * s}
                         for s in range(5) for t, k, u in ((False, 3, 1.0), (False, 8, 0.95),
                                                           (True, 3, 0.98), (True, 8, 0.70 + 0.002 * s))])
    monkeypatch.setattr(sum_checks, "results", lambda **kw: (table, util))
    verdicts = {c.claim.split(" (one-sided")[0]: c for c in sum_checks.checks()}
    assert not verdicts["SUM gauc > w/o highway channel (Table 3)"].held
    assert all(c.held for k, c in verdicts.items() if "w/o highway" not in k)
    fall = [k for k in verdicts if k.startswith("write-channel")][0]
    assert verdicts[fall].numbers["trained K=8"] == pytest.approx(0.70 + 0.003 * 2)  # mean over seeds 0..4
    # no difference between trained and untrained falls: the Table 5 claim fails
    util.loc[util["trained"], "utilisation"] = util.loc[~util["trained"], "utilisation"].to_numpy()
    assert not sum_checks.utilisation_claim(util).held
