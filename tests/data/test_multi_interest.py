"""Planted multi-interest purchase data for SUM (tfrec_pkg/data/synthetic/multi_interest.py):
determinism, the SUM Appendix A.1 layout (1 positive + 4 popularity negatives per user, user
split 70/15/15), bursty histories, and the known Bayes-optimal gAUC."""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401

from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg import specs
from tfrec_pkg.data.synthetic import multi_interest
from tfrec_pkg.evaluation import metrics
from synthetic_test_utils import assert_deterministic_by_seed

SMALL = dict(num_users=200, num_items=300, num_topics=10, seq_len=40, max_history=20)
SCALARS = ["user_id", "item_id", "category_id", "timestamp", "label", "true_prob"]
LISTS = ["hist_item_ids", "hist_category_ids", "user_interests", "user_interest_weights"]


@pytest.fixture(scope="module")
def default_data():
    return multi_interest(seed=0)


def test_deterministic_by_seed():
    a, b, c = multi_interest(seed=3, **SMALL), multi_interest(seed=3, **SMALL), multi_interest(seed=4, **SMALL)
    assert_deterministic_by_seed(a, b, c, SCALARS, LISTS)


def test_specs_and_split_datasets():
    data = multi_interest(seed=1, **SMALL)
    assert data.specs == specs.click_history(20)
    assert [s.name for s in data.specs] == ["user_id", "item_id", "category_id", "hist_item_ids",
                                            "hist_category_ids"]
    for split in data.splits():
        assert len(split) > 0
        batch = next(iter(split.dataset(8)))
        for name in ("user_id", "item_id", "category_id"):
            assert batch[name].shape == (8,) and batch[name].dtype.name == "int64"
        for name in ("hist_item_ids", "hist_category_ids"):
            assert batch[name].shape == (8, 20) and batch[name].dtype.name == "int64"
        assert batch["label"].shape == (8,) and batch["label"].dtype.name == "float32"
        assert np.isfinite(split.true_probabilities).all()


def test_one_positive_and_negatives_per_user():
    data = multi_interest(seed=2, negatives=4, **SMALL)
    f = data.frame
    per_user = f.groupby("user_id")["label"].agg(["sum", "count"])
    assert len(per_user) == SMALL["num_users"]
    assert (per_user["sum"] == 1).all() and (per_user["count"] == 5).all()
    pos = f[f["label"] == 1].set_index("user_id")["item_id"]
    assert (f.loc[f["label"] == 0, "item_id"].to_numpy() != f.loc[f["label"] == 0, "user_id"].map(pos)).all()
    # The positive's topic (= category) is one of the user's interests.
    positives = f[f["label"] == 1]
    assert all(c in set(i) for c, i in zip(positives["category_id"], positives["user_interests"]))
    # Categories agree with the item table; interests are 2-4 topics with weights summing to 1.
    cat_of = dict(zip(data.items["item_id"], data.items["category_id"]))
    assert (f["category_id"] == f["item_id"].map(cat_of)).all()
    assert all(2 <= len(i) <= 4 for i in f["user_interests"])
    assert np.allclose([w.sum() for w in f["user_interest_weights"]], 1.0)


def test_true_prob_is_zero_outside_the_live_interests():
    f = multi_interest(seed=2, **SMALL).frame
    # live interests: the user's interests minus the one that ended (interest drift)
    inside = np.array([c in set(i) - {s} for c, i, s in zip(f["category_id"], f["user_interests"],
                                                             f["stale_interest"])])
    p = f["true_prob"].to_numpy()
    assert (p[~inside] == 0).all() and (p[inside] > 0).all() and (p <= 1).all()


def test_history_left_aligned_and_truncated():
    # seq_len 30 < max_history 50: histories are shorter than L, so they are padded.
    data = multi_interest(seed=5, num_users=100, num_items=200, num_topics=8, seq_len=30, max_history=50)
    f = data.frame
    lengths = f["hist_item_ids"].map(len).to_numpy()
    assert lengths.max() <= 30 and lengths.min() >= 18  # U(0.6, 1.0) * seq_len page views
    arrays = frame_to_arrays(f, data.specs)
    hist = arrays["hist_item_ids"]
    assert hist.shape == (len(f), 50)
    real = hist != -1
    assert (real.sum(axis=1) == lengths).all()
    assert (real == (np.arange(50) < lengths[:, None])).all()  # real values first, padding after
    assert all(np.array_equal(h[:n], x) for h, n, x in zip(hist, lengths, f["hist_item_ids"]))
    # Truncation keeps the most recent max_history page views.
    short = multi_interest(seed=5, num_users=100, num_items=200, num_topics=8, seq_len=30, max_history=10)
    assert (short.frame["hist_item_ids"].map(len) == 10).all()
    assert all(np.array_equal(s, x[-10:]) for s, x in zip(short.frame["hist_item_ids"], f["hist_item_ids"]))
    # A history event's category is its item's category (its true topic).
    cat_of = dict(zip(data.items["item_id"], data.items["category_id"]))
    assert all([cat_of[i] for i in h] == list(c) for h, c in zip(f["hist_item_ids"], f["hist_category_ids"]))


def test_histories_come_in_bursts(default_data):
    f = default_data.frame[default_data.frame["label"] == 1]
    same = np.mean([np.mean(c[1:] == c[:-1]) for c in f["hist_category_ids"]])
    print(f"\nconsecutive same-topic fraction: {same:.3f}")
    assert same > 0.6


def test_users_disjoint_across_splits(default_data):
    users = {name: set(default_data.frame.loc[default_data.split_of == name, "user_id"])
             for name in ("train", "val", "test")}
    assert not users["train"] & users["val"] and not users["train"] & users["test"]
    assert not users["val"] & users["test"]
    assert [len(users[n]) for n in ("train", "val", "test")] == [2100, 450, 450]


def test_bayes_gauc_beats_history_heuristic(default_data):
    f = default_data.frame
    y, users = f["label"].to_numpy(), f["user_id"].to_numpy()
    bayes = metrics.gauc(y, f["true_prob"].to_numpy(), users)
    # Share of the history in the candidate's category: sees interests only through the history.
    heuristic = np.array([np.mean(h == c) if len(h) else 0.0
                          for h, c in zip(f["hist_category_ids"], f["category_id"])])
    heur = metrics.gauc(y, heuristic, users)
    test = default_data.splits()[2]
    print(f"\nBayes gAUC {bayes:.4f} (test split {test.bayes_optimal()['gauc']:.4f}), "
          f"history heuristic gAUC {heur:.4f}")
    assert bayes > 0.75
    assert 0.6 < heur < bayes


def test_generates_3000_users_quickly():
    import time

    start = time.perf_counter()
    data = multi_interest(num_users=3000, seed=7)
    assert len(data.frame) == 15_000
    assert time.perf_counter() - start < 5.0


def test_stale_interest_is_never_purchased_and_only_old():
    data = multi_interest(seed=4, num_users=300, num_items=400, seq_len=60, max_history=60)
    f = data.frame
    positives = f[f["label"] == 1]
    assert (positives["category_id"] != positives["stale_interest"]).all()
    assert (positives["stale_interest"] >= 0).all()
    # no burst of the stale interest starts in the last 40 % of the stream; only bursts that
    # started earlier and run over, and noise events (10 %, uniform over 20 topics), carry it there
    late_share = np.mean([np.mean(np.asarray(h)[int(0.6 * len(h)) + 5:] == s)
                          for h, s in zip(positives["hist_category_ids"], positives["stale_interest"])])
    early_share = np.mean([np.mean(np.asarray(h)[:int(0.6 * len(h))] == s)
                           for h, s in zip(positives["hist_category_ids"], positives["stale_interest"])])
    print(f"stale interest share: early {early_share:.3f}, late {late_share:.3f}")
    assert late_share < early_share / 4
    # one of the four negatives per user is an impression from the ended interest
    negatives = f[f["label"] == 0]
    per_user = (negatives["category_id"] == negatives["stale_interest"]).groupby(negatives["user_id"]).sum()
    assert (per_user >= 1).all()
    without = multi_interest(seed=4, num_users=50, stale_interest=False).frame
    assert (without["stale_interest"] == -1).all()
