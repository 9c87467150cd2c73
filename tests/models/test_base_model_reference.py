"""Whole-model reference test for BaseModel (tfrec_pkg/models/baselines/base_model.py): an
independent float64 numpy forward pass of the whole model, reading only the model's weights,
equals the model's scores, its attention weights, the bce loss term and the L2 regulariser in
``model.losses`` (<= 1e-5).

A tiny config (max_history 5, embeddings of 3-4, attention units (6, 4), MLP (8, 5), dropout
0.3, l2 1e-3) with hand-made vocabularies (string categories) and a raw-id batch with padding
(-1 / ""), an empty history, OOV users, items and categories, a padding user, and a real
history event whose category is the padding "". Every trainable variable is randomised with a
seeded rng (biases off zero).

The numpy reference (the module docstring; DIN's activation unit as layers/attention.py has it):
    ids       -> indices with ``Vocabulary.lookup``; the history mask is read from the *raw*
                 item ids (!= -1), not from the model's lookup
    e_u       =  E_user[u];  e_t = [E_item[i] || E_cat[c]];  e_j = [E_item[h_j] || E_cat[hc_j]]
    a_j       =  w^T sigmoid(W_2 sigmoid(W_1 [e_t, e_j, e_t - e_j, e_t * e_j] + b_1) + b_2) + b
    weights   =  a_j on real behaviours, 0 on padding (attention_normalize="none", DIN's sum
                 pooling); "softmax": softmax over the real behaviours (0 for an empty history)
    p         =  sum_j weight_j e_j
    y         =  sigmoid(w_o^T ReLU(W_4 ReLU(W_3 [e_u, e_t, p, e_t * p] + b_3) + b_4) + b_o)
                 (dropout off at inference)
    bce       =  -(y log p + (1 - y) log(1 - p)) per example
    L2        =  l2 * (||E_user||^2 + ||E_item||^2 + ||E_cat||^2 + sum of the MLP's hidden
                 kernels^2)  (attention and logit layers carry none)

Mutations tried (each made temporarily in the model code, this module run, the mutation
reverted); each made at least the listed tests fail ([*] = both normalisations):
 1. attention over an unmasked history (``mask`` all True) -> test_scores_and_loss_match_numpy[*]
 2. e_t * p dropped from the MLP input
        -> test_scores_and_loss_match_numpy[*], test_layer_widths, test_dropout_only_in_training
 3. e_t * p replaced by e_t - p (same width) -> test_scores_and_loss_match_numpy[*]
 4. user embedding dropped from the MLP input -> every test of the module
 5. user embedding replaced by zeros (same width) -> test_scores_and_loss_match_numpy[*]
 6. history mask read from the categories instead of the items -> test_scores_and_loss_match_numpy[*]
 7. history categories embedded as the padding row -> test_scores_and_loss_match_numpy[*]
 8. attention_normalize ignored (always "softmax") -> test_scores_and_loss_match_numpy[none]
 9. masked softmax replaced by a plain softmax over all L positions (layers/attention.py)
        -> test_scores_and_loss_match_numpy[softmax]
10. "none" normalisation without the padding mask (layers/attention.py)
        -> test_scores_and_loss_match_numpy[none]
11. activation-unit feature q - k flipped to k - q (layers/attention.py)
        -> test_scores_and_loss_match_numpy[*]
12. q * k dropped from the activation unit (layers/attention.py)
        -> test_scores_and_loss_match_numpy[*], test_layer_widths, test_dropout_only_in_training
13. activation-unit MLP with ReLU instead of sigmoid (layers/attention.py)
        -> test_scores_and_loss_match_numpy[*]
14. pooling of the query instead of the behaviours (layers/attention.py)
        -> test_scores_and_loss_match_numpy[*]
15. dropout active at inference (``training=True`` to the MLP)
        -> test_scores_and_loss_match_numpy[*], test_dropout_only_in_training
16. dropout never active (``training=False`` to the MLP) -> test_dropout_only_in_training
17. MLP hidden activation linear instead of ReLU (layers/mlp.py) -> test_scores_and_loss_match_numpy[*]
18. bce computed on probabilities (``from_logits=False``) -> test_scores_and_loss_match_numpy[*]
19. no L2 on the user embedding -> test_l2_regulariser_matches_numpy
20. L2 also on the logit layer -> test_l2_regulariser_matches_numpy
"""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.models.baselines.base_model import BaseModel, BaseModelConfig
from reference_weights import randomize

L = 5
ATOL = 1e-5
L2 = 1e-3

VOCAB = {"user": Vocabulary([11, 12, 13], "int64"),
         "item": Vocabulary([101, 205, 307, 412, 550, 618], "int64"),
         "category": Vocabulary(["shoes", "books", "toys"], "string")}

# raw ids; -1 / "" = padding; user 99, items 999 / 777 and category "garden" are OOV
USER = np.array([11, 12, 13, 99, -1, 12], np.int64)
HIST_ITEMS = np.array([[101, 205, 307, 412, 550],     # full history
                       [205, 205, -1, -1, -1],
                       [-1, -1, -1, -1, -1],          # empty history
                       [999, 101, 618, -1, -1],       # an OOV item
                       [550, 618, 101, 307, -1],      # a real event with the padding category
                       [412, 101, 412, 101, 412]], np.int64)
HIST_CATS = np.array([["shoes", "books", "books", "toys", "shoes"],
                      ["books", "books", "", "", ""],
                      ["", "", "", "", ""],
                      ["garden", "shoes", "toys", "", ""],
                      ["", "toys", "shoes", "shoes", ""],
                      ["toys", "shoes", "toys", "shoes", "toys"]], object)
ITEM = np.array([618, 205, 307, 777, 101, 412], np.int64)
CAT = np.array(["toys", "books", "shoes", "books", "garden", "toys"], object)
LABEL = np.array([1, 0, 0, 1, 1, 0], np.float32)
B = len(ITEM)


def features():
    return {"user_id": tf.constant(USER), "item_id": tf.constant(ITEM),
            "category_id": tf.constant(CAT.astype(str)),
            "hist_item_ids": tf.constant(HIST_ITEMS), "hist_category_ids": tf.constant(HIST_CATS.astype(str)),
            "label": tf.constant(LABEL)}


def make_config(**changes):
    base = dict(max_history=L, user_dim=3, item_dim=4, category_dim=3, attention_units=(6, 4),
                mlp_units=(8, 5), dropout=0.3, l2=L2)
    return BaseModelConfig(**(base | changes))


def build(seed=0, **changes):
    """A built BaseModel with every trainable variable set from a seeded rng (the MLP's hidden
    biases positive so that no example has a layer of dead ReLUs)."""
    model = BaseModel(make_config(**changes), VOCAB)
    model(model.example_batch())
    return randomize(model, seed, positive_bias_scope="/mlp_")


# --------------------------------------------------------------------------------------------
# numpy reference of the whole model
# --------------------------------------------------------------------------------------------


def f64(var):
    return var.numpy().astype(np.float64)


def np_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def np_dense(layer, x):
    return x @ f64(layer.kernel) + f64(layer.bias)


def np_embed(model, item_ids, cats):
    return np.concatenate([f64(model.item_embedding.embeddings)[VOCAB["item"].lookup(item_ids)],
                           f64(model.category_embedding.embeddings)[VOCAB["category"].lookup(cats)]], -1)


def np_attention(model, target, history, mask):
    """DIN activation unit on [q, k, q - k, q * k] (sigmoid hidden layers, linear score), then
    the weights ("none": raw scores masked to 0; "softmax": softmax over the real steps)."""
    q = np.broadcast_to(target[:, None, :], history.shape)
    x = np.concatenate([q, history, q - history, q * history], -1)
    att = model.attention
    for layer in att.mlp:
        x = np_sigmoid(np_dense(layer, x))
    logits = np_dense(att.score, x)[..., 0]
    if model.config.attention_normalize == "none":
        weights = np.where(mask, logits, 0.0)
    else:
        weights = np.zeros_like(logits)
        for i in range(len(logits)):
            if mask[i].any():
                e = np.exp(logits[i, mask[i]] - logits[i, mask[i]].max())
                weights[i, mask[i]] = e / e.sum()
    return weights


def np_forward(model):
    """(logits [B], attention weights [B, L], the MLP's hidden activations)."""
    e_u = f64(model.user_embedding.embeddings)[VOCAB["user"].lookup(USER)]
    target = np_embed(model, ITEM, CAT)
    history = np_embed(model, HIST_ITEMS, HIST_CATS)
    weights = np_attention(model, target, history, HIST_ITEMS != -1)
    pooled = (weights[:, :, None] * history).sum(1)
    x = np.concatenate([e_u, target, pooled, target * pooled], -1)
    hidden = []
    for layer in model.mlp:
        if isinstance(layer, tf.keras.layers.Dropout):
            continue                                             # inference: dropout is identity
        x = np.maximum(np_dense(layer, x), 0.0)
        hidden.append(x)
    return np_dense(model.logit_layer, x)[:, 0], weights, hidden


def np_bce(labels, logits):
    """-(y log sigmoid(l) + (1 - y) log(1 - sigmoid(l))), written as softplus(l) - y l."""
    return np.logaddexp(0.0, logits) - labels * logits


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("normalize", ["none", "softmax"])
def test_scores_and_loss_match_numpy(normalize):
    model = build(attention_normalize=normalize)
    logits, weights, hidden = np_forward(model)
    np.testing.assert_allclose(model(features()).numpy(), np_sigmoid(logits), atol=ATOL)
    np.testing.assert_allclose(model(features(), training=False).numpy(), np_sigmoid(logits), atol=ATOL)
    np.testing.assert_allclose(model.attention_weights(features()).numpy(), weights, atol=ATOL)
    terms = model.loss_terms(features(), training=False)
    assert set(terms) == {"bce"} and terms["bce"].shape == (B,)
    np.testing.assert_allclose(terms["bce"].numpy(), np_bce(LABEL.astype(np.float64), logits), atol=ATOL)
    # the reference is not degenerate: padding carries weight 0, the empty history pools to 0,
    # the scores differ between examples and no example has a layer of dead ReLUs
    assert (weights[HIST_ITEMS == -1] == 0).all() and (weights[HIST_ITEMS != -1] != 0).all()
    assert np.ptp(logits) > 0.05
    for h in hidden:
        assert (h > 0).any(-1).all()


def test_dropout_only_in_training():
    """Dropout 0.3 acts with training=True (the scores move off the inference reference) and
    never at inference (two inference calls agree exactly)."""
    model = build()
    logits, _, _ = np_forward(model)
    tf.keras.utils.set_random_seed(0)
    trained = model(features(), training=True).numpy()
    assert np.abs(trained - np_sigmoid(logits)).max() > 1e-3
    np.testing.assert_array_equal(model(features()).numpy(), model(features()).numpy())
    bce_train = model.loss_terms(features(), training=True)["bce"].numpy()
    assert np.abs(bce_train - np_bce(LABEL.astype(np.float64), logits)).max() > 1e-3


def test_layer_widths():
    """The MLP reads [e_u, e_t, p, e_t * p]; the activation unit reads [q, k, q - k, q * k]."""
    model = build()
    d = 4 + 3
    assert model.mlp[0].kernel.shape == (3 + 3 * d, 8)
    assert model.attention.mlp[0].kernel.shape == (4 * d, 6)
    assert [type(layer).__name__ for layer in model.mlp] == ["Dense", "Dropout", "Dense", "Dropout"]


def test_l2_regulariser_matches_numpy():
    model = build()
    expected = L2 * sum((f64(w) ** 2).sum() for w in
                        [model.user_embedding.embeddings, model.item_embedding.embeddings,
                         model.category_embedding.embeddings]
                        + [layer.kernel for layer in model.mlp if isinstance(layer, tf.keras.layers.Dense)])
    assert len(model.losses) == 5
    got = float(tf.add_n([tf.reduce_sum(x) for x in model.losses]).numpy())
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert not build(l2=0.0).losses
