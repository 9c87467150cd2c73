"""Whole-model reference test for SUM (tfrec_pkg/models/sum.py): an independent float64 numpy
forward pass of the whole model, reading only the model's weights, equals the model's scores,
its read/write attention, its incremental-serving path and each loss term (<= 1e-5).

Tiny configs (max_history 5, state size 6, 4 channels) with hand-made vocabularies and a raw-id
batch that has padding (-1) in histories, an empty history, OOV items and categories, a real
event with a padding category, and a run of identical consecutive events (cos = 1, so the debuff
acts). Every trainable variable is randomised with a seeded rng (alpha, beta and the gate biases
are off their initial values).

The numpy reference, from the paper (Sec. 4, Fig. 2) and the module docstrings:
    ids     -> indices with ``Vocabulary.lookup`` (0 padding, 1 OOV); the history mask is read
               from the *raw* ids (!= -1), not from the model's lookup
    x_t, v  =  P [E_item[i] || E_cat[c]]          (P only when item_dim + category_dim != D)
    encoder =  the SUM cell recurrence over the left-aligned history, padded steps skipped
               (``np_sum_sequence`` of tests/layers/test_sum_cell.py, Eqs. 1-8), with the cell
               flags taken from the *config* (so a flag the model drops is caught);
               "rum": the same recurrence with RUM's flags; "gru": a numpy GRU (Keras'
               reset_after layout) over the real steps, u = h_T; "attmerge": u = sum_j
               softmax_j(v W x_j) x_j over the real steps (0 for an empty history)
    reader  =  Eqs. 10-12 (``np_read``; Eq. 9 for reading="rum")
    ranker  =  y = sigmoid(w^T ReLU(W_2 ReLU(W_1 [u, v] + b_1) + b_2) + b)
    losses  =  "bce": -(y log p + (1 - y) log(1 - p)) per example; "softmax": per group of
               1 + negatives consecutive rows, cross-entropy of softmax(logits) against the
               labels normalised to sum 1; the L2 of Eq. (13) in ``model.losses``.

Mutations tried (each made temporarily in the model code, this module run, the mutation
reverted); each made at least the listed tests fail ([*] = every variant of the test):
 1. ranker fed [u, u] instead of [u, v] (``SUM.rank``)
        -> test_scores_and_loss_match_numpy[*], test_incremental_fold_matches_numpy[*],
           test_softmax_loss_matches_numpy[*]
 2. candidate category dropped from v (``logits``: v from the item and the padding category)
        -> test_scores_and_loss_match_numpy[*], test_incremental_fold_matches_numpy[*]
 3. history read without the padding mask (``encode``: ``self.rnn(x)``)
        -> test_scores_and_loss_match_numpy[all but attmerge], test_write_and_read_weights_match_numpy,
           test_incremental_fold_matches_numpy[*]
 4. reader given last_input (broadcast over the K channels) instead of memory
        -> test_scores_and_loss_match_numpy[all but attmerge], test_incremental_fold_matches_numpy[*]
 5. reader given the interest channels only (``state[0][:, :-1]``, the highway channel skipped)
        -> test_scores_and_loss_match_numpy[all but attmerge], test_incremental_fold_matches_numpy[*]
 6. the highway flag ignored (``SUMCell(highway=True)`` whatever the config)
        -> test_scores_and_loss_match_numpy[no_highway], test_write_and_read_weights_match_numpy[no_highway],
           test_incremental_fold_matches_numpy[no_highway]
 7. the debuff flag ignored -> test_scores_and_loss_match_numpy[no_debuff]
 8. instance_attention ignored -> test_scores_and_loss_match_numpy[no_instance_attention]
 9. reading ignored (always "sum") -> test_scores_and_loss_match_numpy[reading_rum],
        test_write_and_read_weights_match_numpy[reading_rum]
10. writing ignored (always "sum") -> test_scores_and_loss_match_numpy[writing_ntm]
11. debuff_highway not passed to the cell -> test_scores_and_loss_match_numpy[debuff_highway],
        test_write_and_read_weights_match_numpy[debuff_highway]
12. the "rum" encoder built with the SUM reader (reading="sum")
        -> test_scores_and_loss_match_numpy[rum], test_incremental_fold_matches_numpy[rum]
13. the "rum" encoder built with a highway channel
        -> test_scores_and_loss_match_numpy[rum], test_incremental_fold_matches_numpy[rum]
14. AttMerge without the history mask (all-True mask)
        -> test_scores_and_loss_match_numpy[attmerge], test_softmax_loss_matches_numpy[attmerge]
15. GRU user cell without recurrence (zero previous state; layers/user_encoders.py)
        -> test_scores_and_loss_match_numpy[gru], test_incremental_fold_matches_numpy[gru]
16. the history mask read from the categories instead of the items
        -> test_scores_and_loss_match_numpy[all but attmerge], test_write_and_read_weights_match_numpy,
           test_incremental_fold_matches_numpy[*]
17. softmax loss with the labels not normalised per group -> test_softmax_loss_matches_numpy[*]
18. softmax loss groups reshaped [g, -1] instead of [-1, g] -> test_softmax_loss_matches_numpy[*]
19. bce computed on probabilities (``from_logits=False``) -> test_scores_and_loss_match_numpy[*]
20. ``update_state`` without its mask (padding events update the state)
        -> test_incremental_fold_matches_numpy[*]
21. ``score_state`` tiling the memory (tf.tile) instead of repeating it per candidate
        -> test_incremental_fold_matches_numpy[*]
22. ``score_state`` without the sigmoid -> test_incremental_fold_matches_numpy[*]
23. ``write_weights`` without the padding mask -> test_write_and_read_weights_match_numpy[*]
24. the ranker's hidden activation linear instead of ReLU (layers/mlp.py)
        -> test_scores_and_loss_match_numpy[*], test_incremental_fold_matches_numpy[*],
           test_softmax_loss_matches_numpy[*]
25. no L2 on the projection -> test_l2_regulariser_matches_numpy[*]
"""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.models.sum import SUM, SUMConfig
from tests.layers.test_sum_cell import (np_attentive_merge, np_read, np_sigmoid, np_softmax,
                                        np_sum_sequence, params_of)

L, D, K = 5, 6, 4
ATOL = 1e-5

ITEMS = [101, 205, 307, 412, 550, 618]
CATEGORIES = [7, 3, 9]
VOCAB = {"user": Vocabulary([11, 12, 13], "int64"),
         "item": Vocabulary(ITEMS, "int64"),
         "category": Vocabulary(CATEGORIES, "int64")}

# raw ids; -1 = padding; 999 / 8888 / 777 items and 42 / 55 categories are OOV
HIST_ITEMS = np.array([[101, 205, 307, 412, 550],     # full history
                       [205, 205, 205, -1, -1],       # identical consecutive events (cos = 1)
                       [-1, -1, -1, -1, -1],          # empty history
                       [999, 101, 8888, -1, -1],      # OOV items
                       [550, 618, 101, 307, -1],      # a real event with a padding category
                       [412, 101, 412, 101, 412]], np.int64)
HIST_CATS = np.array([[7, 3, 3, 9, 7],
                      [3, 3, 3, -1, -1],
                      [-1, -1, -1, -1, -1],
                      [42, 7, 9, -1, -1],
                      [-1, 9, 7, 7, -1],
                      [9, 7, 9, 7, 9]], np.int64)
ITEM = np.array([618, 205, 307, 777, 101, 412], np.int64)
CAT = np.array([9, 3, 7, 3, 55, 9], np.int64)
USER = np.array([11, 12, 13, 99, 11, -1], np.int64)
# two softmax groups of 1 + negatives = 3 rows; the second has two positives
LABEL = np.array([1, 0, 0, 0, 1, 1], np.float32)
B = len(ITEM)


def features():
    return {"user_id": tf.constant(USER), "item_id": tf.constant(ITEM), "category_id": tf.constant(CAT),
            "hist_item_ids": tf.constant(HIST_ITEMS), "hist_category_ids": tf.constant(HIST_CATS),
            "label": tf.constant(LABEL)}


VARIANTS = {
    "sum": {},
    "sum_no_projection": dict(item_dim=4, category_dim=2),      # 4 + 2 == D: no projection
    "no_instance_attention": dict(instance_attention=False),
    "no_debuff": dict(debuff=False),
    "no_highway": dict(highway=False),
    "reading_rum": dict(reading="rum"),
    "writing_ntm": dict(writing="ntm"),
    "debuff_highway": dict(debuff_highway=True),
    "gru": dict(user_encoder="gru"),
    "rum": dict(user_encoder="rum"),
    "attmerge": dict(user_encoder="attmerge"),
}
SEQUENTIAL = [v for v in VARIANTS if v != "attmerge"]


def make_config(**changes):
    base = dict(max_history=L, item_dim=5, category_dim=3, hidden_dim=D, num_channels=K,
                ranker_units=(7, 5), negatives=2)
    return SUMConfig(**(base | changes))


def randomize(model, seed=0):
    """Every trainable variable to a seeded random value; alpha in (0.5, 0.8) so the debuff
    bites, the betas in (0.7, 1.6), the ranker's hidden biases positive so that no example
    has a layer of dead ReLUs (its score would not depend on u or v)."""
    rng = np.random.default_rng(seed)
    for var in model.trainable_variables:
        name = var.name.split("/")[-1]
        if name.startswith("alpha"):
            value = rng.uniform(0.5, 0.8)
        elif name.startswith("beta"):
            value = rng.uniform(0.7, 1.6)
        elif name.startswith("embeddings"):
            value = rng.normal(0.0, 1.0, var.shape)
        elif "/ranker_" in var.name and name.startswith("bias"):
            value = rng.uniform(0.2, 0.8, var.shape)
        else:
            value = rng.normal(0.0, 0.6, var.shape)
        var.assign(np.asarray(value, np.float32))


def build(changes, seed=0):
    model = SUM(make_config(**changes), VOCAB)
    model(model.example_batch())
    randomize(model, seed)
    return model


# --------------------------------------------------------------------------------------------
# numpy reference of the whole model
# --------------------------------------------------------------------------------------------


def f64(var):
    return var.numpy().astype(np.float64)


def cell_flags(config):
    """The SUM cell's flags as the config asks for them (RUM: its fixed writing)."""
    if config.user_encoder == "rum":
        return dict(highway=False, debuff=False, instance_attention=False, writing="ntm",
                    debuff_highway=False)
    return dict(highway=config.highway, debuff=config.debuff,
                instance_attention=config.instance_attention, writing=config.writing,
                debuff_highway=config.debuff_highway)


def np_item_vector(model, items, cats):
    """P [E_item[i] || E_cat[c]] for raw ids of any shape."""
    x = np.concatenate([f64(model.item_embedding.embeddings)[VOCAB["item"].lookup(items)],
                        f64(model.category_embedding.embeddings)[VOCAB["category"].lookup(cats)]], -1)
    if model.config.item_dim + model.config.category_dim != model.config.hidden_dim:
        x = x @ f64(model.projection.kernel)
    return x


def np_gru_sequence(gru, xs, mask):
    """Keras GRUCell (reset_after=True, gates z, r, h) over the real steps of each row."""
    kernel, recurrent, bias = f64(gru.kernel), f64(gru.recurrent_kernel), f64(gru.bias)
    b, l, d = xs.shape
    h = np.zeros((b, d))
    last = np.zeros((b, d))
    for i in range(b):
        for t in range(l):
            if not mask[i, t]:
                continue
            x_z, x_r, x_h = np.split(xs[i, t] @ kernel + bias[0], 3)
            h_z, h_r, h_h = np.split(h[i] @ recurrent + bias[1], 3)
            z = np_sigmoid(x_z + h_z)
            r = np_sigmoid(x_r + h_r)
            candidate = np.tanh(x_h + r * h_h)
            h[i] = z * h[i] + (1.0 - z) * candidate
            last[i] = xs[i, t]
    return h[:, None, :], last


def np_encode(model, hist_items, hist_cats):
    """Final state (memory [B, K, D], last_input [B, D]) and per-step write weights."""
    xs = np_item_vector(model, hist_items, hist_cats)
    mask = hist_items != -1
    if model.config.user_encoder == "gru":
        memory, last = np_gru_sequence(model.cell.gru, xs, mask)
        return memory, last, None
    memory, last, zs = np_sum_sequence(params_of(model.cell), cell_flags(model.config), xs, mask)
    return memory, last, zs


def np_reading(model):
    return "rum" if model.config.user_encoder == "rum" else model.config.reading


def np_user_vector(model, memory, v):
    if model.config.user_encoder == "gru":
        return memory[:, 0, :], None
    return np_read(np_reading(model), f64(model.reader.read_map), float(model.reader.beta.numpy()),
                   memory, v)


def np_ranker_hidden(model, u, v):
    """The ranker's hidden activations on [u, v] (ReLU layers), one array per layer."""
    h, out = np.concatenate([u, v], -1), []
    for layer in model.ranker:
        h = np.maximum(h @ f64(layer.kernel) + f64(layer.bias), 0.0)
        out.append(h)
    return out


def np_rank(model, u, v):
    """Logits of the 2-layer ReLU ranker on [u, v]."""
    h = np_ranker_hidden(model, u, v)[-1]
    return (h @ f64(model.logit_layer.kernel) + f64(model.logit_layer.bias))[:, 0]


def np_user_and_item(model, items=ITEM, cats=CAT):
    """(u, v) for the batch's histories and the given candidates."""
    v = np_item_vector(model, items, cats)
    if model.config.user_encoder == "attmerge":
        history = np_item_vector(model, HIST_ITEMS, HIST_CATS)
        u, _ = np_attentive_merge(f64(model.merge.bilinear.kernel), history, HIST_ITEMS != -1, v)
    else:
        memory, _, _ = np_encode(model, HIST_ITEMS, HIST_CATS)
        u, _ = np_user_vector(model, memory, v)
    return u, v


def np_logits(model, items=ITEM, cats=CAT):
    return np_rank(model, *np_user_and_item(model, items, cats))


def np_bce(labels, logits):
    """-(y log sigmoid(l) + (1 - y) log(1 - sigmoid(l))), written as softplus(l) - y l."""
    return np.logaddexp(0.0, logits) - labels * logits


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_scores_and_loss_match_numpy(variant):
    model = build(VARIANTS[variant])
    logits = np_logits(model)
    scores = model(features()).numpy()
    np.testing.assert_allclose(scores, np_sigmoid(logits), atol=ATOL)
    np.testing.assert_allclose(model.logits(model.map_ids(features())).numpy(), logits, atol=ATOL)
    terms = model.loss_terms(features(), training=False)
    assert set(terms) == {"bce"}
    assert terms["bce"].shape == (B,)
    np.testing.assert_allclose(terms["bce"].numpy(), np_bce(LABEL.astype(np.float64), logits), atol=ATOL)
    # the reference is not degenerate: the scores differ between the examples, and no example
    # has a ranker layer of dead ReLUs (its score would not depend on u and v)
    assert np.ptp(logits) > 0.05
    for hidden in np_ranker_hidden(model, *np_user_and_item(model)):
        assert (hidden > 0).any(-1).all()


def test_reference_sees_every_input():
    """Sanity of the fixture: changing the candidate's category changes the reference score
    of every example whose category changes (so mutation 2 cannot go unnoticed)."""
    model = build({})
    base = np_logits(model)
    other_cat = np.array([3, 3, 3, 3, 3, 3], np.int64)
    changed = np_logits(model, ITEM, other_cat)
    assert (np.abs(changed - base)[CAT != 3] > 1e-3).all()


@pytest.mark.parametrize("variant", ["sum", "no_highway", "reading_rum", "debuff_highway"])
def test_write_and_read_weights_match_numpy(variant):
    model = build(VARIANTS[variant])
    memory, _, zs = np_encode(model, HIST_ITEMS, HIST_CATS)
    v = np_item_vector(model, ITEM, CAT)
    _, z_read = np_user_vector(model, memory, v)
    np.testing.assert_allclose(model.read_weights(features()).numpy(), z_read, atol=ATOL)
    write = model.write_weights(features()).numpy()
    assert write.shape == (B, L, K)
    np.testing.assert_allclose(write, np.nan_to_num(zs, nan=0.0), atol=ATOL)   # 0 on padding


@pytest.mark.parametrize("variant", ["sum", "no_highway", "gru", "rum"])
def test_incremental_fold_matches_numpy(variant):
    """Folding update_state over the raw history (padding events included) then score_state
    equals the numpy state and scores for several candidates, and model(features)."""
    model = build(VARIANTS[variant])
    assert model.incremental
    state = model.initial_state(B)
    for t in range(L):
        state = model.update_state(state, tf.constant(HIST_ITEMS[:, t]), tf.constant(HIST_CATS[:, t]))
    memory, last, _ = np_encode(model, HIST_ITEMS, HIST_CATS)
    np.testing.assert_allclose(state[0].numpy(), memory, atol=ATOL)
    np.testing.assert_allclose(state[1].numpy(), last, atol=ATOL)

    cand_items = np.stack([ITEM, np.full(B, 618), np.full(B, 999)], 1)       # target, known, OOV
    cand_cats = np.stack([CAT, np.full(B, 7), np.full(B, 9)], 1)
    scores = model.score_state(state, tf.constant(cand_items), tf.constant(cand_cats)).numpy()
    assert scores.shape == (B, 3)
    for c in range(3):
        v = np_item_vector(model, cand_items[:, c], cand_cats[:, c])
        u, _ = np_user_vector(model, memory, v)
        np.testing.assert_allclose(scores[:, c], np_sigmoid(np_rank(model, u, v)), atol=ATOL)
    np.testing.assert_allclose(scores[:, 0], model(features()).numpy(), atol=ATOL)


@pytest.mark.parametrize("variant", ["sum", "attmerge"])
def test_softmax_loss_matches_numpy(variant):
    model = build(VARIANTS[variant] | dict(loss="softmax"))
    assert model.example_group_size == 3
    logits = np_logits(model).reshape(-1, 3)
    labels = LABEL.astype(np.float64).reshape(-1, 3)
    targets = labels / labels.sum(-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -(targets * log_p).sum(-1)
    terms = model.loss_terms(features(), training=False)
    assert set(terms) == {"softmax"}
    assert terms["softmax"].shape == (B // 3,)
    np.testing.assert_allclose(terms["softmax"].numpy(), expected, atol=ATOL)
    np.testing.assert_allclose(model(features()).numpy(), np_sigmoid(logits.reshape(-1)), atol=ATOL)


# three softmax groups of 3 rows whose rows share the group's history (as the planted data and
# the grouped pipeline build them); the groups' histories differ (rows 0, 1 and 3 above)
GROUP_HIST = [0, 1, 3]


def grouped_features():
    rows = np.repeat(GROUP_HIST, 3)
    items = np.array([618, 205, 999, 101, 412, 618, 307, 550, 777], np.int64)
    cats = np.array([9, 3, 7, 7, 9, 55, 9, 7, 3], np.int64)
    labels = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1], np.float32)
    return {"user_id": tf.constant(USER[rows]), "item_id": tf.constant(items),
            "category_id": tf.constant(cats), "hist_item_ids": tf.constant(HIST_ITEMS[rows]),
            "hist_category_ids": tf.constant(HIST_CATS[rows]), "label": tf.constant(labels)}


@pytest.mark.parametrize("variant", ["sum", "gru", "rum", "no_highway"])
def test_grouped_softmax_encodes_each_history_once_with_the_per_row_results(variant, monkeypatch):
    """The softmax loss's groups share one history: the encoder runs once per group (on the
    group's first row) and each candidate is read and ranked against that state; the logits and
    the loss equal the per-row path's and a numpy reference that encodes every row.
    Mutations tried: the groups' histories taken as the first B/g rows (``h[:B // g]``) instead
    of every g-th row; the state tiled (``tf.tile``) instead of repeated per candidate; the
    shared-history check made always true (then test_softmax_loss_matches_numpy fails, whose
    groups' rows have different histories)."""
    model = build(VARIANTS[variant] | dict(loss="softmax"))
    g = model.example_group_size
    feats = grouped_features()
    idx = model.map_ids(feats)
    seen = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda f: seen.append(int(f["hist_item_ids"].shape[0])) or encode(f))
    grouped = model.logits(idx, group_size=g).numpy()
    assert seen == [len(GROUP_HIST)]                      # one encoder pass, one row per group
    per_row = model.logits(idx).numpy()
    np.testing.assert_allclose(grouped, per_row, atol=ATOL)

    hist_items, hist_cats = feats["hist_item_ids"].numpy(), feats["hist_category_ids"].numpy()
    v = np_item_vector(model, feats["item_id"].numpy(), feats["category_id"].numpy())
    memory, _, _ = np_encode(model, hist_items, hist_cats)                  # every row encoded
    expected = np_rank(model, np_user_vector(model, memory, v)[0], v)
    np.testing.assert_allclose(grouped, expected, atol=ATOL)
    labels = feats["label"].numpy().astype(np.float64).reshape(-1, g)
    logits = expected.reshape(-1, g)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    seen.clear()
    terms = model.loss_terms(feats, training=True)
    assert seen == [len(GROUP_HIST)]
    np.testing.assert_allclose(terms["softmax"].numpy(), -(labels * log_p).sum(-1), atol=ATOL)

    # compiled as in training: the same loss (the branch is chosen in the graph)
    compiled = tf.function(lambda f: model.loss_terms(f, training=True)["softmax"])
    np.testing.assert_allclose(compiled(feats).numpy(), terms["softmax"].numpy(), atol=ATOL)


@pytest.mark.parametrize("variant", ["sum", "gru"])
def test_grouped_softmax_with_differing_histories_in_a_group_encodes_every_row(variant, monkeypatch):
    """A batch where a group's rows do not share the history (the module's batch: each row its
    own) is encoded row by row, so the loss stays the per-row one (see also
    test_softmax_loss_matches_numpy)."""
    model = build(VARIANTS[variant] | dict(loss="softmax"))
    seen = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda f: seen.append(int(f["hist_item_ids"].shape[0])) or encode(f))
    grouped = model.logits(model.map_ids(features()), group_size=model.example_group_size).numpy()
    assert seen == [B]
    np.testing.assert_allclose(grouped, np_logits(model), atol=ATOL)


@pytest.mark.parametrize("variant", ["sum", "attmerge"])
def test_l2_regulariser_matches_numpy(variant):
    """Eq. (13)'s lambda ||Theta||^2 as the module documents it: the embeddings, the projection
    and the ranker's hidden kernels (the encoder, alpha/beta and the logit layer carry none)."""
    lam = 0.03
    model = build(VARIANTS[variant] | dict(l2=lam))
    expected = sum((f64(w) ** 2).sum() for w in
                   [model.item_embedding.embeddings, model.category_embedding.embeddings,
                    model.projection.kernel] + [layer.kernel for layer in model.ranker])
    got = float(tf.add_n([tf.reduce_sum(x) for x in model.losses]).numpy())
    np.testing.assert_allclose(got, lam * expected, rtol=1e-5)
    assert len(model.losses) == 3 + len(model.ranker)
    assert not build(VARIANTS[variant]).losses          # lambda = 0: no regulariser
