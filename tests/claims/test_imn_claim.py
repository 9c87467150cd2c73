"""IMN-Net's headline claim at CI size (tfrec_pkg/claims/imn_checks.py): IMN-Net beats JODIE on
Recall@10 over 3 seeds (5 in `tfrec claims`) of the quick planted stream (100 users, 200 items,
10k interactions): one-sided paired t-test at claims.ALPHA, and a margin of more than 3
standard errors so that a small change in the libraries' numerics does not flip it.

IMN-Net > JODIE on NDCG@10 is printed but not asserted at this size: it was not shown there
(pilot, 3 seeds: +0.0033, s.e. 0.0061), while it holds in the full record. The full table
(IMN-Net*, IMN_MSE, IMN_NCE, SASRec, GRU4Rec, the planted references) is `tfrec claims imn_net`,
recorded in CLAIMS.md."""
import pytest

from ci_claims import assert_held_by_3_se, show
from tfrec_pkg.claims import imn_checks


@pytest.mark.slow
def test_imn_net_beats_jodie_on_recall_on_the_quick_planted_stream(capsys):
    results = imn_checks.checks(quick=True, seed=0, num_seeds=3, only=("IMN-Net", "JODIE"))
    show(results, capsys)
    assert_held_by_3_se(results, "IMN-Net recall@10 > JODIE")
