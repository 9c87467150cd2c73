"""Foundation claim (tfrec_pkg/claims/base_model_checks.py): BaseModel reaches >= 90 % of the
Bayes-optimal AUC lift on the planted CTR test set. Same check as `tfrec claims base_model`."""
from tfrec_pkg import claims


def test_base_model_reaches_90_percent_of_bayes_optimal_lift(capsys):
    results = claims.run("base_model", quick=False, seed=0)
    with capsys.disabled():
        print("\n" + claims.table(results).to_string(index=False))
        print(claims.summary(results))
    assert results and all(c.held for c in results), claims.table(results).to_string()
