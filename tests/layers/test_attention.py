"""masked_softmax and TargetAttentionPooling (tfrec_pkg/layers/attention.py) against numpy."""
import json

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.layers.attention import TargetAttentionPooling, masked_softmax, segment_softmax


def np_masked_softmax(logits, mask):
    logits = np.asarray(logits, np.float64)
    out = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape[:-1]):
        m = mask[idx]
        if m.any():
            z = logits[idx][m]
            e = np.exp(z - z.max())
            out[idx][m] = e / e.sum()
    return out


def test_masked_softmax_matches_numpy_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(6, 9)).astype(np.float32)
    mask = rng.random((6, 9)) < 0.6
    mask[0] = False            # all masked -> zeros
    mask[1] = True             # nothing masked -> plain softmax
    mask[2] = False
    mask[2, 4] = True          # one valid position -> weight 1
    got = masked_softmax(tf.constant(logits), tf.constant(mask)).numpy()
    np.testing.assert_allclose(got, np_masked_softmax(logits, mask), atol=1e-6)
    np.testing.assert_array_equal(got[0], np.zeros(9))
    np.testing.assert_allclose(got[1], tf.nn.softmax(logits[1]).numpy(), atol=1e-6)
    assert got[2, 4] == pytest.approx(1.0)
    assert (got[~mask] == 0).all()
    np.testing.assert_allclose(got[mask.any(1)].sum(1), 1.0, atol=1e-6)


def test_masked_softmax_three_dims_and_int_mask():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 3, 5)).astype(np.float32)
    mask = (rng.random((2, 3, 5)) < 0.5).astype(np.int32)
    mask[1, 2] = 0
    got = masked_softmax(tf.constant(logits), tf.constant(mask)).numpy()
    np.testing.assert_allclose(got, np_masked_softmax(logits, mask.astype(bool)), atol=1e-6)
    assert not np.isnan(got).any()


def test_masked_softmax_large_logits_no_overflow_or_nan():
    logits = np.array([[1e4, 1e4 - 1.0, 5e4, -1e4],       # 5e4 is masked: must not dominate
                       [3e38, 3e38, 0.0, 0.0],             # near float32 max
                       [-3e38, 5.0, 1e30, 1e30]], np.float32)
    mask = np.array([[True, True, False, True],
                     [True, True, False, False],
                     [False, False, False, False]])
    got = masked_softmax(tf.constant(logits), tf.constant(mask)).numpy()
    assert np.isfinite(got).all()
    e = np.exp([0.0, -1.0])
    np.testing.assert_allclose(got[0], [e[0] / e.sum(), e[1] / e.sum(), 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(got[1], [0.5, 0.5, 0.0, 0.0], atol=1e-6)
    np.testing.assert_array_equal(got[2], np.zeros(4))


def test_masked_softmax_gradient_is_finite_on_empty_rows():
    logits = tf.Variable(np.random.default_rng(2).normal(size=(2, 4)).astype(np.float32))
    mask = tf.constant([[False] * 4, [True, False, True, False]])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(masked_softmax(logits, mask) * tf.constant([[1.0, 2.0, 3.0, 4.0]] * 2))
    g = tape.gradient(y, logits).numpy()
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g[0], np.zeros(4))


# ------------------------------------------------------------- TargetAttentionPooling

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_din(weights, query, keys, mask, normalize, activation):
    """Independent DIN activation unit: weights = [W_0, b_0, ..., W_n, b_n, w_score, b_score]."""
    act = {"sigmoid": _sigmoid, "relu": lambda x: np.maximum(x, 0.0)}[activation]
    q = np.broadcast_to(query[:, None, :], keys.shape).astype(np.float64)
    k = keys.astype(np.float64)
    x = np.concatenate([q, k, q - k, q * k], axis=-1)
    *hidden, w_s, b_s = weights
    for w, b in zip(hidden[0::2], hidden[1::2]):
        x = act(x @ w + b)
    logits = (x @ w_s + b_s)[..., 0]
    if normalize == "softmax":
        w = np_masked_softmax(logits, mask)
    else:
        w = logits * mask
    return np.einsum("bl,bld->bd", w, k), w


@pytest.mark.parametrize("normalize", ["softmax", "none"])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_target_attention_matches_numpy_din(normalize, activation):
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    b, l, d = 4, 6, 5
    query = rng.normal(size=(b, d)).astype(np.float32)
    keys = rng.normal(size=(b, l, d)).astype(np.float32)
    mask = rng.random((b, l)) < 0.7
    mask[0] = False  # empty history
    mask[1] = True   # full history
    layer = TargetAttentionPooling((7, 3), activation=activation, normalize=normalize)
    pooled, weights = layer(tf.constant(query), tf.constant(keys), tf.constant(mask))
    pooled, weights = pooled.numpy(), weights.numpy()
    assert pooled.shape == (b, d) and weights.shape == (b, l)

    w = layer.get_weights()
    assert [a.shape for a in w] == [(4 * d, 7), (7,), (7, 3), (3,), (3, 1), (1,)]
    ref_pooled, ref_weights = np_din(w, query, keys, mask, normalize, activation)
    np.testing.assert_allclose(weights, ref_weights, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(pooled, ref_pooled, atol=1e-5, rtol=1e-5)
    # empty history pools to zero with zero weights, never NaN
    np.testing.assert_array_equal(weights[0], np.zeros(l))
    np.testing.assert_array_equal(pooled[0], np.zeros(d))
    assert (weights[~mask] == 0).all()
    if normalize == "softmax":
        np.testing.assert_allclose(weights[1:].sum(1), 1.0, atol=1e-5)


def test_target_attention_depends_on_query():
    """The activation unit scores keys against the target: another target, other weights."""
    tf.keras.utils.set_random_seed(1)
    rng = np.random.default_rng(4)
    keys = tf.constant(rng.normal(size=(1, 5, 4)).astype(np.float32))
    mask = tf.ones((1, 5), tf.bool)
    layer = TargetAttentionPooling((8,), normalize="softmax")
    _, w1 = layer(tf.constant(rng.normal(size=(1, 4)).astype(np.float32)), keys, mask)
    _, w2 = layer(tf.constant(rng.normal(size=(1, 4)).astype(np.float32)), keys, mask)
    assert np.abs(w1.numpy() - w2.numpy()).max() > 1e-4


def test_bad_normalize_raises():
    with pytest.raises(ValueError, match="normalize"):
        TargetAttentionPooling(normalize="sum")


def test_get_config_from_config_round_trip():
    layer = TargetAttentionPooling((6, 2), activation="relu", normalize="none", name="att")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["hidden_units"] == [6, 2] and config["activation"] == "relu" and config["normalize"] == "none"
    clone = TargetAttentionPooling.from_config(config)
    assert clone.name == "att" and clone.hidden_units == (6, 2)
    assert clone.activation == "relu" and clone.normalize == "none"
    rng = np.random.default_rng(5)
    q = tf.constant(rng.normal(size=(3, 4)).astype(np.float32))
    k = tf.constant(rng.normal(size=(3, 5, 4)).astype(np.float32))
    m = tf.constant(rng.random((3, 5)) < 0.5)
    out = layer(q, k, m)
    clone(q, k, m)
    clone.set_weights(layer.get_weights())
    for a, b in zip(out, clone(q, k, m)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    obj = tf.keras.layers.deserialize({"class_name": "tfrec_pkg>TargetAttentionPooling", "config": config})
    assert isinstance(obj, TargetAttentionPooling) and obj.normalize == "none"


def test_segment_softmax_matches_numpy_per_segment():
    """Rows sharing a segment id (in any order) share one softmax per trailing position; a
    segment id with no row is simply absent. Fails if the max is not per segment (overflow at
    +-500) or if the sum runs over all rows."""
    rng = np.random.default_rng(3)
    segments = np.array([2, 0, 2, 2, 4, 0, 4])             # segments 1 and 3 empty
    logits = rng.normal(size=(7, 3)) * 4
    logits[0, 0] = 500.0                                   # overflow without the max trick
    got = segment_softmax(tf.constant(logits), tf.constant(segments), 5).numpy()
    want = np.zeros_like(logits)
    for s in np.unique(segments):
        rows = segments == s
        e = np.exp(logits[rows] - logits[rows].max(0))
        want[rows] = e / e.sum(0)
    np.testing.assert_allclose(got, want, atol=1e-12)
    sums = np.zeros((5, 3))
    np.add.at(sums, segments, got)
    np.testing.assert_allclose(sums, np.array([1, 0, 1, 0, 1.0])[:, None].repeat(3, 1), atol=1e-12)
