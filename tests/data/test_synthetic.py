"""Planted CTR data (tfrec_pkg/data/synthetic): determinism, temporal splits, train-only
vocabularies, and the known label-generating probabilities."""
import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401

from tfrec_pkg.data.synthetic import ctr_with_history
from tfrec_pkg.evaluation import metrics
from tfrec_pkg.features import OOV_INDEX

SMALL = dict(num_users=60, impressions_per_user=10, num_items=50)
SCALARS = ["user_id", "item_id", "category_id", "timestamp", "true_prob", "label"]


def test_deterministic_by_seed():
    a = ctr_with_history(seed=5, **SMALL)
    b = ctr_with_history(seed=5, **SMALL)
    c = ctr_with_history(seed=6, **SMALL)
    assert len(a.frame) == 600
    pd.testing.assert_frame_equal(a.frame[SCALARS], b.frame[SCALARS])
    for col in ("hist_item_ids", "hist_category_ids"):
        assert all(list(x) == list(y) for x, y in zip(a.frame[col], b.frame[col]))
    np.testing.assert_array_equal(a.split_of, b.split_of)
    pd.testing.assert_frame_equal(a.items, b.items)
    assert not a.frame["true_prob"].equals(c.frame["true_prob"])


def test_frame_shape_and_history_consistency():
    data = ctr_with_history(max_history=4, seed=1, **SMALL)
    f = data.frame
    assert f["hist_item_ids"].map(len).max() <= 4
    assert (f["hist_item_ids"].map(len) == 0).any()  # some impressions have no history
    cat_of = dict(zip(data.items["item_id"], data.items["category_id"]))
    assert (f["category_id"] == f["item_id"].map(cat_of)).all()
    for h, hc in zip(f["hist_item_ids"], f["hist_category_ids"]):
        assert [cat_of[i] for i in h] == list(hc)
    assert set(f["label"].unique()) <= {0, 1}
    assert [s.name for s in data.specs] == ["user_id", "item_id", "category_id", "hist_item_ids",
                                            "hist_category_ids"]


def test_splits_are_temporal_per_user():
    train, val, test = ctr_with_history(seed=2, **SMALL).splits()
    assert (len(train), len(val), len(test)) == (480, 60, 60)
    users = set(train.frame["user_id"])
    assert users == set(test.frame["user_id"]) == set(val.frame["user_id"])
    t_max = train.frame.groupby("user_id")["timestamp"].max()
    v_min, v_max = val.frame.groupby("user_id")["timestamp"].min(), val.frame.groupby("user_id")["timestamp"].max()
    s_min = test.frame.groupby("user_id")["timestamp"].min()
    assert (t_max < s_min.loc[t_max.index]).all()
    assert (t_max < v_min.loc[t_max.index]).all()
    assert (v_max < s_min.loc[v_max.index]).all()
    assert train.name == "train" and test.name == "test"


def test_vocabulary_is_fitted_on_train_only():
    # many items, few users: some items are only ever seen in the test split
    data = ctr_with_history(num_users=20, impressions_per_user=10, num_items=2000, seed=0)
    train, val, test = data.splits()
    assert train.vocab is test.vocab is val.vocab
    vocab = train.vocab["item"]
    train_items = set(train.frame["item_id"]) | {int(i) for h in train.frame["hist_item_ids"] for i in h}
    assert set(vocab.ids) == train_items
    test_only = sorted(set(test.frame["item_id"]) - train_items)
    assert test_only, "the check needs an item that only appears in the test split"
    np.testing.assert_array_equal(vocab.lookup(test_only), np.full(len(test_only), OOV_INDEX))
    assert (vocab.lookup(sorted(train_items)) >= 2).all()
    assert set(train.vocab["user"].ids) == set(train.frame["user_id"])
    train_cats = set(train.frame["category_id"]) | {c for h in train.frame["hist_category_ids"] for c in h}
    assert set(train.vocab["category"].ids) == train_cats


def test_true_probabilities_bayes_auc_and_calibration():
    data = ctr_with_history(num_users=400, impressions_per_user=10, num_items=50, seed=0)
    p, y = data.frame["true_prob"].to_numpy(), data.frame["label"].to_numpy()
    assert ((p > 0) & (p < 1)).all()
    assert metrics.auc(y, p) > 0.6
    assert abs(y.mean() - p.mean()) < 0.03
    train, _, test = data.splits()
    best = train.bayes_optimal()
    assert best["auc"] > 0.6 and best["gauc"] > 0.6 and 0 < best["logloss"] < np.log(2)
    np.testing.assert_array_equal(test.true_probabilities, test.frame["true_prob"].to_numpy())


def test_history_drives_the_click_probability():
    """Planted effect: more same-category behaviours -> higher true probability."""
    data = ctr_with_history(num_users=200, impressions_per_user=10, num_items=50, seed=4)
    f = data.frame
    same = np.array([sum(c == t for c in h) for h, t in zip(f["hist_category_ids"], f["category_id"])])
    assert f["true_prob"][same >= 3].mean() > f["true_prob"][same == 0].mean() + 0.2


def test_split_without_true_prob_raises():
    train, _, _ = ctr_with_history(seed=0, **SMALL).splits()
    train.frame = train.frame.drop(columns="true_prob")
    with pytest.raises(ValueError, match="true_prob"):
        train.true_probabilities
