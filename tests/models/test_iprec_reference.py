"""Whole-model reference test for IPRec (tfrec_pkg/models/iprec.py): an independent float64
numpy forward pass of the whole model, reading only the model's weights, equals the model's
logits, scores, the target package's gamma, the type weights, the bce loss term and the L2
penalty in ``model.losses`` (<= 1e-5), for the paper's model, each fusion, each Table 3
ablation, the public code's mean gates and the public code's MLP input.

A tiny config (d = 6, K = 2 spaces, F = 3 friends, H = 3 clicked packages, N = 2 -> 4
neighbour slots, O = 4 objects per type, MLP (7, 5), dropout 0.3, l2 1e-3) with hand-made
vocabularies and a raw-id batch that has: full and partly padded friend lists, a friendless
target package, a friendless clicked package and a friendless neighbour, a friend list with a
hole, OOV users, articles, media and friends, a user with no objects, no history and no
neighbours, a user with one empty object type, full neighbour and object lists. Every trainable variable is randomised
with a seeded rng (biases off zero, the MLP's hidden biases positive so that no row has a
layer of dead ReLUs).

The numpy reference (module docstring of iprec.py; per-package equations from the layer
tests' helpers ``np_intra`` (Eqs. 1-8), ``np_user_objects`` (Eqs. 11-14) and ``np_gated``
(Eqs. 9-10 / 15-16) of tests/layers/test_package.py, each fed a view of the layer whose
switches come from the *config*, so a flag the model drops is caught):
    ids      -> indices with ``Vocabulary.lookup``; every mask is read from the *raw* ids
                (!= -1): friends per package, objects per type, clicked packages and
                neighbours by their article
    u        =  E_user[user]; friends of every package from E_user too
    p, gamma =  np_intra(u; E_art[a], E_med[m], E_user[friends], friend mask)    target package
    p_h      =  np_intra(u; ...) of each clicked package (its own friends)       [B, H, d]
    p_n      =  np_intra(u; ...) of each neighbour (its own friends)             [B, 2N, d]
    p_tilde  =  np_gated(inter, p, p_n, neighbour mask)                        Eqs. (9)-(10)
    u_hat    =  np_user_objects(u; [E_art[A_art], E_med[A_med], E_user[A_fr]], masks)
    u_tilde  =  np_gated(coarse, u_hat, p_h, history mask)                     Eqs. (15)-(16)
                (w/o inter: p_tilde = p, u_tilde = u_hat)
    logit    =  w_o^T ReLU(W_2 ReLU(W_1 x + b_1) + b_2) + b_o  (no dropout), x = [u_tilde || p_tilde]
                ("concat_product": [u_tilde || p_tilde || u_tilde * p_tilde])
    bce      =  softplus(logit) - y logit per example
    L2       =  l2 * sum of squares of the embedding tables and every kernel (listed by
                attribute in ``np_l2``), no bias

Mutations tried (each made temporarily in tfrec_pkg/models/iprec.py, this module run, the file
copied back); each made the listed tests fail and no other ("match" =
test_forward_and_loss_match_numpy, "pad" = test_extra_padding_changes_nothing, "l2" =
test_l2_penalty_matches_numpy, "layers" = test_layers_follow_the_config; [*] = every variant
of the test; "inter variants" = every variant but no_inter):
 1. neighbours encoded without their friends (neighbour friend ids all padding)
        -> match, pad [inter variants]
 2. u instead of u_hat in the coarse gate (Eq. 15: ``self.coarse(u, ...)``) -> match, pad [inter variants]
 3. p instead of p_tilde into the predictor -> match, pad [inter variants]
 4. coarse aggregation over the neighbours instead of the clicked packages -> match, pad [inter variants]
 5. coarse aggregation over the target package (broadcast over the H slots) -> match, pad [inter variants]
 6. friend mask dropped (every friend slot valid, ``friend_mask=None``) -> match[*], pad[*]
 7. gamma read from the wrong package (``gamma_all[:, 1]``) -> match[*], pad[*] (no_inter: the
        slice fails, so also l2[no_inter], layers[no_inter])
 8. u_hat as the query of the intra-package attention (the public code's reading)
        -> match, pad [all but no_att] (w/o att has no query)
 9. one gate for both aggregations (``self.coarse = self.inter``) -> l2, layers [inter variants]
        (the reference reads both gates from the model, so the forward match cannot see it;
        the matrix count and the identity check do)
10. ranker input [p_tilde || u_tilde] instead of [u_tilde || p_tilde] -> match[*], pad[*]
11. clicked packages' friends reshaped column-major ([B, F, H] then transposed)
        -> match, pad [inter variants]
12. object types in the order (media, article, friend) -> match[*], pad[*]
13. neighbour mask dropped (``self.inter(p, nb_p)``) -> survives, an equivalent mutant: the
        padded slots are skipped and scattered back as zero vectors (``IPRec._packages``), so
        g_i (*) 0 adds nothing with or without the mask (before the skip it failed
        match[inter variants]); the mask stays as a second guard
14. ``package_attention`` ignored (always True) -> match, pad, l2, layers [no_att]
15. ``dual_attention`` ignored (always True) -> match, pad, l2, layers [no_dual]
16. w/o inter keeping the coarse gate (u_tilde from the clicked packages)
        -> match, pad, l2, layers [no_inter]
17. ``gate_reduce`` ignored (always "sum") -> match[gate_mean], layers[gate_mean]
18. dropout active at inference (``training=True`` to the ranker) -> match[*], pad[*],
        test_dropout_only_in_training
19. bce on probabilities (``from_logits=False``) -> match[*]
20. L2 without the embedding tables -> l2[*]
21. L2 on the biases too (every trainable variable) -> l2[*]
22. neighbour friends taken from the clicked packages' friend ids -> match, pad [inter variants]
23. the intra-package layer called on [B, P, ...] instead of the flat real packages
        (``IPRec._packages``) -> match[no_inter] fails, or the run aborts on heap corruption:
        with B = 6 and P = 1 (w/o inter) TF 2.21's oneDNN einsum of Eq. (1) returns garbage;
        this pins the workaround
24. ``predictor_input`` ignored (always "concat") -> match, pad, layers [concat_product]
"""
from types import SimpleNamespace

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.models.iprec import IPRec, IPRecConfig
from tests.layers.test_package import np_gated, np_intra, np_user_objects
from reference_weights import randomize

F, H, N, O, D, K = 3, 3, 2, 4, 6, 2
ATOL = 1e-5
L2 = 1e-3

VOCAB = {"user": Vocabulary([11, 12, 13, 14, 15, 16], "int64"),
         "article": Vocabulary([101, 102, 103, 104, 105, 106, 107, 108], "int64"),
         "media": Vocabulary([7, 8, 9], "int64")}
P = [-1, -1, -1]  # a padded friend block / package slot's friends

# raw ids; -1 = padding; users 99 / 77, article 999 / 888 and media 55 are OOV
USER = np.array([11, 12, 99, 13, 14, 16], np.int64)
ARTICLE = np.array([101, 102, 103, 999, 105, 106], np.int64)
MEDIA = np.array([7, 8, 9, 55, 7, 8], np.int64)
FRIENDS = np.array([[12, 13, 14],          # full friend list
                    [-1, -1, -1],          # friendless target package
                    [15, -1, -1],
                    [77, 12, -1],          # an OOV friend
                    [13, -1, 15],          # a hole in the list (read by the mask, not the count)
                    [11, 14, 16]], np.int64)
USER_ARTICLES = np.array([[102, 103, 104, -1], [101, -1, -1, -1], [-1, -1, -1, -1],   # row 2: no objects
                          [104, 999, 106, 107], [101, 108, -1, -1], [103, -1, -1, -1]], np.int64)
USER_MEDIA = np.array([[7, 8, -1, -1], [9, -1, -1, -1], [-1, -1, -1, -1],
                       [-1, -1, -1, -1],   # row 3: no media (one empty type)
                       [7, 8, 9, 55], [8, -1, -1, -1]], np.int64)
USER_FRIENDS = np.array([[12, 15, -1, -1], [13, 14, 16, 11], [-1, -1, -1, -1],
                         [12, -1, -1, -1], [77, -1, -1, -1], [14, 15, -1, -1]], np.int64)
HIST_ARTICLES = np.array([[102, 103, 104], [101, -1, -1], [-1, -1, -1],               # row 2: no history
                          [104, 106, 107], [101, 108, -1], [103, -1, -1]], np.int64)
HIST_MEDIA = np.array([[7, 8, 9], [9, -1, -1], [-1, -1, -1],
                       [8, 9, 7], [7, 9, -1], [8, -1, -1]], np.int64)
HIST_FRIENDS = np.array([[[12, -1, -1], [13, 14, -1], P],          # a friendless clicked package
                         [[14, 15, 16], P, P],
                         [P, P, P],
                         [[12, 13, -1], [77, -1, -1], [15, 16, 11]],
                         [P, [12, -1, -1], P],
                         [[11, 13, -1], P, P]], np.int64)
NB_ARTICLES = np.array([[105, 106, -1, -1], [104, -1, -1, -1], [-1, -1, -1, -1],      # row 2: no neighbours
                        [101, 102, 103, 888], [106, 107, -1, -1], [102, 104, 105, -1]], np.int64)
NB_MEDIA = np.array([[7, 8, -1, -1], [8, -1, -1, -1], [-1, -1, -1, -1],
                     [55, 8, 9, 7], [7, 7, -1, -1], [8, 8, 7, -1]], np.int64)
NB_FRIENDS = np.array([[[12, 13, -1], [15, -1, -1], P, P],
                       [P, P, P, P],                                 # a friendless neighbour
                       [P, P, P, P],
                       [[12, -1, -1], [13, 14, 15], [16, -1, -1], [77, -1, -1]],
                       [[13, -1, -1], [14, 15, -1], P, P],
                       [[11, 14, -1], P, [16, 12, 13], P]], np.int64)
LABEL = np.array([1, 0, 0, 1, 1, 0], np.float32)
B = len(USER)


def features():
    return {"user_id": USER, "article_id": ARTICLE, "media_id": MEDIA, "friend_ids": FRIENDS,
            "user_article_ids": USER_ARTICLES, "user_media_ids": USER_MEDIA, "user_friend_ids": USER_FRIENDS,
            "hist_article_ids": HIST_ARTICLES, "hist_media_ids": HIST_MEDIA,
            "hist_friend_ids": HIST_FRIENDS.reshape(B, H * F),
            "nb_article_ids": NB_ARTICLES, "nb_media_ids": NB_MEDIA,
            "nb_friend_ids": NB_FRIENDS.reshape(B, 2 * N * F), "label": LABEL}


def tensors():
    return {k: tf.constant(v) for k, v in features().items()}


VARIANTS = {
    "paper": {},
    "add": dict(fusion="add"),
    "concat": dict(fusion="concat"),
    "no_att": dict(package_attention=False),
    "no_dual": dict(dual_attention=False),
    "no_inter": dict(inter_package=False),
    "gate_mean": dict(gate_reduce="mean"),
    "concat_product": dict(predictor_input="concat_product"),
}
# the weight seed per variant (seed 0 leaves a layer of dead ReLUs on some row for "concat_product")
SEEDS = {"concat_product": 1}


def make_config(**changes):
    base = dict(max_friends=F, max_history=H, max_neighbours=N, max_objects=O, item_dim=D, num_spaces=K,
                ranker_units=(7, 5), dropout=0.3, l2=L2)
    return IPRecConfig(**(base | changes))


def build(seed=0, **changes):
    model = IPRec(make_config(**changes), VOCAB)
    model(model.example_batch())
    return randomize(model, seed, positive_bias_scope="/ranker_")


# --------------------------------------------------------------------------------------------
# numpy reference of the whole model
# --------------------------------------------------------------------------------------------


def f64(var):
    return var.numpy().astype(np.float64)


def np_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def embed(model, table, raw):
    """Rows of the named table (user / article / media) for raw ids of any shape."""
    layer = {"user": model.user_embedding, "article": model.article_embedding, "media": model.media_embedding}[table]
    return f64(layer.embeddings)[VOCAB[table].lookup(raw)]


def intra_view(model):
    """The intra-package layer's weights with the config's switches."""
    c, layer = model.config, model.intra
    view = SimpleNamespace(w_f=layer.w_f, w_a=layer.w_a, attention=c.package_attention, fusion=c.fusion)
    if c.package_attention:
        view.friend_attention = layer.friend_attention
        view.space_attention = layer.space_attention
        view.combination_attention = layer.combination_attention
    if c.fusion == "concat":
        view.fuse = layer.fuse
    return view


def user_view(model):
    c, layer = model.config, model.fine_grained
    view = SimpleNamespace(attention=c.dual_attention)
    if c.dual_attention:
        view.node_attention, view.type_attention = layer.node_attention, layer.type_attention
    return view


def gate_view(gate, config):
    return SimpleNamespace(w1=gate.w1, w2=gate.w2, b=gate.b, reduce=config.gate_reduce)


def np_package(model, u, articles, media, friends):
    """Eqs. (1)-(8) on raw package ids: articles/media [...], friends [..., F]."""
    return np_intra(intra_view(model), u, embed(model, "article", articles), embed(model, "media", media),
                    embed(model, "user", friends), friends != -1)


def np_forward(model):
    """dict: logit [B], gamma [B, 7], type_weights [B, 3], hidden activations, and the
    intermediate vectors (for the non-degeneracy checks)."""
    c = model.config
    u = embed(model, "user", USER)
    p, gamma, _ = np_package(model, u, ARTICLE, MEDIA, FRIENDS)
    objects = [embed(model, "article", USER_ARTICLES), embed(model, "media", USER_MEDIA),
               embed(model, "user", USER_FRIENDS)]
    masks = [USER_ARTICLES != -1, USER_MEDIA != -1, USER_FRIENDS != -1]
    u_hat, eps = np_user_objects(user_view(model), u, objects, masks)
    if c.inter_package:
        p_hist, _, _ = np_package(model, u[:, None, :], HIST_ARTICLES, HIST_MEDIA, HIST_FRIENDS)
        p_nb, _, _ = np_package(model, u[:, None, :], NB_ARTICLES, NB_MEDIA, NB_FRIENDS)
        p_tilde = np_gated(gate_view(model.inter, c), p, p_nb, NB_ARTICLES != -1)          # Eqs. (9)-(10)
        u_tilde = np_gated(gate_view(model.coarse, c), u_hat, p_hist, HIST_ARTICLES != -1)  # Eqs. (15)-(16)
    else:
        p_tilde, u_tilde = p, u_hat
    x = np.concatenate([u_tilde, p_tilde], -1)
    if c.predictor_input == "concat_product":                    # the public code's MLP input
        x = np.concatenate([x, u_tilde * p_tilde], -1)
    hidden = []
    for layer in model.ranker:
        if isinstance(layer, tf.keras.layers.Dropout):
            continue                                             # inference: dropout is identity
        x = np.maximum(x @ f64(layer.kernel) + f64(layer.bias), 0.0)
        hidden.append(x)
    logit = (x @ f64(model.logit_layer.kernel) + f64(model.logit_layer.bias))[:, 0]
    return dict(logit=logit, gamma=gamma, type_weights=eps, hidden=hidden, p=p, p_tilde=p_tilde,
                u_hat=u_hat, u_tilde=u_tilde)


def np_bce(labels, logits):
    return np.logaddexp(0.0, logits) - labels * logits


def np_l2(model):
    """l2 * sum of squares of every matrix, listed by attribute (no biases)."""
    c = model.config
    mats = [model.user_embedding.embeddings, model.article_embedding.embeddings, model.media_embedding.embeddings]
    intra = model.intra
    mats += list(intra.w_f) + list(intra.w_a)
    if c.package_attention:
        for att in (intra.friend_attention, intra.space_attention, intra.combination_attention):
            mats += [att.key_dense.kernel, att.query_dense.kernel, att.score_dense.kernel]
    if c.fusion == "concat":
        mats += [layer.kernel for layer in intra.fuse.values()]
    fine = model.fine_grained
    if c.dual_attention:
        for att in fine.node_attention:
            mats += [att.key_dense.kernel, att.query_dense.kernel]
        att = fine.type_attention
        mats += [att.key_dense.kernel, att.query_dense.kernel, att.score_dense.kernel]
    if c.inter_package:
        mats += [model.inter.w1, model.inter.w2, model.coarse.w1, model.coarse.w2]
    mats += [layer.kernel for layer in model.ranker if isinstance(layer, tf.keras.layers.Dense)]
    mats += [model.logit_layer.kernel]
    return L2 * sum((f64(w) ** 2).sum() for w in mats), len(mats)


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_forward_and_loss_match_numpy(variant):
    model = build(SEEDS.get(variant, 0), **VARIANTS[variant])
    ref = np_forward(model)
    got = model.encode(model.map_ids(tensors()))
    np.testing.assert_allclose(got["logit"].numpy(), ref["logit"], atol=ATOL, rtol=1e-5)
    np.testing.assert_allclose(model(tensors()).numpy(), np_sigmoid(ref["logit"]), atol=ATOL)
    np.testing.assert_allclose(model(tensors(), training=False).numpy(), np_sigmoid(ref["logit"]), atol=ATOL)
    explained = model.explain(tensors())
    assert set(explained) == {"score", "gamma", "type_weights"}
    np.testing.assert_allclose(explained["score"].numpy(), np_sigmoid(ref["logit"]), atol=ATOL)
    np.testing.assert_allclose(explained["gamma"].numpy(), ref["gamma"], atol=ATOL)
    np.testing.assert_allclose(explained["type_weights"].numpy(), ref["type_weights"], atol=ATOL)
    terms = model.loss_terms(tensors(), training=False)
    assert set(terms) == {"bce"} and terms["bce"].shape == (B,)
    np.testing.assert_allclose(terms["bce"].numpy(), np_bce(LABEL.astype(np.float64), ref["logit"]),
                               atol=ATOL, rtol=1e-5)
    # the reference is not degenerate: the friendless target has no friend combinations, the
    # empty user's type weights are 0, the scores differ and stay off saturation, no row has a
    # layer of dead ReLUs, neighbours and history move p and u_hat where the row has them
    np.testing.assert_array_equal(ref["gamma"][1, [2, 4, 5, 6]], 0.0)
    assert (ref["gamma"][0] > 0).all()
    np.testing.assert_array_equal(ref["type_weights"][2], 0.0)
    assert ref["type_weights"][3, 1] == 0.0 and (ref["type_weights"][3, [0, 2]] > 0).all()
    assert np.ptp(ref["logit"]) > 0.05 and np.abs(ref["logit"]).max() < 15
    for h in ref["hidden"]:
        assert (h > 0).any(-1).all()
    if model.config.inter_package:
        moved_p = np.abs(ref["p_tilde"] - ref["p"]).max(-1)
        moved_u = np.abs(ref["u_tilde"] - ref["u_hat"]).max(-1)
        assert (moved_p[[0, 1, 3, 4, 5]] > 1e-3).all() and moved_p[2] == 0.0
        assert (moved_u[[0, 1, 3, 4, 5]] > 1e-3).all() and moved_u[2] == 0.0


@pytest.mark.parametrize("variant", ["paper", "concat", "no_att", "no_dual", "no_inter", "concat_product"])
def test_l2_penalty_matches_numpy(variant):
    model = build(**VARIANTS[variant])
    expected, count = np_l2(model)
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(model.losses[0].numpy()), expected, rtol=1e-5)
    assert count == len([v for v in model.trainable_variables if v.shape.rank >= 2])
    assert not build(l2=0.0).losses


def test_dropout_only_in_training():
    """Dropout 0.3 acts with training=True and never at inference."""
    model = build()
    ref = np_forward(model)
    tf.keras.utils.set_random_seed(0)
    trained = model(tensors(), training=True).numpy()
    assert np.abs(trained - np_sigmoid(ref["logit"])).max() > 1e-3
    np.testing.assert_array_equal(model(tensors()).numpy(), model(tensors()).numpy())
    bce_train = model.loss_terms(tensors(), training=True)["bce"].numpy()
    assert np.abs(bce_train - np_bce(LABEL.astype(np.float64), ref["logit"])).max() > 1e-3


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_layers_follow_the_config(variant):
    """Widths and switches: the MLP reads [u_tilde || p_tilde] (2d; + u_tilde * p_tilde for
    "concat_product"); K spaces; the two gates
    are distinct layers (own parameters) and absent w/o inter; the layer flags are the config's."""
    model = build(**VARIANTS[variant])
    c = model.config
    assert model.ranker[0].kernel.shape == ((3 if c.predictor_input == "concat_product" else 2) * D, 7)
    assert [type(layer).__name__ for layer in model.ranker] == ["Dense", "Dropout", "Dense", "Dropout"]
    assert len(model.intra.w_f) == len(model.intra.w_a) == K
    assert (model.intra.attention, model.intra.fusion) == (c.package_attention, c.fusion)
    assert model.fine_grained.attention == c.dual_attention and model.fine_grained.num_types == 3
    if c.inter_package:
        assert model.inter is not model.coarse
        assert model.inter.reduce == model.coarse.reduce == c.gate_reduce
    else:
        assert not hasattr(model, "inter") and not hasattr(model, "coarse")


def widen(x, blocks, width, new_blocks, new_width):
    """[B, blocks * width] raw ids -> [B, new_blocks * new_width], every block and the list
    padded with -1."""
    out = np.full((B, new_blocks, new_width), -1, np.int64)
    out[:, :blocks, :width] = x.reshape(B, blocks, width)
    return out.reshape(B, new_blocks * new_width)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "gate_mean"])
def test_extra_padding_changes_nothing(variant):
    """The same packages in wider padded slots (F 3 -> 5, H 3 -> 5, N 2 -> 3, O 4 -> 6) with the
    same weights give the same logits, gamma and type weights: padded friends, objects,
    clicked packages and neighbours contribute nothing, and the model's skipping of padded
    packages and its cut of the friend axis are exact. (The public code's mean gates divide by
    the slot count, so "gate_mean" is left out.)"""
    model = build(**VARIANTS[variant])
    ref = np_forward(model)
    wide = IPRec(make_config(max_friends=F + 2, max_history=H + 2, max_neighbours=N + 1, max_objects=O + 2,
                             **VARIANTS[variant]), VOCAB)
    wide(wide.example_batch())
    wide.set_weights(model.get_weights())
    x = features()
    x["friend_ids"] = widen(x["friend_ids"], 1, F, 1, F + 2)
    for col in ("user_article_ids", "user_media_ids", "user_friend_ids"):
        x[col] = widen(x[col], O, 1, O + 2, 1)
    x["hist_article_ids"], x["hist_media_ids"] = (widen(x[c], H, 1, H + 2, 1) for c in ("hist_article_ids",
                                                                                        "hist_media_ids"))
    x["hist_friend_ids"] = widen(x["hist_friend_ids"], H, F, H + 2, F + 2)
    x["nb_article_ids"], x["nb_media_ids"] = (widen(x[c], 2 * N, 1, 2 * N + 2, 1) for c in ("nb_article_ids",
                                                                                            "nb_media_ids"))
    x["nb_friend_ids"] = widen(x["nb_friend_ids"], 2 * N, F, 2 * N + 2, F + 2)
    got = wide.encode(wide.map_ids({k: tf.constant(v) for k, v in x.items()}))
    np.testing.assert_allclose(got["logit"].numpy(), ref["logit"], atol=ATOL, rtol=1e-5)
    np.testing.assert_allclose(got["gamma"].numpy(), ref["gamma"], atol=ATOL)
    np.testing.assert_allclose(got["type_weights"].numpy(), ref["type_weights"], atol=ATOL)
