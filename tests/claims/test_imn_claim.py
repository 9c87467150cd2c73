"""IMN-Net's headline claim at CI size (tfrec_pkg/claims/imn_checks.py): IMN-Net beats JODIE on
Recall@10 over 5 seeds of the quick planted stream (100 users, 200 items, 10k interactions):
one-sided paired t-test at claims.ALPHA, and a margin of more than 3 standard errors so that a
small change in the libraries' numerics does not flip it (here it is not enough: below). 3 seeds
were not enough: on a 2-core AVX2 machine (AMD EPYC, 2.2 GHz) the same code trained to other
numbers than on the machine that sized the check (3.5 s.e. there) and held by 2.0 s.e. only
(+0.0063, s.e. 0.0032, p 0.092); 5 seeds hold by 3.5 s.e. on that machine (+0.0102, s.e. 0.0029,
every seed ahead; 408 s) and by 5.1 s.e. on the other (+0.0126, s.e. 0.0025). The margin is one
draw of round-off: with TensorFlow's oneDNN kernels on the AVX2 machine the check fails (+0.0058,
s.e. 0.0130), and so it does with the default kernels and the learning rate changed by one part in
a million (+0.0092, s.e. 0.0073): JODIE's training at the planted learning rate amplifies
round-off. The suite asks for the default kernels on every CPU (tests/conftest.py), but another
CPU is another draw even so: on a 2-core Intel Xeon (AVX512, AMX) with the default kernels the
check fails (+0.0136, s.e. 0.0062, 2.2 s.e., p 0.046); a numerics change in IMN-Net or JODIE is a
new draw too (CLAIMS.md, imn_net). A steadier protocol does not rescue it: under the one a pilot
on other seeds chose (learning rate 1e-3, patience 5, cap 15: a run moves a third as much under
the one-in-a-million change; tools/imn_stability_diagnosis.py) IMN-Net's lead on these seeds
grows to +0.0188 but spreads more (s.e. 0.0144, p 0.13; per seed +0.066, -0.022, +0.007,
+0.014, +0.029), so the check would fail.

IMN-Net > JODIE on NDCG@10 is printed but not asserted at this size: it was not shown there
(5 seeds on the AVX2 machine: +0.0030, s.e. 0.0040), while it holds in the full record. The full table
(IMN-Net*, IMN_MSE, IMN_NCE, SASRec, GRU4Rec, the planted references) is `tfrec claims imn_net`,
recorded in CLAIMS.md."""
import pytest

from ci_claims import assert_held_by_3_se, show
from tfrec_pkg.claims import imn_checks


@pytest.mark.slow
def test_imn_net_beats_jodie_on_recall_on_the_quick_planted_stream(capsys):
    results = imn_checks.checks(quick=True, seed=0, num_seeds=5, only=("IMN-Net", "JODIE"))
    show(results, capsys)
    assert_held_by_3_se(results, "IMN-Net recall@10 > JODIE", seeds=5)
