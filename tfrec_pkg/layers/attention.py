"""Attention building blocks shared by the models.

* :func:`masked_softmax` — softmax over the valid positions only; a row with no valid
  position gives all-zero weights (not NaN), so an empty history pools to a zero vector.
* :class:`TargetAttentionPooling` — DIN-style attention of a target over a behaviour
  sequence (Zhou et al., KDD'18): an "activation unit" MLP scores each behaviour from
  ``[q, k, q - k, q * k]``; the weighted behaviours are summed.
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
