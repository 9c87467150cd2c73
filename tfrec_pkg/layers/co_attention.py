"""IPSRec-C co-attention fusion module (Chen et al., IPSRec, SIGIR'22, Sec. 2.2, Eqs. 7-11,
Fig. 2).

The item stream and the provider stream are first encoded separately (Transformer^i and
Transformer^p: two :class:`~tfrec_pkg.layers.transformer.TransformerEncoder` s, done by the
model); :class:`CoAttentionFusion` then exchanges information between them. With
X^i = Transformer^i(H^{C_i(0)}) and X^p = Transformer^p(H^{C_p(0)}) ([B, L, H] each):

    Q^i = W^{Q^i} X^i,  Q^p = W^{Q^p} X^p                                     Eq. (9)
    K^i = W^{K^i} X^i,  K^p = W^{K^p} X^p                                     Eq. (10)
    V^i = W^{V^i} X^i,  V^p = W^{V^p} X^p                                     Eq. (11)

``direction="cross"`` (default; ViLBERT's co-attention, Lu et al. 2019): each stream's queries
attend to the OTHER stream's keys and values,

    CA^i = softmax(Q^i (K^p)^T / sqrt(d/h)) V^p                                Eq. (7)
    CA^p = softmax(Q^p (K^i)^T / sqrt(d/h)) V^i                                Eq. (8)

``direction="reference"`` (the reference implementation): the queries come from the other
stream and the keys and values from the stream's own representations,

    CA^i = softmax(Q^p (K^i)^T / sqrt(d/h)) V^i
    CA^p = softmax(Q^i (K^p)^T / sqrt(d/h)) V^p

Each stream s in {i, p} is then updated as a Transformer layer would be (post-LN, dropout on
the hidden states, its own weights):

    Y^s   = LayerNorm(X^s + Dropout(W^{O,s} CA^s))
    out^s = LayerNorm(Y^s + Dropout(FFN^s(Y^s)))

Readings taken where the paper is open (each documented here and in the config):
* Eqs. (7)-(8) as printed put Q, K and V of CA^i all on the item side, which is plain
  self-attention and would not "learn the interactions between item and provider
  representations" (Sec. 2.2, Fig. 2). We read them as the cross-stream exchange of ViLBERT
  (``direction="cross"``): the weights of Eqs. (9)-(11) are kept per stream, and CA^i pairs Q^i
  with K^p, V^p. The reference's variant is kept as ``direction="reference"``. Neither variant
  runs an intra-stream self-attention inside the fusion module (that is the encoders' job).
* Implementation: two ``MultiHeadAttention`` layers, ``item_attention`` (whose output updates
  the item stream) and ``provider_attention``. In "cross" ``item_attention`` has
  query = items, key/value = providers, so its query kernel is W^{Q^i} and its key/value kernels
  are W^{K^p}, W^{V^p} (``provider_attention`` holds W^{Q^p}, W^{K^i}, W^{V^i}); in "reference"
  ``item_attention`` has query = providers, key/value = items. Each also has an output projection
  W^{O,s} (multi-head attention, Eq. 4's h heads), not written in the paper.
* Residual + LayerNorm + FFN per stream as in the reference (the paper's Fig. 2 shows the
  co-attention only); sizes, GELU, dropout 0.5, LayerNorm eps 1e-12, init normal(0, 0.02) as in
  :mod:`tfrec_pkg.layers.transformer`.
* Masking: the two streams are aligned step by step (provider of step t belongs to item t) and
  left-aligned. ``mask`` may be ``valid`` [B, L] (True on real steps), which gives
  ``causal_mask(valid)`` (``causal=True``, default: a query of step t sees the other stream's
  steps <= t only -- the next item's provider must not leak into h_t) or ``padding_mask(valid)``
  (``causal=False``); or a ready [B, L, L] bool mask, used for both directions as is. A query
  row with no allowed key (a padded step) attends to the key of its own step only, as in
  :class:`~tfrec_pkg.layers.transformer.TransformerBlock`, so it never gives NaN; valid outputs
  never depend on padded steps.
"""
from __future__ import annotations

import tensorflow as tf

from tfrec_pkg.layers.dropout import Dropout, MultiHeadAttention
from tfrec_pkg.layers.transformer import (FeedForward, causal_mask, check_common_args,
                                          ensure_nonempty_rows, normal_init, padding_mask)

_DIRECTIONS = ("cross", "reference")


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class CoAttentionFusion(tf.keras.layers.Layer):
    """``call(items [B, L, H], providers [B, L, H], mask, training)`` -> (items', providers')."""

    def __init__(self, hidden: int = 64, heads: int = 2, inner: int = 256, dropout: float = 0.5,
                 direction: str = "cross", eps: float = 1e-12, attention_dropout: float = 0.5,
                 activation="gelu", causal: bool = True, **kwargs):
        super().__init__(**kwargs)
        check_common_args(hidden, heads, inner, dropout, attention_dropout, eps)
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be 'cross' or 'reference', got {direction!r}")
        self.hidden = int(hidden)
        self.heads = int(heads)
        self.inner = int(inner)
        self.dropout = float(dropout)
        self.direction = direction
        self.eps = float(eps)
        self.attention_dropout = float(attention_dropout)
        self.activation = activation
        self.causal = bool(causal)
        # A mask is an explicit argument here, never Keras' propagated mask.
        self.supports_masking = True
        for s in ("item", "provider"):
            setattr(self, f"{s}_attention", MultiHeadAttention(
                num_heads=self.heads, key_dim=self.hidden // self.heads,
                dropout=self.attention_dropout, kernel_initializer=normal_init(),
                name=f"{s}_attention"))
            setattr(self, f"{s}_attention_out_dropout", Dropout(self.dropout))
            setattr(self, f"{s}_attention_norm", tf.keras.layers.LayerNormalization(
                epsilon=self.eps, name=f"{s}_attention_norm"))
            setattr(self, f"{s}_ffn", FeedForward(self.hidden, self.inner, activation,
                                                  name=f"{s}_ffn"))
            setattr(self, f"{s}_ffn_dropout", Dropout(self.dropout))
            setattr(self, f"{s}_ffn_norm", tf.keras.layers.LayerNormalization(
                epsilon=self.eps, name=f"{s}_ffn_norm"))

    def attention_mask(self, mask):
        """valid [B, L] or [B, L, L] -> the [B, L, L] bool mask used by both directions."""
        mask = tf.convert_to_tensor(mask)
        if mask.shape.rank == 2:
            mask = causal_mask(mask) if self.causal else padding_mask(mask)
        elif mask.shape.rank != 3:
            raise ValueError(f"mask must be valid [B, L] or [B, L, L], got shape {mask.shape}")
        return ensure_nonempty_rows(mask)

    def _update(self, s, x, query, kv, mask, training):
        def part(name):
            return getattr(self, f"{s}_{name}")

        a = part("attention")(query, kv, kv, attention_mask=mask, training=training)
        y = part("attention_norm")(x + part("attention_out_dropout")(a, training=training))
        return part("ffn_norm")(y + part("ffn_dropout")(part("ffn")(y), training=training))

    def call(self, items, providers, mask=None, training=None):
        m = None if mask is None else self.attention_mask(mask)
        if self.direction == "cross":    # Eqs. (7)-(8): Q from own stream, K/V from the other
            new_items = self._update("item", items, items, providers, m, training)
            new_providers = self._update("provider", providers, providers, items, m, training)
        else:                            # reference: Q from the other stream, K/V from own
            new_items = self._update("item", items, providers, items, m, training)
            new_providers = self._update("provider", providers, items, providers, m, training)
        return new_items, new_providers

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return super().get_config() | {
            "hidden": self.hidden, "heads": self.heads, "inner": self.inner,
            "dropout": self.dropout, "direction": self.direction, "eps": self.eps,
            "attention_dropout": self.attention_dropout, "activation": self.activation,
            "causal": self.causal}
