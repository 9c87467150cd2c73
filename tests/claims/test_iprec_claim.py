"""IPRec's headline claim at CI size (tfrec_pkg/claims/iprec_checks.py): IPRec beats NeuMF, the
strongest collaborative-filtering baseline of Table 2, on test AUC over 3 seeds (5 in `tfrec
claims`) of planted package data with 300 users x 100 impressions (600 users in `tfrec claims`):
one-sided paired t-test at claims.ALPHA, and a margin of more than 3 standard errors so that a
small change in the libraries' numerics does not flip it (+0.0253, s.e. 0.0053: 4.8 s.e.; ~4 min
alone, ~6 min inside `make test`). At 150 users IPRec did not beat NeuMF (pilot, seeds 0-1:
0.588 / 0.562 against 0.601 / 0.565) and at 250 it held by 3.5 s.e. only (+0.0151, s.e.
0.0043), so 300 is the smallest size tried with room to spare. The full table (DiffNet, the
40 % rows, Table 3's ablations, the main-reason agreement) is `tfrec claims iprec`, recorded in
CLAIMS.md."""
import pytest

from ci_claims import assert_held_by_3_se, show
from tfrec_pkg.claims import iprec_checks


@pytest.mark.slow
def test_iprec_beats_neumf_on_planted_package_data(capsys, record_property):
    results = iprec_checks.checks(seed=0, num_seeds=3, num_users=300, only=("IPRec", "NeuMF"),
                                  small_training=False)
    show(results, capsys, record_property)
    assert_held_by_3_se(results, "IPRec auc > NeuMF")
