"""Planted resource-limited stream (tfrec_pkg/data/synthetic/resource_limited.py): budgets
replayed from the planted tables (refill over time, depletion by purchases only), purchases only
when affordable, stock and listing respected, every event's probability and rank recomputed
from the module docstring's formula, the click/purchase mix, and the resource effect itself
(budget, prices looked at and purchase rate right after a purchase; the value of knowing the
budget for next-item ranking) over several seeds."""
import numpy as np
import pandas as pd
import pytest

from tfrec_pkg.data import synthetic
from tfrec_pkg.data.synthetic import resource_limited
from tfrec_pkg.data.synthetic.resource_limited import ITEM_OFFSET, QUICK, USER_OFFSET, affordability
from tfrec_pkg.data.tbatch import tbatches


@pytest.fixture(scope="module")
def data():
    return resource_limited(**QUICK, seed=1)


def test_registered_and_shaped(data):
    assert synthetic.resource_limited is resource_limited
    f = data.frame
    assert list(f.columns[:4]) == ["user_id", "item_id", "timestamp", "action"] and len(f) == QUICK["num_events"]
    assert (np.diff(f["timestamp"]) >= 0).all() and set(f["action"]) == {0, 1}
    assert data.features.shape == (len(f), 1 + 8) and data.features.dtype == np.float32
    np.testing.assert_allclose(data.features[:, 1:].sum(axis=1), 1.0)  # one-hot category
    assert 0.02 < f["action"].mean() < 0.08   # a few per cent purchases (CZB: 2.42 %)
    split = data.split_of()
    assert (split == "train").mean() == pytest.approx(0.8, abs=0.01)
    assert next(tbatches(f["user_id"], f["item_id"])).size > 1


def test_deterministic_by_seed(data):
    again, other = resource_limited(**QUICK, seed=1), resource_limited(**QUICK, seed=2)
    pd.testing.assert_frame_equal(again.frame, data.frame)
    np.testing.assert_array_equal(again.features, data.features)
    assert not other.frame["item_id"].equals(data.frame["item_id"])


def test_budgets_replay_from_the_planted_tables(data):
    """b = min(C_u, b_prev + r_u * (t - t_prev)), minus the price at a purchase; clicks change nothing."""
    f, w = data.frame, data.world
    price = data.items["price"].to_numpy()
    budget = w["initial_budget"].copy()
    last = np.zeros(len(budget))
    for u, i, t, a, b in zip(f["user_id"] - USER_OFFSET, f["item_id"] - ITEM_OFFSET, f["timestamp"], f["action"],
                             f["true_budget"]):
        now = min(w["capacity"][u], budget[u] + w["refill_rate"][u] * (t - last[u]))
        assert b == pytest.approx(now, rel=1e-9)
        if a == 1:
            assert price[i] <= now   # only what the budget allows
            now -= price[i]
        budget[u], last[u] = now, t
    np.testing.assert_allclose(f["true_purchase_prob"],
                               np.where(f["price"] <= f["true_budget"], w["buy_prob"] * f["price"] / f["true_budget"], 0))


def test_stock_and_listing(data):
    f, w, items = data.frame, data.world, data.items
    event = np.arange(len(f))
    item = f["item_id"].to_numpy() - ITEM_OFFSET
    assert (w["listed_event"][item] <= event).all() and (event < w["sold_out_event"][item]).all()
    sold = np.bincount(item[f["action"] == 1], minlength=len(items))
    assert (sold <= items["stock"]).all()
    gone = w["sold_out_event"] <= len(f)
    np.testing.assert_array_equal(sold[gone], items["stock"][gone])   # sold out = every unit sold
    assert 0.1 < gone.mean() < 0.9   # items do leave the catalogue, the catalogue does not empty


def test_probabilities_and_ranks_are_the_planted_formula(data):
    f, w, items = data.frame, data.world, data.items
    cat, price = items["category"].to_numpy(), items["price"].to_numpy()
    rng = np.random.default_rng(0)
    for e in rng.choice(len(f), size=200, replace=False):
        u, i = f["user_id"].iloc[e] - USER_OFFSET, f["item_id"].iloc[e] - ITEM_OFFSET
        available = (w["listed_event"] <= e) & (e < w["sold_out_event"])
        weight = (np.exp(w["taste"][u, cat] + items["quality"].to_numpy())
                  * np.minimum(1.0, ((f["true_budget"].iloc[e] + w["browse_margin"]) / price) ** w["price_sensitivity"])
                  * available)
        p = weight / weight.sum()
        assert f["true_prob"].iloc[e] == pytest.approx(p[i], rel=1e-9)
        assert f["true_rank"].iloc[e] == (p >= p[i]).sum()
    assert (f["true_rank_hr10"] == (f["true_rank"] <= 10)).all()
    assert (f["blind_rank"] >= 1).all() and (f["true_rank"] >= 1).all()


def test_resource_effect_is_real():
    """Right after a purchase the budget is low, expensive items are rarely looked at and
    purchases are rarer; knowing the budget ranks the next item better than the best
    budget-blind ranking. Per seed where the effect is several s.e. at QUICK size (about 400
    purchases); the purchase rate right after a purchase (s.e. ~0.007) pooled over three seeds."""
    rates = []
    for seed in range(3):
        d = resource_limited(**QUICK, seed=seed)
        e = d.resource_effect()
        assert e["purchases"] > 300
        assert e["budget_share_after"] < e["budget_share_before"] - 0.3
        assert e["expensive_share_after"] < 0.6 * e["expensive_share_before"]
        assert e["log_price_after"] < e["log_price_before"] - 0.1
        rates.append((e["purchase_rate_after"], e["purchase_rate_otherwise"]))
        diff = (d.frame["true_rank"] <= 10).astype(float) - (d.frame["blind_rank"] <= 10)
        assert diff.mean() > 3 * diff.std() / np.sqrt(len(diff))
        bo = d.bayes_optimal()
        assert 0.1 < bo["hr@10"] < 0.6 and bo["ndcg@10"] > bo["blind_ndcg@10"]
    after, otherwise = np.mean(rates, axis=0)
    assert after < 0.7 * otherwise


def test_affordability():
    np.testing.assert_allclose(affordability(1.0, np.array([0.5, 1.25, 2.5]), 3.0, 0.25), [1.0, 1.0, 0.125])


@pytest.mark.parametrize("kwargs, match", [({"num_users": 0}, "num_users"), ({"buy_prob": 1.5}, "buy_prob"),
                                           ({"capacity": 0}, "capacity"), ({"stock_mean": 0.5}, "stock_mean"),
                                           ({"browse_margin": 0}, "browse_margin")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resource_limited(**{**QUICK, **kwargs})
