"""IPSRec's headline claim at CI size (tfrec_pkg/claims/ipsrec_checks.py): IPSRec-S beats
SASRec on HR@10 and NDCG@10 over 3 seeds (5 in `tfrec claims`) of the quick planted data:
one-sided paired t-test at claims.ALPHA, and a margin of more than 3 standard errors so that a
small change in the libraries' numerics does not flip it. The full table (IPSRec-C, the SASRec + provider control,
w/o CL, the reference mask, GRU4Rec) is `tfrec claims ipsrec`, recorded in CLAIMS.md."""
from tfrec_pkg import claims
from tfrec_pkg.claims import ipsrec_checks


def test_ipsrec_s_beats_sasrec_on_quick_planted_data(capsys):
    results = ipsrec_checks.checks(quick=True, seed=0, num_seeds=3, only=("IPSRec-S", "SASRec"))
    with capsys.disabled():
        print("\n" + claims.table(results).to_string(index=False))
        print(claims.summary(results))
    assert len(results) == 2 and all(c.held for c in results), claims.table(results).to_string()
    for c in results:
        assert c.numbers["seeds"] == 3 and c.numbers["mean_diff"] > 3 * c.numbers["se"], c.numbers
