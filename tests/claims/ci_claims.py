"""What the CI-sized claim checks (tests/claims/test_*_claim.py) print and assert."""
from tfrec_pkg import claims


def show(results, capsys, record_property):
    """What the check printed (a line per seed and model, the means), the claims table and the
    summary, for the end of the run's output (tests/conftest.py): a test's recorded properties
    reach it from every test process, where its output shows only when it fails."""
    record_property("claims", "\n".join([capsys.readouterr().out.rstrip(),
                                          claims.table(results).to_string(index=False),
                                          claims.summary(results)]))


def assert_held_by_3_se(results, claim: str, seeds: int = 3):
    """The one claim whose text contains ``claim`` held over ``seeds`` seeds, by a margin of more
    than 3 standard errors, so that a small change in the libraries' numerics does not flip it."""
    found = [c for c in results if claim in c.claim]
    assert len(found) == 1 and found[0].held, claims.table(results).to_string()
    numbers = found[0].numbers
    assert numbers["seeds"] == seeds and numbers["mean_diff"] > 3 * numbers["se"], numbers
