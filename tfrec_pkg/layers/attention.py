"""Attention building blocks shared by the models.

* :func:`masked_softmax` — softmax over the valid positions only; a row with no valid
  position gives all-zero weights (not NaN), so an empty history pools to a zero vector.
* :func:`segment_softmax` — the same over ragged sets stored flat: softmax within each
  segment (the rows sharing a segment id); an empty segment pools to a zero vector.
* :class:`TargetAttentionPooling` — DIN-style attention of a target over a behaviour
  sequence (Zhou et al., KDD'18): an "activation unit" MLP scores each behaviour from
  ``[q, k, q - k, q * k]``; the weighted behaviours are summed.
* :class:`AdditiveAttention` — ``z^T tanh(W [q || k] + b)`` scores over a masked set of keys,
  masked softmax, weighted sum of the values (IPRec, SIGIR'21, Eqs. (3), (5), (8), (14); with
  ``single_layer=True`` the node-level score ``sigma(w^T [q || k])`` of Eq. (12)).
"""
from __future__ import annotations

import tensorflow as tf


def masked_softmax(logits, mask, axis: int = -1):
    """Softmax of ``logits`` over positions where ``mask`` is True; 0 where it is False.

    Rows with no True position return zeros. Computed with the max trick on the valid
    entries only, so large logits on padded positions cannot overflow.
    """
    mask = tf.cast(mask, tf.bool)
    neg = tf.fill(tf.shape(logits), tf.constant(-1e9, logits.dtype))
    safe = tf.where(mask, logits, neg)
    safe = safe - tf.stop_gradient(tf.reduce_max(safe, axis=axis, keepdims=True))
    exp = tf.where(mask, tf.exp(safe), tf.zeros_like(logits))
    denom = tf.reduce_sum(exp, axis=axis, keepdims=True)
    return exp / tf.maximum(denom, tf.constant(1e-12, logits.dtype))


def weighted_sum(weights, values):
    """sum_l weights[..., l] * values[..., l, :]: the pooling of an attention. Written as a
    broadcast product and a sum: the same contraction as an einsum, which here would run as
    one tiny [1 x L] @ [L x d] product per row (IPRec's ~9k packages per batch with L = 7 spent
    about 1.6x longer in the einsum's batched matmuls, forward and backward, than in this)."""
    return tf.reduce_sum(weights[..., None] * values, axis=-2)


def segment_softmax(logits, segment_ids, num_segments):
    """Softmax of ``logits`` [M, ...] within each segment: rows with equal ``segment_ids`` [M]
    (int32/int64 in [0, num_segments)) share one softmax, per trailing position. The flat
    form of :func:`masked_softmax` for sets with many padded slots: only the real rows exist.
    Max trick per segment, so large logits cannot overflow."""
    top = tf.stop_gradient(tf.math.unsorted_segment_max(logits, segment_ids, num_segments))
    exp = tf.exp(logits - tf.gather(top, segment_ids))
    return exp / tf.gather(tf.math.unsorted_segment_sum(exp, segment_ids, num_segments), segment_ids)


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class TargetAttentionPooling(tf.keras.layers.Layer):
    """DIN activation unit + pooling.

    a_j = w^T MLP([q, k_j, q - k_j, q * k_j])      (DIN, Sec. 4.3 / Fig. 2)
    pooled = sum_j weight_j * k_j

    ``normalize="softmax"`` (default) uses masked-softmax weights, so the pooled vector is a
    weighted mean of the behaviours; ``normalize="none"`` keeps DIN's raw sum-pooling
    weights (masked to 0 on padding), which preserves the intensity of the interest.
    We default to softmax: its scale does not grow with the history length, which keeps
    the MLP input bounded for users with 0 to L behaviours.
    """

    def __init__(self, hidden_units=(80, 40), activation="sigmoid", normalize="softmax", **kwargs):
        super().__init__(**kwargs)
        if normalize not in ("softmax", "none"):
            raise ValueError(f"normalize must be 'softmax' or 'none', got {normalize!r}")
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.normalize = normalize
        self.mlp = [tf.keras.layers.Dense(u, activation=activation, name=f"att_dense_{i}")
                    for i, u in enumerate(self.hidden_units)]
        self.score = tf.keras.layers.Dense(1, name="att_score")

    def attention_logits(self, query, keys):
        """query [B, D], keys [B, L, D] -> logits [B, L]."""
        q = tf.broadcast_to(query[:, None, :], tf.shape(keys))
        x = tf.concat([q, keys, q - keys, q * keys], axis=-1)
        for layer in self.mlp:
            x = layer(x)
        return tf.squeeze(self.score(x), -1)

    def call(self, query, keys, mask):
        """Returns (pooled [B, D], weights [B, L]); mask [B, L] is True on real behaviours."""
        logits = self.attention_logits(query, keys)
        if self.normalize == "softmax":
            weights = masked_softmax(logits, mask)
        else:
            weights = logits * tf.cast(mask, logits.dtype)
        pooled = tf.einsum("bl,bld->bd", weights, keys)
        return pooled, weights

    def get_config(self):
        return super().get_config() | {"hidden_units": list(self.hidden_units),
                                       "activation": self.activation, "normalize": self.normalize}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class AdditiveAttention(tf.keras.layers.Layer):
    """Additive (Bahdanau-style) attention pooling over a set of keys.

    score_j   = z^T act(W [q || k_j] + b)      IPRec Eqs. (3), (5), (8), (14): act = tanh, z in R^units,
                                               W in R^{units x (d_q + d_k)}; units defaults to d_k (= d)
    score_j   = act(w^T [q || k_j] + b)        ``single_layer=True``: IPRec Eq. (12), act = sigmoid
    weight_j  = masked_softmax(score)_j        padded keys get weight 0; an empty set gives all zeros
    pooled    = sum_j weight_j v_j             values default to the keys (every IPRec use)

    ``call(keys [..., L, d_k], query=None [..., d_q], mask=None [..., L], values=None [..., L, d_v])``
    returns ``(pooled [..., d_v], weights [..., L])``; leading dims are arbitrary. With
    ``query=None`` the score is ``z^T act(W k_j + b)`` (self-attentive pooling).

    Ragged sets stored flat: with ``segment_ids`` [M] (and ``num_segments`` S) the keys are
    [M, ..., d_k], one row per real member, the query is [S, ..., d_q] (one per set), the
    softmax runs within each set (:func:`segment_softmax`) and the result is
    ``(pooled [S, ..., d_v], weights [M, ...])``; an empty set pools to zeros, as a fully
    masked row does. Same parameters and numbers as the padded form, without the padding.

    Keys shared by many members: with ``key_index`` [M] the keys are the V distinct rows
    [V, ..., d_k] and member j's key (and value, when ``values`` is None) is row ``key_index[j]``:
    W_k k + b is computed once per distinct key instead of once per member (IPRec's friends are
    a few hundred users repeated across tens of thousands of friend slots of a batch). Likewise
    in the flat form ``query_index`` [M] gives member j's query row (default: its segment), so
    sets that share a query (IPRec's packages of one article) project it once.

    W [q || k] is computed as W_q q + W_k k (the two column blocks of W), which is the same map
    without materialising the concatenation. The paper writes no bias in any of these scores; we
    keep one (``use_bias=True``), as the public IPRec code does (``b_omega`` inside the tanh). It
    starts at zero (Xavier kernels, zero bias, IPRec Sec. 5.2), so the layer starts as the
    paper's form.
    """

    def __init__(self, units=None, activation="tanh", single_layer=False, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units = None if units is None else int(units)
        self.activation = activation
        self.single_layer = bool(single_layer)
        self.use_bias = bool(use_bias)
        self._act = tf.keras.activations.get(activation)

    def build(self, keys_shape):
        units = 1 if self.single_layer else (self.units or int(keys_shape[-1]))
        dense = dict(kernel_initializer="glorot_uniform", dtype=self.dtype_policy)
        # the bias b sits on the key block, so it exists with or without a query
        self.key_dense = tf.keras.layers.Dense(units, use_bias=self.use_bias, name="W_key", **dense)
        self.query_dense = tf.keras.layers.Dense(units, use_bias=False, name="W_query", **dense)
        self.score_dense = (None if self.single_layer
                            else tf.keras.layers.Dense(1, use_bias=False, name="z", **dense))
        super().build(keys_shape)

    def call(self, keys, query=None, mask=None, values=None, segment_ids=None, num_segments=None,
             key_index=None, query_index=None):
        h = self.key_dense(keys)                                   # W_k k_j + b   [..., L, units]
        if key_index is not None:                                  # distinct keys -> members
            h = tf.gather(h, key_index)
            keys = tf.gather(keys, key_index) if values is None else keys
        if query is not None:
            q = self.query_dense(query)                            # W_q q
            if segment_ids is None:
                h = h + q[..., None, :]
            else:
                h = h + tf.gather(q, segment_ids if query_index is None else query_index)
        h = self._act(h)
        if self.score_dense is not None:
            h = self.score_dense(h)                                # z^T tanh(.)
        scores = tf.squeeze(h, -1)                                 # [..., L] (flat: [M, ...])
        values = keys if values is None else values
        if segment_ids is not None:
            if num_segments is None:
                raise ValueError("segment_ids needs num_segments")
            weights = segment_softmax(scores, segment_ids, num_segments)
            return tf.math.unsorted_segment_sum(weights[..., None] * values, segment_ids, num_segments), weights
        if mask is None:
            mask = tf.ones_like(scores, tf.bool)
        weights = masked_softmax(scores, tf.broadcast_to(tf.cast(mask, tf.bool), tf.shape(scores)))
        return weighted_sum(weights, values), weights

    def get_config(self):
        return super().get_config() | {"units": self.units, "activation": self.activation,
                                       "single_layer": self.single_layer, "use_bias": self.use_bias}
