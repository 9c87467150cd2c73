"""DiffNet (tfrec_pkg/models/baselines/diffnet.py), IPRec's social baseline: the social table
that adapt() builds from the training packages against plain-Python rules, the whole forward
pass and loss against an independent numpy rendering that reads the model's weights, training
through the library's trainer (which adapts first), the table surviving save/load, and the
registry.

Mutations tried (each fails a test here): the table not made symmetric; the neighbours of
the last layer read from h^0 instead of h^(k-1); the user's own h^(k-1) left out of the
concatenation; the mean over neighbours replaced by a sum; the consumed-items mean left out of
u; padded consumed items counted in the mean; adapt() not called by training.train."""
from collections import Counter

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.synthetic import packages
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.models import DiffNet, DiffNetConfig, registry
from tfrec_pkg.models.iprec import PLANTED_SIZES
from tfrec_pkg.training import train

from tests.models.reference_weights import randomize

CONFIG = DiffNetConfig(item_dim=6, max_social=5, max_objects=PLANTED_SIZES["max_objects"], l2=0.0)


@pytest.fixture(scope="module")
def splits():
    return packages(num_users=200, num_articles=200, num_media=20, seed=2, **PLANTED_SIZES).splits()


def _batch(model, split, n=32):
    arrays = frame_to_arrays(split.frame.head(n), model.feature_spec, label="label")
    return {k: tf.constant(np.asarray(v)) for k, v in arrays.items()}


def social_table(split, vocab, max_social):
    """adapt()'s rules with Python counters: symmetric pairs of known users, most frequent
    first, ties by index."""
    counts = Counter()
    for user, friends in zip(split.frame["user_id"], split.frame["friend_ids"]):
        u = int(vocab.lookup([user])[0])
        for f in vocab.lookup(np.asarray(friends, np.int64)) if len(friends) else []:
            if u >= 2 and f >= 2 and u != f:
                counts[(u, int(f))] += 1
                counts[(int(f), u)] += 1
    table = np.zeros((vocab.size, max_social), np.int64)
    by_user = {}
    for (u, f), n in counts.items():
        by_user.setdefault(u, []).append((-n, f))
    for u, items in by_user.items():
        for slot, (_, f) in enumerate(sorted(items)[:max_social]):
            table[u, slot] = f
    return table


def numpy_logit(w, social, idx):
    h = w["user_embedding/embeddings"]
    mask = (social != 0)[..., None]
    for k in range(2):
        neigh = (h[social] * mask).sum(1) / np.maximum(mask.sum(1), 1)
        z = np.concatenate([neigh, h], -1) @ w[f"diffusion_{k}/kernel"] + w[f"diffusion_{k}/bias"]
        h = 1 / (1 + np.exp(-z))
    q = w["article_embedding/embeddings"]
    objects = idx["user_article_ids"]
    valid = (objects != 0)[..., None]
    consumed = (q[objects] * valid).sum(1) / np.maximum(valid.sum(1), 1)
    u = h[idx["user_id"]] + consumed
    return (q[idx["article_id"]] * u).sum(-1)


def test_adapt_builds_the_symmetric_most_frequent_friend_table(splits):
    model = DiffNet(CONFIG, splits[0].vocab).adapt(splits[0])
    want = social_table(splits[0], splits[0].vocab["user"], CONFIG.max_social)
    np.testing.assert_array_equal(model.social.numpy(), want)
    assert (want != 0).sum() > 0.5 * want.shape[0]   # most users have friends on the planted data


def test_forward_and_loss_match_numpy(splits):
    tf.keras.utils.set_random_seed(0)
    model = DiffNet(CONFIG, splits[0].vocab).adapt(splits[0])
    batch = _batch(model, splits[2])
    model(batch)
    randomize(model, seed=3, positive_bias_scope="diffusion")
    weights = {v.name.split(":")[0].removeprefix("diffnet/"): v.numpy().astype(np.float64)
               for v in model.trainable_variables}
    idx = {k: v.numpy() for k, v in model.map_ids(batch).items()}
    want = numpy_logit(weights, model.social.numpy(), idx)
    np.testing.assert_allclose(model.logit(model.map_ids(batch)).numpy(), want, rtol=1e-4, atol=1e-4)
    y = idx["label"]
    p = np.clip(1 / (1 + np.exp(-want)), 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(model.compute_loss(batch).numpy(), -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(),
                               rtol=1e-4)


def test_trainer_adapts_then_fits_and_the_table_is_saved(splits, tmp_path):
    train_split, val, test = splits
    tf.keras.utils.set_random_seed(0)
    model = DiffNet(CONFIG.replace(epochs=2, batch_size=256, learning_rate=1e-2), train_split.vocab)
    history = train(model, train_split, val, verbose=0)
    np.testing.assert_array_equal(model.social.numpy(), social_table(train_split, train_split.vocab["user"], 5))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert 0.5 < evaluate(model, test, "pointwise", name="diffnet").iloc[0]["auc"] <= 1.0
    loaded = DiffNet.load_trained(model.save_trained(str(tmp_path / "diffnet")))
    np.testing.assert_array_equal(loaded.social.numpy(), model.social.numpy())
    batch = _batch(model, test)
    np.testing.assert_allclose(loaded(batch).numpy(), model(batch).numpy(), atol=1e-6)


def test_registered_on_iprecs_planted_sizes():
    entry = registry.entry("diffnet")
    assert entry.model_class is DiffNet and not entry.in_demo
    assert entry.planted_config().max_objects == PLANTED_SIZES["max_objects"]
    with pytest.raises(ValueError, match="num_layers"):
        DiffNetConfig(num_layers=0)
