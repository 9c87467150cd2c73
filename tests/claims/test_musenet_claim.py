"""MuSENet's headline claim at CI size (tfrec_pkg/claims/musenet_checks.py): MuSENet (soft)
beats BaseModel on test AUC over 5 seeds of the quick planted scenario data (300 users):
one-sided paired t-test at claims.ALPHA, and a margin of more than 3 standard errors so that a
small change in the libraries' numerics does not flip it. Pilot at this size (seeds 0-4):
MuSENet (soft) 0.674, 0.649, 0.682, 0.668, 0.655 against BaseModel 0.620, 0.610, 0.657, 0.594,
0.633 (mean difference 0.043, 4.6 s.e.). The full table (DIN, DCN-V2, PLE, Table 3's ablations,
scenario recovery, the sensitivity sweep) is `tfrec claims musenet`, recorded in CLAIMS.md."""
from tfrec_pkg import claims
from tfrec_pkg.claims import musenet_checks


def test_musenet_beats_basemodel_on_quick_planted_data(capsys):
    results = musenet_checks.checks(quick=True, seed=0, only=("MuSENet (soft)", "BaseModel"))
    with capsys.disabled():
        print("\n" + claims.table(results).to_string(index=False))
        print(claims.summary(results))
    table_claims = [c for c in results if "BaseModel" in c.claim]
    assert len(table_claims) == 1 and table_claims[0].held, claims.table(results).to_string()
    numbers = table_claims[0].numbers
    assert numbers["seeds"] == claims.NUM_SEEDS and numbers["mean_diff"] > 3 * numbers["se"], numbers
