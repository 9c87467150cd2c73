"""Whole-model reference for IPSRec (tfrec_pkg/models/ipsrec.py) and the shared next-item
half (tfrec_pkg/models/next_item.py): an independent float64 numpy forward pass, reading the
model's weights, against the model's outputs, on a tiny config with randomized weights.

Covered variants: IPSRec-S with the aligned mask and with the reference's plain causal mask,
IPSRec-C with both co-attention directions, SASRec (``use_provider=False``) and the SASRec +
provider control (``provider_in_item=True``: E_prov[p_t] added to the item token before the
LayerNorm). For each: the token embeddings (Eq. 1: item/provider embedding + the stream's own
position table + the segment embedding, LayerNorm), the encoder with its mask (Eqs. 2-4 / 7-11), u and v read at
the last real step (Eqs. 5, 12), the scores u . E_item over the table (padding and OOV rows
-inf), ``model(features)`` (the score of ``item_id``), both loss terms of
``model.loss_terms(features, training=False)`` -- ce (full softmax) and infonce
(contrastive_weight x NT-Xent of u and v at a temperature != 1) -- and ``model.top_k`` with
per-row k and per-row history exclusion against a numpy argsort.

The batch uses raw ids with padding (-1) and OOV ids in both histories, history lengths
5, 3, 1, 4 and 0 (an empty history), and a dropout of 0.5 that must be off at inference.

Mutations of the model code tried (each made by hand, these two reference modules run, the
file restored), and the tests that failed on each. F = test_forward_matches_numpy, K =
test_top_k_matches_numpy; "all" = every variant the test ran (F: 5, K: 3 for the entries
recorded before the control existed; the control's entries at the end ran F: 6, K: 4),
"prov" = the 4 variants with a provider stream:

* segment (token-type) embedding removed from ``_tokens`` -- F all, K all (for fixed weights: a
  stream's segment vector could be folded into its own position table, so the function class
  is the same without it)
* segment embedding kept but multiplied by 0 (the layer still built) -- F all, K all
* segment indices 0/1 swapped between the streams -- F all, K all
* u read at step 0 instead of the last real step (``user_vectors``) -- F all, K all
* ``last_step`` (layers/sequence.py) reads step n instead of n - 1 -- F all and GRU4Rec (gather
  out of range), K all
* u and v swapped in the returned tuple -- F prov, K[single_aligned, cross_reference]
* u and v swapped in the contrastive term (``info_nce(v, u, ...)``) -- NOT caught: an equivalent
  mutant, NT-Xent averaged over both directions is symmetric in (u, v)
  (test_info_nce_is_symmetric shows it)
* v replaced by u in the contrastive term (``info_nce(u, u, ...)``) -- F prov
* v read from the item half of the IPSRec-S concatenation -- F[single_aligned, single_plain]
* one position table for both streams (provider tokens use ``item_position``) -- F prov, K
* provider ids looked up in the item embedding table -- F prov, K
* positions counted from the end (right-aligned) instead of from step 0 -- F all, K all
* input LayerNorm removed -- F all, K all
* input dropout on at inference (``training=True``) -- F all, K all
* encoder built with 1 layer instead of ``num_layers`` (2) -- F all, K all
* aligned mask replaced by plain causal (``mask_fn = plain_causal_mask``) -- F[single_aligned],
  K[single_aligned]
* plain causal replaced by aligned -- F[single_plain]
* aligned mask without its causal part (step(k) <= step(p) dropped) -- F[single_aligned],
  K[single_aligned]
* ``causal_mask`` without its causal part (a padding mask: look-ahead) -- F[sasrec, cross_cross,
  cross_reference, single_plain], K[sasrec, cross_reference]
* padded keys not masked (``_pair`` ignoring the key validity) -- F[single_plain] only: with
  left-aligned histories the causal / aligned structure already hides every padded key from
  every valid query; only the plain mask lets the provider tokens see later (padded) item slots
* IPSRec-C provider stream encoded by the item encoder -- F[cross_*], K[cross_reference]
* IPSRec-C co-attention fusion skipped -- F[cross_*], K[cross_reference]
* co-attention directions swapped (layers/co_attention.py branches) -- F[cross_*],
  K[cross_reference]
* co-attention fusion with ``causal=False`` (padding mask) -- NOT caught: an equivalent mutant
  for everything the model outputs. The fusion is the last layer and u, v are read at the last
  real step, whose causal row already holds every valid step of the other stream
* contrastive_weight not applied -- F prov
* temperature not applied -- F prov, test_info_nce_is_symmetric
* NT-Xent diagonal (self-similarity) not masked -- F prov, test_info_nce_is_symmetric
* NT-Xent as the u -> v direction only (no mean of the two) -- F prov, test_info_nce_is_symmetric
* OOV row not masked in ``all_item_scores`` -- F all, K all (and both GRU4Rec reference tests)
* padding row not masked in ``all_item_scores`` -- F all, K all (and both GRU4Rec tests)
* ``call_indexed`` scoring the target with v instead of u -- F all (SASRec: v is None)
* history exclusion off in ``top_indices`` -- K all (and GRU4Rec's)
* ``exclude_seen`` ignored (history always excluded) -- K[single_aligned, sasrec]
* top-k index -> raw id off by one (``indices - 1``) -- K all (and GRU4Rec's)
* entries past a row's own k kept (not padding / -inf) -- K all (and GRU4Rec's)
* k not capped at the number of known items (reserved rows counted) -- K all (and GRU4Rec's)
* control: provider embedding not added to the item token (``provider_in_item`` ignored in
  ``user_vectors``) -- F[sasrec_provider], K[sasrec_provider]
* control: provider embedding added after the LayerNorm (to ``x_i``) -- F[sasrec_provider],
  K[sasrec_provider]
* control: provider ids looked up in the item embedding table -- F[sasrec_provider],
  K[sasrec_provider]
* control: provider token added with the provider segment S[1] (``_tokens(..., 1, ...)``) --
  F[sasrec_provider], K[sasrec_provider]
"""
import sys
from pathlib import Path

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.models.ipsrec import IPSRec, IPSRecConfig, info_nce

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers"))
from numpy_transformer import np_ffn, np_layer_norm, np_mha, randomize  # noqa: E402
from test_co_attention import np_co_attention  # noqa: E402

L = 5
ITEMS = [11, 12, 13, 14, 15, 16, 17]          # indices 2..8
PROVIDERS = [101, 102, 103]                   # indices 2..4
PAD, OOV_ITEM, OOV_PROVIDER = -1, 999, 555

HIST_ITEMS = np.array([[11, 12, 13, 14, 15],              # full history
                       [13, OOV_ITEM, 16, PAD, PAD],      # an OOV item, length 3
                       [17, PAD, PAD, PAD, PAD],          # length 1
                       [12, 14, 11, 16, PAD],             # length 4
                       [PAD, PAD, PAD, PAD, PAD]])        # empty history
HIST_PROVIDERS = np.array([[101, 102, 101, 103, 102],
                           [103, 101, OOV_PROVIDER, PAD, PAD],
                           [102, PAD, PAD, PAD, PAD],
                           [OOV_PROVIDER, 103, 103, 101, PAD],
                           [PAD, PAD, PAD, PAD, PAD]])
TARGET_ITEMS = np.array([16, 11, 12, 13, 14])
TARGET_PROVIDERS = np.array([103, 102, 101, 101, 102])

VARIANTS = {
    "single_aligned": dict(stream="single", mask="aligned"),
    "single_plain": dict(stream="single", mask="plain_causal"),
    "cross_cross": dict(stream="cross", direction="cross"),
    "cross_reference": dict(stream="cross", direction="reference"),
    "sasrec": dict(use_provider=False),
    "sasrec_provider": dict(use_provider=False, provider_in_item=True),
}


# ---------------------------------------------------------------- numpy reference
def _w(var):
    return var.numpy().astype(np.float64)


def np_index(raw, known):
    """Raw ids -> indices: padding 0, OOV 1, known ids 2.. in vocabulary order."""
    table = {v: i + 2 for i, v in enumerate(known)}
    return np.vectorize(lambda x: 0 if x == PAD else table.get(int(x), 1))(raw).astype(np.int64)


def np_causal(valid):
    n = valid.shape[1]
    return np.tril(np.ones((n, n), bool))[None] & valid[:, :, None] & valid[:, None, :]


def np_aligned(valid):
    """[B, 2L, 2L]: item and provider tokens of step t see both streams' valid steps <= t."""
    n = valid.shape[1]
    step = np.arange(2 * n) % n
    v2 = np.concatenate([valid, valid], 1)
    return (step[None, :] <= step[:, None])[None] & v2[:, :, None] & v2[:, None, :]


def np_plain(valid):
    return np_causal(np.concatenate([valid, valid], 1))


def np_encoder(encoder, x, mask, num_layers):
    """num_layers post-LN Transformer blocks: LN(x + MHA(x)), then LN(x + FFN(x))."""
    assert len(encoder.blocks) == num_layers and encoder.final_norm is None
    for block in encoder.blocks:
        assert block.norm == "post"
        x = np_layer_norm(x + np_mha(block.attention, x, x, mask), block.attention_norm)
        x = np_layer_norm(x + np_ffn(block.ffn, x), block.ffn_norm)
    return x


def np_last(h, valid):
    last = np.maximum(valid.sum(1) - 1, 0)
    return h[np.arange(len(h)), last]


def np_log_softmax(s):
    m = s.max(-1, keepdims=True)
    return s - m - np.log(np.exp(s - m).sum(-1, keepdims=True))


def np_nt_xent(u, v, tau):
    n = len(u)
    z = np.concatenate([u, v])
    sim = z @ z.T / tau
    np.fill_diagonal(sim, -np.inf)
    pos = np.r_[np.arange(n, 2 * n), np.arange(n)]
    loss = -np_log_softmax(sim)[np.arange(2 * n), pos]
    return 0.5 * (loss[:n] + loss[n:])


def np_scores(u, table):
    s = u @ table.T
    s[:, :2] = -np.inf                      # padding and OOV rows
    return s


def np_ipsrec(model, cfg):
    """(u, v or None, scores, output, {ce, infonce}) in float64."""
    items = np_index(HIST_ITEMS, ITEMS)
    valid = items != 0
    table = _w(model.item_embedding.embeddings)
    seg = _w(model.segment.embeddings)

    def tokens(emb, idx, pos_table, s):
        return np_layer_norm(emb[idx] + pos_table[None, :L] + seg[s], model.input_norm)

    provs = np_index(HIST_PROVIDERS, PROVIDERS)
    if cfg.provider_in_item:                # the control: E_item[i_t] + E_prov[p_t] + P_item[t] + S[0]
        x_i = np_layer_norm(table[items] + _w(model.provider_embedding.embeddings)[provs]
                            + _w(model.item_position.embeddings)[None, :L] + seg[0], model.input_norm)
    else:
        x_i = tokens(table, items, _w(model.item_position.embeddings), 0)
    v = None
    if not cfg.use_provider:
        u = np_last(np_encoder(model.encoder, x_i, np_causal(valid), cfg.num_layers), valid)
    else:
        x_p = tokens(_w(model.provider_embedding.embeddings), provs, _w(model.provider_position.embeddings), 1)
        if cfg.stream == "single":
            mask = np_aligned(valid) if cfg.mask == "aligned" else np_plain(valid)
            h = np_encoder(model.encoder, np.concatenate([x_i, x_p], 1), mask, cfg.num_layers)
            h_i, h_p = h[:, :L], h[:, L:]
        else:
            causal = np_causal(valid)
            h_i, h_p = np_co_attention(model.fusion, np_encoder(model.encoder, x_i, causal, cfg.num_layers),
                                       np_encoder(model.provider_encoder, x_p, causal, cfg.num_layers), causal,
                                       cfg.direction)
        u, v = np_last(h_i, valid), np_last(h_p, valid)
    scores = np_scores(u, table)
    target = np_index(TARGET_ITEMS, ITEMS)
    output = (u * table[target]).sum(-1)
    ce = -np_log_softmax(scores)[np.arange(len(u)), target]
    infonce = np.zeros_like(ce) if v is None else cfg.contrastive_weight * np_nt_xent(u, v, cfg.temperature)
    return u, v, scores, output, {"ce": ce, "infonce": infonce}


def np_top_k(scores, hist_idx, k, exclude, top_k_max):
    """Raw ids and scores of the top max(k) per row (at most top_k_max and the number of known
    items); history items -inf where exclude; entries past a row's own k, or at -inf, are
    padding / -inf."""
    scores = scores.copy()
    for b in range(len(scores)):
        if exclude[b]:
            scores[b, hist_idx[b]] = -np.inf
    kmax = min(int(max(k)), top_k_max, scores.shape[1] - 2)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :kmax]
    top = np.take_along_axis(scores, order, 1)
    ids = np.array(ITEMS)[np.maximum(order - 2, 0)]
    beyond = (np.arange(kmax)[None] >= np.asarray(k)[:, None]) | np.isinf(top)
    return np.where(beyond, PAD, ids), np.where(beyond, -np.inf, top)


# ---------------------------------------------------------------- the model
def features(cfg=None):
    """The batch with the inputs the variant reads (cfg None: IPSRec's); the control reads
    the history's providers but not the target's."""
    cfg = cfg or config()
    f = {"hist_item_ids": HIST_ITEMS, "item_id": TARGET_ITEMS}
    if cfg.use_provider or cfg.provider_in_item:
        f["hist_provider_ids"] = HIST_PROVIDERS
    if cfg.use_provider:
        f["provider_id"] = TARGET_PROVIDERS
    return {k: tf.constant(v, tf.int64) for k, v in f.items()}


def config(**changes):
    return IPSRecConfig(max_history=L, item_dim=8, ffn_dim=16, num_layers=2, num_heads=2, dropout=0.5,
                        contrastive_weight=0.3, temperature=0.7, top_k_max=10).replace(**changes)


def vocab():
    return {"item": Vocabulary(ITEMS, "int64"), "provider": Vocabulary(PROVIDERS, "int64")}


@pytest.fixture(scope="module", params=list(VARIANTS))
def built(request):
    cfg = config(**VARIANTS[request.param])
    tf.keras.utils.set_random_seed(0)
    model = IPSRec(cfg, vocab())
    model.loss_terms(features(cfg))           # builds every layer
    randomize(model, seed=sorted(VARIANTS).index(request.param) + 1)
    return request.param, cfg, model


# ---------------------------------------------------------------- tests
def test_batch_exercises_padding_oov_and_lengths():
    items, provs = np_index(HIST_ITEMS, ITEMS), np_index(HIST_PROVIDERS, PROVIDERS)
    assert sorted((items != 0).sum(1)) == [0, 1, 3, 4, 5]
    assert (items == 1).any() and (provs == 1).any()
    np.testing.assert_array_equal(items != 0, provs != 0)
    np.testing.assert_array_equal(Vocabulary(ITEMS, "int64").lookup(HIST_ITEMS), items)


def test_forward_matches_numpy(built):
    name, cfg, model = built
    u, v, scores, output, losses = np_ipsrec(model, cfg)
    feats = features(cfg)
    assert sorted(feats) == sorted(s.name for s in model.feature_spec)
    got_u, got_v = model.user_vectors(model.map_ids(feats), training=False)
    np.testing.assert_allclose(got_u.numpy(), u, rtol=1e-5, atol=1e-5)
    if v is None:
        assert got_v is None
    else:
        np.testing.assert_allclose(got_v.numpy(), v, rtol=1e-5, atol=1e-5)
    got_scores = model.all_item_scores(got_u).numpy()
    assert np.isneginf(got_scores[:, :2]).all()
    np.testing.assert_allclose(got_scores[:, 2:], scores[:, 2:], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model(feats, training=False).numpy(), output, rtol=1e-5, atol=1e-5)
    got = model.loss_terms(feats, training=False)
    assert sorted(got) == ["ce", "infonce"]
    for term in ("ce", "infonce"):
        np.testing.assert_allclose(got[term].numpy(), losses[term], rtol=1e-5, atol=1e-5, err_msg=term)
    if cfg.use_provider:
        assert (losses["infonce"] > 0).all()
    else:
        assert (got["infonce"].numpy() == 0).all()


@pytest.mark.parametrize("variant", ["single_aligned", "cross_reference", "sasrec", "sasrec_provider"])
def test_top_k_matches_numpy(variant):
    cfg = config(**VARIANTS[variant])
    model = IPSRec(cfg, vocab())
    model.loss_terms(features(cfg))
    randomize(model, seed=11)
    # Make the OOV row the best-scoring row everywhere, so an unmasked OOV row shows in top-k.
    table = model.item_embedding.embeddings
    u, _ = model.user_vectors(model.map_ids(features(cfg)))
    table.assign(tf.tensor_scatter_nd_update(table, [[1]], [tf.reduce_mean(u, 0) * 50.0]))
    u, _, scores, _, _ = np_ipsrec(model, cfg)
    assert (np.argmax(u @ _w(table).T, 1) == 1).sum() >= 3
    k = np.array([3, 9, 2, 7, 5])                 # 9 > the 7 known items: capped
    exclude = np.array([True, True, False, True, True])
    ids, vals = model.top_k(features(cfg), tf.constant(k, tf.int64), tf.constant(exclude))
    want_ids, want_vals = np_top_k(scores, np_index(HIST_ITEMS, ITEMS), k, exclude, cfg.top_k_max)
    assert want_ids.shape == (5, 7)
    np.testing.assert_array_equal(ids.numpy(), want_ids)
    np.testing.assert_allclose(vals.numpy(), want_vals, rtol=1e-5, atol=1e-5)
    assert (want_ids[1, 5:] == PAD).all() and (want_ids[3, 3:] == PAD).all()   # excluded items leave gaps


def test_variants_differ_with_the_same_weights():
    """The reference separates what the variants change: aligned vs plain mask, and the two
    co-attention directions, give different u for the same weights."""
    out = {}
    for pair in (("single_aligned", "single_plain"), ("cross_cross", "cross_reference")):
        a = IPSRec(config(**VARIANTS[pair[0]]), vocab())
        a.loss_terms(features())
        randomize(a, seed=21)
        b = IPSRec(config(**VARIANTS[pair[1]]), vocab())
        b.loss_terms(features())
        b.set_weights(a.get_weights())
        for name, m in zip(pair, (a, b)):
            out[name] = np_ipsrec(m, m.config)[0]
        valid = (np_index(HIST_ITEMS, ITEMS) != 0).sum(1) > 0
        assert not np.allclose(out[pair[0]][valid], out[pair[1]][valid], atol=1e-3), pair


def test_info_nce_is_symmetric():
    """Why swapping u and v inside the contrastive term is an equivalent mutant: NT-Xent over
    [u; v] averaged over both directions does not change when u and v trade places."""
    rng = np.random.default_rng(0)
    u, v = (tf.constant(rng.normal(size=(5, 8)), tf.float32) for _ in range(2))
    np.testing.assert_allclose(info_nce(u, v, 0.7).numpy(), info_nce(v, u, 0.7).numpy(), rtol=1e-6)
    np.testing.assert_allclose(info_nce(u, v, 0.7).numpy(), np_nt_xent(u.numpy().astype(float), v.numpy().astype(float),
                                                                      0.7), rtol=1e-5)
