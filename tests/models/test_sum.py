"""SUM model (tfrec_pkg/models/sum.py): encoders, ablations, training, and the incremental
serving contract: folding update_state over a history gives serving_default's score."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg import export
from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.synthetic import multi_interest
from tfrec_pkg.models.sum import SUM, SUMConfig
from tfrec_pkg.serving.nrt import InMemoryStateStore, NRTUserStates

L = 12


@pytest.fixture(scope="module")
def splits():
    return multi_interest(num_users=120, num_items=200, seq_len=30, max_history=L, seed=5).splits()


def _config(**changes):
    return SUMConfig(max_history=L, hidden_dim=16, item_dim=12, category_dim=4, ranker_units=(16, 8),
                     learning_rate=1e-2, epochs=1).replace(**changes)


def _batch(split, n=6, positives_only=False):
    frame = split.frame[split.frame["label"] == 1] if positives_only else split.frame
    arrays = frame_to_arrays(frame.head(n), sum_model_spec(), label=None)
    return {k: tf.constant(v) for k, v in arrays.items()}


def sum_model_spec():
    from tfrec_pkg import specs

    return specs.click_history(L)


@pytest.mark.parametrize("changes", [
    {}, {"user_encoder": "gru"}, {"user_encoder": "rum"}, {"user_encoder": "attmerge"},
    {"instance_attention": False}, {"debuff": False}, {"highway": False}, {"reading": "rum"},
    {"writing": "ntm"}, {"num_channels": 3}])
def test_every_encoder_and_ablation_trains_and_scores(splits, changes):
    train, _, test = splits
    model = SUM(_config(**changes), train.vocab)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    history = model.fit(train.dataset(64), epochs=1, verbose=0)
    assert np.isfinite(history.history["bce"][0]) and "auc" in history.history
    scores = model(_batch(test)).numpy()
    assert scores.shape == (6,) and ((scores >= 0) & (scores <= 1)).all()


def test_projection_only_when_embedding_size_differs(splits):
    train = splits[0]
    assert SUM(_config(item_dim=20), train.vocab).projection is not None   # 20 + 4 != 16
    assert SUM(_config(), train.vocab).projection is None                  # 12 + 4 == 16


def test_bad_encoder_name():
    with pytest.raises(ValueError, match="user_encoder must be one of"):
        SUMConfig(user_encoder="lstm")


def _fold(model, batch):
    """update_state applied event by event (padding events included: they must be no-ops)."""
    state = model.initial_state(batch["user_id"].shape[0])
    for t in range(L):
        state = model.update_state(state, batch["hist_item_ids"][:, t], batch["hist_category_ids"][:, t])
    return state


def test_fold_of_update_state_equals_full_history(splits):
    train, _, test = splits
    model = SUM(_config(), train.vocab)
    batch = _batch(test)
    state = _fold(model, batch)
    idx = model.map_ids(batch)
    full_state, _ = model.encode(idx)
    np.testing.assert_allclose(state[0].numpy(), full_state[0].numpy(), atol=1e-6)
    candidates = tf.stack([batch["item_id"], batch["item_id"]], 1)
    cats = tf.stack([batch["category_id"], batch["category_id"]], 1)
    from_state = model.score_state(state, candidates, cats).numpy()
    np.testing.assert_allclose(from_state[:, 0], model(batch).numpy(), atol=1e-5)


def test_padding_and_unknown_events(splits):
    train, _, test = splits
    model = SUM(_config(), train.vocab)
    state = [tf.random.normal([2, 5, 16]), tf.random.normal([2, 16])]
    same = model.update_state(state, tf.constant([-1, -1], tf.int64), tf.constant([-1, -1], tf.int64))
    np.testing.assert_array_equal(same[0].numpy(), state[0].numpy())
    unknown = model.update_state(state, tf.constant([123, 456], tf.int64), tf.constant([9, 9], tf.int64))
    assert np.isfinite(unknown[0].numpy()).all() and not np.allclose(unknown[0].numpy(), state[0].numpy())


def test_export_signatures_and_fold_parity_in_fresh_process(splits, tmp_path):
    train, _, test = splits
    model = SUM(_config(), train.vocab)
    path = export.save(model, str(tmp_path / "sum"))
    batch = {k: v.numpy() for k, v in _batch(test).items()}
    np.savez(tmp_path / "batch.npz", **batch)
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        m = tf.saved_model.load({path!r})
        b = np.load({str(tmp_path / 'batch.npz')!r})
        full = m.signatures["serving_default"](**{{k: tf.constant(b[k]) for k in b.files}})["score"].numpy()
        s = m.signatures["initial_state"](user_id=tf.constant(b["user_id"]))
        for t in range(b["hist_item_ids"].shape[1]):
            s = m.signatures["update_state"](memory=s["memory"], last_input=s["last_input"],
                item_id=tf.constant(b["hist_item_ids"][:, t]), category_id=tf.constant(b["hist_category_ids"][:, t]))
        folded = m.signatures["score_state"](memory=s["memory"], last_input=s["last_input"],
            item_ids=tf.constant(b["item_id"][:, None]), category_ids=tf.constant(b["category_id"][:, None]))["scores"].numpy()[:, 0]
        assert "tfrec_pkg" not in sys.modules
        np.savez({str(tmp_path / 'out.npz')!r}, full=full, folded=folded)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=str(tmp_path))
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["full"], model({k: tf.constant(v) for k, v in batch.items()}).numpy(), atol=1e-5)
    np.testing.assert_allclose(out["folded"], out["full"], atol=1e-5)


def test_attmerge_exports_without_incremental_signatures(splits, tmp_path):
    model = SUM(_config(user_encoder="attmerge"), splits[0].vocab)
    loaded = tf.saved_model.load(export.save(model, str(tmp_path / "am")))
    assert set(loaded.signatures) == {"serving_default", "serving_indices"}


def _nrt_replay(splits, tmp_path, store):
    train, _, test = splits
    model = SUM(_config(), train.vocab)
    loaded = tf.saved_model.load(export.save(model, str(tmp_path / "sum")))
    nrt = NRTUserStates(loaded, store)
    batch = _batch(test, n=4, positives_only=True)   # four distinct users
    users = batch["user_id"].numpy()
    for t in range(L):   # events arrive one at a time per user
        nrt.on_events(users, batch["hist_item_ids"][:, t].numpy(), batch["hist_category_ids"][:, t].numpy())
    scores = nrt.score(users, batch["item_id"].numpy()[:, None], batch["category_id"].numpy()[:, None])[:, 0]
    np.testing.assert_allclose(scores, model(batch).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="one event per user"):
        nrt.on_events([users[0], users[0]], [1, 2], [1, 2])


def test_nrt_loop_with_in_memory_store(splits, tmp_path):
    store = InMemoryStateStore()
    _nrt_replay(splits, tmp_path, store)
    assert len(store) == 4


def test_nrt_loop_with_redis(splits, tmp_path, redis_server):
    from tfrec_pkg.serving.nrt import RedisStateStore

    client = redis_server.client()
    _nrt_replay(splits, tmp_path, RedisStateStore(client, prefix="t:"))
    assert len(client.keys("t:*")) == 4


def test_onnx_export_of_serving_indices(splits, tmp_path):
    """SUM's recurrent graph converts (TF while-loop -> ONNX Loop); to_onnx itself checks
    onnxruntime against the SavedModel (<= 1e-4) before the file appears."""
    model = SUM(_config(), splits[0].vocab)
    path = export.save(model, str(tmp_path / "sum"))
    out = export.to_onnx(path, str(tmp_path / "sum.onnx"))
    assert os.path.getsize(out) > 0


def test_softmax_loss_option_trains_on_whole_groups(splits):
    """The public code's loss: softmax over each positive and its 4 negatives."""
    train, val, _ = splits
    model = SUM(_config(loss="softmax"), train.vocab)
    assert model.example_group_size == 5 and model.loss_names == ("softmax",)
    batch = next(iter(train.dataset(20, shuffle=True, group_size=5)))
    labels = batch["label"].numpy().reshape(-1, 5)
    assert (labels.sum(axis=1) == 1).all() and (labels[:, 0] == 1).all()   # whole groups, positive first
    from tfrec_pkg.training import train as fit

    history = fit(model, train, val, epochs=1, verbose=0)
    assert np.isfinite(history.history["softmax"][0])
    with pytest.raises(ValueError, match="loss must be"):
        SUMConfig(loss="hinge")
