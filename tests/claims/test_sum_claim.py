"""SUM's headline claims at CI size (tfrec_pkg/claims/sum_checks.py): SUM's gAUC beats the GRU
and AttMerge user encoders (same ranker) over 3 seeds of the quick planted data, by more than
twice the standard error of the paired difference and in every seed. The full table (RUM,
Table 3 ablations, Table 5 utilisation) is `tfrec claims sum`, recorded in CLAIMS.md."""
from tfrec_pkg import claims
from tfrec_pkg.claims import sum_checks


def test_sum_beats_gru_and_attmerge_on_quick_planted_data(capsys):
    results = sum_checks.checks(quick=True, seed=0, only=("SUM", "GRU", "AttMerge"))
    with capsys.disabled():
        print("\n" + claims.table(results).to_string(index=False))
        print(claims.summary(results))
    assert len(results) == 2 and all(c.held for c in results), claims.table(results).to_string()
