"""In-graph raw id -> index lookup, so exported signatures accept raw ids."""
from __future__ import annotations

import tensorflow as tf

from tfrec_pkg.features import NUM_RESERVED, OOV_INDEX, PAD_INDEX


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class IdLookup(tf.keras.layers.Layer):
    """padding -> 0, unknown -> 1 (OOV, never an error), known id i -> 2 + position.

    Uses a ``tf.lookup.StaticHashTable`` (stock TF ops, supported by TF Serving); the table
    is part of the SavedModel.
    """

    def __init__(self, vocabulary, vocab_dtype: str, padding, **kwargs):
        kwargs.pop("trainable", None)  # get_config() carries it; the table is never trainable
        super().__init__(trainable=False, **kwargs)
        self.vocabulary = list(vocabulary)
        self.vocab_dtype = vocab_dtype
        self.padding = padding
        key_dtype = tf.int64 if vocab_dtype == "int64" else tf.string
        keys = tf.constant(self.vocabulary if self.vocabulary else ([0] if vocab_dtype == "int64" else [""]),
                           dtype=key_dtype)
        values = tf.range(NUM_RESERVED, NUM_RESERVED + tf.size(keys, out_type=tf.int64), dtype=tf.int64)
        if not self.vocabulary:  # empty vocabulary: everything is OOV
            values = tf.constant([OOV_INDEX], tf.int64)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, values), default_value=OOV_INDEX)
        self._key_dtype = key_dtype

    def call(self, ids):
        ids = tf.convert_to_tensor(ids)
        if ids.dtype != self._key_dtype:
            if self._key_dtype == tf.int64 and ids.dtype.is_integer:
                ids = tf.cast(ids, tf.int64)
            else:
                raise TypeError(f"{self.name}: expected {self.vocab_dtype} ids, got {ids.dtype.name}")
        index = self.table.lookup(ids)
        return tf.where(tf.equal(ids, tf.constant(self.padding, self._key_dtype)),
                        tf.constant(PAD_INDEX, tf.int64), index)

    def get_config(self):
        return super().get_config() | {
            "vocabulary": self.vocabulary, "vocab_dtype": self.vocab_dtype, "padding": self.padding}
