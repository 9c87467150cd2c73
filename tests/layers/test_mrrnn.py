"""IMN-Net's recurrent layers (tfrec_pkg/layers/mrrnn.py) against independent float64 numpy
renderings of Eqs. (1), (2), (6), (7)-(10) and (11), written from the paper with one matrix
product per printed term (the layers use one Dense over the concatenated inputs; the numpy
side splits the kernel into the documented W_1, W_2, ... row blocks). Every weight is set to a
random value, so a dropped term shows up.

Each equation test also renders the equation with one term left out (or one input swapped)
and asserts that this rendering misses the layer's output by more than 100x the tolerance: a
layer that lost that term would fail the test.

Mutations tried on the layer code, one at a time (each made the named tests fail):
 1. Eq. (1): the item state left out of the user update -> mrrnn_eqs_1_2[both], jodie_variant
 2. Eq. (2): the item update fed the *new* user state -> mrrnn_eqs_1_2[both], jodie_variant
 3. Eqs. (1)-(2): Delta_u and Delta_i swapped -> mrrnn_eqs_1_2[both], jodie_variant
 4. MRRNN activation hard-wired to tanh -> mrrnn_eqs_1_2[both]
 5. Eq. (6): the purchase flag ignored (clicks move h^l) -> resource_cell_clicks_leave_state_unchanged
 6. Eq. (6): the previous h^l left out -> resource_cell_eq6, resource_cell_clicks_leave_state_unchanged,
    resource_cell_without_features
 7. Eq. (8): (1 + w) * h written as w * h -> time_projection_eqs_7_10_one_w_t_for_both_states,
    time_projection_is_the_identity_at_delta_zero, time_projection_jodie_bias
 8. Eq. (11): "add" returning h^g alone -> predictor_eq11[add]
 9. Eq. (11): the static user embedding left out -> predictor_eq11[all four]
"""
import json

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg.layers.mrrnn import (COMBINATIONS, ItemEmbeddingPredictor, MRRNNCell, ResourceLimitedCell,
                                    TimeProjection, combine_user_states)

ATOL = 1e-5
B, D, F, E = 6, 4, 3, 5          # batch, dynamic state width, feature width, static embedding width


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def randomise(layer, rng, scale=0.7):
    for w in layer.trainable_weights:
        w.assign(rng.normal(0.0, scale, w.shape))


def blocks(kernel, widths):
    """The row blocks W_1, W_2, ... of a Dense kernel over concatenated inputs."""
    assert kernel.shape[0] == sum(widths)
    return np.split(kernel, np.cumsum(widths)[:-1], axis=0)


def affine(terms, drop=None):
    """Sum of the printed terms {name: value}, leaving out ``drop``."""
    return sum(v for k, v in terms.items() if k != drop)


def assert_equation(got, render, mutations):
    """``got`` equals ``render()`` within ATOL, and every mutated rendering ``render(m)`` misses
    it by more than 100 ATOL."""
    np.testing.assert_allclose(got, render(), atol=ATOL, rtol=0)
    for m in mutations:
        assert np.abs(render(m) - got).max() > 100 * ATOL, f"mutation {m!r} would go unnoticed"


def f64(x):
    return tf.constant(x, tf.float64)


# --------------------------------------------------------------------------------------------
# Eqs. (1)-(2)
# --------------------------------------------------------------------------------------------


def mrrnn_inputs(seed=0, features=True):
    rng = np.random.default_rng(seed)
    hu, hi = rng.uniform(0, 1, (B, D)), rng.uniform(0, 1, (B, D))
    du, di = rng.normal(size=B), rng.normal(size=B)
    v = rng.normal(size=(B, F)) if features else None
    return hu, hi, du, di, v


def np_mrrnn(cell, hu, hi, du, di, v, act=sigmoid, mutation=None):
    """Eqs. (1)-(2) in numpy, from the states before the interaction; ``mutation`` names a
    dropped term ("u:..." / "i:...") or "item reads new user" / "deltas swapped"."""
    widths = [D, D, 1] + ([F] if v is not None else [])
    wu = blocks(cell.user_update.kernel.numpy(), widths)
    wi = blocks(cell.item_update.kernel.numpy(), widths)
    du_, di_ = (di, du) if mutation == "deltas swapped" else (du, di)
    user_terms = {"u:h_u": hu @ wu[0], "u:h_i": hi @ wu[1], "u:delta": du_[:, None] @ wu[2]}
    if v is not None:
        user_terms["u:v"] = v @ wu[3]
    new_u = act(affine(user_terms, mutation))                                         # Eq. (1)
    hu_seen = new_u if mutation == "item reads new user" else hu
    item_terms = {"i:h_i": hi @ wi[0], "i:h_u": hu_seen @ wi[1], "i:delta": di_[:, None] @ wi[2]}
    if v is not None:
        item_terms["i:v"] = v @ wi[3]
    new_i = act(affine(item_terms, mutation))                                         # Eq. (2)
    return np.concatenate([new_u, new_i], -1)


@pytest.mark.parametrize("features", [True, False], ids=["features", "no_features"])
def test_mrrnn_eqs_1_2(features):
    hu, hi, du, di, v = mrrnn_inputs(features=features)
    cell = MRRNNCell(D, dtype="float64")
    args = (f64(hu), f64(hi), f64(du), f64(di), None if v is None else f64(v))
    cell(*args)
    randomise(cell, np.random.default_rng(1))
    new_u, new_i = cell(*args)
    got = np.concatenate([new_u.numpy(), new_i.numpy()], -1)
    terms = ["u:h_u", "u:h_i", "u:delta", "i:h_i", "i:h_u", "i:delta"] + (["u:v", "i:v"] if features else [])
    assert_equation(got, lambda m=None: np_mrrnn(cell, hu, hi, du, di, v, mutation=m),
                    terms + ["item reads new user", "deltas swapped"])
    # the paper's sigma, not JODIE's tanh
    assert np.abs(np_mrrnn(cell, hu, hi, du, di, v, act=np.tanh) - got).max() > 100 * ATOL
    assert not cell.user_update.use_bias and cell.user_update.kernel.shape == (2 * D + 1 + (F if features else 0), D)


def test_mrrnn_jodie_variant_tanh_bias_l2_normalised():
    hu, hi, du, di, v = mrrnn_inputs(seed=2)
    cell = MRRNNCell(D, activation="tanh", use_bias=True, l2_normalize=True, dtype="float64")
    args = (f64(hu), f64(hi), f64(du), f64(di), f64(v))
    cell(*args)
    randomise(cell, np.random.default_rng(3))
    new_u, new_i = cell(*args)
    bu, bi = cell.user_update.bias.numpy(), cell.item_update.bias.numpy()
    wu = blocks(cell.user_update.kernel.numpy(), [D, D, 1, F])
    wi = blocks(cell.item_update.kernel.numpy(), [D, D, 1, F])
    u = np.tanh(hu @ wu[0] + hi @ wu[1] + du[:, None] @ wu[2] + v @ wu[3] + bu)
    i = np.tanh(hi @ wi[0] + hu @ wi[1] + di[:, None] @ wi[2] + v @ wi[3] + bi)
    np.testing.assert_allclose(new_u.numpy(), u / np.linalg.norm(u, axis=-1, keepdims=True), atol=ATOL)
    np.testing.assert_allclose(new_i.numpy(), i / np.linalg.norm(i, axis=-1, keepdims=True), atol=ATOL)


def test_deltas_as_rows_or_columns_and_no_state_in_the_layers():
    hu, hi, du, di, v = mrrnn_inputs(seed=4)
    cell = MRRNNCell(D, dtype="float64")
    a = cell(f64(hu), f64(hi), f64(du), f64(di), f64(v))
    b = cell(f64(hu), f64(hi), f64(du[:, None]), f64(di[:, None]), f64(v))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    # the layers keep weights only: calling again gives the same states, nothing is stored
    assert not cell.non_trainable_weights


# --------------------------------------------------------------------------------------------
# Eq. (6)
# --------------------------------------------------------------------------------------------


def resource_inputs(seed=5):
    rng = np.random.default_rng(seed)
    hl, ug, hi = (rng.uniform(0, 1, (B, D)) for _ in range(3))
    ubar, ibar = rng.normal(size=(B, E)), rng.normal(size=(B, E))
    dp, vp = rng.normal(size=B), rng.normal(size=(B, F))
    purchase = np.array([1, 0, 1, 1, 0, 1], bool)
    return hl, ug, hi, ubar, ibar, dp, vp, purchase


def np_resource(cell, hl, ug, hi, ubar, ibar, dp, vp, mutation=None):
    """Eq. (6) for every row (a purchase everywhere)."""
    w = blocks(cell.limited_update.kernel.numpy(), [D, D, D, E, E, 1, F])
    terms = {"W1 h_l": hl @ w[0], "W2 u_g": ug @ w[1], "W3 h_i": hi @ w[2], "W4 u_bar": ubar @ w[3],
             "W5 i_bar": ibar @ w[4], "W6 delta": dp[:, None] @ w[5], "W7 v_p": vp @ w[6]}
    return sigmoid(affine(terms, mutation))


def built_resource_cell(inputs):
    hl, ug, hi, ubar, ibar, dp, vp, purchase = inputs
    cell = ResourceLimitedCell(D, dtype="float64")
    args = [f64(x) for x in (hl, ug, hi, ubar, ibar, dp)]
    cell(*args, tf.constant(purchase), features=f64(vp))
    randomise(cell, np.random.default_rng(6))
    return cell, args


def test_resource_cell_eq6():
    inputs = resource_inputs()
    hl, ug, hi, ubar, ibar, dp, vp, purchase = inputs
    cell, args = built_resource_cell(inputs)
    got = cell(*args, tf.ones(B, tf.bool), features=f64(vp)).numpy()
    assert_equation(got, lambda m=None: np_resource(cell, hl, ug, hi, ubar, ibar, dp, vp, m),
                    ["W1 h_l", "W2 u_g", "W3 h_i", "W4 u_bar", "W5 i_bar", "W6 delta", "W7 v_p"])


def test_resource_cell_clicks_leave_state_unchanged():
    inputs = resource_inputs()
    hl, ug, hi, ubar, ibar, dp, vp, purchase = inputs
    cell, args = built_resource_cell(inputs)
    got = cell(*args, tf.constant(purchase.astype(np.int64)), features=f64(vp)).numpy()
    np.testing.assert_array_equal(got[~purchase], hl[~purchase])                     # exactly
    np.testing.assert_allclose(got[purchase], np_resource(cell, *inputs[:7])[purchase], atol=ATOL)
    assert np.abs(got[~purchase] - np_resource(cell, *inputs[:7])[~purchase]).max() > 100 * ATOL
    # gradients reach the old state through the click rows only
    hl_t = f64(hl)
    with tf.GradientTape() as tape:
        tape.watch(hl_t)
        out = cell(hl_t, *args[1:], tf.constant(purchase), features=f64(vp))
        loss = tf.reduce_sum(tf.boolean_mask(out, ~purchase))
    np.testing.assert_array_equal(tape.gradient(loss, hl_t).numpy()[~purchase], 1.0)


def test_resource_cell_without_features():
    hl, ug, hi, ubar, ibar, dp, _, _ = resource_inputs(seed=7)
    cell = ResourceLimitedCell(D, dtype="float64")
    args = [f64(x) for x in (hl, ug, hi, ubar, ibar, dp)]
    cell(*args, tf.ones(B, tf.bool))
    randomise(cell, np.random.default_rng(8))
    w = blocks(cell.limited_update.kernel.numpy(), [D, D, D, E, E, 1])
    want = sigmoid(hl @ w[0] + ug @ w[1] + hi @ w[2] + ubar @ w[3] + ibar @ w[4] + dp[:, None] @ w[5])
    np.testing.assert_allclose(cell(*args, tf.ones(B, tf.bool)).numpy(), want, atol=ATOL)


# --------------------------------------------------------------------------------------------
# Eqs. (7)-(10)
# --------------------------------------------------------------------------------------------


def np_projection(wt, h, delta, bias=None, mutation=None):
    w = delta[:, None] * wt + (0.0 if bias is None else bias)                          # Eqs. (7), (9)
    if mutation == "W_t Delta":
        return h
    if mutation == "1 +":
        return w * h
    return (1.0 + w) * h                                                              # Eqs. (8), (10)


def test_time_projection_eqs_7_10_one_w_t_for_both_states():
    rng = np.random.default_rng(9)
    hg, hl = rng.uniform(0, 1, (B, D)), rng.uniform(0, 1, (B, D))
    dg, dl = rng.normal(size=B), rng.normal(size=B)
    proj = TimeProjection(dtype="float64")
    got_g = proj(f64(hg), f64(dg)).numpy()                                            # Eqs. (7)-(8)
    got_l = proj(f64(hl), f64(dl[:, None])).numpy()                                   # Eqs. (9)-(10)
    wt = proj.kernel.numpy()
    assert wt.shape == (1, D) and len(proj.trainable_weights) == 1
    assert_equation(got_g, lambda m=None: np_projection(wt, hg, dg, mutation=m), ["W_t Delta", "1 +"])
    assert_equation(got_l, lambda m=None: np_projection(wt, hl, dl, mutation=m), ["W_t Delta", "1 +"])


def test_time_projection_is_the_identity_at_delta_zero():
    h = np.random.default_rng(10).normal(size=(B, D))
    proj = TimeProjection(dtype="float64")
    proj(f64(h), f64(np.ones(B)))
    proj.kernel.assign(np.random.default_rng(11).normal(size=(1, D)))
    np.testing.assert_array_equal(proj(f64(h), f64(np.zeros(B))).numpy(), h)


def test_time_projection_jodie_bias():
    rng = np.random.default_rng(12)
    h, delta = rng.normal(size=(B, D)), rng.normal(size=B)
    proj = TimeProjection(use_bias=True, dtype="float64")
    got = proj(f64(h), f64(delta)).numpy()
    np.testing.assert_allclose(got, np_projection(proj.kernel.numpy(), h, delta, proj.bias.numpy()), atol=ATOL)
    assert np.abs(proj(f64(h), f64(np.zeros(B))).numpy() - h).max() > 100 * ATOL   # no longer the identity


# --------------------------------------------------------------------------------------------
# Eq. (11)
# --------------------------------------------------------------------------------------------


def np_combine(hg, hl, mode):
    return {"add": hg + hl, "concat": np.concatenate([hg, hl], -1), "product": hg * hl, "general": hg}[mode]


def np_predictor(layer, hg, hl, ubar, hi_last, ibar_last, mode, mutation=None):
    if mutation == "h_l in f":   # the resource-limited state dropped from f
        hl = np.zeros_like(hl) if mode in ("add", "concat") else np.ones_like(hl)
    f = np_combine(hg, hl, mode)
    w = blocks(layer.prediction.kernel.numpy(), [f.shape[-1], E, D, E])
    return affine({"W1 f": f @ w[0], "W2 u_bar": ubar @ w[1], "W3 h_i(t-1)": hi_last @ w[2],
                   "W4 i_bar(t-1)": ibar_last @ w[3]}, mutation)                      # Eq. (11)


@pytest.mark.parametrize("mode", COMBINATIONS)
def test_predictor_eq11(mode):
    rng = np.random.default_rng(13)
    hg, hl, hi_last = (rng.normal(size=(B, D)) for _ in range(3))
    ubar, ibar_last = rng.normal(size=(B, E)), rng.normal(size=(B, E))
    layer = ItemEmbeddingPredictor(E, combine=mode, dtype="float64")
    args = [f64(x) for x in (hg, hl, ubar, hi_last, ibar_last)]
    layer(*args)
    randomise(layer, np.random.default_rng(14))
    got = layer(*args).numpy()
    assert got.shape == (B, E)
    mutations = ["W1 f", "W2 u_bar", "W3 h_i(t-1)", "W4 i_bar(t-1)"] + ([] if mode == "general" else ["h_l in f"])
    assert_equation(got, lambda m=None: np_predictor(layer, hg, hl, ubar, hi_last, ibar_last, mode, m), mutations)
    if mode == "general":   # IMN-Net*: h^l plays no part
        np.testing.assert_array_equal(layer(args[0], args[1] * 0.0, *args[2:]).numpy(), got)


def test_combine_user_states_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        combine_user_states(tf.ones((1, 2)), tf.ones((1, 2)), "max")


# --------------------------------------------------------------------------------------------
# configs and arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", [
    MRRNNCell(8, activation="tanh", use_bias=True, l2_normalize=True),
    ResourceLimitedCell(8, activation="relu", use_bias=True),
    TimeProjection(use_bias=True),
    ItemEmbeddingPredictor(16, combine="concat", use_bias=True),
], ids=lambda layer: type(layer).__name__)
def test_config_round_trip(layer):
    config = layer.get_config()
    json.dumps(config)
    assert type(layer).from_config(config).get_config() == config
    restored = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


def test_bad_arguments():
    for make, match in ((lambda: MRRNNCell(0), "state_dim"), (lambda: ResourceLimitedCell(0), "state_dim"),
                        (lambda: ItemEmbeddingPredictor(0), "output_dim"),
                        (lambda: ItemEmbeddingPredictor(4, combine="max"), "combine")):
        with pytest.raises(ValueError, match=match):
            make()
