"""Dropout with a cheaper random mask, and Keras' MultiHeadAttention using it on the attention
probabilities: every dropout in the library (Transformer blocks, co-attention, MLP towers,
embedding dropout) is this one.

Why: Keras' ``Dropout`` draws one float32 uniform per element, and in a SASRec training step
dropout's random numbers were ~19 % of the time. A Bernoulli(1 - rate) keep mask needs far fewer
random bits: here each element gets 8 of them (16 when rate * 256 is not a whole number), cut
from stateless uint32 draws, and is kept when those bits, read as an integer r, satisfy
r >= rate * 2^bits. With 8 bits P(keep) = 1 - rate exactly for rates in steps of 1/256 (0.5,
0.25, ...); with 16 bits the rate is rounded to 1/65536. Kept elements are scaled by
1 / (1 - rate), as Keras does. The stateless draws name Philox: under XLA on CPU the default
("auto_select") made a compiled SASRec step 4x slower than an uncompiled one; with Philox it is
1.2x faster (0.8x with Keras' masks; BENCHMARKS.md, compiled_steps). Each call draws a fresh 2-int seed with a tiny stateful
op (seeded as Keras' own ops are: ``tf.keras.utils.set_random_seed`` makes runs repeatable), so
every call gets a new mask; when not training the layer is the identity.
"""
from __future__ import annotations

import numbers

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class Dropout(tf.keras.layers.Dropout):
    """``tf.keras.layers.Dropout`` (same arguments and behaviour) with a mask from 8 or 16
    random bits per element instead of a float32 uniform."""

    def keep_mask(self, inputs):
        """0/1 mask (inputs' dtype) shaped like the noise shape, each 1 with probability 1 - rate."""
        bits = 8 if float(self.rate * 256).is_integer() else 16
        shape = self._get_noise_shape(inputs)
        shape = tf.shape(inputs) if shape is None else shape
        size = tf.reduce_prod(shape)
        per_word = 32 // bits
        seed = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32,
                                 seed=self._random_generator.make_legacy_seed())
        words = tf.random.stateless_uniform([(size + per_word - 1) // per_word], seed, minval=None,
                                            maxval=None, dtype=tf.uint32, alg="philox")
        r = tf.reshape(tf.bitcast(words, tf.uint8 if bits == 8 else tf.uint16), [-1])[:size]
        return tf.cast(tf.reshape(r >= round(self.rate * 2 ** bits), shape), inputs.dtype)

    def call(self, inputs, training=None):
        if isinstance(self.rate, numbers.Real) and self.rate == 0:
            return tf.identity(inputs)
        if isinstance(self.rate, numbers.Real) and self.rate >= 1:
            raise ValueError(f"{self.name}: dropout rate must be in [0, 1), got {self.rate}")
        if training is None:
            training = tf.keras.backend.learning_phase()
        return tf.__internal__.smart_cond.smart_cond(
            training, lambda: inputs * (self.keep_mask(inputs) * (1.0 / (1.0 - self.rate))),
            lambda: tf.identity(inputs))


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class MultiHeadAttention(tf.keras.layers.MultiHeadAttention):
    """``tf.keras.layers.MultiHeadAttention`` whose dropout on the attention probabilities is
    :class:`Dropout` (same weights, same outputs when not training)."""

    def _build_attention(self, rank):
        super()._build_attention(rank)
        # Keras' hook for customising the attention computation, where it builds its dropout
        self._dropout_layer = Dropout(rate=self._dropout, dtype=self._dtype_policy)
