"""IMN-Net's claim checks (tfrec_pkg/claims/imn_checks.py) on per-seed tables: each claim holds
in the paper's direction and fails the other way; only claims whose models ran are tested; the
sequence baselines run on next-item rows of the same stream."""
import numpy as np
import pandas as pd
import pytest

from tfrec_pkg.claims import imn_checks
from tfrec_pkg.data.synthetic.resource_limited import resource_limited
from tfrec_pkg.data.tbatch_windows import WindowedStream, next_item_data


def _table(gain: float, resource_gain: float | None = None) -> pd.DataFrame:
    """IMN-Net ``gain`` above every other model on every metric (``resource_gain`` above IMN-Net*)."""
    rng = np.random.default_rng(0)
    rows = []
    for s in range(5):
        base = 0.1 + 0.01 * rng.normal()
        for name in imn_checks.VARIANTS:
            up = gain if name == "IMN-Net" else 0.0
            if name == "IMN-Net*" and resource_gain is not None:
                up = gain - resource_gain
            rows.append({"model": name, "seed": s, **{m: base + up + 0.002 * rng.normal() for m in imn_checks.METRICS}})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("gain, held", [(0.02, True), (-0.02, False)])
def test_claims_follow_the_papers_direction(monkeypatch, gain, held):
    monkeypatch.setattr(imn_checks, "results", lambda **kw: _table(gain))
    result = imn_checks.checks()
    assert [c.claim.split(" (")[0] for c in result] == ["IMN-Net recall@10 > JODIE", "IMN-Net ndcg@10 > JODIE",
                                                         "IMN-Net recall@10 > IMN-Net*"]
    assert all(c.held is held for c in result), [(c.claim, c.held) for c in result]
    assert list(result.means.index) == sorted(imn_checks.VARIANTS) and "recall@10 sd" in result.means


def test_the_resource_claim_is_its_own_test(monkeypatch):
    # IMN-Net ahead of JODIE but not of IMN-Net*: the branch claim fails alone
    monkeypatch.setattr(imn_checks, "results", lambda **kw: _table(0.02, resource_gain=-0.01))
    held = {c.claim.split(" (")[0]: c.held for c in imn_checks.checks()}
    assert held == {"IMN-Net recall@10 > JODIE": True, "IMN-Net ndcg@10 > JODIE": True,
                    "IMN-Net recall@10 > IMN-Net*": False}


def test_only_claims_whose_models_ran(monkeypatch):
    table = _table(0.02)
    monkeypatch.setattr(imn_checks, "results", lambda **kw: table[table["model"].isin(["IMN-Net", "JODIE"])])
    assert [c.claim.split(" (")[0] for c in imn_checks.checks(only=("IMN-Net", "JODIE"))] == [
        "IMN-Net recall@10 > JODIE", "IMN-Net ndcg@10 > JODIE"]


def test_unknown_variants_are_refused():
    with pytest.raises(ValueError, match="unknown variants"):
        imn_checks.results(variants=("IMN-Net", "JODIE++"), num_seeds=1)


def test_next_item_rows_rank_the_streams_test_interactions():
    data = resource_limited(num_users=15, num_items=30, num_events=800, seed=1)
    stream = WindowedStream.from_stream(data, parts=40)
    train, val, test = next_item_data(stream, max_history=5).splits()
    for split, name in ((val, "val"), (test, "test")):  # every interaction of the split, in time order
        np.testing.assert_array_equal(split.frame["item_id"], data.frame["item_id"][stream.split == name])
    # training rows: every interaction with an earlier one of its user
    first = ~data.frame["user_id"].duplicated().to_numpy()
    assert len(train) == int(np.sum((stream.split == "train") & ~first))
    row = test.frame.iloc[-1]
    user_items = data.frame["item_id"][data.frame["user_id"] == row["user_id"]].to_numpy()
    np.testing.assert_array_equal(row["hist_item_ids"][row["hist_item_ids"] >= 0], user_items[-6:-1])
    assert set(train.vocab) == {"user", "item"} and len(test.items) == data.frame["item_id"].nunique()
