"""IPRec model (tfrec_pkg/models/iprec.py): config, input contract, training through the
library's trainer on the planted package data, raw-id serving (OOV, friendless packages,
empty users), explanations and persistence. The equations and the wiring are pinned by
tests/models/test_iprec_reference.py."""
import json

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.synthetic import packages
from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.models import registry
from tfrec_pkg.models.iprec import PLANTED_SIZES, IPRec, IPRecConfig, planted_data
from tfrec_pkg.models.optimizers import make_optimizer
from tfrec_pkg.training import train

QUICK = dict(num_users=300, num_articles=400, num_media=20)
FRIEND_COLUMNS = ("friend_ids", "user_friend_ids", "hist_friend_ids", "nb_friend_ids")
USER_COLUMNS = ("user_id",) + FRIEND_COLUMNS
ARTICLE_COLUMNS = ("article_id", "user_article_ids", "hist_article_ids", "nb_article_ids")
MEDIA_COLUMNS = ("media_id", "user_media_ids", "hist_media_ids", "nb_media_ids")


@pytest.fixture(scope="module")
def data():
    return packages(seed=3, **QUICK)


@pytest.fixture(scope="module")
def splits(data):
    return data.splits()


def _config(**changes):
    return IPRecConfig(**PLANTED_SIZES, item_dim=8, num_spaces=2, ranker_units=(16, 8), learning_rate=3e-3,
                       batch_size=256, epochs=1).replace(**changes)


def _model(splits, seed=0, **changes):
    tf.keras.utils.set_random_seed(seed)
    return IPRec(_config(**changes), splits[0].vocab)


def _batch(split, n=8, spec=None):
    spec = spec or split.specs
    arrays = frame_to_arrays(split.frame.head(n), spec, label=None)
    return {k: np.asarray(v) for k, v in arrays.items()}


def _tensors(batch):
    return {k: tf.constant(v) for k, v in batch.items()}


# ----------------------------------------------------------------------------- config


def test_defaults_are_the_papers():
    c = IPRecConfig()
    assert (c.item_dim, c.num_spaces, c.dropout, c.l2, c.learning_rate, c.batch_size) == (64, 4, 0.4, 1e-5, 1e-4, 512)
    assert (c.fusion, c.package_attention, c.dual_attention, c.inter_package) == ("product", True, True, True)
    assert (c.max_friends, c.max_history, c.max_neighbours, c.max_objects) == (20, 50, 20, 50)
    assert c.gate_reduce == "sum" and c.ranker_units == (64, 32) and c.article_dtype == "int64"
    assert c.predictor_input == "concat" and c.optimizer == "rmsprop"
    with pytest.raises(ValueError, match="optimizer must be one of"):
        IPRecConfig(optimizer="sgd")


def test_config_round_trip():
    c = IPRecConfig(fusion="concat", package_attention=False, dual_attention=False, inter_package=False,
                    gate_reduce="mean", ranker_units=(12, 6), max_friends=5, article_dtype="string",
                    predictor_input="concat_product")
    back = IPRecConfig.from_json(c.to_json())
    assert back == c and isinstance(back.ranker_units, tuple)
    assert IPRecConfig.from_dict(json.loads(json.dumps(IPRecConfig().to_dict()))) == IPRecConfig()
    with pytest.raises(ValueError, match="unknown config keys"):
        IPRecConfig.from_dict({"num_heads": 2})


@pytest.mark.parametrize("changes, match", [
    (dict(fusion="max"), "fusion must be one of"),
    (dict(gate_reduce="max"), "gate_reduce must be one of"),
    (dict(predictor_input="product"), "predictor_input must be one of"),
    (dict(article_dtype="float32"), "article_dtype"),
    (dict(max_friends=0), "max_friends must be a positive integer"),
    (dict(max_history=2.5), "max_history must be a positive integer"),
    (dict(max_neighbours=-1), "max_neighbours"),
    (dict(max_objects=0), "max_objects"),
    (dict(num_spaces=0), "num_spaces"),
    (dict(item_dim=0), "item_dim"),
    (dict(ranker_units=()), "ranker_units"),
    (dict(ranker_units=(8, 0)), "ranker_units"),
    (dict(dropout=1.0), "dropout"),
    (dict(l2=-1e-5), "l2"),
    (dict(learning_rate=0.0), "learning_rate"),
])
def test_config_validation(changes, match):
    with pytest.raises(ValueError, match=match):
        IPRecConfig(**changes)


def test_wrong_config_class_or_missing_vocabulary(splits):
    from tfrec_pkg.models.sum import SUMConfig

    with pytest.raises(TypeError, match="expects a IPRecConfig"):
        IPRec(SUMConfig(), splits[0].vocab)
    vocab = {k: v for k, v in splits[0].vocab.items() if k != "media"}
    with pytest.raises(ValueError, match="missing vocabularies"):
        IPRec(_config(), vocab)


# ----------------------------------------------------------------------------- input contract


def test_feature_spec_is_the_data_contract(data, splits):
    model = _model(splits)
    assert model.feature_spec == list(data.specs)          # planted sizes = the generator's
    assert set(splits[0].vocab) == {"user", "article", "media"}
    no_inter = _model(splits, inter_package=False).feature_spec
    assert [s.name for s in no_inter] == ["user_id", "article_id", "media_id", "friend_ids", "user_article_ids",
                                         "user_media_ids", "user_friend_ids"]
    strings = IPRec(_config(article_dtype="string"), {**splits[0].vocab, "article": Vocabulary(["a"], "string")})
    assert {s.name: s.dtype for s in strings.feature_spec}["hist_article_ids"] == "string"


def test_planted_data_uses_the_config_sizes():
    data = planted_data(_config(max_friends=4, max_history=5, max_neighbours=3, max_objects=6), quick=True)
    shapes = {s.name: s.shape for s in data.specs}
    assert shapes["friend_ids"] == (4,) and shapes["hist_friend_ids"] == (20,) and shapes["nb_article_ids"] == (6,)
    assert shapes["user_media_ids"] == (6,)


# ----------------------------------------------------------------------------- training


def test_trains_one_epoch_through_the_trainer_with_the_papers_optimizer(splits):
    """training.train compiles the config's optimizer: RMSProp (Sec. 5.2) by default."""
    train_split, val_split, test_split = splits
    model = _model(splits)
    history = train(model, train_split, val_split, epochs=1, verbose=0)
    assert isinstance(model.optimizer, tf.keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(3e-3)
    logs = history.history
    for key in ("bce", "auc", "loss", "regularization_loss", "total_loss", "val_bce", "val_auc", "val_total_loss"):
        assert np.isfinite(logs[key][0]), key
    assert logs["regularization_loss"][0] > 0
    row = evaluate(model, test_split, "pointwise").iloc[0]
    assert 0.0 <= row["auc"] <= 1.0 and np.isfinite(row["logloss"]) and row["n"] == len(test_split)


def test_config_optimizer_builds_rmsprop_or_adam_and_refuses_a_split_table_optimizer(splits):
    opt = make_optimizer(_model(splits), 0.01)
    assert type(opt) is tf.keras.optimizers.RMSprop
    assert opt.get_config() == tf.keras.optimizers.RMSprop(0.01).get_config()
    assert type(make_optimizer(_model(splits, optimizer="adam"))) is tf.keras.optimizers.Adam
    with pytest.raises(ValueError, match="optimizer='rmsprop' cannot be combined"):
        make_optimizer(_model(splits, embedding_optimizer="lazy_adam"))


@pytest.mark.parametrize("changes", [dict(package_attention=False), dict(dual_attention=False),
                                     dict(inter_package=False), dict(fusion="concat"), dict(fusion="add"),
                                     dict(gate_reduce="mean"), dict(predictor_input="concat_product")])
def test_every_ablation_and_fusion_fits(splits, changes):
    train_split = splits[0]
    model = _model(splits, **changes)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3))
    small = train_split.frame.head(600)
    from tfrec_pkg.data.pipelines import from_frame

    history = model.fit(from_frame(small, model.feature_spec, 128, shuffle=True), epochs=1, verbose=0)
    assert np.isfinite(history.history["bce"][0]) and np.isfinite(history.history["total_loss"][0])
    scores = model(_tensors(_batch(splits[2], spec=model.feature_spec))).numpy()
    assert scores.shape == (8,) and np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()


# ----------------------------------------------------------------------------- serving on raw ids


def test_unknown_raw_ids_score_through_oov(splits):
    model = _model(splits)
    batch = _batch(splits[2])

    def replace_known(shift):
        out = {k: v.copy() for k, v in batch.items()}
        for col in USER_COLUMNS + ARTICLE_COLUMNS + MEDIA_COLUMNS:
            out[col] = np.where(out[col] != -1, out[col] + shift, -1)
        return out

    unknown_a, unknown_b = replace_known(10**9), replace_known(2 * 10**9)
    idx = model.map_ids(_tensors(unknown_a))
    for col in USER_COLUMNS + ARTICLE_COLUMNS + MEDIA_COLUMNS:
        values = idx[col].numpy()
        assert set(np.unique(values)) <= {0, 1}, col                 # padding or OOV only
        np.testing.assert_array_equal(values == 0, batch[col] == -1)
    a, b = model(_tensors(unknown_a)).numpy(), model(_tensors(unknown_b)).numpy()
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)                               # every unknown id is the OOV row
    assert np.abs(a - model(_tensors(batch)).numpy()).max() > 1e-6


def test_friendless_package_and_empty_user_give_finite_scores(splits):
    model = _model(splits)
    batch = _batch(splits[2])
    batch["friend_ids"][:] = -1                                     # friendless target packages
    for col in ("user_article_ids", "user_media_ids", "user_friend_ids", "hist_article_ids", "hist_media_ids",
                "hist_friend_ids", "nb_article_ids", "nb_media_ids", "nb_friend_ids"):
        batch[col][:2] = -1                                         # rows 0-1: no objects, history, neighbours
    out = model.explain(_tensors(batch))
    scores, gamma = out["score"].numpy(), out["gamma"].numpy()
    assert np.isfinite(scores).all() and np.isfinite(gamma).all() and np.isfinite(out["type_weights"].numpy()).all()
    np.testing.assert_array_equal(gamma[:, [2, 4, 5, 6]], 0.0)      # no friend combinations
    np.testing.assert_allclose(gamma.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(out["type_weights"].numpy()[:2], 0.0)


def test_explain_agrees_with_the_score(splits):
    model = _model(splits)
    raw = _batch(splits[2])
    out = model.explain(_tensors(raw))
    assert out["gamma"].shape == (8, 7) and out["type_weights"].shape == (8, 3)
    np.testing.assert_allclose(out["score"].numpy(), model(_tensors(raw)).numpy(), atol=1e-6)
    np.testing.assert_allclose(out["gamma"].numpy().sum(-1), 1.0, atol=1e-6)
    with_friends = raw["friend_ids"][:, 0] != -1
    assert with_friends.any() and (out["gamma"].numpy()[with_friends][:, 2] > 0).all()


def test_each_distinct_package_encoded_once_gives_what_every_slot_encoded_gives(splits):
    """The batch's repeated packages (a row's neighbours are its user's clicked packages, and a
    user's rows share their history) are encoded once: scores, gamma and gradients equal the
    every-slot path. Rows 8-11 carry rows 0, 2, 4, 6's history and neighbours under other
    users, so a package key without the user (whose u queries Eqs. (5), (8)) would merge them."""
    model = _model(splits)
    frame = splits[0].frame
    users = frame["user_id"].unique()
    rows = pd.concat([frame[frame["user_id"].isin(users[:4])].groupby("user_id").head(2),
                      frame[frame["user_id"].isin(users[4:8])].groupby("user_id").head(1)])
    raw = {k: np.asarray(v) for k, v in frame_to_arrays(rows, splits[0].specs, label=None).items()}
    for col in ("hist_article_ids", "hist_media_ids", "hist_friend_ids", "nb_article_ids", "nb_media_ids",
                "nb_friend_ids"):
        raw[col][8:12] = raw[col][[0, 2, 4, 6]]
    features = model.map_ids(_tensors(raw))
    outputs = {}
    for distinct in (True, False):
        with tf.GradientTape() as tape:
            out = model.encode(features, training=False, distinct_packages=distinct)
            loss = tf.reduce_sum(out["logit"])
        grads = tape.gradient(loss, model.trainable_variables)
        outputs[distinct] = [out["logit"], out["gamma"]] + [tf.convert_to_tensor(g) for g in grads]
    for once, every in zip(outputs[True], outputs[False]):
        np.testing.assert_allclose(once.numpy(), every.numpy(), rtol=1e-5, atol=1e-6)
    real = raw["nb_article_ids"] != -1
    assert real.any() and np.isin(raw["nb_article_ids"][real], raw["hist_article_ids"]).any()  # repeats exist


def test_string_article_ids_score_like_int64_ones(splits):
    """article_dtype="string" (the public release's ids): same vocabulary order and weights give
    the same scores."""
    model = _model(splits)
    batch = _batch(splits[2])
    model(_tensors(batch))
    vocab = dict(splits[0].vocab, article=Vocabulary([str(i) for i in splits[0].vocab["article"].ids], "string"))
    strings = IPRec(_config(article_dtype="string"), vocab)
    as_text = dict(batch)
    for col in ARTICLE_COLUMNS:
        as_text[col] = np.where(batch[col] == -1, "", batch[col].astype(str)).astype(object)
    strings(_tensors(as_text))
    strings.set_weights(model.get_weights())
    np.testing.assert_allclose(strings(_tensors(as_text)).numpy(), model(_tensors(batch)).numpy(), atol=1e-6)


# ----------------------------------------------------------------------------- persistence


def test_registered_with_planted_sizes_and_claims():
    entry = registry.entry("iprec")
    assert entry.model_class is IPRec and entry.protocol == "pointwise" and entry.in_demo
    config = entry.planted_config()
    assert {k: getattr(config, k) for k in PLANTED_SIZES} == PLANTED_SIZES
    assert callable(entry.hook("claims"))


def test_save_trained_and_load_trained_round_trip(splits, tmp_path):
    model = _model(splits, fusion="concat")
    batch = _tensors(_batch(splits[2]))
    before = model(batch).numpy()
    loaded = IPRec.load_trained(model.save_trained(str(tmp_path / "iprec")))
    assert isinstance(loaded, IPRec) and loaded.config == model.config
    assert loaded.vocab == model.vocab
    np.testing.assert_allclose(loaded(batch).numpy(), before, atol=1e-6)
    np.testing.assert_allclose(loaded.explain(batch)["gamma"].numpy(), model.explain(batch)["gamma"].numpy(),
                               atol=1e-6)
