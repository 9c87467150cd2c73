"""Planted multi-scenario data (tfrec_pkg/data/synthetic/scenarios.py): the spec and pipeline
contract, every row's click probability recomputed from the planted tables with the module
docstring's formula, the repeat indicator and the repeat label by their definitions, the
predefined scenario's partial agreement, the Bayes scenario (the posterior's arg-max given
context and predefined scenario, recomputed with scipy), the temporal split and the argument checks."""
import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from scipy.stats import multivariate_normal

import tfrec_pkg  # noqa: F401

from tfrec_pkg import specs
from tfrec_pkg.data.synthetic import scenarios
from tfrec_pkg.data.synthetic.scenarios import CATEGORY_OFFSET, ITEM_OFFSET, USER_OFFSET
from tfrec_pkg.evaluation import metrics

SMALL = dict(num_users=120, num_items=150, num_categories=8, impressions_per_user=20, max_history=6)


@pytest.fixture(scope="module")
def data():
    return scenarios(seed=1, **SMALL)


def test_spec_columns_and_batches(data):
    assert [s.name for s in data.specs] == [s.name for s in specs.scenario_click(6)]
    assert {s.name for s in data.specs} <= set(data.frame.columns)
    train, _, _ = data.splits()
    batch = next(iter(train.dataset(8)))
    assert batch["hist_item_ids"].shape == (8, 6) and batch["context_price"].dtype.name == "float32"
    assert set(train.vocab) == {"user", "gender", "age", "level", "item", "category", "slot", "scenario"}


def test_click_probability_is_the_planted_formula(data):
    f, w = data.frame, data.world
    item = f["item_id"].to_numpy() - ITEM_OFFSET
    cat = f["category_id"].to_numpy() - CATEGORY_OFFSET
    s = f["true_scenario"].to_numpy()
    same = np.array([np.sum(np.asarray(h) == c + CATEGORY_OFFSET) for h, c in zip(f["hist_category_ids"], cat)])
    want = (-1.5 + w["user_bias"][f["user_id"].to_numpy() - USER_OFFSET] + w["item_bias"][item]
            + 2.0 * np.tanh(same / 3.0) + w["affinity"][s, cat] + w["repeat_effect"][s] * f["true_is_repeat"])
    np.testing.assert_allclose(logit(f["true_prob"].to_numpy()), want, atol=1e-9)
    assert metrics.auc(f["label"], f["true_prob"]) > 0.75   # a strong, known signal


def test_repeat_indicator_and_repeat_label_by_definition(data):
    f = data.frame
    in_hist = [t in set(h) for t, h in zip(f["item_id"], f["hist_item_ids"])]
    np.testing.assert_array_equal(f["true_is_repeat"].astype(bool), in_hist)
    # rows whose history starts at the stream's start: r = share of events seen earlier in it
    short = f[f["hist_item_ids"].map(len) < 6]
    for hist, r in zip(short["hist_item_ids"], short["repeat_label"]):
        seen = [x in set(hist[:j]) for j, x in enumerate(hist)]
        assert r == pytest.approx(np.mean(seen) if len(hist) else 0.0, abs=1e-6)
    assert 0.05 < f["repeat_label"].mean() < 0.6 and f["true_is_repeat"].mean() > 0.1


def test_repeat_share_and_effect_differ_by_scenario(data):
    rates = data.frame.groupby("true_scenario")["true_is_repeat"].mean()
    assert rates.iloc[0] > rates.iloc[-1] + 0.1          # q_s falls from 0.5 to 0.1
    assert data.world["repeat_effect"][0] > 0 > data.world["repeat_effect"][-1]


def test_predefined_scenario_agrees_only_partly():
    always = scenarios(seed=2, predefined_agreement=1.0, **SMALL).frame
    np.testing.assert_array_equal(always["true_scenario"], always["predefined_scenario"])
    half = scenarios(seed=2, **SMALL).frame
    agree = (half["true_scenario"] == half["predefined_scenario"]).mean()
    assert 0.5 < agree < 0.75   # 0.5 linked + 0.5 x 1/4 by chance


def test_bayes_scenario_is_the_posterior_arg_max_given_context_and_predefined_scenario(data):
    f, w = data.frame, data.world
    k = len(w["context_mean"])
    ctx = f[[f"context_{n}" for n in specs.CONTEXT_NUMERIC]].to_numpy(np.float64)
    posterior = np.stack([multivariate_normal(w["context_mean"][s], np.eye(ctx.shape[1])).logpdf(ctx)
                          + np.log(w["slot_probs"][s][f["context_slot"]])
                          + np.log(np.where(f["predefined_scenario"] == s, 0.5, 0.0) + 0.5 / k) for s in range(k)], 1)
    # float32 context columns: a near-tie may fall either way
    assert (posterior.argmax(1) == f["bayes_scenario"]).mean() > 0.995
    truth = f["true_scenario"].to_numpy()
    assert (metrics.normalized_mutual_information(f["bayes_scenario"].to_numpy(), truth)
            > metrics.normalized_mutual_information(f["predefined_scenario"].to_numpy(), truth) + 0.2)


def test_temporal_split_and_determinism(data):
    f = data.frame.assign(split=data.split_of)
    for _, g in f.groupby("user_id"):
        last_train = g.loc[g.split == "train", "timestamp"].max()
        assert (g.loc[g.split != "train", "timestamp"] > last_train).all()
    pd.testing.assert_frame_equal(scenarios(seed=1, **SMALL).frame, data.frame)


@pytest.mark.parametrize("kwargs, match", [({"num_users": 0}, "num_users"), ({"predefined_agreement": 1.5}, "probability"),
                                           ({"num_scenarios": 2}, "num_scenarios")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        scenarios(**{**SMALL, **kwargs})
