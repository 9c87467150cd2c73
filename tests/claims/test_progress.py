"""What ``tfrec claims`` says about its time (tfrec_pkg/claims/__init__.py): before it starts,
how long the model's recorded run took; after each seed, the time so far and the time left."""
from tfrec_pkg import claims
from tfrec_pkg.models import registry


def test_each_seed_prints_the_time_so_far_and_the_time_left(capsys):
    clock = iter([0.0, 60.0, 120.0, 300.0]).__next__   # the start, then after each seed's work
    assert list(claims.seeds(7, 3, clock=clock)) == [7, 8, 9]
    assert capsys.readouterr().out.splitlines() == [
        "seed 7: done (1 of 3), 60 s so far; about 2 min left for the other seeds",
        "seed 8: done (2 of 3), 2 min so far; about 60 s left for the other seeds",
        "seed 9: done (3 of 3), 5 min so far"]


def test_the_estimate_is_the_recorded_runs_time():
    assert claims.names()
    for name in claims.names():
        minutes = registry.entry(name).claims_minutes
        assert minutes is not None, f"{name}: register(..., claims_minutes=) is the recorded run's time"
        assert f"about {minutes:.0f} min (its last recorded run" in claims.estimate(name), name
        quick = claims.estimate(name, quick=True)
        assert quick.startswith(f"claims {name} --quick: {claims.NUM_SEEDS} seeds") and " min" not in quick
