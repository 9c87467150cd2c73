"""User encoders that share SUM's state layout, for the SUM paper's baselines (Sec. 5.2).

Every incremental encoder keeps the state ``[memory [B, K, D], last_input [B, D]]`` so the
serving code (update_state / score_state, the NRT store) is the same for all of them:
* :class:`GRUUserCell` — a GRU (K = 1 channel); the reader returns its hidden state.
* RUM is ``SUMCell(instance_attention=False, highway=False, debuff=False, writing="ntm")`` with
  ``SUMReader(reading="rum")`` (Chen et al., WSDM'18, feature-level memory writing/reading).

:class:`AttentiveMerge` is the non-sequential AttMerge baseline: the candidate attends over
the (masked) history, u = sum_j softmax_j(v W x_j) x_j.
"""
from __future__ import annotations

import tensorflow as tf

from tfrec_pkg.layers.attention import masked_softmax
from tfrec_pkg.layers.sequence import masked_step


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class GRUUserCell(tf.keras.layers.Layer):
    writes_nothing_on_padding = False  # Keras' GRU step: the RNN's mask keeps padded steps out

    def __init__(self, state_dim: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.state_dim = int(state_dim)
        self.gru = tf.keras.layers.GRUCell(self.state_dim, name="gru")
        self.state_size = [tf.TensorShape([1, self.state_dim]), tf.TensorShape([self.state_dim])]
        self.output_size = tf.TensorShape([1])
        self.num_channels = 1

    def build(self, input_shape):
        if isinstance(input_shape, (tuple, list)) and not isinstance(input_shape[0], (int, type(None))):
            input_shape = input_shape[0]  # (x, input projection) from sequence_inputs
        self.gru.build(input_shape)
        super().build(input_shape)

    def sequence_inputs(self, x, mask=None):
        """Per-step inputs for ``tf.keras.layers.RNN`` over x [B, L, D_in]: (x_t, the GRU's input
        projection x_t W + b_input), the projection computed for all steps at once as Keras' GRU
        layer does; the recurrence then only multiplies the hidden state."""
        self._maybe_build(x[:, 0])  # called before the RNN builds the cell
        gru = self.gru
        flat = tf.matmul(tf.reshape(x, [-1, tf.shape(x)[-1]]), gru.kernel) + gru.bias[0]
        return x, tf.reshape(flat, [tf.shape(x)[0], tf.shape(x)[1], 3 * self.state_dim])

    def call(self, x, states, training=None):
        if isinstance(x, (tuple, list)):  # from sequence_inputs: GRUCell's reset_after step
            x, projected = x
            gru, h_prev = self.gru, states[0][:, 0, :]
            x_z, x_r, x_h = tf.split(projected, 3, -1)
            h_z, h_r, h_h = tf.split(tf.matmul(h_prev, gru.recurrent_kernel) + gru.bias[1], 3, -1)
            z = gru.recurrent_activation(x_z + h_z)
            r = gru.recurrent_activation(x_r + h_r)
            h = z * h_prev + (1.0 - z) * gru.activation(x_h + r * h_h)
        else:
            h, _ = self.gru(x, [states[0][:, 0, :]], training=training)
        return tf.ones_like(x[:, :1]), [h[:, None, :], x]

    def step(self, x, states, mask=None):
        return masked_step(self, x, states, mask)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        dtype = dtype or tf.float32
        return [tf.zeros([batch_size, 1, self.state_dim], dtype), tf.zeros([batch_size, self.state_dim], dtype)]

    def get_config(self):
        return super().get_config() | {"state_dim": self.state_dim}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class FirstChannelReader(tf.keras.layers.Layer):
    """Reader for single-channel encoders (GRU): u = h_1."""

    def call(self, memory, v):
        return memory[:, 0, :], tf.ones_like(memory[:, :, 0])


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class AttentiveMerge(tf.keras.layers.Layer):
    def __init__(self, state_dim: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.state_dim = int(state_dim)
        self.bilinear = tf.keras.layers.Dense(self.state_dim, use_bias=False, name="bilinear")

    def call(self, history, mask, v):
        logits = tf.einsum("bd,bld->bl", self.bilinear(v), history)
        weights = masked_softmax(logits, mask)
        return tf.einsum("bl,bld->bd", weights, history), weights

    def get_config(self):
        return super().get_config() | {"state_dim": self.state_dim}
