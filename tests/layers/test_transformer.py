"""TransformerBlock / TransformerEncoder and the IPSRec mask helpers
(tfrec_pkg/layers/transformer.py) against an independent numpy implementation."""

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.layers.transformer import (TransformerBlock, TransformerEncoder,
                                          aligned_causal_mask, causal_mask, padding_mask,
                                          plain_causal_mask)
from numpy_transformer import np_ffn, np_layer_norm, np_mha, randomize


def np_block(block, x, mask):
    if block.norm == "post":
        x = np_layer_norm(x + np_mha(block.attention, x, x, mask), block.attention_norm)
        return np_layer_norm(x + np_ffn(block.ffn, x), block.ffn_norm)
    h = np_layer_norm(x, block.attention_norm)
    x = x + np_mha(block.attention, h, h, mask)
    return x + np_ffn(block.ffn, np_layer_norm(x, block.ffn_norm))


def np_encoder(enc, x, mask):
    for block in enc.blocks:
        x = np_block(block, x, mask)
    if enc.final_norm is not None:
        x = np_layer_norm(x, enc.final_norm)
    return x


def inputs(b=3, n=5, h=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (b, n, h)).astype(np.float32)
    lengths = rng.integers(1, n + 1, size=b)
    lengths[0] = n
    valid = np.arange(n)[None, :] < lengths[:, None]          # left-aligned
    return x, valid


# ---------------------------------------------------------------- masks
def test_aligned_causal_mask_hand_written_l3():
    valid = np.array([[1, 1, 0], [1, 1, 1]], bool)
    got = aligned_causal_mask(valid).numpy()
    #            i0 i1 i2 p0 p1 p2
    expected0 = [[1, 0, 0, 1, 0, 0],   # item step 0: itself + provider 0
                 [1, 1, 0, 1, 1, 0],   # item step 1: items/providers 0..1
                 [0, 0, 0, 0, 0, 0],   # padded item step
                 [1, 0, 0, 1, 0, 0],   # provider step 0
                 [1, 1, 0, 1, 1, 0],   # provider step 1
                 [0, 0, 0, 0, 0, 0]]   # padded provider step
    expected1 = [[1, 0, 0, 1, 0, 0],
                 [1, 1, 0, 1, 1, 0],
                 [1, 1, 1, 1, 1, 1],
                 [1, 0, 0, 1, 0, 0],
                 [1, 1, 0, 1, 1, 0],
                 [1, 1, 1, 1, 1, 1]]
    assert got.shape == (2, 6, 6) and got.dtype == bool
    np.testing.assert_array_equal(got[0], np.array(expected0, bool))
    np.testing.assert_array_equal(got[1], np.array(expected1, bool))


def test_plain_causal_mask_hand_written_l3():
    valid = np.array([[1, 1, 0]], bool)
    got = plain_causal_mask(valid).numpy()[0]
    expected = [[1, 0, 0, 0, 0, 0],   # items never see providers
                [1, 1, 0, 0, 0, 0],
                [0, 0, 0, 0, 0, 0],
                [1, 1, 0, 1, 0, 0],   # provider 0 sees ALL valid items (reference's look-ahead)
                [1, 1, 0, 1, 1, 0],
                [0, 0, 0, 0, 0, 0]]
    np.testing.assert_array_equal(got, np.array(expected, bool))


def test_causal_and_padding_masks():
    valid = np.array([[1, 1, 1, 0]], bool)
    c = causal_mask(valid).numpy()[0]
    p = padding_mask(valid).numpy()[0]
    v = valid[0]
    np.testing.assert_array_equal(c, np.tril(np.ones((4, 4), bool)) & v[:, None] & v[None, :])
    np.testing.assert_array_equal(p, v[:, None] & v[None, :])
    with pytest.raises(ValueError):
        causal_mask(np.ones((2, 3, 3), bool))


# ---------------------------------------------------------------- block / encoder vs numpy
@pytest.mark.parametrize("norm", ["post", "pre"])
def test_block_matches_numpy(norm):
    x, valid = inputs()
    block = TransformerBlock(hidden=16, heads=4, inner=32, norm=norm)
    mask = causal_mask(valid)
    block(x, attention_mask=mask)
    randomize(block, 1)
    got = block(x, attention_mask=mask, training=False).numpy()
    want = np_block(block, x.astype(np.float64), mask.numpy())
    np.testing.assert_allclose(got, want, atol=1e-5)
    # No mask: every position attends to every position.
    np.testing.assert_allclose(block(x, training=False).numpy(),
                               np_block(block, x.astype(np.float64), None), atol=1e-5)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_encoder_2l_concatenation_matches_numpy(norm):
    x, valid = inputs(b=3, n=4, h=16, seed=2)
    x2 = np.concatenate([x, x[:, ::-1] * 0.5], axis=1)       # [B, 2L, H]: items, providers
    enc = TransformerEncoder(num_layers=2, hidden=16, heads=2, inner=32, norm=norm)
    mask = aligned_causal_mask(valid)
    enc(x2, attention_mask=mask)
    randomize(enc, 3)
    got = enc(x2, attention_mask=mask, training=False).numpy()
    np.testing.assert_allclose(got, np_encoder(enc, x2.astype(np.float64), mask.numpy()), atol=1e-5)


def test_default_sizes_and_init():
    enc = TransformerEncoder()
    x, valid = inputs(b=2, n=6, h=64, seed=4)
    out = enc(x, attention_mask=causal_mask(valid), training=False)
    assert out.shape == (2, 6, 64)
    block = enc.blocks[0]
    assert (enc.num_layers, block.heads, block.inner, block.dropout, block.attention_dropout,
            block.eps, block.norm) == (2, 2, 256, 0.5, 0.5, 1e-12, "post")
    assert block.attention._key_dim == 32
    k = block.ffn.dense_1.kernel.numpy()
    assert abs(k.std() - 0.02) < 0.003 and abs(k.mean()) < 0.003
    assert abs(block.attention._query_dense.kernel.numpy().std() - 0.02) < 0.003
    np.testing.assert_allclose(out.numpy(), np_encoder(enc, x.astype(np.float64),
                                                       causal_mask(valid).numpy()), atol=1e-5)


# ---------------------------------------------------------------- masking behaviour
def test_padding_never_changes_valid_outputs_and_no_nan():
    x, valid = inputs(b=4, n=5, h=16, seed=5)
    valid[3] = False                                           # an empty history
    x2 = np.concatenate([x, x + 1.0], axis=1)
    mask = aligned_causal_mask(valid)
    enc = TransformerEncoder(num_layers=2, hidden=16, heads=2, inner=32)
    enc(x2, attention_mask=mask)
    randomize(enc, 6)
    out = enc(x2, attention_mask=mask, training=False).numpy()
    assert np.isfinite(out).all()
    v2 = np.concatenate([valid, valid], axis=1)
    noisy = np.where(v2[..., None], x2, np.random.default_rng(7).normal(0, 50, x2.shape))
    out2 = enc(noisy.astype(np.float32), attention_mask=mask, training=False).numpy()
    assert np.isfinite(out2).all()
    np.testing.assert_allclose(out2[v2], out[v2], atol=1e-5)
    assert not np.allclose(out2[~v2], out[~v2])               # padded rows do see themselves
    # Training mode (dropout active) must stay finite too.
    assert np.isfinite(enc(x2, attention_mask=mask, training=True).numpy()).all()


def test_aligned_mask_has_no_look_ahead_but_plain_causal_does():
    x, _ = inputs(b=2, n=4, h=16, seed=8)
    valid = np.ones((2, 4), bool)
    x2 = np.concatenate([x, -x], axis=1)
    changed = x2.copy()
    changed[:, 3] += 3.0                                       # the item of the last step
    enc = TransformerEncoder(num_layers=1, hidden=16, heads=2, inner=32)
    enc(x2)
    randomize(enc, 9)
    run = lambda inp, m: enc(inp, attention_mask=m, training=False).numpy()  # noqa: E731
    a = aligned_causal_mask(valid)
    early = [0, 1, 2, 4, 5, 6]                                 # items and providers of steps 0..2
    np.testing.assert_allclose(run(changed, a)[:, early], run(x2, a)[:, early], atol=1e-6)
    p = plain_causal_mask(valid)
    assert not np.allclose(run(changed, p)[:, 4], run(x2, p)[:, 4])   # provider 0 sees item 3


def test_dropout_only_in_training():
    x, valid = inputs(seed=10)
    block = TransformerBlock(hidden=16, heads=2, inner=32)
    m = causal_mask(valid)
    a = block(x, attention_mask=m, training=False).numpy()
    np.testing.assert_array_equal(a, block(x, attention_mask=m, training=False).numpy())
    assert not np.allclose(a, block(x, attention_mask=m, training=True).numpy())


# ---------------------------------------------------------------- config / errors
@pytest.mark.parametrize("cls,kwargs", [
    (TransformerBlock, dict(hidden=16, heads=4, inner=24, dropout=0.1, attention_dropout=0.2,
                            activation="relu", norm="pre", eps=1e-6)),
    (TransformerEncoder, dict(num_layers=3, hidden=16, heads=2, inner=32, norm="pre")),
])
def test_get_config_round_trip(cls, kwargs):
    layer = cls(**kwargs)
    x, valid = inputs(seed=11)
    m = causal_mask(valid)
    layer(x, attention_mask=m)
    randomize(layer, 12)
    cfg = layer.get_config()
    for k, v in kwargs.items():
        assert cfg[k] == v
    clone = cls.from_config(cfg)
    clone(x, attention_mask=m)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x, attention_mask=m, training=False).numpy(),
                               layer(x, attention_mask=m, training=False).numpy(), atol=1e-6)
    again = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
    assert type(again) is cls and again.get_config() == cfg


@pytest.mark.parametrize("kwargs", [
    dict(hidden=10, heads=3), dict(norm="middle"), dict(dropout=1.0), dict(attention_dropout=-0.1),
    dict(activation="no_such_activation"), dict(hidden=0), dict(eps=0.0),
])
def test_bad_block_args(kwargs):
    with pytest.raises(ValueError):
        TransformerBlock(**kwargs)


def test_bad_encoder_args():
    with pytest.raises(ValueError):
        TransformerEncoder(num_layers=0)
    with pytest.raises(ValueError):
        TransformerEncoder(hidden=64, heads=5)
