"""IPSRec's headline claim at CI size (tfrec_pkg/claims/ipsrec_checks.py): IPSRec-S beats
SASRec on HR@10 and NDCG@10 over 3 seeds of the quick planted data, by more than twice the
standard error of the paired difference and in every seed. The full table (IPSRec-C, w/o CL,
the reference mask, GRU4Rec) is `tfrec claims ipsrec`, recorded in CLAIMS.md."""
from tfrec_pkg import claims
from tfrec_pkg.claims import ipsrec_checks


def test_ipsrec_s_beats_sasrec_on_quick_planted_data(capsys):
    results = ipsrec_checks.checks(quick=True, seed=0, only=("IPSRec-S", "SASRec"))
    with capsys.disabled():
        print("\n" + claims.table(results).to_string(index=False))
        print(claims.summary(results))
    assert len(results) == 1 and results[0].held, claims.table(results).to_string()
