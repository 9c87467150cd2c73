"""Ranking protocols (tfrec_pkg/evaluation/protocols.py) and the model's vocabulary: catalogue
items the model never saw in training are not candidates, and a target it never saw is a
miss (0 in HR, MRR and NDCG), against a numpy expectation. A stub model scores raw ids by a
fixed rule, so the expectation needs no TensorFlow model; the real next-item models are
checked the same way in tests/models/test_next_item.py."""
import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
from tfrec_pkg.data.synthetic.base import Split
from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.evaluation.protocols import known_items
from tfrec_pkg.evaluation.ranking import pessimistic_rank_np
from tfrec_pkg.features import FeatureSpec

CATALOGUE = np.arange(101, 111)          # 10 items
SEEN = [101, 102, 103, 104, 105, 106]    # the model's training vocabulary; 107..110 unseen
# Each case prefers the item nearest to its "taste"; targets 108 and 110 were never seen.
TASTE = np.array([103.0, 107.2, 105.4, 108.0, 101.0, 109.9, 104.6])
TARGET = np.array([103, 106, 105, 108, 102, 110, 104])


class _Stub:
    """Scores candidate c of a case with taste x as -|c - x| (raw ids, like score_candidates),
    and records every candidate matrix it is asked to score."""

    name = "stub"

    def __init__(self, vocab):
        self.vocab = vocab
        self.feature_spec = [FeatureSpec("item_id", "int64", vocabulary="item"), FeatureSpec("taste", "float32")]
        self.seen = []

    def score_candidates(self, features, candidates):
        ids = candidates["item_id"].numpy()
        taste = features["taste"].numpy()
        self.seen.append((taste, ids))
        return -np.abs(ids - taste[:, None])


def _Split():
    return Split("test", pd.DataFrame({"item_id": TARGET, "taste": TASTE.astype(np.float32), "label": 1}), [], {},
                 items=pd.DataFrame({"item_id": CATALOGUE, "provider_id": CATALOGUE % 3}))


def _expected(candidates, ks):
    """numpy: each case's target among ``candidates`` by -|c - taste|; a target outside them is a miss."""
    cand = np.asarray(candidates, dtype=np.float64)
    scores = -np.abs(cand[None] - TASTE.astype(np.float32)[:, None])
    inside = np.isin(TARGET, cand)
    t_score = -np.abs(TARGET - TASTE.astype(np.float32))
    ranks = np.maximum(pessimistic_rank_np(scores, t_score), 1)  # an outside target's rank is unused
    row = {}
    for k in ks:
        hit = inside & (ranks <= k)
        row[f"hr@{k}"] = hit.mean()
        row[f"mrr@{k}"] = np.where(hit, 1.0 / ranks, 0.0).mean()
        row[f"ndcg@{k}"] = np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0).mean()
    return row


def test_known_items_reads_the_vocabulary_of_the_item_feature():
    stub = _Stub({"item": Vocabulary(SEEN, "int64")})
    np.testing.assert_array_equal(known_items(stub, "item_id", CATALOGUE), np.isin(CATALOGUE, SEEN))
    assert known_items(_Stub({}), "item_id", CATALOGUE).all()          # no vocabulary: every item
    assert known_items(stub, "not_a_feature", CATALOGUE).all()


@pytest.mark.parametrize("ks", [(1, 3), (10,)])
def test_full_ranking_unseen_target_is_a_miss_and_unseen_items_are_no_candidates(ks):
    stub = _Stub({"item": Vocabulary(SEEN, "int64")})
    row = evaluate(stub, _Split(), "full_ranking", ks=ks).iloc[0]
    want = _expected(SEEN, ks)
    for key, value in want.items():
        assert row[key] == pytest.approx(value, abs=1e-12), key
    scored = np.concatenate([ids.ravel() for _, ids in stub.seen])
    assert set(scored) == set(SEEN)                                    # unseen items never scored
    tastes = np.concatenate([t for t, _ in stub.seen])
    np.testing.assert_array_equal(np.sort(tastes), np.sort(TASTE.astype(np.float32)[np.isin(TARGET, SEEN)]))
    # Every seen target ranks within the 6 known items, the two unseen ones never.
    if max(ks) >= len(SEEN):
        assert row[f"hr@{max(ks)}"] == pytest.approx(5 / 7)
    # 107 would outrank target 106 for taste 107.2: among every catalogue item the numbers differ.
    assert _expected(CATALOGUE, (1,))["hr@1"] != _expected(SEEN, (1,))["hr@1"]


def test_sampled_ranking_samples_known_items_only_and_counts_misses():
    stub = _Stub({"item": Vocabulary(SEEN, "int64")})
    row = evaluate(stub, _Split(), "sampled_ranking", ks=(1, 6), num_negatives=5, seed=3).iloc[0]
    taste = np.concatenate([t for t, _ in stub.seen])
    cand = np.concatenate([ids for _, ids in stub.seen])
    assert np.isin(cand, SEEN).all() and len(taste) == 5              # the 5 known targets only
    target = cand[:, 0]
    assert not (cand[:, 1:] == target[:, None]).any()                  # never the target as a negative
    ranks = pessimistic_rank_np(-np.abs(cand - taste[:, None]), -np.abs(target - taste))
    for k in (1, 6):
        assert row[f"hr@{k}"] == pytest.approx((ranks <= k).sum() / 7)
        assert row[f"mrr@{k}"] == pytest.approx(np.where(ranks <= k, 1.0 / ranks, 0.0).sum() / 7)
        assert row[f"ndcg@{k}"] == pytest.approx(np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0).sum() / 7)
    assert row["hr@6"] == pytest.approx(5 / 7)                          # 1 + 5 candidates: every known target


def test_without_a_vocabulary_the_whole_catalogue_ranks():
    """A model with no item vocabulary (e.g. ids hashed in the graph) keeps the old protocol."""
    stub = _Stub({})
    row = evaluate(stub, _Split(), "full_ranking", ks=(1, 10)).iloc[0]
    for key, value in _expected(CATALOGUE, (1, 10)).items():
        assert row[key] == pytest.approx(value, abs=1e-12), key
    assert row["hr@10"] == 1.0


def test_no_known_target_gives_zeros():
    stub = _Stub({"item": Vocabulary([999], "int64")})
    row = evaluate(stub, _Split(), "full_ranking", ks=(5,)).iloc[0]
    assert row["hr@5"] == row["mrr@5"] == row["ndcg@5"] == 0.0 and not stub.seen


def test_target_outside_the_catalogue_still_raises():
    split = _Split()
    split.items = split.items[split.items["item_id"] != 103]
    with pytest.raises(ValueError, match="not in the item catalogue"):
        evaluate(_Stub({"item": Vocabulary(SEEN, "int64")}), split, "full_ranking")

