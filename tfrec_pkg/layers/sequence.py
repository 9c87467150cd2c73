"""Small helpers for left-aligned, padded sequences (see :mod:`tfrec_pkg.features`): the
real events sit at steps ``[0, n)`` and padding index 0 fills ``[n, L)``."""
from __future__ import annotations

import tensorflow as tf


def last_step(outputs, ids):
    """``outputs [B, L, H]`` read at each row's last real step n - 1 (step 0 for an empty
    history). ``ids [B, L]`` are the index ids, 0 = padding."""
    last = tf.maximum(tf.reduce_sum(tf.cast(tf.not_equal(ids, 0), tf.int32), 1) - 1, 0)
    return tf.gather(outputs, last, batch_dims=1)


def masked_step(cell, x, states, mask=None):
    """``cell.call`` for one event per row; rows whose ``mask`` is False keep their state
    exactly (what ``tf.keras.layers.RNN`` does on padded steps)."""
    _, new_states = cell.call(x, states)
    if mask is None:
        return new_states
    return [tf.where(tf.reshape(tf.cast(mask, tf.bool), [-1] + [1] * (len(new.shape) - 1)), new, old)
            for new, old in zip(new_states, states)]
