"""IPRec layers (tfrec_pkg/layers/package.py, AdditiveAttention in attention.py) against
independent float64 numpy renderings of the paper's Eqs. (1)-(14) (Eqs. (15)-(16) are
GatedAggregation again).

Every layer runs in float64 with all its weights (biases included) set to random values, so a
dropped term shows up; the numpy side reads the weights by attribute and writes [q || k] as an
explicit concatenation.

Mutations tried on the layer code, one at a time (each made the tests named fail; the file
was copied back after each; "intra[...]" = test_intra_package_matches_numpy, "additive[...]" =
test_additive_attention_matches_numpy, "gated[...]" / "user_objects[...]" likewise):

 1. AdditiveAttention: tf.nn.softmax instead of masked_softmax -> additive[all 8],
    intra[attention on], test_friendless_package..., test_padded_slots_do_not_matter[True],
    user_objects[True], test_user_object_aggregation_empty_user
 2. AdditiveAttention: score activation skipped (tanh; sigma in Eq. (12)) -> additive[all 8],
    intra[attention on], user_objects[True]
 3. AdditiveAttention: query block W_q q dropped -> additive[with query], intra[attention on],
    user_objects[True]
 4. Eq. (1): W_f^k and W_a^k swapped -> intra[all 6]
 5. Eq. (3): query a instead of a^k -> intra[attention on]
 6. Eq. (3): friend mask dropped -> intra[attention on], test_padded_slots_do_not_matter[True]
 7. Eqs. (4)-(5): user left out of the space attention (zero query) -> intra[attention on]
 8. Eq. (6): G = add instead of the element-wise product -> intra[product-*],
    test_friendless_package_has_f_zero_and_finite_outputs
 9. Eq. (6): combination order a*f <-> m*f -> intra[attention on]
10. Eq. (6): concat parts reversed (m||a instead of a||m) -> intra[concat-*]
11. Eq. (8): friend combinations of a friendless package not masked -> intra[all 6],
    test_friendless_package_has_f_zero_and_finite_outputs
12. w/o att: mean over the padded friend slots -> intra[attention off],
    test_padded_slots_do_not_matter[False]
13. w/o att: sum instead of mean over the K spaces -> intra[attention off]
14. Eq. (9): gate bias b dropped -> gated[sum], gated[mean]
15. Eq. (9): W1 p and W2 p_i swapped -> gated[sum], gated[mean]
16. Eq. (10): neighbour mask ignored -> gated[both], test_gated_aggregation_empty_is_identity[both]
17. reduce="mean": sum instead of mean -> gated[mean]
18. Eq. (11): sigma skipped -> user_objects[True], user_objects[False]
19. Eq. (13): sigma skipped -> user_objects[both], test_user_object_aggregation_empty_user
20. Eq. (14): empty types not masked -> user_objects[True], test_user_object_aggregation_empty_user
21. Eq. (12): z^T sigma(W[u||v]) form instead of sigma(w_t^T [u||v]) -> user_objects[True]
22. w/o dual: mean over the padded object slots -> user_objects[False]
23. AdditiveAttention: ``query_index`` ignored (each member's query by its segment) ->
    test_additive_attention_shared_keys_and_queries_match_numpy,
    test_distinct_friends_and_articles_by_index_match_numpy[True]
24. ``friend_index``: a slot's row taken as its slot number -> test_distinct_friends_...[both]
"""
import json

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.layers.attention import AdditiveAttention
from tfrec_pkg.layers.package import GatedAggregation, IntraPackageAttention, UserObjectAggregation

TOL = dict(atol=1e-9, rtol=1e-9)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_masked_softmax(s, mask):
    mask = np.broadcast_to(np.asarray(mask, bool), s.shape)
    z = np.where(mask, s, -np.inf)
    top = z.max(-1, keepdims=True)
    e = np.where(mask, np.exp(z - np.where(np.isfinite(top), top, 0.0)), 0.0)
    den = e.sum(-1, keepdims=True)
    return np.divide(e, den, out=np.zeros_like(e), where=den > 0)


def np_mean_weights(mask):
    mask = np.asarray(mask, np.float64)
    return mask / np.maximum(mask.sum(-1, keepdims=True), 1.0)


def np_attention(att, keys, query=None, mask=None):
    """score_j = z^T tanh(W [q || k_j] + b) or sigma(w^T [q || k_j] + b); masked softmax; sum."""
    w_k = att.key_dense.kernel.numpy()
    b = att.key_dense.bias.numpy() if att.use_bias else 0.0
    if query is None:
        x, w = keys, w_k
    else:
        q = np.broadcast_to(query[..., None, :], keys.shape[:-1] + query.shape[-1:])
        x, w = np.concatenate([q, keys], -1), np.concatenate([att.query_dense.kernel.numpy(), w_k], 0)
    act = {"tanh": np.tanh, "sigmoid": sigmoid}[att.activation]
    h = x @ w + b
    s = act(h)[..., 0] if att.single_layer else (act(h) @ att.score_dense.kernel.numpy())[..., 0]
    weights = np_masked_softmax(s, np.ones(s.shape, bool) if mask is None else mask)
    return np.einsum("...l,...ld->...d", weights, keys), weights


def randomize(layer, rng, scale=0.5):
    layer.set_weights([rng.normal(0, scale, size=w.shape) for w in layer.get_weights()])


def c64(*xs):
    return [tf.constant(x, tf.float64) for x in xs]


# ------------------------------------------------------------------ AdditiveAttention

@pytest.mark.parametrize("with_query", [True, False])
@pytest.mark.parametrize("single_layer, activation", [(False, "tanh"), (True, "sigmoid")])
@pytest.mark.parametrize("use_bias", [True, False])
def test_additive_attention_matches_numpy(with_query, single_layer, activation, use_bias):
    rng = np.random.default_rng(0)
    b, p, l, d, dq = 3, 2, 6, 5, 4                       # extra leading axis P
    keys = rng.normal(size=(b, p, l, d))
    query = rng.normal(size=(b, p, dq)) if with_query else None
    mask = rng.random((b, p, l)) < 0.6
    mask[0, 0] = False                                   # empty set
    mask[1, 0] = True                                    # full set
    layer = AdditiveAttention(units=7, activation=activation, single_layer=single_layer,
                              use_bias=use_bias, dtype="float64")
    args = dict(query=tf.constant(query)) if with_query else {}
    layer(tf.constant(keys), mask=tf.constant(mask), **args)
    randomize(layer, rng)
    pooled, weights = layer(tf.constant(keys), mask=tf.constant(mask), **args)
    ref_pooled, ref_weights = np_attention(layer, keys, query, mask)
    np.testing.assert_allclose(weights.numpy(), ref_weights, **TOL)
    np.testing.assert_allclose(pooled.numpy(), ref_pooled, **TOL)
    assert (weights.numpy()[~mask] == 0).all()
    np.testing.assert_array_equal(pooled.numpy()[0, 0], np.zeros(d))
    np.testing.assert_allclose(weights.numpy()[mask.any(-1)].sum(-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("with_query", [True, False])
def test_additive_attention_flat_segments_match_numpy(with_query):
    """The ragged form (one row per real key, a segment per set) gives the padded form's numbers:
    the numpy rendering runs on the padded [S, L, ...] layout, the layer on the real rows only.
    Keys carry an extra axis (IPRec's K spaces), so the softmax must run per trailing position."""
    rng = np.random.default_rng(5)
    s_, l, k, d, dq = 5, 4, 3, 6, 6
    keys = rng.normal(size=(s_, k, l, d))                          # padded: [S, K, L, d]
    query = rng.normal(size=(s_, k, dq)) if with_query else None
    mask = rng.random((s_, l)) < 0.6
    mask[1] = False                                                # an empty set
    mask[2] = True
    layer = AdditiveAttention(units=7, dtype="float64")
    seg, slot = np.nonzero(mask)                                   # the real rows, set by set
    flat = keys[seg, :, slot]                                      # [M, K, d]
    args = dict(query=tf.constant(query)) if with_query else {}
    layer(tf.constant(flat), segment_ids=tf.constant(seg), num_segments=s_, **args)
    randomize(layer, rng)
    pooled, weights = layer(tf.constant(flat), segment_ids=tf.constant(seg), num_segments=s_, **args)
    ref_pooled, ref_weights = np_attention(layer, keys, query, np.broadcast_to(mask[:, None], (s_, k, l)))
    np.testing.assert_allclose(pooled.numpy(), ref_pooled, **TOL)           # [S, K, d]
    np.testing.assert_allclose(weights.numpy(), ref_weights[seg, :, slot], **TOL)
    np.testing.assert_array_equal(pooled.numpy()[1], np.zeros((k, d)))
    with pytest.raises(ValueError, match="num_segments"):
        layer(tf.constant(flat), segment_ids=tf.constant(seg), **args)


def test_additive_attention_shared_keys_and_queries_match_numpy():
    """Distinct keys and queries referenced by index (``key_index``, ``query_index``) give the
    numbers of the padded form built from the rows they reference: the numpy rendering runs on
    [S, K, L, d] keys and [S, K, dq] queries gathered from the tables, the layer on the tables.
    Two sets share a query row, and keys repeat across and within sets."""
    rng = np.random.default_rng(9)
    s_, l, k, d, dq, v, a = 5, 4, 3, 6, 6, 4, 3
    key_table, query_table = rng.normal(size=(v, k, d)), rng.normal(size=(a, k, dq))
    key_of = rng.integers(0, v, size=(s_, l))                      # the key row of each slot
    query_of = np.array([0, 2, 2, 1, 0])                           # the query row of each set
    mask = rng.random((s_, l)) < 0.7
    mask[1] = False
    mask[3] = True
    layer = AdditiveAttention(units=7, dtype="float64")
    seg, slot = np.nonzero(mask)
    args = dict(segment_ids=tf.constant(seg), num_segments=s_, key_index=tf.constant(key_of[seg, slot]),
                query_index=tf.constant(query_of[seg]))
    layer(tf.constant(key_table), query=tf.constant(query_table), **args)
    randomize(layer, rng)
    pooled, weights = layer(tf.constant(key_table), query=tf.constant(query_table), **args)
    keys = np.moveaxis(key_table[key_of], 2, 1)                    # [S, K, L, d]
    ref_pooled, ref_weights = np_attention(layer, keys, query_table[query_of], np.broadcast_to(mask[:, None], (s_, k, l)))
    np.testing.assert_allclose(pooled.numpy(), ref_pooled, **TOL)
    np.testing.assert_allclose(weights.numpy(), ref_weights[seg, :, slot], **TOL)


def test_additive_attention_units_default_to_key_dim_and_values():
    rng = np.random.default_rng(1)
    keys, query, values = rng.normal(size=(2, 4, 6)), rng.normal(size=(2, 6)), rng.normal(size=(2, 4, 3))
    layer = AdditiveAttention(dtype="float64")
    pooled, weights = layer(*c64(keys), query=tf.constant(query), values=tf.constant(values))
    assert layer.key_dense.kernel.shape == (6, 6) and layer.score_dense.kernel.shape == (6, 1)  # w in R^{d x 2d}, z in R^d
    np.testing.assert_allclose(pooled.numpy(), np.einsum("bl,blv->bv", weights.numpy(), values), **TOL)
    np.testing.assert_allclose(weights.numpy(), np_attention(layer, keys, query)[1], **TOL)


# ------------------------------------------------------------------ IntraPackageAttention

def np_intra(layer, u, a, m, friends, fmask):
    """Eqs. (1)-(8); returns p, gamma, f."""
    u = np.broadcast_to(u, a.shape)
    f_k = []
    for w_f, w_a in zip(layer.w_f, layer.w_a):
        u_k, a_k = friends @ w_f.numpy(), a @ w_a.numpy()                          # Eq. (1)
        if layer.attention:
            f_k.append(np_attention(layer.friend_attention, u_k, a_k, fmask)[0])   # Eqs. (2)-(3)
        else:
            f_k.append(np.einsum("...l,...ld->...d", np_mean_weights(fmask), u_k))
    f_k = np.stack(f_k, -2)
    f = np_attention(layer.space_attention, f_k, u)[0] if layer.attention else f_k.mean(-2)  # Eqs. (4)-(5)

    def g(name, *xs):                                                              # Gamma, Eq. (6)
        if layer.fusion == "product":
            return np.prod(xs, axis=0)
        if layer.fusion == "add":
            return np.sum(xs, axis=0)
        return np.concatenate(xs, -1) @ layer.fuse[name].kernel.numpy()

    combos = np.stack([a, m, f, g("a*m", a, m), g("a*f", a, f), g("m*f", m, f), g("a*m*f", a, m, f)], -2)
    has = fmask.any(-1)
    cmask = np.stack([np.ones_like(has), np.ones_like(has), has, np.ones_like(has), has, has, has], -1)
    if layer.attention:
        p, gamma = np_attention(layer.combination_attention, combos, u, cmask)     # Eqs. (7)-(8)
    else:
        gamma = np_mean_weights(cmask)
        p = np.einsum("...c,...cd->...d", gamma, combos)
    return p, gamma, f


def package_inputs(rng, b=3, p=4, f=5, d=6):
    u = rng.normal(size=(b, 1, d))                        # one user per row, broadcast over P
    a, m = rng.normal(size=(b, p, d)), rng.normal(size=(b, p, d))
    friends = rng.normal(size=(b, p, f, d))
    fmask = rng.random((b, p, f)) < 0.5
    fmask[0, 0] = False                                   # friendless package
    fmask[0, 1] = True                                    # full friend list
    fmask[1, 2] = [True] + [False] * (f - 1)              # one friend
    friends[~fmask] = 50.0                                # padded slots hold junk
    return u, a, m, friends, fmask


@pytest.mark.parametrize("fusion", ["product", "add", "concat"])
@pytest.mark.parametrize("attention", [True, False])
def test_intra_package_matches_numpy(fusion, attention):
    rng = np.random.default_rng(2)
    u, a, m, friends, fmask = package_inputs(rng)
    layer = IntraPackageAttention(num_spaces=3, fusion=fusion, attention=attention, dtype="float64")
    layer(*c64(u, a, m, friends), tf.constant(fmask))
    randomize(layer, rng)
    p, gamma = layer(*c64(u, a, m, friends), tf.constant(fmask))
    ref_p, ref_gamma, ref_f = np_intra(layer, u, a, m, friends, fmask)
    assert p.shape == a.shape and gamma.shape == a.shape[:-1] + (7,)
    np.testing.assert_allclose(gamma.numpy(), ref_gamma, **TOL)
    np.testing.assert_allclose(p.numpy(), ref_p, **TOL)
    np.testing.assert_allclose(gamma.numpy().sum(-1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(ref_f[0, 0], np.zeros(6))
    if not attention:       # w/o att: every valid combination gets the same weight
        np.testing.assert_allclose(gamma.numpy()[0, 1], np.full(7, 1 / 7), atol=1e-12)
        np.testing.assert_allclose(gamma.numpy()[0, 0], [1 / 3, 1 / 3, 0, 1 / 3, 0, 0, 0], atol=1e-12)


def test_friendless_package_has_f_zero_and_finite_outputs():
    """No friends: f = 0 (Eq. (2) over an empty set), the friend combinations get gamma = 0 and
    p is Eq. (8) over {a, m, a*m} alone, whatever the padded friend slots hold."""
    rng = np.random.default_rng(3)
    u, a, m, friends, fmask = package_inputs(rng)
    fmask[:] = False
    friends[:] = rng.normal(0, 100, size=friends.shape)
    layer = IntraPackageAttention(dtype="float64")
    layer(*c64(u, a, m, friends), tf.constant(fmask))
    randomize(layer, rng)
    p, gamma = [x.numpy() for x in layer(*c64(u, a, m, friends), tf.constant(fmask))]
    assert np.isfinite(p).all() and np.isfinite(gamma).all()
    np.testing.assert_array_equal(gamma[..., [2, 4, 5, 6]], 0.0)
    three = np.stack([a, m, a * m], -2)
    ref_p, ref_w = np_attention(layer.combination_attention, three, np.broadcast_to(u, a.shape))
    np.testing.assert_allclose(p, ref_p, **TOL)
    np.testing.assert_allclose(gamma[..., [0, 1, 3]], ref_w, **TOL)
    assert np.abs(np_intra(layer, u, a, m, friends, fmask)[2]).max() == 0.0


@pytest.mark.parametrize("attention", [True, False])
def test_padded_slots_do_not_matter(attention):
    """Changing what padded friend slots hold changes nothing; no friend mask = all friends."""
    rng = np.random.default_rng(4)
    u, a, m, friends, fmask = package_inputs(rng)
    layer = IntraPackageAttention(attention=attention, dtype="float64")
    out = layer(*c64(u, a, m, friends), tf.constant(fmask))
    other = friends.copy()
    other[~fmask] = rng.normal(size=other[~fmask].shape)
    for x, y in zip(out, layer(*c64(u, a, m, other), tf.constant(fmask))):
        np.testing.assert_allclose(x.numpy(), y.numpy(), **TOL)
    full = layer(*c64(u, a, m, friends))
    for x, y in zip(full, layer(*c64(u, a, m, friends), tf.ones(fmask.shape, tf.bool))):
        np.testing.assert_allclose(x.numpy(), y.numpy(), **TOL)


def test_intra_package_leading_axis_equals_flattened_call():
    """[B, P, ...] with u as [B, 1, d] is the same as the caller flattening to [B*P, ...]."""
    rng = np.random.default_rng(5)
    u, a, m, friends, fmask = package_inputs(rng)
    b, p, f, d = friends.shape
    layer = IntraPackageAttention(dtype="float64")
    p_full, g_full = layer(*c64(u, a, m, friends), tf.constant(fmask))
    flat = [np.broadcast_to(u, a.shape).reshape(-1, d), a.reshape(-1, d), m.reshape(-1, d), friends.reshape(-1, f, d)]
    p_flat, g_flat = layer(*c64(*flat), tf.constant(fmask.reshape(-1, f)))
    np.testing.assert_allclose(p_full.numpy().reshape(-1, d), p_flat.numpy(), **TOL)
    np.testing.assert_allclose(g_full.numpy().reshape(-1, 7), g_flat.numpy(), **TOL)


@pytest.mark.parametrize("attention", [True, False])
def test_distinct_friends_and_articles_by_index_match_numpy(attention):
    """``friend_index`` / ``article_index``: the layer given the distinct friend and article
    vectors and each slot's row gives Eqs. (1)-(8) of the per-slot inputs those rows make (the
    numpy rendering), and the same gradients for every weight and for the rows (summed over
    the slots that use them) as the per-slot call."""
    rng = np.random.default_rng(12)
    b, p, f, d, v, na = 3, 4, 5, 6, 7, 3
    friend_table, article_table = rng.normal(size=(v, d)), rng.normal(size=(na, d))
    friend_of = rng.integers(0, v, size=(b, p, f))
    article_of = rng.integers(0, na, size=(b, p))
    u, _, m, _, fmask = package_inputs(rng, b, p, f, d)
    friends, article = friend_table[friend_of], article_table[article_of]
    layer = IntraPackageAttention(num_spaces=3, attention=attention, dtype="float64")
    layer(*c64(u, article, m, friends), tf.constant(fmask))
    randomize(layer, rng)
    tables = [tf.Variable(x) for x in (friend_table, article_table)]

    def run(by_index):
        with tf.GradientTape() as tape:
            fr, ar = tables
            if by_index:
                out = layer(*c64(u), ar, *c64(m), fr, tf.constant(fmask), friend_index=tf.constant(friend_of),
                            article_index=tf.constant(article_of))
            else:
                out = layer(*c64(u), tf.gather(ar, article_of), *c64(m), tf.gather(fr, friend_of), tf.constant(fmask))
            loss = tf.reduce_sum(out[0] * np.arange(d)) + tf.reduce_sum(out[1] * np.arange(7))
        grads = tape.gradient(loss, layer.trainable_variables + tables)
        return [x.numpy() for x in out], [None if g is None else tf.convert_to_tensor(g).numpy() for g in grads]

    (p_idx, g_idx), grads_idx = run(True)
    ref_p, ref_gamma, _ = np_intra(layer, u, article, m, friends, fmask)
    np.testing.assert_allclose(p_idx, ref_p, **TOL)
    np.testing.assert_allclose(g_idx, ref_gamma, **TOL)
    grads = run(False)[1]
    assert [g is None for g in grads_idx] == [g is None for g in grads]  # w/o att: W_a^k unused
    for x, y in zip(grads_idx, grads):
        if x is not None:
            np.testing.assert_allclose(x, y, atol=1e-10, rtol=1e-9)


def test_intra_package_float32_default_dtype():
    rng = np.random.default_rng(6)
    u, a, m, friends, fmask = package_inputs(rng)
    layer = IntraPackageAttention()
    p, gamma = layer(*[tf.constant(x, tf.float32) for x in (u, a, m, friends)], tf.constant(fmask))
    assert p.dtype == tf.float32
    ref_p, ref_gamma, _ = np_intra(layer, u, a, m, friends, fmask)
    np.testing.assert_allclose(p.numpy(), ref_p, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(gamma.numpy(), ref_gamma, atol=1e-5, rtol=1e-5)


def test_xavier_init_and_zero_biases():
    """Sec. 5.2: Xavier initialisation. Each d x d matrix within the glorot-uniform bound."""
    d = 16
    layer = IntraPackageAttention(num_spaces=4)
    x = tf.zeros((1, d))
    layer(x, x, x, tf.zeros((1, 3, d)))
    bound = np.sqrt(6.0 / (d + d))
    for w in layer.w_f + layer.w_a:
        w = w.numpy()
        assert np.abs(w).max() <= bound and w.std() > bound / 3   # per-matrix fan-in, not K*d
    assert np.abs(layer.friend_attention.score_dense.kernel.numpy()).max() <= np.sqrt(6.0 / (d + 1))
    np.testing.assert_array_equal(layer.combination_attention.key_dense.bias.numpy(), 0.0)
    gate = GatedAggregation()
    gate(x, tf.zeros((1, 2, d)))
    np.testing.assert_array_equal(gate.b.numpy(), 0.0)
    assert np.abs(gate.w1.numpy()).max() <= bound


# ------------------------------------------------------------------ GatedAggregation

def np_gated(layer, p, nb, mask):
    """Eqs. (9)-(10)."""
    g = sigmoid((p @ layer.w1.numpy())[..., None, :] + nb @ layer.w2.numpy() + layer.b.numpy())
    agg = (g * nb * mask[..., None]).sum(-2)
    if layer.reduce == "mean":
        agg = agg / nb.shape[-2]                   # the public code: padded slot count
    return p + agg


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_gated_aggregation_matches_numpy(reduce):
    rng = np.random.default_rng(7)
    b, p_, n, d = 4, 2, 5, 6
    p, nb = rng.normal(size=(b, p_, d)), rng.normal(size=(b, p_, n, d))
    mask = rng.random((b, p_, n)) < 0.5
    mask[0, 0] = False
    mask[1, 0] = True
    nb[~mask] = 30.0
    layer = GatedAggregation(reduce=reduce, dtype="float64")
    layer(*c64(p, nb), tf.constant(mask))
    randomize(layer, rng)
    out = layer(*c64(p, nb), tf.constant(mask)).numpy()
    np.testing.assert_allclose(out, np_gated(layer, p, nb, mask), **TOL)
    np.testing.assert_allclose(out[0, 0], p[0, 0], **TOL)      # no neighbour: p_tilde = p


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_gated_aggregation_empty_is_identity(reduce):
    rng = np.random.default_rng(8)
    p, nb = rng.normal(size=(3, 4)), rng.normal(size=(3, 6, 4))
    layer = GatedAggregation(reduce=reduce, dtype="float64")
    np.testing.assert_array_equal(layer(*c64(p, nb), tf.zeros((3, 6), tf.bool)).numpy(), p)
    zero_slots = layer(*c64(p, np.zeros((3, 0, 4))), tf.zeros((3, 0), tf.bool)).numpy()
    np.testing.assert_array_equal(zero_slots, p)


def test_gate_is_a_vector_gate():
    """Eq. (10)'s g_i (*) p_i: each dimension has its own gate value."""
    rng = np.random.default_rng(9)
    layer = GatedAggregation(dtype="float64")
    p, nb = rng.normal(size=(1, 3)), rng.normal(size=(1, 1, 3))
    layer(*c64(p, nb))
    randomize(layer, rng, scale=1.0)
    ratio = (layer(*c64(p, nb)).numpy() - p) / nb[:, 0]
    assert layer.w1.shape == (3, 3) and layer.b.shape == (3,)
    assert np.ptp(ratio) > 1e-3 and ((ratio > 0) & (ratio < 1)).all()


# ------------------------------------------------------------------ UserObjectAggregation

def np_user_objects(layer, u, objects, masks):
    """Eqs. (11)-(14); returns u_hat, eps."""
    per_type = []
    for t, (v, mask) in enumerate(zip(objects, masks)):
        if layer.attention:
            pooled = np_attention(layer.node_attention[t], v, u, mask)[0]          # Eq. (12)
        else:
            pooled = np.einsum("...l,...ld->...d", np_mean_weights(mask), v)
        per_type.append(sigmoid(pooled))                                             # Eq. (11)
    u_t = np.stack(per_type, -2)
    type_mask = np.stack([m.any(-1) for m in masks], -1)
    if layer.attention:
        pooled, eps = np_attention(layer.type_attention, u_t, u, type_mask)          # Eq. (14)
    else:
        eps = np_mean_weights(type_mask)
        pooled = np.einsum("...t,...td->...d", eps, u_t)
    return sigmoid(pooled), eps                                                      # Eq. (13)


def user_object_inputs(rng, b=4, d=5, lengths=(6, 3, 4)):
    u = rng.normal(size=(b, d))
    objects = [rng.normal(size=(b, n, d)) for n in lengths]
    masks = [rng.random((b, n)) < 0.6 for n in lengths]
    for mask in masks:
        mask[0] = False                 # user 0: nothing at all
        mask[1, 0] = True
    masks[1][1] = False                 # user 1: no media -> one empty type
    for v, mask in zip(objects, masks):
        v[~mask] = 40.0
    return u, objects, masks


@pytest.mark.parametrize("attention", [True, False])
def test_user_object_aggregation_matches_numpy(attention):
    rng = np.random.default_rng(10)
    u, objects, masks = user_object_inputs(rng)
    layer = UserObjectAggregation(attention=attention, dtype="float64")
    args = (tf.constant(u), [tf.constant(v) for v in objects], [tf.constant(m) for m in masks])
    layer(*args)
    if attention:
        assert layer.node_attention[0].key_dense.kernel.shape == (5, 1)   # w_t in R^{2d}, Eq. (12)
        randomize(layer, rng)
    u_hat, eps = layer(*args)
    ref_u_hat, ref_eps = np_user_objects(layer, u, objects, masks)
    np.testing.assert_allclose(eps.numpy(), ref_eps, **TOL)
    np.testing.assert_allclose(u_hat.numpy(), ref_u_hat, **TOL)
    assert eps.numpy()[1, 1] == 0.0                       # the empty type gets no weight
    np.testing.assert_allclose(eps.numpy()[1:].sum(-1), 1.0, atol=1e-12)


def test_user_object_aggregation_empty_user():
    rng = np.random.default_rng(11)
    u, objects, masks = user_object_inputs(rng)
    for attention in (True, False):
        layer = UserObjectAggregation(attention=attention, dtype="float64")
        u_hat, eps = layer(tf.constant(u), [tf.constant(v) for v in objects], [tf.constant(m) for m in masks])
        np.testing.assert_array_equal(eps.numpy()[0], 0.0)
        np.testing.assert_allclose(u_hat.numpy()[0], 0.5, **TOL)     # sigma(0): finite, no NaN
        assert np.isfinite(u_hat.numpy()).all()


def test_user_object_aggregation_wrong_number_of_types():
    layer = UserObjectAggregation(num_types=3)
    with pytest.raises(ValueError, match="3 object sets"):
        layer(tf.zeros((1, 4)), [tf.zeros((1, 2, 4))] * 2)


# ------------------------------------------------------------------ config

def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="fusion"):
        IntraPackageAttention(fusion="max")
    with pytest.raises(ValueError, match="num_spaces"):
        IntraPackageAttention(num_spaces=0)
    with pytest.raises(ValueError, match="reduce"):
        GatedAggregation(reduce="max")


def _round_trip(layer, args, kwargs=None):
    kwargs = kwargs or {}
    config = json.loads(json.dumps(layer.get_config()))
    clone = type(layer).from_config(config)
    out = layer(*args, **kwargs)
    clone(*args, **kwargs)
    clone.set_weights(layer.get_weights())
    for x, y in zip(tf.nest.flatten(out), tf.nest.flatten(clone(*args, **kwargs))):
        np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6)
    obj = tf.keras.layers.deserialize({"class_name": f"tfrec_pkg>{type(layer).__name__}", "config": config})
    assert type(obj) is type(layer)
    return config


def test_get_config_round_trips():
    rng = np.random.default_rng(12)
    f32 = lambda *s: tf.constant(rng.normal(size=s), tf.float32)  # noqa: E731
    cfg = _round_trip(AdditiveAttention(units=3, activation="sigmoid", single_layer=True, use_bias=False, name="att"),
                      (f32(2, 4, 5),), dict(query=f32(2, 5), mask=tf.constant([[1, 1, 0, 0], [1, 0, 0, 0]])))
    assert cfg["units"] == 3 and cfg["single_layer"] and not cfg["use_bias"] and cfg["name"] == "att"
    fmask = tf.constant(rng.random((2, 3)) < 0.5)
    cfg = _round_trip(IntraPackageAttention(num_spaces=2, fusion="concat", attention=False, use_bias=False),
                      (f32(2, 4), f32(2, 4), f32(2, 4), f32(2, 3, 4), fmask))
    assert (cfg["num_spaces"], cfg["fusion"], cfg["attention"], cfg["use_bias"]) == (2, "concat", False, False)
    cfg = _round_trip(IntraPackageAttention(), (f32(2, 4), f32(2, 4), f32(2, 4), f32(2, 3, 4), fmask))
    assert (cfg["num_spaces"], cfg["fusion"], cfg["attention"]) == (4, "product", True)
    cfg = _round_trip(GatedAggregation(reduce="mean"), (f32(2, 4), f32(2, 3, 4), fmask))
    assert cfg["reduce"] == "mean"
    cfg = _round_trip(UserObjectAggregation(num_types=2, attention=False, activation="tanh"),
                      (f32(2, 4), [f32(2, 3, 4), f32(2, 2, 4)], [fmask, tf.ones((2, 2), tf.bool)]))
    assert (cfg["num_types"], cfg["attention"], cfg["activation"]) == (2, False, "tanh")


@pytest.mark.parametrize("leading", [(8, 1), (16, 1), (3, 2)])
def test_intra_package_float32_any_leading_axes(leading):
    """Float32 with leading dims such as [8, 1] (a history of one package), where TF 2.21's
    oneDNN einsum of Eq. (1) returned garbage: equal to the numpy rendering of Eqs. (1)-(8)."""
    rng = np.random.default_rng(11)
    f, d = 3, 4
    u = rng.normal(size=(leading[0], 1, d)).astype("float32")
    a, m = (rng.normal(size=leading + (d,)).astype("float32") for _ in range(2))
    friends = rng.normal(size=leading + (f, d)).astype("float32")
    fmask = rng.random(leading + (f,)) < 0.7
    layer = IntraPackageAttention()
    p, gamma = layer(tf.constant(u), tf.constant(a), tf.constant(m), tf.constant(friends), tf.constant(fmask))
    flat = [np.broadcast_to(u, a.shape).reshape(-1, d), a.reshape(-1, d), m.reshape(-1, d), friends.reshape(-1, f, d)]
    p_np, g_np, _ = np_intra(layer, *[x.astype("float64") for x in flat], fmask.reshape(-1, f))
    np.testing.assert_allclose(p.numpy().reshape(-1, d), p_np, atol=1e-4)
    np.testing.assert_allclose(gamma.numpy().reshape(-1, 7), g_np, atol=1e-4)
