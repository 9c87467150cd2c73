"""The library's Dropout (tfrec_pkg/layers/dropout.py): a Bernoulli(1 - rate) keep mask from 8
or 16 random bits per element, scaled by 1 / (1 - rate), fresh every call, repeatable under
``set_random_seed``; and MultiHeadAttention using it on the attention probabilities."""
from __future__ import annotations

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg.layers.dropout import Dropout, MultiHeadAttention

N = 200_000


def _mask(rate, seed=0, shape=(N,)):
    tf.keras.utils.set_random_seed(seed)
    layer = Dropout(rate)
    x = tf.ones(shape)
    return (layer(x, training=True).numpy() != 0).astype(np.float64), layer, x


@pytest.mark.parametrize("rate", [0.5, 0.25, 0.3, 0.1])   # 8 bits (x 256 whole), 16 bits
def test_keep_rate_scale_and_independence(rate):
    tf.keras.utils.set_random_seed(0)
    layer = Dropout(rate)
    x = tf.random.uniform([N], 1.0, 2.0)
    y = layer(x, training=True).numpy()
    keep = y != 0
    se = np.sqrt(rate * (1 - rate) / N)
    assert abs(keep.mean() - (1 - rate)) < 4 * se, keep.mean()
    np.testing.assert_allclose(y[keep], x.numpy()[keep] / (1 - rate), rtol=1e-6)
    # neighbouring elements (which share a random word) are independent: P(both kept) = (1-rate)^2
    both = (keep[:-1] & keep[1:]).mean()
    assert abs(both - (1 - rate) ** 2) < 4 * np.sqrt((1 - rate) ** 2 * (1 - (1 - rate) ** 2) / N) * 2
    # and so are elements a word apart (4 for 8 bits, 2 for 16)
    for lag in (2, 4):
        assert abs((keep[:-lag] & keep[lag:]).mean() - (1 - rate) ** 2) < 0.01


def test_fresh_mask_every_call_repeatable_under_the_seed_identity_when_not_training():
    a, layer, x = _mask(0.5, seed=1)
    again = (layer(x, training=True).numpy() != 0)
    assert 0.4 < (again != a.astype(bool)).mean() < 0.6
    b, _, _ = _mask(0.5, seed=1)
    np.testing.assert_array_equal(a, b)
    c, _, _ = _mask(0.5, seed=2)
    assert (a != c).mean() > 0.4
    step = tf.function(lambda v: layer(v, training=True))
    assert (step(x).numpy() != step(x).numpy()).mean() > 0.4   # inside one traced function too
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True).numpy(), x.numpy())


def test_gradient_is_the_mask_times_the_scale():
    tf.keras.utils.set_random_seed(3)
    layer = Dropout(0.3)
    x = tf.random.normal([64, 33])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    g = tape.gradient(y, x).numpy()
    np.testing.assert_allclose(g, (y.numpy() != 0) / 0.7, rtol=1e-6)


def test_noise_shape_broadcasts_one_mask():
    tf.keras.utils.set_random_seed(4)
    x = tf.ones([8, 50, 16])
    y = Dropout(0.5, noise_shape=[None, 1, 16])(x, training=True).numpy()
    assert (y == y[:, :1, :]).all()
    assert 0.3 < (y[:, 0, :] != 0).mean() < 0.7


def test_compiles_with_xla_and_under_bfloat16():
    layer = Dropout(0.5)
    x = tf.ones([32, 50, 64])
    y = tf.function(lambda v: layer(v, training=True), jit_compile=True)(x).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}
    yb = Dropout(0.3, dtype=tf.keras.mixed_precision.Policy("mixed_bfloat16"))(x, training=True)
    assert yb.dtype == tf.bfloat16 and 0.6 < float(tf.reduce_mean(tf.cast(yb != 0, tf.float32))) < 0.8


def test_rate_one_is_refused():
    with pytest.raises(ValueError, match="rate must be in"):
        Dropout(1.0)(tf.ones([3]), training=True)


def test_multi_head_attention_uses_it_and_matches_keras_when_not_training():
    tf.keras.utils.set_random_seed(5)
    q = tf.random.normal([4, 10, 16])
    ours = MultiHeadAttention(num_heads=2, key_dim=8, dropout=0.5)
    keras = tf.keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, dropout=0.5)
    out = ours(q, q, training=False)
    keras(q, q)
    keras.set_weights(ours.get_weights())
    np.testing.assert_allclose(out.numpy(), keras(q, q, training=False).numpy(), atol=1e-6)
    assert isinstance(ours._dropout_layer, Dropout)
    # training: the probabilities are dropped (Keras returns the scores before its dropout, so
    # the outputs show it), with a fresh mask every call
    a, b = ours(q, q, training=True).numpy(), ours(q, q, training=True).numpy()
    assert np.abs(a - out.numpy()).max() > 1e-3 and np.abs(a - b).max() > 1e-3
