"""BaseModel end to end on tiny planted data: fit, OOV/empty-history inference, long
histories through the pipeline, save/load, registry, MirroredStrategy, resumable training,
evaluation protocols."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

import tfrec_pkg.models
from tfrec_pkg import training
from tfrec_pkg.data import pipelines
from tfrec_pkg.data.synthetic import ctr_with_history
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.evaluation.protocols import predict_split
from tfrec_pkg.models import BaseModel, BaseModelConfig, RecModel

L = 5


def tiny_config(**kw):
    base = dict(max_history=L, user_dim=4, item_dim=4, category_dim=4, attention_units=(8, 4),
                mlp_units=(16, 8), dropout=0.0, batch_size=64, epochs=1, learning_rate=1e-2)
    return BaseModelConfig(**(base | kw))


@pytest.fixture(scope="module")
def splits():
    return ctr_with_history(num_users=60, impressions_per_user=10, num_items=50, max_history=L,
                            seed=0).splits()


@pytest.fixture(scope="module")
def fitted(splits):
    train, val, _ = splits
    tf.keras.utils.set_random_seed(0)
    model = BaseModel(tiny_config(), train.vocab)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    history = model.fit(train.dataset(64, seed=0), validation_data=val.dataset(256), epochs=1, verbose=0)
    return model, history


def features_of(frame, model):
    arrays = pipelines.frame_to_arrays(frame, model.feature_spec, label=None)
    return {k: tf.constant(v) for k, v in arrays.items()}


def test_builds_from_example_batch_and_scores_in_unit_interval(splits):
    train, _, _ = splits
    model = BaseModel(tiny_config(), train.vocab)
    out = model(model.example_batch(3)).numpy()
    assert out.shape == (3,) and np.isfinite(out).all() and ((out >= 0) & (out <= 1)).all()
    assert model.user_embedding.input_dim == train.vocab["user"].size
    assert model.item_embedding.input_dim == train.vocab["item"].size
    assert [s.name for s in model.feature_spec] == [s.name for s in train.specs]


def test_missing_vocabulary_and_wrong_config_raise(splits):
    train, _, _ = splits
    vocab = dict(train.vocab)
    vocab.pop("category")
    with pytest.raises(ValueError, match="category"):
        BaseModel(tiny_config(), vocab)
    from tfrec_pkg.config import Config
    with pytest.raises(TypeError, match="BaseModelConfig"):
        BaseModel(Config(), train.vocab)


def test_one_epoch_reports_loss_terms_and_metrics(fitted):
    model, history = fitted
    logs = history.history
    for key in ("bce", "auc", "val_auc", "val_bce", "loss", "total_loss"):
        assert key in logs, sorted(logs)
    assert len(logs["bce"]) == 1
    assert np.isfinite(logs["bce"][0]) and 0 < logs["bce"][0] < 2
    assert 0.0 <= logs["val_auc"][0] <= 1.0
    # every logged loss is the epoch's mean (not the last batch's): the sum of the terms' means
    for prefix in ("", "val_"):
        assert logs[f"{prefix}total_loss"][0] == pytest.approx(
            logs[f"{prefix}bce"][0] + logs[f"{prefix}regularization_loss"][0], rel=1e-5)
        assert logs[f"{prefix}loss"][0] == pytest.approx(logs[f"{prefix}bce"][0], rel=1e-5)


def test_unknown_ids_give_finite_scores(fitted, splits):
    model, _ = fitted
    frame = splits[2].frame.head(4).copy()
    frame["user_id"] = [999_999_991, 999_999_992, frame["user_id"].iloc[2], 999_999_994]
    frame["item_id"] = [123_456_789, frame["item_id"].iloc[1], 123_456_780, 123_456_781]
    frame["category_id"] = ["never", frame["category_id"].iloc[1], "seen?", "no"]
    frame["hist_item_ids"] = [[777_777_777, 888_888_888]] * 4
    frame["hist_category_ids"] = [["zz", "yy"]] * 4
    feats = features_of(frame, model)
    idx = model.map_ids(feats)
    assert idx["user_id"].numpy()[0] == 1 and idx["item_id"].numpy()[0] == 1
    assert (idx["hist_item_ids"].numpy()[:, :2] == 1).all() and (idx["hist_item_ids"].numpy()[:, 2:] == 0).all()
    scores = model(feats).numpy()
    assert scores.shape == (4,) and np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    # OOV history behaviours are real behaviours (mask is on padding only)
    w = model.attention_weights(feats).numpy()
    assert (w[:, 2:] == 0).all() and (w[:, :2] != 0).any()


def test_map_ids_accepts_int32_and_rejects_float_or_mistyped_ids(fitted, splits):
    model, _ = fitted
    feats = features_of(splits[2].frame.head(3), model)
    idx = model.map_ids(feats)
    narrow = model.map_ids(feats | {"item_id": tf.cast(feats["item_id"], tf.int32)})
    np.testing.assert_array_equal(narrow["item_id"].numpy(), idx["item_id"].numpy())
    assert narrow["item_id"].dtype == tf.int64
    # a float id would be truncated by the lookup's cast: refused, naming layer and dtype
    with pytest.raises(TypeError, match="lookup_item: feature 'item_id' expects int64 ids, got float64"):
        model.map_ids(feats | {"item_id": tf.cast(feats["item_id"], tf.float64)})
    with pytest.raises(TypeError, match="lookup_category: feature 'category_id' expects string ids, got int64"):
        model.map_ids(feats | {"category_id": tf.zeros([3], tf.int64)})


def test_zero_length_histories_give_zero_attention(fitted, splits):
    model, _ = fitted
    frame = splits[2].frame.head(6).copy()
    frame["hist_item_ids"] = [np.array([], np.int64)] * 6
    frame["hist_category_ids"] = [[]] * 6
    feats = features_of(frame, model)
    scores = model(feats).numpy()
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    w = model.attention_weights(feats).numpy()
    assert w.shape == (6, L)
    np.testing.assert_array_equal(w, np.zeros((6, L)))
    # and the history matters when it is there
    full = features_of(splits[2].frame.head(6), model)
    assert np.abs(model.attention_weights(full).numpy()).sum() > 0


def test_sequences_longer_than_L_keep_the_most_recent(fitted, splits):
    model, _ = fitted
    base = splits[2].frame.head(8).reset_index(drop=True)
    rng = np.random.default_rng(0)
    item_ids = np.array(model.vocab["item"].ids)
    cat_of = dict(zip(splits[0].items["item_id"], splits[0].items["category_id"]))
    long_hist = [rng.choice(item_ids, size=3 * L) for _ in range(len(base))]
    long = base.assign(hist_item_ids=long_hist, hist_category_ids=[[cat_of[i] for i in h] for h in long_hist])
    short = base.assign(hist_item_ids=[h[-L:] for h in long_hist],
                        hist_category_ids=[[cat_of[i] for i in h[-L:]] for h in long_hist])
    ds_long = pipelines.from_frame(long, model.feature_spec, 4, label=None)
    ds_short = pipelines.from_frame(short, model.feature_spec, 4, label=None)
    p_long = np.concatenate([model(b).numpy() for b in ds_long])
    p_short = np.concatenate([model(b).numpy() for b in ds_short])
    np.testing.assert_allclose(p_long, p_short, atol=1e-6)
    # the oldest values were really dropped: keeping the first L instead changes the scores
    first = base.assign(hist_item_ids=[h[:L] for h in long_hist],
                        hist_category_ids=[[cat_of[i] for i in h[:L]] for h in long_hist])
    p_first = model(features_of(first, model)).numpy()
    assert np.abs(p_first - p_long).max() > 1e-6


def test_save_trained_load_trained_round_trip(fitted, splits, tmp_path):
    model, _ = fitted
    path = model.save_trained(str(tmp_path / "trained"))
    loaded = RecModel.load_trained(path)
    assert type(loaded) is BaseModel
    assert loaded.config == model.config
    assert loaded.vocab == model.vocab
    test = splits[2]
    np.testing.assert_allclose(predict_split(loaded, test), predict_split(model, test), rtol=0, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="model.json"):
        RecModel.load_trained(str(tmp_path / "nothing_here"))


def test_registry_get_names_and_unknown():
    assert tfrec_pkg.models.get("base_model") is BaseModel
    assert "base_model" in tfrec_pkg.models.names()
    entry = tfrec_pkg.models.entry("base_model")
    assert entry.config_class is BaseModelConfig and entry.protocol == "pointwise"
    with pytest.raises(KeyError, match="base_model") as info:
        tfrec_pkg.models.get("no_such_model")
    assert "no_such_model" in str(info.value)


def test_training_under_mirrored_strategy(splits):
    train, val, _ = splits
    strategy = tf.distribute.MirroredStrategy()
    assert strategy.num_replicas_in_sync >= 1
    with strategy.scope():
        model = BaseModel(tiny_config(), train.vocab)
        model(model.example_batch())  # build every variable under the strategy
        model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    assert strategy.extended.variable_created_in_scope(model.item_embedding.embeddings)
    assert strategy.extended.variable_created_in_scope(model.optimizer.iterations)
    history = training.train(model, train, val, epochs=1, batch_size=64, verbose=0)
    assert len(history.epoch) == 1
    for key in ("bce", "loss", "val_auc"):
        assert np.isfinite(history.history[key][0]), key
    p = predict_split(model, splits[2])
    assert np.isfinite(p).all()


class _Crash(tf.keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights_at_crash = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.weights_at_crash = [w.numpy().copy() for w in self.model.trainable_weights]
            raise RuntimeError("simulated crash after epoch 1")


class _RecordStart(tf.keras.callbacks.Callback):
    """Weights just before the first training step. The model is unbuilt when fit starts, so
    BackupAndRestore's restore is deferred until the variables exist: build them, then read."""

    weights_at_start = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.weights_at_start is None:
            self.model(self.model.example_batch())
            self.weights_at_start = [w.numpy().copy() for w in self.model.trainable_weights]


def _with_callback(model, callback, monkeypatch):
    """training.train has no callbacks argument: append ours after its own callbacks."""
    fit = model.fit

    def fit_with(*args, callbacks=None, **kwargs):
        return fit(*args, callbacks=list(callbacks or []) + [callback], **kwargs)

    monkeypatch.setattr(model, "fit", fit_with)


def test_resumable_training_with_checkpoint_dir(splits, tmp_path, monkeypatch):
    train, _, _ = splits
    ckpt = str(tmp_path / "ckpt")
    tf.keras.utils.set_random_seed(1)
    first = BaseModel(tiny_config(), train.vocab)
    crash = _Crash()
    _with_callback(first, crash, monkeypatch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        training.train(first, train, None, epochs=3, batch_size=64, checkpoint_dir=ckpt, verbose=0)
    assert crash.weights_at_crash is not None

    tf.keras.utils.set_random_seed(2)
    second = BaseModel(tiny_config(), train.vocab)
    fresh = BaseModel(tiny_config(), train.vocab)
    fresh(fresh.example_batch())
    record = _RecordStart()
    _with_callback(second, record, monkeypatch)
    history = training.train(second, train, None, epochs=3, batch_size=64, checkpoint_dir=ckpt, verbose=0)
    assert history.epoch == [1, 2]  # resumed after the completed first epoch
    assert len(history.epoch) < 3
    assert all(np.isfinite(history.history["bce"]))
    # the second run started from the weights the first run had when it crashed
    assert len(record.weights_at_start) == len(crash.weights_at_crash)
    for a, b in zip(record.weights_at_start, crash.weights_at_crash):
        np.testing.assert_allclose(a, b, atol=1e-7)
    # ... which are not what a fresh model starts from
    assert np.abs(fresh.item_embedding.get_weights()[0] - second.item_embedding.get_weights()[0]).max() > 1e-3
    # a finished run removes its backup: the next run starts from epoch 0
    third = BaseModel(tiny_config(), train.vocab)
    assert training.train(third, train, None, epochs=1, batch_size=64, checkpoint_dir=ckpt, verbose=0).epoch == [0]


def test_evaluate_pointwise(fitted, splits):
    model, _ = fitted
    # val + test: two impressions per user, so some users have both labels (GAUC defined)
    test = dataclasses.replace(splits[2], frame=pd.concat([splits[1].frame, splits[2].frame],
                                                          ignore_index=True))
    table = evaluate(model, test, "pointwise", name="tiny")
    assert isinstance(table, pd.DataFrame) and len(table) == 1
    row = table.iloc[0]
    assert row["model"] == "tiny" and row["protocol"] == "pointwise" and row["n"] == len(test)
    assert 0.0 <= row["auc"] <= 1.0 and 0.0 <= row["gauc"] <= 1.0
    assert np.isfinite(row["logloss"]) and row["logloss"] > 0
    from tfrec_pkg.evaluation import metrics
    p = predict_split(model, test)
    assert row["auc"] == pytest.approx(metrics.auc(test.labels, p))
    assert row["logloss"] == pytest.approx(metrics.logloss(test.labels, p))
    assert row["gauc"] == pytest.approx(metrics.gauc(test.labels, p, test.frame["user_id"].to_numpy()))


@pytest.mark.parametrize("protocol", ["sampled_ranking", "full_ranking"])
def test_evaluate_ranking(fitted, splits, protocol):
    model, _ = fitted
    test = splits[2]
    table = evaluate(model, test, protocol, ks=(5, 10), num_negatives=20, batch_size=16)
    assert len(table) == 1
    row = table.iloc[0]
    for k in (5, 10):
        for m in ("hr", "mrr", "ndcg"):
            assert 0.0 <= row[f"{m}@{k}"] <= 1.0, f"{m}@{k}"
    assert row["hr@5"] <= row["hr@10"]
    assert row["mrr@10"] <= row["hr@10"] and row["ndcg@10"] <= row["hr@10"]
    assert row["hr@10"] > 0  # 1 target among 21 / 51 candidates: some hits in the top 10


def test_evaluate_bad_protocol_raises(fitted, splits):
    model, _ = fitted
    with pytest.raises(ValueError, match="listwise"):
        evaluate(model, splits[2], "listwise")


def test_inputs_of_different_batch_sizes_are_refused(splits):
    """A user_id batch of 3 beside 2-row item inputs used to be accepted (issue 16, item 9)."""
    model = BaseModel(tiny_config(), splits[0].vocab)
    batch = {k: v[:2] for k, v in model.example_batch(2).items()}
    model(batch)
    batch["user_id"] = tf.constant([-1, -1, -1], tf.int64)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must have as many rows as"):
        model(batch)
