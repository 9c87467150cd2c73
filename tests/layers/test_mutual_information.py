"""IMN-Net's mutual-information estimator, losses and joint discriminator
(tfrec_pkg/layers/mutual_information.py) against independent float64 numpy renderings of
Eqs. (14)-(24). The numpy side forms f_1 = exp(x^T W_1 c) itself and writes Eq. (21) as the
printed ratio -log(f_1(pos) / sum f_1), so it does not share the layer's log-space arithmetic.

Each equation test also renders the equation with one term left out (or one sign changed) and
asserts that this rendering misses the layer's output by more than 100x the tolerance.

Mutations tried on the layer code, one at a time (each made the named tests fail):
 1. Eq. (15): u_bar and h_i(t - 1) swapped in c_t -> history_context_eq15
 2. Eq. (19): each row scored against another row's context -> log_bilinear_score_eqs_14_19[both],
    nce_end_to_end_and_the_user_block_cancels
 3. Eq. (17): negatives given the positive's item state -> interaction_vectors_eqs_16_18,
    nce_end_to_end_and_the_user_block_cancels
 4. Eq. (21): the positive left out of the denominator -> nce_loss_eq21,
    nce_loss_is_finite_for_large_scores, nce_end_to_end_and_the_user_block_cancels
 5. Eq. (21): logsumexp written as log(sum(exp)) -> nce_loss_is_finite_for_large_scores
 6. Eq. (20): the squared norm instead of the printed norm -> embedding_prediction_loss_eq20
 7. Eq. (20): the target not held constant -> embedding_prediction_loss_eq20
 8. Eq. (22): h(t - 1) not held constant -> drift_penalty_eq22_terms_and_a_still_state
 9. Eq. (22): lambda_U and lambda_I swapped -> imn_loss_eq22
10. Eq. (23): the printed plus sign on the distance -> fusion_score_eqs_23_24[both],
    fusion_score_prefers_the_nearest_item
11. negatives: the shift past the positive left out -> sample_negative_items_can_exclude_the_positive
12. Eqs. (16)-(19) block by block: the negatives' user block, or their static block, left out of
    ``interaction_scores`` -> interaction_scores_are_eq19_of_eq18_without_forming_pn_x
"""
import json

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg.layers.mrrnn import ItemEmbeddingPredictor, MRRNNCell, ResourceLimitedCell, TimeProjection, \
    combine_user_states
from tfrec_pkg.layers.mutual_information import (NUM_SAMPLES, LogBilinearScore, drift_penalty,
                                                 embedding_prediction_loss, fusion_score, history_context,
                                                 imn_loss, interaction_vectors, nce_loss, sample_negative_items)

ATOL = 1e-5
B, D, E, N = 5, 4, 3, 6          # batch, dynamic width, static width, samples per row (1 positive)
DX, DC = 2 * D + E, 2 * D + 2 * E   # widths of x (Eq. 16) and c (Eq. 15, f = add)


def f64(x):
    return tf.constant(x, tf.float64)


def assert_equation(got, render, mutations):
    np.testing.assert_allclose(got, render(), atol=ATOL, rtol=0)
    for m in mutations:
        assert np.abs(render(m) - got).max() > 100 * ATOL, f"mutation {m!r} would go unnoticed"


def context_parts(rng):
    return rng.normal(size=(B, D)), rng.normal(size=(B, E)), rng.normal(size=(B, D)), rng.normal(size=(B, E))


def sample_parts(rng):
    """next user state, positive item state and static, negatives' states and statics."""
    return (rng.normal(size=(B, D)), rng.normal(size=(B, D)), rng.normal(size=(B, E)),
            rng.normal(size=(B, N - 1, D)), rng.normal(size=(B, N - 1, E)))


def np_pn_x(u, pi, ps, ni, ns):
    """Eqs. (16)-(18) written row by row."""
    out = np.zeros((B, N, DX))
    for b in range(B):
        out[b, 0] = np.concatenate([u[b], pi[b], ps[b]])                                  # Eq. (16)
        for j in range(N - 1):
            out[b, j + 1] = np.concatenate([u[b], ni[b, j], ns[b, j]])                    # Eq. (17)
    return out


def built_score(x, c, seed=1, scale=0.3):
    layer = LogBilinearScore(dtype="float64")
    layer([f64(x), f64(c)])
    layer.kernel.assign(np.random.default_rng(seed).normal(0.0, scale, (x.shape[-1], c.shape[-1])))
    return layer


def scored_samples(seed):
    """c_t, the parts of pn_x, pn_x formed in numpy, a built layer and its W_1."""
    rng = np.random.default_rng(seed)
    c = np.concatenate(context_parts(rng), -1)
    parts = sample_parts(rng)
    x = np_pn_x(*parts)
    layer = built_score(x, c)
    return c, parts, x, layer, layer.kernel.numpy()


# --------------------------------------------------------------------------------------------
# Eqs. (14)-(19)
# --------------------------------------------------------------------------------------------


def test_history_context_eq15():
    parts = context_parts(np.random.default_rng(0))
    got = history_context(*(f64(p) for p in parts)).numpy()
    np.testing.assert_array_equal(got, np.concatenate(parts, -1))
    assert got.shape == (B, DC)


def test_interaction_vectors_eqs_16_18():
    parts = sample_parts(np.random.default_rng(2))
    got = interaction_vectors(*(f64(p) for p in parts)).numpy()
    np.testing.assert_array_equal(got, np_pn_x(*parts))
    np.testing.assert_array_equal(got[:, 1:, :D], np.repeat(got[:, :1, :D], N - 1, 1))   # one user block


@pytest.mark.parametrize("samples", [1, N], ids=["one_sample", "N_samples"])
def test_log_bilinear_score_eqs_14_19(samples):
    rng = np.random.default_rng(3)
    c = np.concatenate(context_parts(rng), -1)
    x3 = rng.normal(size=(B, samples, DX))
    layer = built_score(x3, c)
    w = layer.kernel.numpy()
    c_blocks = np.split(np.arange(DC), np.cumsum([D, E, D]))
    x_blocks = np.split(np.arange(DX), np.cumsum([D, D]))

    def render(m=None):
        xm, cm = x3.copy(), c.copy()
        if m is not None:   # one block of c (Eq. 15) or of x (Eq. 16) dropped
            kind, k = m
            if kind == "c":
                cm[:, c_blocks[k]] = 0.0
            else:
                xm[..., x_blocks[k]] = 0.0
        return np.array([[np.exp(xm[b, j] @ w @ cm[b]) for j in range(samples)] for b in range(B)])

    log_f1 = layer([f64(x3), f64(c)]).numpy()
    assert log_f1.shape == (B, samples)
    assert_equation(np.exp(log_f1), render, [("c", k) for k in range(4)] + [("x", k) for k in range(3)])
    one = layer([f64(x3[:, 0]), f64(c)]).numpy()                                        # Eq. (14), [B]
    np.testing.assert_allclose(np.exp(one), render()[:, 0], atol=ATOL)
    assert layer.kernel.shape == (DX, DC) and len(layer.trainable_weights) == 1


def test_interaction_scores_are_eq19_of_eq18_without_forming_pn_x():
    """The training path's scores of pn_x, block by block, against Eqs. (16)-(19) rendered on
    the formed rows (widths D != E, so a swapped block cannot line up)."""
    c, parts, x, layer, w = scored_samples(13)

    def render(m=None):
        xm = x.copy()
        if m == "user block on the positive only":
            xm[:, 1:, :D] = 0.0
        if m == "negatives given the positive's item state":
            xm[:, 1:, D:2 * D] = xm[:, :1, D:2 * D]
        if m == "static block dropped":
            xm[..., 2 * D:] = 0.0
        return np.einsum("bnx,xc,bc->bn", xm, w, c)                                        # Eq. (19)

    got = layer.interaction_scores(f64(c), *(f64(p) for p in parts)).numpy()
    assert got.shape == (B, N)
    assert_equation(got, render, ["user block on the positive only", "negatives given the positive's item state",
                                  "static block dropped"])
    np.testing.assert_allclose(got, layer([interaction_vectors(*(f64(p) for p in parts)), f64(c)]).numpy(),
                               atol=1e-12, rtol=0)
    fresh = LogBilinearScore(dtype="float64")   # builds its kernel from the blocks' widths
    assert fresh.interaction_scores(f64(c), *(f64(p) for p in parts)).shape == (B, N)
    assert fresh.kernel.shape == (DX, DC)


# --------------------------------------------------------------------------------------------
# Eq. (21)
# --------------------------------------------------------------------------------------------


def np_nce(scores, mutation=None):
    f1 = np.exp(scores)
    denominator = f1[:, 1:].sum(-1) if mutation == "positive out of the denominator" else f1.sum(-1)
    return -np.log(f1[:, 0] / denominator)                                            # Eq. (21)


def test_nce_loss_eq21():
    scores = np.random.default_rng(4).normal(0, 2, (B, N))
    got = nce_loss(f64(scores)).numpy()
    assert got.shape == (B,)
    assert_equation(got, lambda m=None: np_nce(scores, m), ["positive out of the denominator"])
    flipped = -np.log(np.exp(scores[:, 1]) / np.exp(scores).sum(-1))                    # positive in column 1
    assert np.abs(flipped - got).max() > 100 * ATOL


def test_nce_loss_decreases_as_the_positive_score_rises():
    scores = np.random.default_rng(5).normal(size=(B, N))
    losses = []
    for bump in (0.0, 0.5, 1.0, 3.0):
        s = scores.copy()
        s[:, 0] += bump
        losses.append(nce_loss(f64(s)).numpy())
    assert np.all(np.diff(np.stack(losses), axis=0) < 0)
    s = scores.copy()
    s[:, 1] += 1.0   # a negative's score rising raises the loss
    assert np.all(nce_loss(f64(s)).numpy() > losses[0])


def test_nce_loss_is_finite_for_large_scores():
    scores = np.random.default_rng(6).normal(0, 1, (B, N)) + 1000.0
    got = nce_loss(tf.constant(scores, tf.float32)).numpy()
    m = scores.max(-1, keepdims=True)
    want = (m[:, 0] + np.log(np.exp(scores - m).sum(-1))) - scores[:, 0]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=1e-3)   # float32 scores of ~1000


def test_nce_end_to_end_and_the_user_block_cancels():
    c, parts, x, layer, w = scored_samples(7)
    got = nce_loss(layer([interaction_vectors(*(f64(p) for p in parts)), f64(c)])).numpy()

    def render(m=None):
        xm = x.copy()
        if m == "negatives given the positive's item state":
            xm[:, 1:, D:2 * D] = xm[:, :1, D:2 * D]
        if m == "item state block dropped":
            xm[..., D:2 * D] = 0.0
        f1 = np.exp(np.einsum("bnx,xc,bc->bn", xm, w, c))
        return -np.log(f1[:, 0] / f1.sum(-1))

    assert_equation(got, render, ["negatives given the positive's item state", "item state block dropped"])
    # Eqs. (16)-(17) share h^g_u(t+1): its score is common to all N terms and cancels
    no_user = x.copy()
    no_user[..., :D] = 0.0
    f1 = np.exp(np.einsum("bnx,xc,bc->bn", no_user, w, c))
    np.testing.assert_allclose(got, -np.log(f1[:, 0] / f1.sum(-1)), atol=ATOL)


# --------------------------------------------------------------------------------------------
# Eqs. (20), (22)
# --------------------------------------------------------------------------------------------


def test_embedding_prediction_loss_eq20():
    rng = np.random.default_rng(8)
    pred, target = rng.normal(size=(B, E)), rng.normal(size=(B, E))
    got = embedding_prediction_loss(f64(pred), f64(target)).numpy()

    def render(m=None):
        sq = ((pred - target) ** 2).sum(-1)
        return sq if m == "squared" else np.sqrt(sq)

    assert_equation(got, render, ["squared"])
    np.testing.assert_allclose(embedding_prediction_loss(f64(pred), f64(target), squared=True).numpy(),
                               render("squared"), atol=ATOL)
    p, t = tf.Variable(pred), tf.Variable(target)
    with tf.GradientTape(persistent=True) as tape:
        held = tf.reduce_sum(embedding_prediction_loss(p, t))
        free = tf.reduce_sum(embedding_prediction_loss(p, t, stop_gradient=False))
    assert tape.gradient(held, t) is None                                            # JODIE's detach
    assert tape.gradient(free, t) is not None
    np.testing.assert_allclose(tape.gradient(held, p).numpy(),
                               (pred - target) / np.sqrt(((pred - target) ** 2).sum(-1, keepdims=True)), atol=ATOL)


def test_drift_penalty_eq22_terms_and_a_still_state():
    rng = np.random.default_rng(9)
    new, old = rng.normal(size=(B, D)), rng.normal(size=(B, D))
    got = drift_penalty(f64(new), f64(old)).numpy()
    assert_equation(got, lambda m=None: (((new - old) ** 2).sum(-1) if m == "squared"
                                         else np.linalg.norm(new - old, axis=-1)), ["squared"])
    v = tf.Variable(new)
    with tf.GradientTape(persistent=True) as tape:
        same = tf.reduce_sum(drift_penalty(v, v))       # a state that did not move: 0, gradient 0 (not NaN)
        held = tf.reduce_sum(drift_penalty(v, f64(old)))
    o = tf.Variable(old)
    with tf.GradientTape() as tape2:
        loss = tf.reduce_sum(drift_penalty(v, o))
    assert float(same) < 1e-10
    assert np.isfinite(tape.gradient(same, v).numpy()).all()
    assert tape.gradient(held, v) is not None and tape2.gradient(loss, o) is None    # h(t-1) held constant


def test_imn_loss_eq22():
    rng = np.random.default_rng(10)
    terms = {"mse": rng.uniform(size=B), "nce": rng.uniform(size=B), "user": rng.uniform(size=B),
             "item": rng.uniform(size=B)}
    lam = {"mse": 0.7, "nce": 0.2, "user": 0.05, "item": 0.3}
    got = float(imn_loss(*(f64(t) for t in terms.values()), lambda_m=0.7, lambda_n=0.2, lambda_u=0.05,
                         lambda_i=0.3))

    def render(m=None):
        if m == "lambda_U on the item drift":
            return 0.7 * terms["mse"].mean() + 0.2 * terms["nce"].mean() + 0.05 * terms["item"].mean() \
                + 0.3 * terms["user"].mean()
        return np.array(sum(lam[k] * terms[k].mean() for k in terms if k != m))

    assert_equation(np.array(got), render, list(terms) + ["lambda_U on the item drift"])
    # Eq. (25) (IMN_MSE) and Eq. (26) (IMN_NCE) are lambda_n = 0 and lambda_m = 0
    np.testing.assert_allclose(float(imn_loss(*(f64(t) for t in terms.values()), lambda_n=0.0)),
                               terms["mse"].mean() + terms["user"].mean() + terms["item"].mean(), atol=ATOL)
    np.testing.assert_allclose(float(imn_loss(*(f64(t) for t in terms.values()), lambda_m=0.0)),
                               terms["nce"].mean() + terms["user"].mean() + terms["item"].mean(), atol=ATOL)


# --------------------------------------------------------------------------------------------
# Eqs. (23)-(24)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False], ids=["catalogue", "per_row"])
def test_fusion_score_eqs_23_24(shared):
    rng = np.random.default_rng(11)
    C = 9
    pred = rng.normal(size=(B, E))
    cand = rng.normal(size=(C, E)) if shared else rng.normal(size=(B, C, E))
    logits = rng.normal(size=(B, C))
    got = fusion_score(f64(pred), f64(cand), f64(logits)).numpy()
    per_row = np.broadcast_to(cand, (B, C, E))

    def render(m=None, alpha_m=0.9, alpha_n=0.1):
        dist = np.array([[np.sqrt(((pred[b] - per_row[b, i]) ** 2).sum()) for i in range(C)] for b in range(B)])
        sign = 1.0 if m == "printed plus sign" else -1.0
        mi = 0.0 if m == "f_1 dropped" else np.exp(logits)
        dist = 0.0 if m == "distance dropped" else dist
        return sign * alpha_m * dist + alpha_n * mi                                   # Eq. (23)

    assert_equation(got, render, ["printed plus sign", "f_1 dropped", "distance dropped"])
    assert (got.argmax(-1) != render("printed plus sign").argmax(-1)).any()            # Eq. (24) ranks differ
    # Tmall's weights, log f_1, and Eq. (27): f_1 alone
    tmall = fusion_score(f64(pred), f64(cand), f64(logits), alpha_m=0.75, alpha_n=0.25).numpy()
    np.testing.assert_allclose(tmall, render(alpha_m=0.75, alpha_n=0.25), atol=ATOL)
    log_space = fusion_score(f64(pred), f64(cand), f64(logits), log_f1=True).numpy()
    np.testing.assert_allclose(log_space, render() - 0.1 * np.exp(logits) + 0.1 * logits, atol=ATOL)
    mi_only = fusion_score(f64(pred), f64(cand), f64(logits), alpha_m=0.0, alpha_n=1.0).numpy()
    np.testing.assert_array_equal(mi_only.argmax(-1), logits.argmax(-1))


def test_fusion_score_prefers_the_nearest_item():
    cand = np.eye(4)
    pred = np.array([[0.0, 0.9, 0.1, 0.0]])
    score = fusion_score(f64(pred), f64(cand), f64(np.zeros((1, 4)))).numpy()
    assert score.argmax() == 1


# --------------------------------------------------------------------------------------------
# negatives
# --------------------------------------------------------------------------------------------


def test_sample_negative_items_from_all_candidates():
    ids = sample_negative_items(np.int64(3), batch_size=B, num_items=50).numpy()
    assert ids.shape == (B, NUM_SAMPLES - 1) and ids.dtype == np.int64 and NUM_SAMPLES == 128
    assert ids.min() >= 1 and ids.max() < 50                                          # padding 0 never drawn
    np.testing.assert_array_equal(ids, sample_negative_items(3, batch_size=B, num_items=50).numpy())
    assert (ids != sample_negative_items(4, batch_size=B, num_items=50).numpy()).any()
    assert len(np.unique(ids)) == 49     # the whole catalogue, not the batch's items
    # a generator: fresh draws each call, reproducible from its seed
    g1, g2 = tf.random.Generator.from_seed(5), tf.random.Generator.from_seed(5)
    a, b = (sample_negative_items(g1, B, 50, 7).numpy() for _ in range(2))
    assert (a != b).any()
    np.testing.assert_array_equal(a, sample_negative_items(g2, B, 50, 7).numpy())
    # uniform: 40000 draws over 9 items
    counts = np.bincount(sample_negative_items(0, 400, 10, 100).numpy().ravel(), minlength=10)[1:]
    assert np.abs(counts / 40000 - 1 / 9).max() < 5 * np.sqrt((1 / 9) * (8 / 9) / 40000)


def test_sample_negative_items_can_exclude_the_positive():
    positives = np.array([1, 4, 9, 5, 2])
    ids = sample_negative_items(1, B, 10, 2000, positives=tf.constant(positives)).numpy()
    for row, p in zip(ids, positives):
        assert p not in row
        counts = np.bincount(row, minlength=10)[1:]
        others = np.delete(counts, p - 1)
        assert others.min() > 0 and np.abs(others / 2000 - 1 / 8).max() < 5 * np.sqrt((1 / 8) * (7 / 8) / 2000)


def test_sample_negative_items_bad_arguments():
    with pytest.raises(ValueError, match="candidate"):
        sample_negative_items(0, B, 2, positives=tf.constant([1] * B))
    with pytest.raises(ValueError, match="num_negatives"):
        sample_negative_items(0, B, 10, 0)


# --------------------------------------------------------------------------------------------
# gradients through the whole training loss, and config
# --------------------------------------------------------------------------------------------


def test_gradients_reach_every_weight_through_the_training_loss():
    """Two t-batch steps: an interaction updates h^g, h_i (Eqs. 1-2) and, on purchases, h^l
    (Eq. 6); the next one is predicted from the projected states (Eqs. 7-11, 15) and scored
    against N - 1 negatives (Eqs. 16-21); Eq. (22) joins the terms."""
    rng = np.random.default_rng(12)
    r = lambda *shape: f64(rng.normal(size=shape))   # noqa: E731
    mrrnn, resource = MRRNNCell(D, dtype="float64"), ResourceLimitedCell(D, dtype="float64")
    projection, predictor = TimeProjection(dtype="float64"), ItemEmbeddingPredictor(E, dtype="float64")
    score = LogBilinearScore(dtype="float64")
    hu, hi, hl, ubar, ibar, jbar = r(B, D), r(B, D), r(B, D), r(B, E), r(B, E), r(B, E)
    next_item, neg_states, neg_static = r(B, D), r(B, N - 1, D), r(B, N - 1, E)
    purchase = tf.constant([True, False, True, False, True])
    with tf.GradientTape() as tape:
        new_u, new_i = mrrnn(hu, hi, r(B), r(B), r(B, 2))                                 # Eqs. (1)-(2)
        new_l = resource(hl, new_u, new_i, ubar, ibar, r(B), purchase, features=r(B, 2))  # Eq. (6)
        hg_now, hl_now = projection(new_u, r(B)), projection(new_l, r(B))                # Eqs. (7)-(10)
        j_hat = predictor(hg_now, hl_now, ubar, new_i, ibar)                             # Eq. (11)
        c = history_context(combine_user_states(hg_now, hl_now), ubar, new_i, ibar)      # Eq. (15)
        next_u, next_i = mrrnn(new_u, next_item, r(B), r(B), r(B, 2))
        logits = score([interaction_vectors(next_u, next_i, jbar, neg_states, neg_static), c])  # Eqs. (16)-(19)
        loss = imn_loss(embedding_prediction_loss(j_hat, jbar), nce_loss(logits),
                        drift_penalty(next_u, new_u), drift_penalty(next_i, next_item))   # Eqs. (20)-(22)
    weights = [w for layer in (mrrnn, resource, projection, predictor, score) for w in layer.trainable_weights]
    assert len(weights) == 6
    for w, g in zip(weights, tape.gradient(loss, weights)):
        assert g is not None, w.name
        assert np.isfinite(g.numpy()).all() and np.abs(g.numpy()).sum() > 0, w.name


def test_log_bilinear_score_config_round_trip():
    layer = LogBilinearScore(name="f1")
    config = layer.get_config()
    json.dumps(config)
    restored = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
    assert isinstance(restored, LogBilinearScore) and restored.get_config() == config
