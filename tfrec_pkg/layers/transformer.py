"""Transformer encoder and attention masks for IPSRec (Chen et al., "Item-Provider Co-learning
for Sequential Recommendation", SIGIR'22), Sec. 2.1.

* :class:`TransformerBlock` -- one encoder layer: multi-head self-attention (Eq. 4) and a
  position-wise feed-forward network, each with a residual connection and LayerNorm (the
  paper: "the residual connection and layer normalization are applied to each of the two
  continuous sub-layers").
* :class:`TransformerEncoder` -- ``num_layers`` blocks stacked: Transformer(H^{S(0)}) of Eq. (3)
  (IPSRec-S) and Transformer^i / Transformer^p of Eqs. (9)-(11) (IPSRec-C).
* Mask helpers, all returning bool ``[B, Lq, Lk]`` (True = the query row may attend to the key):
  :func:`padding_mask`, :func:`causal_mask` (SASRec-style, one stream of length L), and for the
  IPSRec-S concatenation of Eq. (2) :func:`aligned_causal_mask` (default) and
  :func:`plain_causal_mask` (the reference implementation's).

One block, post-LN (``norm="post"``, default; the original Transformer and the reference code):

    A   = MHA(x, x, x; mask)           softmax(Q K^T / sqrt(d/h)) V per head   Eq. (4)
    x'  = LayerNorm(x + Dropout(A))
    F   = W_2 act(W_1 x' + b_1) + b_2                                          (FFN)
    out = LayerNorm(x' + Dropout(F))

``norm="pre"``: x' = x + Dropout(MHA(LN(x))), out = x' + Dropout(FFN(LN(x'))), and the
encoder applies one final LayerNorm after the last block (the usual pre-LN layout).

Readings taken where the paper is open (each documented here and in the config):
* Sizes are the reference implementation's: hidden 64 (the paper's embedding size), inner
  (FFN) 256 = 4 x hidden, 2 layers and 2 heads (Sec. 3.3), GELU, dropout 0.5 on the hidden
  states (after the attention output projection and after the FFN) and on the attention
  probabilities, LayerNorm epsilon 1e-12, every kernel initialised normal(0, 0.02) (plain
  ``RandomNormal``, not truncated, as ``weight.data.normal_(0, 0.02)``), biases 0, LayerNorm
  gamma 1 / beta 0.
* GELU is the exact erf form x * Phi(x), written as the reference's
  ``x * 0.5 * (1 + erf(x / sqrt(2)))`` (:func:`gelu`): the same function as Keras' ``"gelu"``,
  but TF lowers that one to Erfc, which ONNX lacks, while Erf converts.
* Eq. (4) scales by sqrt(d/h): with ``key_dim = hidden // heads`` this is exactly what
  ``tf.keras.layers.MultiHeadAttention`` does (hidden must divide by heads).
* Sequences are left-aligned: real events at steps 0..n-1, padding (id 0) after them.
* Every mask helper masks padding on BOTH sides: a key at a padded step is never attended,
  and a query row at a padded step is all False. A row with no True entry would make softmax
  degenerate, so :class:`TransformerBlock` lets such a row attend to its own (diagonal) key
  only (:func:`ensure_nonempty_rows`): padded positions then give finite outputs that depend
  on their own input only, and a fully padded (empty) sequence is well defined. Valid rows never
  attend to padded keys, so whatever sits at padded positions cannot change valid outputs;
  callers must still ignore the outputs at padded positions.
* IPSRec-S concatenation layout (Eq. 2): positions [0, L) are the item tokens of steps 0..L-1
  and positions [L, 2L) the provider tokens of the same steps, each stream left-aligned on its
  own, so step(p) = p mod L and ``valid`` ([B, L]) covers both halves.
  - :func:`aligned_causal_mask` (default for IPSRec-S): the item AND the provider token of step t
    attend to the item and provider tokens of steps <= t. Each token sees exactly the history it
    may see (including its own step's partner), nothing in the future.
  - :func:`plain_causal_mask` (the reference implementation, ``mask="plain_causal"``): a plain
    lower-triangular mask over the 2L positions. Item tokens then never see provider tokens,
    and the provider token of step t sees ALL valid items (including items of steps > t -- a
    look-ahead on the provider side); kept for reproducing the reference only.
"""
from __future__ import annotations

import tensorflow as tf

from tfrec_pkg.layers.dropout import Dropout, MultiHeadAttention

_INIT_STDDEV = 0.02
_NORMS = ("post", "pre")


def normal_init():
    return tf.keras.initializers.RandomNormal(mean=0.0, stddev=_INIT_STDDEV)


def _valid(valid):
    valid = tf.convert_to_tensor(valid)
    if valid.shape.rank is not None and valid.shape.rank != 2:
        raise ValueError(f"valid must be [B, L], got shape {valid.shape}")
    return tf.cast(valid, tf.bool)


def _pair(valid_q, valid_k):
    """[B, Lq, Lk]: valid query row AND valid key column."""
    return tf.logical_and(valid_q[:, :, None], valid_k[:, None, :])


def padding_mask(valid):
    """valid [B, L] (True on real events) -> [B, L, L]: valid queries attend to all valid keys."""
    v = _valid(valid)
    return _pair(v, v)


def causal_mask(valid):
    """valid [B, L] -> [B, L, L]: valid query t attends to valid keys s <= t (SASRec)."""
    v = _valid(valid)
    n = tf.shape(v)[1]
    idx = tf.range(n)
    tri = idx[None, :] <= idx[:, None]                                   # [Lq, Lk]: s <= t
    return tf.logical_and(_pair(v, v), tri[None])


def aligned_causal_mask(valid):
    """IPSRec-S default mask for the 2L concatenation [items_0..L-1, providers_0..L-1] (Eq. 2).

    valid [B, L] -> [B, 2L, 2L]. Positions [0, L) are item tokens, [L, 2L) provider tokens;
    step(p) = p mod L. Query p attends to key k iff both are valid and step(k) <= step(p):
    the item and provider tokens of step t see the item and provider tokens of steps <= t.
    """
    v = _valid(valid)
    n = tf.shape(v)[1]
    step = tf.range(2 * n) % n
    struct = step[None, :] <= step[:, None]                              # [2L, 2L]
    v2 = tf.concat([v, v], axis=1)
    return tf.logical_and(_pair(v2, v2), struct[None])


def plain_causal_mask(valid):
    """The reference implementation's IPSRec-S mask: lower-triangular over the 2L concatenation.

    valid [B, L] -> [B, 2L, 2L]; query p attends to valid key k <= p. Item tokens never see
    provider tokens; provider tokens see every valid item (future ones included).
    """
    v = _valid(valid)
    v2 = tf.concat([v, v], axis=1)
    return causal_mask(v2)


def ensure_nonempty_rows(mask):
    """mask [B, Lq, Lk] bool -> the same mask where every all-False row attends to its diagonal
    key only (row i -> key i; with Lq != Lk, row i >= Lk -> nothing is added, which Keras'
    softmax then spreads uniformly: finite, never NaN)."""
    mask = tf.cast(mask, tf.bool)
    shape = tf.shape(mask)
    eye = tf.cast(tf.eye(shape[1], shape[2]), tf.bool)[None]
    empty = tf.logical_not(tf.reduce_any(mask, axis=-1, keepdims=True))   # [B, Lq, 1]
    return tf.logical_or(mask, tf.logical_and(empty, eye))


def check_common_args(hidden, heads, inner, dropout, attention_dropout, eps):
    for name, v in (("hidden", hidden), ("heads", heads), ("inner", inner)):
        if int(v) != v or int(v) < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if hidden % heads:
        raise ValueError(f"hidden={hidden} must be divisible by heads={heads} (Eq. 4 uses d/h)")
    for name, v in (("dropout", dropout), ("attention_dropout", attention_dropout)):
        if not 0.0 <= float(v) < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {v!r}")
    if not float(eps) > 0.0:
        raise ValueError(f"eps must be > 0, got {eps!r}")


def gelu(x):
    """Exact GELU, x Phi(x), in the erf form that converts to ONNX."""
    return 0.5 * x * (1.0 + tf.math.erf(x / tf.cast(tf.sqrt(2.0), x.dtype)))


def resolve_activation(activation):
    if activation == "gelu":
        return gelu
    try:
        return tf.keras.activations.get(activation)
    except (ValueError, TypeError) as err:
        raise ValueError(f"unknown activation {activation!r}") from err


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class FeedForward(tf.keras.layers.Layer):
    """Position-wise FFN: W_2 act(W_1 x + b_1) + b_2 (no dropout or residual here)."""

    def __init__(self, hidden: int = 64, inner: int = 256, activation="gelu", **kwargs):
        super().__init__(**kwargs)
        self.hidden = int(hidden)
        self.inner = int(inner)
        self.activation = activation
        self.dense_1 = tf.keras.layers.Dense(self.inner, activation=resolve_activation(activation),
                                             kernel_initializer=normal_init(), name="dense_1")
        self.dense_2 = tf.keras.layers.Dense(self.hidden, kernel_initializer=normal_init(),
                                             name="dense_2")

    def call(self, x):
        return self.dense_2(self.dense_1(x))

    def get_config(self):
        return super().get_config() | {"hidden": self.hidden, "inner": self.inner,
                                       "activation": self.activation}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class TransformerBlock(tf.keras.layers.Layer):
    """One Transformer encoder layer (Eq. 4 + FFN, residual + LayerNorm on both sub-layers).

    ``call(x [B, L, H], attention_mask [B, L, L] bool or None, training)`` -> [B, L, H].
    ``attention_mask=None`` lets every position attend to every position.
    """

    def __init__(self, hidden: int = 64, heads: int = 2, inner: int = 256, dropout: float = 0.5,
                 attention_dropout: float = 0.5, activation="gelu", norm: str = "post",
                 eps: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        check_common_args(hidden, heads, inner, dropout, attention_dropout, eps)
        if norm not in _NORMS:
            raise ValueError(f"norm must be 'post' or 'pre', got {norm!r}")
        self.hidden = int(hidden)
        self.heads = int(heads)
        self.inner = int(inner)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.activation = activation
        self.norm = norm
        self.eps = float(eps)
        self.attention = MultiHeadAttention(
            num_heads=self.heads, key_dim=self.hidden // self.heads,
            dropout=self.attention_dropout, kernel_initializer=normal_init(), name="attention")
        self.attention_out_dropout = Dropout(self.dropout)
        self.attention_norm = tf.keras.layers.LayerNormalization(epsilon=self.eps,
                                                                 name="attention_norm")
        self.ffn = FeedForward(self.hidden, self.inner, activation, name="ffn")
        self.ffn_dropout = Dropout(self.dropout)
        self.ffn_norm = tf.keras.layers.LayerNormalization(epsilon=self.eps, name="ffn_norm")

    def call(self, x, attention_mask=None, training=None):
        if attention_mask is not None:
            attention_mask = ensure_nonempty_rows(attention_mask)
        if self.norm == "post":
            a = self.attention(x, x, x, attention_mask=attention_mask, training=training)
            x = self.attention_norm(x + self.attention_out_dropout(a, training=training))
            f = self.ffn(x)
            return self.ffn_norm(x + self.ffn_dropout(f, training=training))
        h = self.attention_norm(x)
        a = self.attention(h, h, h, attention_mask=attention_mask, training=training)
        x = x + self.attention_out_dropout(a, training=training)
        f = self.ffn(self.ffn_norm(x))
        return x + self.ffn_dropout(f, training=training)

    def get_config(self):
        return super().get_config() | {
            "hidden": self.hidden, "heads": self.heads, "inner": self.inner,
            "dropout": self.dropout, "attention_dropout": self.attention_dropout,
            "activation": self.activation, "norm": self.norm, "eps": self.eps}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class TransformerEncoder(tf.keras.layers.Layer):
    """``num_layers`` :class:`TransformerBlock` s sharing one attention mask (Eq. 3).

    With ``norm="pre"`` a final LayerNorm follows the last block.
    """

    def __init__(self, num_layers: int = 2, hidden: int = 64, heads: int = 2, inner: int = 256,
                 dropout: float = 0.5, attention_dropout: float = 0.5, activation="gelu",
                 norm: str = "post", eps: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        if int(num_layers) != num_layers or int(num_layers) < 1:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        self.num_layers = int(num_layers)
        self.block_kwargs = dict(hidden=int(hidden), heads=int(heads), inner=int(inner),
                                 dropout=float(dropout), attention_dropout=float(attention_dropout),
                                 activation=activation, norm=norm, eps=float(eps))
        self.blocks = [TransformerBlock(**self.block_kwargs, name=f"block_{i}")
                       for i in range(self.num_layers)]
        self.final_norm = (tf.keras.layers.LayerNormalization(epsilon=float(eps), name="final_norm")
                           if norm == "pre" else None)

    def call(self, x, attention_mask=None, training=None):
        for block in self.blocks:
            x = block(x, attention_mask=attention_mask, training=training)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x

    def get_config(self):
        return super().get_config() | {"num_layers": self.num_layers} | dict(self.block_kwargs)
