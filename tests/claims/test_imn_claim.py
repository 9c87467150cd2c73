"""IMN-Net's headline claim in CI (tfrec_pkg/claims/imn_checks.py): IMN-Net beats JODIE on
Recall@10 over 10 seeds of the full-size planted stream (200 users, 400 items, 20k interactions;
`tfrec claims imn_net` runs 5 seeds of it with every variant): one-sided paired t-test at
claims.ALPHA, and a margin of more than 3 standard errors so that a small change in the
libraries' numerics does not flip it.

Why not the quick stream, as the other models' checks: there IMN-Net's lead over JODIE is about
half its spread across seeds, and JODIE's training at the planted learning rate turns round-off
into another result on a seed. The 5-seed quick check (100 users, 200 items, 10k interactions)
failed in three of its five draws on record: with oneDNN's kernels (+0.0058, s.e. 0.0130) and
with the learning rate moved by one part in a million (+0.0092, s.e. 0.0073) on a 2-core AVX2
machine, and with the default kernels on a 2-core Intel Xeon with AVX512 (+0.0136, s.e. 0.0062,
2.2 s.e.). No early-stopping protocol steadied it (tools/imn_stability_diagnosis.py). Ten
full-size seeds were the size named beforehand for a check that holds by 3 s.e. in most draws
(CLAIMS.md, imn_net). On the Intel machine they hold by 3.9 s.e. (+0.0175, s.e. 0.0045, every
seed ahead; 663 s on the idle machine, where the quick check took 279 s inside the suite); on the
AVX2 machine seeds 5-9 alone held by 8.6 s.e. with the default kernels, 3.9 with the learning
rate moved and 2.2 with oneDNN's.

IMN-Net > JODIE on NDCG@10 is printed, not asserted (on the Intel machine +0.0077, s.e. 0.0020).
The full table (IMN-Net*, IMN_MSE, IMN_NCE, SASRec, GRU4Rec, the planted references) is `tfrec
claims imn_net`, recorded in CLAIMS.md."""
import pytest

from ci_claims import assert_held_by_3_se, show
from tfrec_pkg.claims import imn_checks


@pytest.mark.slow
def test_imn_net_beats_jodie_on_recall_over_ten_seeds_of_the_planted_stream(capsys):
    results = imn_checks.checks(quick=False, seed=0, num_seeds=10, only=("IMN-Net", "JODIE"))
    show(results, capsys)
    assert_held_by_3_se(results, "IMN-Net recall@10 > JODIE", seeds=10)
