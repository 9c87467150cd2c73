"""IPSRec — item-provider co-learning for sequential recommendation (Chen et al., SIGIR'22).

Inputs: a user's item history i_1..i_n and the aligned provider history p_1..p_n
(left-aligned, padding at the end). Tokens (Eq. 1):

    e^i_t = E_item[i_t] + P_item[t] + S[0]        e^p_t = E_prov[p_t] + P_prov[t] + S[1]

(separate positional tables for the two streams and a 2-entry segment embedding, then
LayerNorm + dropout, as in the reference code).

* IPSRec-S (``stream="single"``, Eqs. 2-5): one Transformer over the 2L concatenation
  [e^i_1..e^i_L, e^p_1..e^p_L] with the aligned causal mask (``mask="aligned"``: the item and
  provider tokens of step t see both streams at steps <= t) or the reference's plain causal
  mask (``mask="plain_causal"``).
* IPSRec-C (``stream="cross"``, Eqs. 7-11): a Transformer per stream (causal), then
  ``CoAttentionFusion`` (``direction="cross"``: each stream queries the other; "reference":
  the reference code's variant).
* User vector u = the item-side output at the last real step (Eq. 5); the provider-side
  output at the last real step is v (Eq. 12). In the all-position training form
  (``training_positions="all"``) every real step gives a (u, v) pair: the cross-entropy and
  the InfoNCE term are taken over all of them (each step's v is its u's positive, the other
  steps of the batch the negatives) -- our reading, as the paper trains the last step only.
* Loss (Eq. 13): full softmax cross-entropy of u . E_item^T against the next item, plus
  ``contrastive_weight`` x InfoNCE between u and v with raw dot products / temperature and the
  other 2N-2 in-batch vectors as negatives (the reference's NT-Xent form).
* ``use_provider=False`` is SASRec (item stream only, causal mask, no contrastive term);
  ``contrastive_weight=0`` is "w/o CL" (Table 3).
* ``use_provider=False, provider_in_item=True`` ("sasrec_provider") is our control, not a
  paper row: SASRec given the provider by adding its embedding to the item token,

      e_t = E_item[i_t] + E_prov[p_t] + P_item[t] + S[0]

  then the same LayerNorm + dropout and causal single-stream encoder, no contrastive term. It
  asks whether IPSRec's two streams beat simply giving SASRec the same provider input.

Scoring over the item table, the item loss (full softmax by default, or in-batch sampled
softmax with log-Q correction for ~1M-item catalogues), validation MRR@10, top-k serving and
``recommend`` are shared with the other next-item models (:mod:`tfrec_pkg.models.next_item`).
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrec_pkg import specs
from tfrec_pkg.features import FeatureSpec
from tfrec_pkg.layers.co_attention import CoAttentionFusion
from tfrec_pkg.layers.dropout import Dropout
from tfrec_pkg.layers.transformer import (TransformerEncoder, aligned_causal_mask, causal_mask,
                                          normal_init, plain_causal_mask)
from tfrec_pkg.models import registry
from tfrec_pkg.models.next_item import PLANTED, NextItemConfig, NextItemModel, planted_data

__all__ = ["IPSRec", "IPSRecConfig"]


@dataclasses.dataclass
class IPSRecConfig(NextItemConfig):
    stream: str = "single"          # "single" (IPSRec-S) | "cross" (IPSRec-C)
    mask: str = "aligned"           # IPSRec-S: "aligned" | "plain_causal" (reference)
    direction: str = "cross"        # IPSRec-C co-attention: "cross" | "reference"
    use_provider: bool = True       # False: SASRec
    provider_in_item: bool = False  # with use_provider=False: SASRec + provider control
    contrastive_weight: float = 0.1
    temperature: float = 1.0
    ffn_dim: int = 256             # the feed-forward layer's width (RecBole's inner_size)
    num_layers: int = 2
    num_heads: int = 2
    dropout: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        for name, allowed in (("stream", ("single", "cross")), ("mask", ("aligned", "plain_causal")),
                              ("direction", ("cross", "reference"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.provider_in_item and self.use_provider:
            raise ValueError("provider_in_item=True is the SASRec + provider control and needs "
                             "use_provider=False (IPSRec already has its own provider stream)")


class IPSRec(NextItemModel):
    config_class = IPSRecConfig
    loss_names = ("ce", "infonce")

    def __init__(self, config: IPSRecConfig | None = None, vocab=None, name=None):
        config = config or IPSRecConfig()
        default = "ipsrec" if config.use_provider else ("sasrec_provider" if config.provider_in_item else "sasrec")
        super().__init__(config, vocab or {}, name=name or default)
        c = config  # a fresh initializer per table: one shared unseeded instance repeats its values
        self.item_embedding = tf.keras.layers.Embedding(self.vocab["item"].size, c.item_dim,
                                                        embeddings_initializer=normal_init(), name="item_embedding")
        if c.use_provider or c.provider_in_item:
            self.provider_embedding = tf.keras.layers.Embedding(
                self.vocab["provider"].size, c.item_dim, embeddings_initializer=normal_init(), name="provider_embedding")
        self.item_position = tf.keras.layers.Embedding(c.max_history, c.item_dim, embeddings_initializer=normal_init(),
                                                       name="item_position")
        if c.use_provider:  # only the provider stream has provider positions
            self.provider_position = tf.keras.layers.Embedding(
                c.max_history, c.item_dim, embeddings_initializer=normal_init(), name="provider_position")
        self.segment = tf.keras.layers.Embedding(2, c.item_dim, embeddings_initializer=normal_init(), name="segment")
        self.input_norm = tf.keras.layers.LayerNormalization(epsilon=1e-12, name="input_norm")
        self.input_dropout = Dropout(c.dropout)
        enc = dict(num_layers=c.num_layers, hidden=c.item_dim, heads=c.num_heads, inner=c.ffn_dim,
                   dropout=c.dropout, attention_dropout=c.dropout)
        self.encoder = TransformerEncoder(**enc, name="encoder")
        if c.use_provider and c.stream == "cross":
            self.provider_encoder = TransformerEncoder(**enc, name="provider_encoder")
            self.fusion = CoAttentionFusion(c.item_dim, c.num_heads, c.ffn_dim, c.dropout, direction=c.direction,
                                            attention_dropout=c.dropout, name="co_attention")

    @property
    def feature_spec(self) -> list[FeatureSpec]:
        inputs = [s for s in specs.next_item(self.config.max_history) if s.name != "user_id"]
        if self.config.use_provider:
            return inputs
        # the control reads the providers of the history only, as its item tokens need
        keep = ("hist_provider_ids",) if self.config.provider_in_item else ()
        return [s for s in inputs if "provider" not in s.name or s.name in keep]

    # --- encoding (index features) -------------------------------------------------------
    def _tokens(self, x, position, segment, training):
        """Eq. (1) on id embeddings x [B, L, H]: + the stream's positions and segment, then
        LayerNorm + dropout."""
        steps = tf.range(tf.shape(x)[1])
        x = x + position(steps)[None] + self.segment(tf.fill([1, 1], segment))
        return self.input_dropout(self.input_norm(x), training=training)

    def sequence_outputs(self, features, training=False):
        """(item-side [B, L, H], provider-side [B, L, H] or None) at every step; read at the
        last real step they are u (Eq. 5) and v (Eq. 12)."""
        items = features["hist_item_ids"]
        valid = tf.not_equal(items, 0)
        x = self.item_embedding(items)
        if self.config.provider_in_item:  # the control: E_prov[p_t] joins the item token before the LayerNorm
            x += self.provider_embedding(features["hist_provider_ids"])
        x_i = self._tokens(x, self.item_position, 0, training)
        if not self.config.use_provider:
            return self.encoder(x_i, attention_mask=causal_mask(valid), training=training), None
        x_p = self._tokens(self.provider_embedding(features["hist_provider_ids"]), self.provider_position, 1, training)
        length = tf.shape(items)[1]
        if self.config.stream == "single":                                               # Eqs. (2)-(3)
            mask_fn = aligned_causal_mask if self.config.mask == "aligned" else plain_causal_mask
            h = self.encoder(tf.concat([x_i, x_p], 1), attention_mask=mask_fn(valid), training=training)
            h_i, h_p = h[:, :length], h[:, length:]
        else:                                                                            # Eqs. (7)-(11)
            h_i = self.encoder(x_i, attention_mask=causal_mask(valid), training=training)
            h_p = self.provider_encoder(x_p, attention_mask=causal_mask(valid), training=training)
            h_i, h_p = self.fusion(h_i, h_p, valid, training=training)
        return h_i, h_p

    def loss_terms(self, features, training=False):
        u, v, target = self.training_vectors(self.map_ids(features), training)            # Eqs. (5), (12)
        ce = self.item_loss(u, target, training)                                         # Eq. (13), CE
        if "infonce" not in self.loss_names:  # SASRec
            return {"ce": ce}
        if v is None or self.config.contrastive_weight == 0:
            return {"ce": ce, "infonce": tf.zeros_like(ce)}
        return {"ce": ce, "infonce": self.config.contrastive_weight * info_nce(u, v, self.config.temperature)}


def info_nce(u, v, temperature: float = 1.0):
    """NT-Xent over the 2N vectors [u; v]: each u_n's positive is v_n (and vice versa), the other
    2N-2 in-batch vectors are negatives; raw dot products / temperature (Eq. 12, reference form).
    Returns one loss per row [N] (mean of the two directions).

    Under a multi-replica strategy the negatives are the global batch's: every replica gathers
    all replicas' u and v (the gather's gradient returns each replica its share), so a cluster
    computes the loss one process computes on the same global batch."""
    n = tf.shape(u)[0]
    all_u, all_v, first = _global_batch(u), _global_batch(v), _first_global_row(n)
    total = tf.shape(all_u)[0]
    z = tf.concat([u, v], 0)
    sim = tf.matmul(z, tf.concat([all_u, all_v], 0), transpose_b=True) / temperature
    rows = first + tf.range(n)  # this replica's rows in the global batch
    own = tf.concat([rows, total + rows], 0)
    sim = tf.where(tf.one_hot(own, 2 * total, on_value=True, off_value=False), tf.constant(-1e9, sim.dtype), sim)
    positive = tf.concat([total + rows, rows], 0)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(positive, sim)
    return 0.5 * (loss[:n] + loss[n:])


def _replicas():
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def _global_batch(x):
    context = _replicas()
    return x if context is None else context.all_gather(x, axis=0)


def _first_global_row(n):
    """Index of this replica's first row in the gathered global batch."""
    context = _replicas()
    if context is None:
        return 0
    sizes = context.all_gather(n[None], axis=0)
    return tf.reduce_sum(sizes[:context.replica_id_in_sync_group])


registry.register("ipsrec", IPSRec, IPSRecConfig, planted_data, protocol="full_ranking",
                  demo_seconds=76, claims_minutes=85.4,
                  description="IPSRec-S: item-provider co-learning (SASRec = use_provider=False; "
                              "SASRec + provider control = provider_in_item=True)",
                  planted=PLANTED, claims="tfrec_pkg.claims.ipsrec_checks:checks",
                  bench="tfrec_pkg.bench.next_item:next_item_bench")
