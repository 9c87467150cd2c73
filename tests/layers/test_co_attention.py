"""CoAttentionFusion (tfrec_pkg/layers/co_attention.py, IPSRec Eqs. 7-11) against an
independent numpy implementation, for both directions."""

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.layers.co_attention import CoAttentionFusion
from tfrec_pkg.layers.transformer import causal_mask

from numpy_transformer import np_ffn, np_layer_norm, np_mha, randomize

def np_stream(layer, s, x, query, kv, mask):
    att = getattr(layer, f"{s}_attention")
    y = np_layer_norm(x + np_mha(att, query, kv, mask), getattr(layer, f"{s}_attention_norm"))
    return np_layer_norm(y + np_ffn(getattr(layer, f"{s}_ffn"), y), getattr(layer, f"{s}_ffn_norm"))


def np_co_attention(layer, items, providers, mask, direction):
    i, p = items.astype(np.float64), providers.astype(np.float64)
    if direction == "cross":      # CA^i = softmax(Q^i K^p^T) V^p ; CA^p = softmax(Q^p K^i^T) V^i
        return (np_stream(layer, "item", i, i, p, mask),
                np_stream(layer, "provider", p, p, i, mask))
    # reference: CA^i = softmax(Q^p K^i^T) V^i ; CA^p = softmax(Q^i K^p^T) V^p
    return (np_stream(layer, "item", i, p, i, mask),
            np_stream(layer, "provider", p, i, p, mask))


def np_causal(valid):
    n = valid.shape[1]
    return np.tril(np.ones((n, n), bool))[None] & valid[:, :, None] & valid[:, None, :]


def streams(b=3, n=5, h=16, seed=0):
    rng = np.random.default_rng(seed)
    items = rng.normal(0, 1, (b, n, h)).astype(np.float32)
    providers = rng.normal(0, 1, (b, n, h)).astype(np.float32)
    lengths = rng.integers(1, n + 1, size=b)
    lengths[0] = n
    valid = np.arange(n)[None, :] < lengths[:, None]
    return items, providers, valid


def make(direction, seed=1, **kwargs):
    items, providers, valid = streams()
    layer = CoAttentionFusion(hidden=16, heads=4, inner=32, direction=direction, **kwargs)
    layer(items, providers, mask=valid)
    randomize(layer, seed)
    return layer


# ---------------------------------------------------------------- vs numpy
@pytest.mark.parametrize("direction", ["cross", "reference"])
def test_matches_numpy_with_causal_mask(direction):
    items, providers, valid = streams(seed=2)
    layer = make(direction)
    gi, gp = layer(items, providers, mask=valid, training=False)
    wi, wp = np_co_attention(layer, items, providers, np_causal(valid), direction)
    np.testing.assert_allclose(gi.numpy(), wi, atol=1e-5)
    np.testing.assert_allclose(gp.numpy(), wp, atol=1e-5)


@pytest.mark.parametrize("direction", ["cross", "reference"])
def test_matches_numpy_padding_mask_3d_mask_and_no_mask(direction):
    items, providers, valid = streams(seed=3)
    layer = make(direction, seed=4, causal=False)
    pad = valid[:, :, None] & valid[:, None, :]
    gi, gp = layer(items, providers, mask=valid, training=False)
    wi, wp = np_co_attention(layer, items, providers, pad, direction)
    np.testing.assert_allclose(gi.numpy(), wi, atol=1e-5)
    np.testing.assert_allclose(gp.numpy(), wp, atol=1e-5)
    # A ready [B, L, L] mask is used as is (here: causal, although causal=False).
    gi, gp = layer(items, providers, mask=causal_mask(valid), training=False)
    wi, wp = np_co_attention(layer, items, providers, np_causal(valid), direction)
    np.testing.assert_allclose(gi.numpy(), wi, atol=1e-5)
    np.testing.assert_allclose(gp.numpy(), wp, atol=1e-5)
    gi, gp = layer(items, providers, training=False)
    wi, wp = np_co_attention(layer, items, providers, None, direction)
    np.testing.assert_allclose(gi.numpy(), wi, atol=1e-5)
    np.testing.assert_allclose(gp.numpy(), wp, atol=1e-5)


def test_directions_differ_with_the_same_weights():
    items, providers, valid = streams(seed=5)
    cross = make("cross", seed=6)
    ref = make("reference", seed=6)
    ref.set_weights(cross.get_weights())
    a = cross(items, providers, mask=valid, training=False)
    b = ref(items, providers, mask=valid, training=False)
    assert not np.allclose(a[0].numpy(), b[0].numpy())
    assert not np.allclose(a[1].numpy(), b[1].numpy())


def test_cross_item_stream_reads_providers():
    """In "cross" the item update's keys/values are the providers: item_attention's key kernel
    acts on the provider stream (W^{K^p} of Eq. 10)."""
    items, providers, valid = streams(seed=7)
    layer = make("cross", seed=8)
    base = layer(items, providers, mask=valid, training=False)[0].numpy()
    k = layer.item_attention._key_dense.kernel
    k.assign(k * 2.0)
    moved = layer(items, providers, mask=valid, training=False)[0].numpy()
    assert not np.allclose(base, moved)
    # Each stream keeps its own weights: the provider stream's attention does not touch items.
    pk = layer.provider_attention._query_dense.kernel
    pk.assign(pk * 3.0)
    np.testing.assert_array_equal(layer(items, providers, mask=valid, training=False)[0].numpy(),
                                  moved)


# ---------------------------------------------------------------- masking behaviour
@pytest.mark.parametrize("direction", ["cross", "reference"])
def test_padding_and_future_do_not_change_valid_outputs(direction):
    items, providers, valid = streams(b=4, seed=9)
    valid[3] = False                                            # an empty history
    layer = make(direction, seed=10)
    gi, gp = (t.numpy() for t in layer(items, providers, mask=valid, training=False))
    assert np.isfinite(gi).all() and np.isfinite(gp).all()
    rng = np.random.default_rng(11)
    ni = np.where(valid[..., None], items, rng.normal(0, 50, items.shape)).astype(np.float32)
    npv = np.where(valid[..., None], providers, rng.normal(0, 50, items.shape)).astype(np.float32)
    hi, hp = (t.numpy() for t in layer(ni, npv, mask=valid, training=False))
    assert np.isfinite(hi).all() and np.isfinite(hp).all()
    np.testing.assert_allclose(hi[valid], gi[valid], atol=1e-5)
    np.testing.assert_allclose(hp[valid], gp[valid], atol=1e-5)
    # Causal: steps after t (items and providers) do not change the outputs at steps <= t.
    full = np.ones_like(valid)
    fi, fp = (t.numpy() for t in layer(items, providers, mask=full, training=False))
    ci, cp = items.copy(), providers.copy()
    ci[:, 3:] += 2.0
    cp[:, 3:] -= 2.0
    ki, kp = (t.numpy() for t in layer(ci, cp, mask=full, training=False))
    np.testing.assert_allclose(ki[:, :3], fi[:, :3], atol=1e-5)
    np.testing.assert_allclose(kp[:, :3], fp[:, :3], atol=1e-5)
    assert not np.allclose(ki[:, 3:], fi[:, 3:])


def test_training_dropout_finite_and_active():
    items, providers, valid = streams(seed=12)
    layer = CoAttentionFusion(hidden=16, heads=2, inner=32)
    a = layer(items, providers, mask=valid, training=False)[0].numpy()
    b = layer(items, providers, mask=valid, training=True)[0].numpy()
    assert np.isfinite(b).all() and not np.allclose(a, b)


# ---------------------------------------------------------------- config / errors
@pytest.mark.parametrize("direction", ["cross", "reference"])
def test_get_config_round_trip(direction):
    items, providers, valid = streams(seed=13)
    layer = make(direction, seed=14, causal=False, attention_dropout=0.1, eps=1e-6)
    cfg = layer.get_config()
    assert (cfg["direction"], cfg["hidden"], cfg["heads"], cfg["inner"], cfg["causal"],
            cfg["eps"], cfg["attention_dropout"], cfg["dropout"]) == (
        direction, 16, 4, 32, False, 1e-6, 0.1, 0.5)
    clone = CoAttentionFusion.from_config(cfg)
    clone(items, providers, mask=valid)
    clone.set_weights(layer.get_weights())
    for x, y in zip(clone(items, providers, mask=valid, training=False),
                    layer(items, providers, mask=valid, training=False)):
        np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6)
    again = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
    assert type(again) is CoAttentionFusion and again.get_config() == cfg


def test_defaults():
    layer = CoAttentionFusion()
    assert (layer.hidden, layer.heads, layer.inner, layer.dropout, layer.attention_dropout,
            layer.direction, layer.eps, layer.causal) == (
        64, 2, 256, 0.5, 0.5, "cross", 1e-12, True)


@pytest.mark.parametrize("kwargs", [
    dict(direction="both"), dict(hidden=16, heads=3), dict(dropout=1.5), dict(eps=-1.0),
    dict(activation="nope"), dict(inner=0),
])
def test_bad_args(kwargs):
    with pytest.raises(ValueError):
        CoAttentionFusion(**kwargs)


def test_bad_mask_rank():
    items, providers, _ = streams(seed=15)
    layer = CoAttentionFusion(hidden=16, heads=2, inner=32)
    with pytest.raises(ValueError):
        layer(items, providers, mask=np.ones((3,), bool))
