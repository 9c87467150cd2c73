"""Shared next-item machinery (tfrec_pkg/models/next_item.py) and the GRU4Rec baseline:
blocked target ranks and the sampled-softmax (in-batch, log-Q) loss against numpy, the
sampled mode and GRU4Rec training on planted data, export with a serving_default sample
request that the exported signature accepts, and targets unseen in training (OOV): a finite
loss of 0 in both item losses, a miss in validation MRR@10 and in the test protocols."""
import json
import os

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg import export
from tfrec_pkg.data.synthetic.providers import providers
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.evaluation.metrics import rank_of_target
from tfrec_pkg.evaluation.ranking import pessimistic_rank_np
from tfrec_pkg.models.baselines.gru4rec import GRU4Rec, GRU4RecConfig
from tfrec_pkg.models.ipsrec import IPSRec, IPSRecConfig
from tfrec_pkg.training import train

L = 8


@pytest.fixture(scope="module")
def splits():
    return providers(num_users=150, num_items=60, num_providers=8, num_topics=4, seq_len=14, max_history=L,
                     seed=2).splits()


def _ipsrec(vocab, **changes):
    config = IPSRecConfig(max_history=L, item_dim=16, ffn_dim=32, dropout=0.1, top_k_max=20, epochs=1)
    return IPSRec(config.replace(**changes), vocab)


def test_target_ranks_match_numpy_across_row_blocks(splits):
    model = _ipsrec(splits[0].vocab)
    model(model.example_batch())
    rng = np.random.default_rng(0)
    n, size = 300, model.vocab["item"].size  # 300 rows: three blocks of 128, the last padded
    u = rng.normal(size=(n, 16)).astype(np.float32)
    target = rng.integers(2, size, n)
    table = model.item_embedding.embeddings.numpy()
    scores = u @ table.T
    scores[:, :2] = -np.inf  # padding and OOV rows never rank
    expected = rank_of_target(scores, target)
    got = model.target_ranks(tf.constant(u), tf.constant(target, tf.int64)).numpy()
    np.testing.assert_array_equal(got, expected)


def test_sampled_softmax_matches_numpy_log_q_with_accidental_hits(splits):
    model = _ipsrec(splits[0].vocab, item_loss="sampled_softmax")
    model(model.example_batch())
    size = model.vocab["item"].size
    prior = np.zeros(size, np.float32)
    prior[2:] = np.arange(size - 2) % 5
    model.target_counts.assign(prior)
    rng = np.random.default_rng(1)
    u = rng.normal(size=(6, 16)).astype(np.float32)
    target = np.array([2, 3, 2, 7, 9, 3])  # items 2 and 3 appear twice: accidental hits
    got = model.item_loss(tf.constant(u), tf.constant(target, tf.int64), training=True).numpy()

    counts = prior.copy()
    np.add.at(counts, target, 1.0)  # the batch is counted before it is used
    np.testing.assert_allclose(model.target_counts.numpy(), counts)
    p = (counts[target] + 1.0) / (counts.sum() + size)
    emb = model.item_embedding.embeddings.numpy()[target]
    logits = u @ emb.T - np.log(p)[None, :]
    same = target[:, None] == target[None, :]
    logits = np.where(same & ~np.eye(6, dtype=bool), np.finfo(np.float32).min, logits)
    diag = np.diag(logits)
    top = logits.max(1, keepdims=True)
    expected = -(diag - (top[:, 0] + np.log(np.exp(logits - top).sum(1))))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("make", [
    lambda v: _ipsrec(v, item_loss="sampled_softmax"),
    lambda v: GRU4Rec(GRU4RecConfig(max_history=L, item_dim=16, hidden_dim=24, epochs=4, top_k_max=20), v),
], ids=["ipsrec_sampled_softmax", "gru4rec"])
def test_trains_to_a_third_of_the_bayes_optimal_lift(splits, make):
    train_split, val, test = splits
    tf.keras.utils.set_random_seed(0)
    model = make(train_split.vocab)
    history = train(model, train_split, val, epochs=8, learning_rate=1e-2, patience=8, verbose=0)
    assert np.isfinite(history.history["ce"]).all() and "val_mrr_at_10" in history.history
    assert "val_ndcg_at_10" in history.history
    assert "mrr_at_10" not in history.history and "ndcg_at_10" not in history.history  # validation only
    row = evaluate(model, test, "full_ranking", ks=(10,)).iloc[0]
    chance, best = 10 / len(test.items), test.frame["true_rank_hr10"].mean()
    print(f"{model.name}: HR@10 {row['hr@10']:.3f} (chance {chance:.3f}, Bayes-optimal {best:.3f})")
    assert row["hr@10"] > chance + 0.35 * (best - chance)


def test_export_sample_request_fits_the_top_k_signature(splits, tmp_path):
    model = GRU4Rec(GRU4RecConfig(max_history=L, item_dim=8, hidden_dim=8, top_k_max=20), splits[0].vocab)
    path = export.save(model, str(tmp_path / "gru4rec"))
    with open(os.path.join(path, "assets.extra", "sample_request_columnar.json")) as f:
        body = json.load(f)
    assert body["signature_name"] == "serving_default"
    assert set(body["inputs"]) == {"hist_item_ids", "k", "exclude_seen"}
    loaded = tf.saved_model.load(path)
    inputs = body["inputs"]
    out = loaded.signatures["serving_default"](
        hist_item_ids=tf.constant(inputs["hist_item_ids"], tf.int64), k=tf.constant(inputs["k"], tf.int64),
        exclude_seen=tf.constant(inputs["exclude_seen"]))
    assert out["item_ids"].shape == (len(inputs["k"]), 10)


def test_bad_item_loss_is_named():
    with pytest.raises(ValueError, match="item_loss must be one of"):
        GRU4RecConfig(item_loss="nce")


def test_onnx_export_of_the_index_signature_matches(splits, tmp_path):
    model = _ipsrec(splits[0].vocab)
    path = export.save(model, str(tmp_path / "ipsrec"))
    onnx_path = export.to_onnx(path, str(tmp_path / "ipsrec.onnx"))  # verifies against onnxruntime
    assert os.path.getsize(onnx_path) > 0


# --- targets unseen in training (OOV) -----------------------------------------------------
def _without(vocab, dropped):
    """The vocabularies with ``dropped`` item ids removed: to a model built on them these items
    were first seen after training, as a vocabulary fitted on the training split sees them."""
    out = dict(vocab)
    out["item"] = Vocabulary([i for i in vocab["item"].ids if i not in set(dropped)], "int64")
    return out


def _oov_model(splits, dropped):
    """An untrained GRU4Rec whose OOV row outscores every item for most users: ranked by that
    row, an unseen target would be a hit."""
    model = GRU4Rec(GRU4RecConfig(max_history=L, item_dim=8, hidden_dim=8, top_k_max=20),
                    _without(splits[0].vocab, dropped))
    tf.keras.utils.set_random_seed(0)
    model(model.example_batch())
    arrays = frame_to_arrays(splits[1].frame, model.feature_spec, label=None)
    u, _ = model.user_vectors(model.map_ids({k: tf.constant(v) for k, v in arrays.items()}))
    table = model.item_embedding.embeddings
    table.assign(tf.tensor_scatter_nd_update(table, [[1]], [tf.reduce_mean(u, 0) * 50.0]))
    return model


def _u_table(model, frame):
    arrays = frame_to_arrays(frame, model.feature_spec, label=None)
    idx = model.map_ids({k: tf.constant(v) for k, v in arrays.items()})
    u, _ = model.user_vectors(idx)
    return u.numpy(), model.item_embedding.embeddings.numpy(), idx["item_id"].numpy()


def test_oov_target_finite_loss_and_a_miss_in_validation_mrr_and_ndcg(splits):
    val = splits[1]
    dropped = val.frame["item_id"].unique()[:6]
    model = _oov_model(splits, dropped)
    u, table, target = _u_table(model, val.frame)
    oov = target == 1
    assert 0 < oov.sum() < len(target)
    scores = u @ table.T
    scores[:, :2] = -np.inf
    known_rank = rank_of_target(scores, np.where(oov, 2, target))
    rr = np.where(~oov & (known_rank <= 10), 1.0 / known_rank, 0.0)
    gain = np.where(~oov & (known_rank <= 10), 1.0 / np.log2(known_rank + 1.0), 0.0)  # NDCG@10, one relevant item
    # Ranked by the OOV row's own score, most unseen targets would be hits: the test has teeth.
    oov_rank = ((u @ table.T)[:, 2:] >= (u @ table[1])[:, None]).sum(1)
    assert (oov_rank[oov] <= 10).mean() > 0.5

    model.mrr.reset_state()
    model.ndcg.reset_state()
    ce = model.item_loss(tf.constant(u), tf.constant(target), training=False).numpy()
    assert np.isfinite(ce).all() and (ce[oov] == 0).all()
    logp = scores - scores[:, 2:].max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp[:, 2:]).sum(1, keepdims=True))
    np.testing.assert_allclose(ce[~oov], -logp[~oov, target[~oov]], rtol=1e-4, atol=1e-4)
    assert model.mrr.result().numpy() == pytest.approx(rr.mean(), abs=1e-6)
    assert model.ndcg.result().numpy() == pytest.approx(gain.mean(), abs=1e-6)
    ranks = model.target_ranks(tf.constant(u), tf.constant(target)).numpy()
    assert (ranks[oov] > 10**9).all()
    np.testing.assert_array_equal(ranks[~oov], known_rank[~oov])

    # Keras' validation pass (what `fit` logs as val_loss / val_mrr_at_10) agrees.
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    logs = model.evaluate(val.dataset(64), return_dict=True, verbose=0)
    assert np.isfinite(logs["loss"]) and np.isfinite(logs["ce"])
    assert logs["mrr_at_10"] == pytest.approx(rr.mean(), abs=1e-6)
    assert logs["ndcg_at_10"] == pytest.approx(gain.mean(), abs=1e-6)


def test_oov_target_sampled_softmax_is_finite(splits):
    model = _ipsrec(_without(splits[0].vocab, []), item_loss="sampled_softmax")
    model(model.example_batch())
    u = tf.constant(np.random.default_rng(0).normal(size=(5, 16)), tf.float32)
    target = tf.constant([2, 1, 3, 1, 4], tf.int64)                   # two OOV targets
    for training in (True, False):
        loss = model.item_loss(u, target, training=training).numpy()
        assert np.isfinite(loss).all() and (loss[[1, 3]] == 0).all() and (loss[[0, 2, 4]] > 0).all()


@pytest.mark.parametrize("protocol", ["full_ranking", "sampled_ranking"])
def test_test_protocol_counts_unseen_targets_as_misses(splits, protocol):
    test = splits[2]
    dropped = np.r_[test.frame["item_id"].unique()[:6], test.items["item_id"].to_numpy()[-4:]]
    model = _oov_model(splits, dropped)
    u, table, target = _u_table(model, test.frame)
    oov = target == 1
    assert 0 < oov.sum() < len(target)
    known = model.vocab["item"].lookup(test.items["item_id"].to_numpy())
    known = known[known >= 2]                                           # the candidates: seen items only
    ks = (1, 10, len(known)) if protocol == "full_ranking" else (1, 21)
    row = evaluate(model, test, protocol, ks=ks, num_negatives=20).iloc[0]
    # every seen target ranks within its candidates, an unseen one never (HR at the full list)
    assert row[f"hr@{ks[-1]}"] == pytest.approx((~oov).mean())
    if protocol == "full_ranking":  # numpy: u . E_item over the seen catalogue items
        scores = u.astype(np.float64) @ table[known].T.astype(np.float64)
        column = np.array([np.flatnonzero(known == t)[0] if t >= 2 else 0 for t in target])
        ranks = pessimistic_rank_np(scores, scores[np.arange(len(target)), column])  # exact self-tie
        # scored by the OOV row, an unseen catalogue item would outrank most seen targets
        assert (u @ table[1] > scores[np.arange(len(target)), column])[~oov].mean() > 0.5
        for k in ks:
            hit = ~oov & (ranks <= k)
            assert row[f"hr@{k}"] == pytest.approx(hit.mean())
            assert row[f"mrr@{k}"] == pytest.approx(np.where(hit, 1.0 / ranks, 0.0).mean(), abs=1e-9)
            assert row[f"ndcg@{k}"] == pytest.approx(np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0).mean(), abs=1e-9)
