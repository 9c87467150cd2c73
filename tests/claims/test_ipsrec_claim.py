"""IPSRec's headline claim at CI size (tfrec_pkg/claims/ipsrec_checks.py): IPSRec-S beats
SASRec on HR@10 and NDCG@10 over 3 seeds (5 in `tfrec claims`) of the quick planted data:
one-sided paired t-test at claims.ALPHA, and a margin of more than 3 standard errors so that a
small change in the libraries' numerics does not flip it. The full table (IPSRec-C, the SASRec + provider control,
w/o CL, the reference mask, GRU4Rec) is `tfrec claims ipsrec`, recorded in CLAIMS.md."""
import pytest

from ci_claims import assert_held_by_3_se, show
from tfrec_pkg.claims import ipsrec_checks


@pytest.mark.slow
def test_ipsrec_s_beats_sasrec_on_quick_planted_data(capsys, record_property):
    results = ipsrec_checks.checks(quick=True, seed=0, num_seeds=3, only=("IPSRec-S", "SASRec"))
    show(results, capsys, record_property)
    assert len(results) == 2
    for metric in ("hr@10", "ndcg@10"):
        assert_held_by_3_se(results, f"IPSRec-S {metric} > SASRec")
