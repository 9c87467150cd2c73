"""IPRec's collaborative-filtering baselines (MF, DeepMF, NeuMF; tfrec_pkg/models/baselines/):
each model's whole forward pass and loss against an independent numpy rendering that reads the
model's weights (<= 1e-5), then training through the library's trainer on IPRec's planted rows,
raw-id serving with OOV ids, and the registry.

Mutations tried (each fails test_forward_matches_numpy): MF without the user bias, the
article bias or the global bias; MF scored with the user factors on both sides; NeuMF with the
GMF branch dropped, the MLP branch dropped, the GMF product replaced by a sum, the MLP
embeddings swapped (user <-> article), a ReLU removed from the tower; DeepMF with the user tower
applied to the article, the cosine without normalisation, the clip at 0 instead of mu."""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.synthetic import packages
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.models import DeepMF, DeepMFConfig, MF, NeuMF, NeuMFConfig, registry
from tfrec_pkg.models.baselines.deep_mf import MU
from tfrec_pkg.models.baselines.user_article import UserArticleConfig
from tfrec_pkg.models.iprec import PLANTED_SIZES
from tfrec_pkg.training import train

from tests.models.reference_weights import randomize

MODELS = {"mf": (MF, UserArticleConfig(item_dim=6)),
          "neumf": (NeuMF, NeuMFConfig(item_dim=6, mlp_units=(8, 6, 4))),
          "deep_mf": (DeepMF, DeepMFConfig(item_dim=6, tower_units=(7, 5)))}


@pytest.fixture(scope="module")
def splits():
    return packages(num_users=300, num_articles=400, num_media=20, seed=1, **PLANTED_SIZES).splits()


def _batch(split, n=32):
    spec = [s for s in split.specs if s.name in ("user_id", "article_id")]
    arrays = frame_to_arrays(split.frame.head(n), spec, label="label")
    return {k: tf.constant(np.asarray(v)) for k, v in arrays.items()}


def _weights(model):
    """{variable path without the model's scope: float64 value}."""
    prefix = model.name + "/"
    return {v.name.split(":")[0].removeprefix(prefix): v.numpy().astype(np.float64) for v in model.trainable_variables}


def _relu(x):
    return np.maximum(x, 0.0)


def _dense(w, name, x, relu):
    y = x @ w[f"{name}/kernel"] + w[f"{name}/bias"]
    return _relu(y) if relu else y


def numpy_logit(name, w, u, a):
    """Independent rendering of each model's logit (the module docstrings' equations)."""
    if name == "mf":
        return ((w["user_factors/embeddings"][u] * w["article_factors/embeddings"][a]).sum(-1)
                + w["user_bias/embeddings"][u, 0] + w["article_bias/embeddings"][a, 0] + w["global_bias"])
    if name == "neumf":
        gmf = w["user_gmf/embeddings"][u] * w["article_gmf/embeddings"][a]
        x = np.concatenate([w["user_mlp/embeddings"][u], w["article_mlp/embeddings"][a]], -1)
        for i in range(3):
            x = _dense(w, f"mlp_{i}", x, relu=True)
        return _dense(w, "logit", np.concatenate([gmf, x], -1), relu=False)[:, 0]
    x, y = w["user_embedding/embeddings"][u], w["article_embedding/embeddings"][a]
    for i in range(2):
        x, y = _dense(w, f"user_tower_{i}", x, True), _dense(w, f"article_tower_{i}", y, True)
    cos = (x * y).sum(-1) / np.maximum(np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1), 1e-12)
    p = np.clip(cos, MU, 1 - MU)
    return np.log(p / (1 - p))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_matches_numpy(splits, name):
    cls, config = MODELS[name]
    tf.keras.utils.set_random_seed(0)
    model = cls(config.replace(l2=0.0), splits[0].vocab)
    batch = _batch(splits[2])
    model(batch)
    randomize(model, seed=5, positive_bias_scope="tower" if name == "deep_mf" else "mlp")
    idx = model.map_ids(batch)
    u, a = idx["user_id"].numpy(), idx["article_id"].numpy()

    want = numpy_logit(name, _weights(model), u, a)
    np.testing.assert_allclose(model.logit(idx).numpy(), want, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(model(batch).numpy(), 1 / (1 + np.exp(-want)), atol=1e-5)
    y = batch["label"].numpy()
    p = np.clip(1 / (1 + np.exp(-want)), 1e-7, 1 - 1e-7)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    np.testing.assert_allclose(model.compute_loss(batch).numpy(), bce, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_l2_covers_embeddings_and_kernels_not_biases(splits, name):
    cls, config = MODELS[name]
    model = cls(config.replace(l2=1e-3), splits[0].vocab)
    model(_batch(splits[0], 4))
    matrices = [v for v in model.trainable_variables
                if v.shape.rank >= 2 and "bias" not in v.name.split("/")[-2]]
    want = 1e-3 * sum(float(tf.reduce_sum(tf.square(v))) for v in matrices)
    np.testing.assert_allclose(float(tf.add_n(model.losses)), want, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_trains_and_scores_raw_ids(splits, name):
    cls, config = MODELS[name]
    tf.keras.utils.set_random_seed(0)
    model = cls(config.replace(epochs=2, batch_size=256, learning_rate=1e-2), splits[0].vocab)
    history = train(model, splits[0], splits[1], verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    row = evaluate(model, splits[2], "pointwise", name=name).iloc[0]
    assert 0.5 < row["auc"] <= 1.0  # above chance after two epochs on planted clicks
    unknown = {"user_id": tf.constant([-7, 10**12]), "article_id": tf.constant([10**12, -3])}
    scores = model(unknown).numpy()
    assert np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()


def test_registered_on_iprecs_planted_data():
    for name, (cls, _) in MODELS.items():
        entry = registry.entry(name)
        assert entry.model_class is cls and not entry.in_demo and entry.protocol == "pointwise"
    data = registry.entry("neumf").data(registry.entry("neumf").planted_config(), quick=True, seed=0)
    assert {"friend_ids", "nb_friend_ids", "true_reason"} <= set(data.frame.columns)


def test_defaults_are_iprecs_settings_for_its_baselines():
    """IPRec Sec. 5.1-5.2: d = 64 for every model, NeuMF's MLP 64-32-16 beside the MF branch,
    learning rate 1e-3."""
    for config in (DeepMFConfig(), NeuMFConfig()):
        assert (config.item_dim, config.learning_rate) == (64, 1e-3)
    assert NeuMFConfig().mlp_units == (64, 32, 16)
