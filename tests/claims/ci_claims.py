"""What the CI-sized claim checks (tests/claims/test_*_claim.py) print and assert."""
from tfrec_pkg import claims


def show(results, capsys):
    """The claims table and summary, printed even though pytest captures output."""
    with capsys.disabled():
        print("\n" + claims.table(results).to_string(index=False))
        print(claims.summary(results))


def assert_held_by_3_se(results, claim: str, seeds: int = 3):
    """The one claim whose text contains ``claim`` held over ``seeds`` seeds, by a margin of more
    than 3 standard errors, so that a small change in the libraries' numerics does not flip it."""
    found = [c for c in results if claim in c.claim]
    assert len(found) == 1 and found[0].held, claims.table(results).to_string()
    numbers = found[0].numbers
    assert numbers["seeds"] == seeds and numbers["mean_diff"] > 3 * numbers["se"], numbers
