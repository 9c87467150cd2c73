"""Foundation claim (tfrec_pkg/claims/base_model_checks.py): BaseModel's mean AUC lift over
the seeds is above 90 % of the Bayes-optimal lift on the planted CTR test set (one-sided
t-test at claims.ALPHA). Same check and data size as `tfrec claims base_model`, on 3 seeds
instead of 5 to keep the suite short."""
import pytest

from ci_claims import show
from tfrec_pkg import claims
from tfrec_pkg.claims import base_model_checks


@pytest.mark.slow
def test_base_model_reaches_90_percent_of_bayes_optimal_lift(capsys, record_property):
    results = base_model_checks.checks(quick=False, seed=0, num_seeds=3)
    show(results, capsys, record_property)
    assert len(results) == 1 and results[0].held, claims.table(results).to_string()
    assert results[0].numbers["seeds"] == 3
