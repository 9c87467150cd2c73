"""Planted item-provider sequences for IPSRec (tfrec_pkg/data/synthetic/providers.py):
determinism, left-aligned item + provider histories, leave-one-out by time, and the known
best possible HR@10."""
import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401

from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg import specs
from tfrec_pkg.data.synthetic import providers
from tfrec_pkg.evaluation import metrics
from synthetic_test_utils import assert_deterministic_by_seed

SMALL = dict(num_users=150, num_items=200, num_providers=20, num_topics=5, seq_len=12, max_history=6)
SCALARS = ["user_id", "item_id", "provider_id", "timestamp", "label", "true_prob", "true_rank",
           "true_rank_hr10", "current_topic"]
LISTS = ["hist_item_ids", "hist_provider_ids", "loyal_providers", "loyalty_weights"]


@pytest.fixture(scope="module")
def data():
    return providers(num_users=400, num_items=300, num_providers=30, num_topics=6, seq_len=15,
                     max_history=8, seed=0)


def test_deterministic_by_seed():
    a, b, c = providers(seed=3, **SMALL), providers(seed=3, **SMALL), providers(seed=4, **SMALL)
    assert_deterministic_by_seed(a, b, c, SCALARS, LISTS)


def test_specs_and_split_datasets():
    data = providers(seed=1, **SMALL)
    assert data.specs == specs.next_item(6)
    assert [s.name for s in data.specs] == ["user_id", "hist_item_ids", "hist_provider_ids",
                                            "item_id", "provider_id"]
    assert [s.vocabulary for s in data.specs] == ["user", "item", "provider", "item", "provider"]
    train, val, test = data.splits()
    assert len(train) == SMALL["num_users"] * (SMALL["seq_len"] - 3)
    assert len(val) == len(test) == SMALL["num_users"]
    for split in (train, val, test):
        batch = next(iter(split.dataset(8)))
        for name in ("user_id", "item_id", "provider_id"):
            assert batch[name].shape == (8,) and batch[name].dtype.name == "int64"
        for name in ("hist_item_ids", "hist_provider_ids"):
            assert batch[name].shape == (8, 6) and batch[name].dtype.name == "int64"
        assert batch["label"].shape == (8,)
        p = split.true_probabilities
        assert np.isfinite(p).all() and (p > 0).all() and (p <= 1).all()
    assert list(data.items.columns) == ["item_id", "provider_id"]
    assert len(data.items) == SMALL["num_items"] and data.items["item_id"].is_unique
    assert (data.items["item_id"] >= 500_000).all() and (data.items["provider_id"] >= 9_000).all()
    assert (data.frame["user_id"] >= 1_000_000).all()


def test_histories_left_aligned_with_aligned_providers(data):
    f = data.frame
    provider_of = dict(zip(data.items["item_id"], data.items["provider_id"]))
    assert (f["provider_id"] == f["item_id"].map(provider_of)).all()  # the target's provider
    lengths = f["hist_item_ids"].map(len).to_numpy()
    np.testing.assert_array_equal(lengths, np.minimum(f["timestamp"].to_numpy(), 8))
    arrays = frame_to_arrays(f, data.specs)
    items, provs = arrays["hist_item_ids"], arrays["hist_provider_ids"]
    assert items.shape == provs.shape == (len(f), 8)
    real = np.arange(8) < lengths[:, None]
    assert ((items != -1) == real).all() and ((provs != -1) == real).all()  # real first, -1 after
    mapped = np.vectorize(lambda i: provider_of.get(i, -1))(items)
    np.testing.assert_array_equal(provs, mapped)  # each history provider is its item's provider
    # The history is the user's previous events, most recent last: the previous row's target
    # is the last history item, and the window slides by one.
    same_user = f["user_id"].to_numpy()[1:] == f["user_id"].to_numpy()[:-1]
    last = items[np.arange(len(f)), lengths - 1][1:]
    np.testing.assert_array_equal(last[same_user], f["item_id"].to_numpy()[:-1][same_user])
    full = lengths[1:] == 8
    k = np.flatnonzero(same_user & full & (lengths[:-1] == 8))
    np.testing.assert_array_equal(items[k + 1, :7], items[k, 1:])


def test_leave_one_out_by_time(data):
    f = data.frame.assign(split=data.split_of)
    seq_len = 15
    for split, t in (("test", seq_len - 1), ("val", seq_len - 2)):
        part = f[f["split"] == split]
        assert part["user_id"].is_unique and len(part) == 400
        assert (part["timestamp"] == t).all()
    train = f[f["split"] == "train"]
    assert train.groupby("user_id")["timestamp"].agg(["min", "max", "count"]).eq(
        [1, seq_len - 3, seq_len - 3]).all().all()
    # no training row is at or after its user's validation / test event
    test_t = f[f["split"] == "test"].set_index("user_id")["timestamp"]
    val_t = f[f["split"] == "val"].set_index("user_id")["timestamp"]
    assert (train["timestamp"].to_numpy() < train["user_id"].map(val_t).to_numpy()).all()
    assert (val_t < test_t[val_t.index]).all()
    # The test target is the user's last event: it is the last item of no history; the test
    # history holds the validation target as its most recent item.
    test = f[f["split"] == "test"].set_index("user_id")
    val = f[f["split"] == "val"].set_index("user_id")
    assert all(h[-1] == i for h, i in zip(test["hist_item_ids"], val.loc[test.index, "item_id"]))


def test_best_possible_hr10_beats_provider_heuristic(data):
    f = data.frame
    test = f[data.split_of == "test"]
    bound = test["true_rank_hr10"].mean()
    bound_all = f["true_rank_hr10"].mean()
    # Provider-only popularity heuristic: items of the providers most frequent in the history
    # first, then by item popularity among training targets.
    items = data.items
    train = f[data.split_of == "train"]
    pop = items["item_id"].map(train["item_id"].value_counts()).fillna(0).to_numpy()
    prov_index = pd.Index(np.unique(items["provider_id"]))
    item_prov = prov_index.get_indexer(items["provider_id"])
    counts = np.zeros((len(test), len(prov_index)))
    for r, h in enumerate(test["hist_provider_ids"]):
        np.add.at(counts[r], prov_index.get_indexer(h), 1.0)
    scores = counts[:, item_prov] * (pop.max() + 1) + pop[None, :]
    target = pd.Index(items["item_id"]).get_indexer(test["item_id"])
    ranks = metrics.rank_of_target(scores, target)
    heur = metrics.hit_rate(ranks, 10)
    top_pop = metrics.hit_rate(metrics.rank_of_target(np.broadcast_to(pop, scores.shape), target), 10)
    print(f"\nbest possible HR@10 (test) {bound:.4f} (all rows {bound_all:.4f}), "
          f"provider-only popularity heuristic HR@10 {heur:.4f}, item popularity HR@10 {top_pop:.4f}")
    assert 0.2 < bound < 1.0
    assert heur < bound and top_pop < bound
    # true_rank agrees with true_rank_hr10, and the target is never ranked below a zero-
    # probability item (true_prob > 0 for every drawn target)
    assert ((f["true_rank"] <= 10) == (f["true_rank_hr10"] == 1)).all()
    assert (f["true_rank"] >= 1).all() and (f["true_rank"] <= len(items)).all()


def test_loyal_providers_dominate_histories(data):
    f = data.frame[data.split_of == "test"]
    share = np.mean([np.isin(h, lp).mean() for h, lp in zip(f["hist_provider_ids"], f["loyal_providers"])])
    print(f"\nshare of history events from a loyal provider: {share:.3f}")
    assert share > 0.45  # >= 0.5 by the provider route, plus topic draws that happen to match
    assert all(2 <= len(lp) <= 3 for lp in f["loyal_providers"])
    assert np.allclose([w.sum() for w in f["loyalty_weights"]], 1.0)
    assert all((np.diff(w) <= 0).all() for w in f["loyalty_weights"])  # heaviest first


def test_bad_arguments():
    with pytest.raises(ValueError, match="seq_len"):
        providers(seq_len=3)
    with pytest.raises(ValueError, match="num_topics"):
        providers(num_topics=1)
    with pytest.raises(ValueError, match="num_items"):
        providers(num_items=50, num_providers=100)
