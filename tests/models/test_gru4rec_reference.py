"""Whole-model reference for GRU4Rec (tfrec_pkg/models/baselines/gru4rec.py): an independent
float64 numpy forward pass, reading the model's weights, against the model's outputs on a
tiny config with randomized weights.

    e_t = E_item[i_t]                       (embedding dropout off at inference)
    h_t = GRU(e_t, h_{t-1}), h_0 = 0        Keras' convention, read off its weights: kernel
                                            [in, 3U] and recurrent kernel [U, 3U] with the gates
                                            in the order z, r, h; bias [2, 3U] (input bias,
                                            recurrent bias), i.e. reset_after=True, PyTorch's
                                            (RecBole's) form:
        z = sigmoid(x W_z + b_z + h U_z + c_z),  r = sigmoid(x W_r + b_r + h U_r + c_r)
        n = tanh(x W_h + b_h + r * (h U_h + c_h)),  h_t = z * h_{t-1} + (1 - z) * n
    u = W h_n + b                           (h at the last real step n; the GRU also runs over
                                            the padded steps after it, which must not reach u)
    score(i) = u . E_item[i]                (padding and OOV rows -inf), ce = full softmax

The batch (shared with test_ipsrec_reference.py) has raw ids with padding (-1), an OOV id,
history lengths 5, 3, 1, 4 and 0. hidden_dim (6) != item_dim (8) so the dense read-out is
not optional. Also ``model.top_k`` with per-row k and history exclusion vs numpy argsort.

Mutations of the model code tried (each made by hand, the tests run, the file restored with
``git checkout``), and the tests that failed on each (F = test_forward_matches_numpy,
K = test_top_k_matches_numpy):

* u read at the final (padded) step ``h[:, -1]`` -- F, K
* u read at step 0 -- F, K
* ``last_step`` (layers/sequence.py) reads step n instead of n - 1 -- F, K (gather out of range)
* dense read-out skipped (u = h_n) -- every test errors while building the model (u has
  hidden_dim 6, the item table item_dim 8)
* GRU with ``hidden_dim`` replaced by ``item_dim`` units -- F
* GRU with ``reset_after=False`` -- F, K, test_padded_steps_change_the_final_state (the bias is
  [3U], not [2, 3U]: not the PyTorch / RecBole GRU)
* GRU ``go_backwards=True`` -- F, K
* GRU recurrent activation ``hard_sigmoid`` -- F, K
* embedding dropout on at inference (``training=True``) -- F, K
* embedding ``mask_zero=True`` (Keras masking carries the state over padded steps) -- F, K, from
  the empty-history row only: the other rows get the same u, the empty one gets W 0 + b
* OOV row / padding row not masked in ``all_item_scores`` -- F, K
* history exclusion off, top-k id off by one, entries past k kept, k not capped at the known
  items (next_item.py) -- K
"""
import sys
from pathlib import Path

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.models.baselines.gru4rec import GRU4Rec, GRU4RecConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from numpy_transformer import randomize  # noqa: E402
from test_ipsrec_reference import (HIST_ITEMS, ITEMS, L, PAD, TARGET_ITEMS, np_index,  # noqa: E402
                                   np_last, np_log_softmax, np_scores, np_top_k)

HIDDEN, DIM = 6, 8


def _w(var):
    return var.numpy().astype(np.float64)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_gru(gru, x):
    """All hidden states [B, L, U] of a Keras GRU (reset_after=True) from h_0 = 0."""
    cell = gru.cell
    kernel, recurrent, bias = _w(cell.kernel), _w(cell.recurrent_kernel), _w(cell.bias)
    units = recurrent.shape[0]
    assert kernel.shape == (x.shape[-1], 3 * units) and bias.shape == (2, 3 * units)
    h = np.zeros((x.shape[0], units))
    out = []
    for t in range(x.shape[1]):
        xz, xr, xh = np.split(x[:, t] @ kernel + bias[0], 3, -1)
        hz, hr, hh = np.split(h @ recurrent + bias[1], 3, -1)
        z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
        h = z * h + (1.0 - z) * np.tanh(xh + r * hh)
        out.append(h)
    return np.stack(out, 1)


def np_gru4rec(model):
    items = np_index(HIST_ITEMS, ITEMS)
    table = _w(model.item_embedding.embeddings)
    h = np_gru(model.gru, table[items])
    u = np_last(h, items != 0) @ _w(model.output_dense.kernel) + _w(model.output_dense.bias)
    scores = np_scores(u, table)
    target = np_index(TARGET_ITEMS, ITEMS)
    return u, scores, (u * table[target]).sum(-1), -np_log_softmax(scores)[np.arange(len(u)), target]


def features():
    return {"hist_item_ids": tf.constant(HIST_ITEMS, tf.int64), "item_id": tf.constant(TARGET_ITEMS, tf.int64)}


@pytest.fixture(scope="module")
def model():
    cfg = GRU4RecConfig(max_history=L, item_dim=DIM, hidden_dim=HIDDEN, dropout=0.3, top_k_max=10)
    m = GRU4Rec(cfg, {"item": Vocabulary(ITEMS, "int64")})
    m.loss_terms(features())                     # builds every layer
    randomize(m, seed=3, scale=0.5)
    return m


def test_forward_matches_numpy(model):
    assert model.gru.cell.recurrent_kernel.shape == (HIDDEN, 3 * HIDDEN)
    u, scores, output, ce = np_gru4rec(model)
    got_u, extra = model.user_vectors(model.map_ids(features()), training=False)
    assert extra is None
    np.testing.assert_allclose(got_u.numpy(), u, rtol=1e-5, atol=1e-5)
    got_scores = model.all_item_scores(got_u).numpy()
    assert np.isneginf(got_scores[:, :2]).all()
    np.testing.assert_allclose(got_scores[:, 2:], scores[:, 2:], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model(features(), training=False).numpy(), output, rtol=1e-5, atol=1e-5)
    got = model.loss_terms(features(), training=False)
    assert list(got) == ["ce"]
    np.testing.assert_allclose(got["ce"].numpy(), ce, rtol=1e-5, atol=1e-5)


def test_padded_steps_change_the_final_state(model):
    """The GRU runs over the padded steps: reading the last padded step would give another u
    (the test above could not tell the two apart otherwise)."""
    items = np_index(HIST_ITEMS, ITEMS)
    h = np_gru(model.gru, _w(model.item_embedding.embeddings)[items])
    short = (items != 0).sum(1) < L
    assert not np.allclose(np_last(h, items != 0)[short], h[short, -1], atol=1e-3)


def test_top_k_matches_numpy(model):
    _, scores, _, _ = np_gru4rec(model)
    k = np.array([3, 9, 2, 7, 5])                 # 9 > the 7 known items: capped
    exclude = np.array([True, True, False, True, True])
    ids, vals = model.top_k(features(), tf.constant(k, tf.int64), tf.constant(exclude))
    want_ids, want_vals = np_top_k(scores, np_index(HIST_ITEMS, ITEMS), k, exclude, model.config.top_k_max)
    assert want_ids.shape == (5, 7)
    np.testing.assert_array_equal(ids.numpy(), want_ids)
    np.testing.assert_allclose(vals.numpy(), want_vals, rtol=1e-5, atol=1e-5)
    assert (want_ids[1, 5:] == PAD).all() and (want_ids[3, 3:] == PAD).all()
