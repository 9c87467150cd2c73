"""IPSRec model (tfrec_pkg/models/ipsrec.py): variants train (the SASRec + provider control
included), InfoNCE vs numpy, top-k serving with per-request k and history exclusion, export
parity in a fresh process, the control's inputs and tables."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg import export
from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.synthetic.providers import providers
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.models.ipsrec import IPSRec, IPSRecConfig, info_nce

L = 8


@pytest.fixture(scope="module")
def splits():
    return providers(num_users=60, num_items=80, num_providers=10, num_topics=4, seq_len=12, max_history=L,
                     seed=1).splits()


def _config(**changes):
    return IPSRecConfig(max_history=L, item_dim=16, ffn_dim=32, dropout=0.1, top_k_max=20, epochs=1).replace(**changes)


def _histories(model, split, n=4):
    arrays = frame_to_arrays(split.frame.head(n), model.history_spec, label=None)
    return {k: tf.constant(v) for k, v in arrays.items()}


@pytest.mark.parametrize("changes", [{}, {"stream": "cross"}, {"stream": "cross", "direction": "reference"},
                                     {"mask": "plain_causal"}, {"contrastive_weight": 0.0},
                                     {"use_provider": False}, {"use_provider": False, "provider_in_item": True}])
def test_variants_train_and_rank(splits, changes):
    train, val, test = splits
    model = IPSRec(_config(**changes), train.vocab)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    history = model.fit(train.dataset(64), validation_data=val.dataset(64), epochs=1, verbose=0)
    assert np.isfinite(history.history["ce"][0]) and "val_mrr_at_10" in history.history
    if changes.get("use_provider") is False or changes.get("contrastive_weight") == 0.0:
        assert history.history["infonce"][0] == 0.0
    else:
        assert history.history["infonce"][0] > 0.0
    row = evaluate(model, test, "full_ranking", ks=(5, 10)).iloc[0]
    assert 0.0 <= row["hr@10"] <= 1.0 and row["hr@5"] <= row["hr@10"]


def test_info_nce_matches_numpy():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    z = np.concatenate([u, v])
    sim = z @ z.T / 0.5
    np.fill_diagonal(sim, -np.inf)
    logp = sim - np.log(np.exp(sim).sum(1, keepdims=True))
    pos = np.r_[np.arange(4, 8), np.arange(4)]
    expected = -logp[np.arange(8), pos]
    expected = 0.5 * (expected[:4] + expected[4:])
    got = info_nce(tf.constant(u, tf.float32), tf.constant(v, tf.float32), 0.5).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_top_k_respects_k_and_excludes_history(splits):
    train, _, test = splits
    model = IPSRec(_config(), train.vocab)
    hist = _histories(model, test)
    ids, scores = model.top_k(hist, tf.constant([3, 5, 1, 5], tf.int64), tf.constant([True, True, True, False]))
    ids, scores = ids.numpy(), scores.numpy()
    assert ids.shape == (4, 5)
    assert (ids[0, 3:] == -1).all() and np.isinf(scores[0, 3:]).all() and (ids[0, :3] != -1).all()
    seen = hist["hist_item_ids"].numpy()
    for row in range(3):
        assert not set(ids[row][ids[row] != -1]) & set(seen[row])
    assert (np.diff(scores[1]) <= 0).all()
    frame = model.recommend(test.frame.head(2), k=4)
    assert list(frame.columns) == ["user", "rank", "item", "score"] and len(frame) == 8


def test_k_past_int32_is_capped_not_wrapped_and_k_below_1_is_refused(splits):
    """k = 2**31 or 2**62 used to wrap in a cast to int32 (padding or empty rows)."""
    train, _, test = splits
    model = IPSRec(_config(), train.vocab)
    hist = _histories(model, test)
    exclude = tf.constant([False] * 4)
    capped, _ = model.top_k(hist, tf.constant([model.config.top_k_max] * 4, tf.int64), exclude)
    for k in (2**31, 2**32 + 3, 2**62):
        ids, _ = model.top_k(hist, tf.constant([k, 3, k, 1], tf.int64), exclude)
        np.testing.assert_array_equal(ids.numpy()[[0, 2]], capped.numpy()[[0, 2]])
        assert (ids.numpy()[1, 3:] == -1).all() and (ids.numpy()[1, :3] != -1).all()
    with pytest.raises(tf.errors.InvalidArgumentError, match="k must be >= 1"):
        model.top_k(hist, tf.constant([0, 3, -1, 1], tf.int64), exclude)


@pytest.mark.parametrize("changes", [{}, {"use_provider": False, "provider_in_item": True}],
                         ids=["ipsrec", "sasrec_provider"])
def test_export_parity_in_fresh_process(splits, tmp_path, changes):
    train, _, test = splits
    model = IPSRec(_config(**changes), train.vocab)
    path = export.save(model, str(tmp_path / "ipsrec"))
    hist = {k: v.numpy() for k, v in _histories(model, test).items()}
    np.savez(tmp_path / "h.npz", **hist)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        m = tf.saved_model.load({path!r})
        h = np.load({str(tmp_path / 'h.npz')!r})
        feats = {{k: tf.constant(h[k]) for k in h.files}}
        top = m.signatures["serving_default"](k=tf.constant([5, 5, 5, 5], tf.int64),
                                              exclude_seen=tf.constant([True] * 4), **feats)
        cand = m.signatures["score_candidates"](candidate_item_ids=top["item_ids"], **feats)
        unknown = m.signatures["score_candidates"](candidate_item_ids=tf.fill([4, 2], tf.constant(987654321, tf.int64)),
                                                   **feats)
        np.savez({str(tmp_path / 'o.npz')!r}, ids=top["item_ids"].numpy(), scores=top["scores"].numpy(),
                 cand=cand["scores"].numpy(), unknown=unknown["scores"].numpy())
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    out = np.load(tmp_path / "o.npz")
    ids, scores = model.top_k({k: tf.constant(v) for k, v in hist.items()}, tf.constant([5] * 4, tf.int64),
                              tf.constant([True] * 4))
    np.testing.assert_array_equal(out["ids"], ids.numpy())
    np.testing.assert_allclose(out["scores"], scores.numpy(), atol=1e-5)
    np.testing.assert_allclose(out["cand"], out["scores"], atol=1e-5)   # the two signatures agree
    assert np.isneginf(out["unknown"]).all()   # an unknown item is never ranked: the rule of the Python model


def test_bad_config():
    with pytest.raises(ValueError, match="stream must be one of"):
        IPSRecConfig(stream="both")


def test_provider_in_item_needs_use_provider_false():
    with pytest.raises(ValueError, match="provider_in_item=True .* needs use_provider=False"):
        IPSRecConfig(provider_in_item=True)


@pytest.mark.parametrize("changes, name, inputs, tables", [
    ({}, "ipsrec", {"hist_item_ids", "hist_provider_ids", "item_id", "provider_id"},
     {"provider_embedding", "provider_position"}),
    ({"use_provider": False}, "sasrec", {"hist_item_ids", "item_id"}, set()),
    ({"use_provider": False, "provider_in_item": True}, "sasrec_provider",
     {"hist_item_ids", "hist_provider_ids", "item_id"}, {"provider_embedding"}),
])
def test_control_inputs_name_and_provider_tables(splits, changes, name, inputs, tables):
    """The control reads the history's providers (not the target's) and has a provider embedding
    but no provider positions; SASRec builds no provider table at all."""
    model = IPSRec(_config(**changes), splits[0].vocab)
    model(model.example_batch())
    assert model.name == name
    assert {s.name for s in model.feature_spec} == inputs
    built = {w.name.split("/")[1] for w in model.weights if w.name.startswith(f"{name}/provider_")}
    assert built == tables
