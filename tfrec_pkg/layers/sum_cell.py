"""SUM: Sequential User Matrix (Lian et al., "Multi-Interest-Aware User Modeling for
Large-Scale Sequential Recommendations"), Sec. 4.

:class:`SUMCell` is a Keras RNN cell whose state is the user memory matrix
H = [h_1 .. h_K] (K channels x D) plus the previous input x_{t-1} (for the debuff).
With ``highway=True`` the last channel is the highway channel, so ``num_channels=K`` means
K-1 interest channels + 1 highway (Table 5's "2/(5-1)").

One write step, for input x_t (D) and interest channels k = 1..K-1:

    w_k = x_t . f^w_k ;  z_k = softmax_k(beta * w_k)                           Eq. (1)
    z_k <- z_k * min(1, alpha ** cos(x_t, x_{t-1}))  (local proximity debuff)  Eqs. (7)-(8)
    z_K = 1                                          (highway, Sec. 4.3)
    h_hat = sum_k z_k h_k / 2        (/1 without highway; see "Readings" below)  Eq. (2)
    reset = sigmoid(W_r [x_t, h_hat] + b_r)          (a scalar per event)        Eq. (5)
    add   = tanh(W_a [x_t, reset * h_hat] + b_a)                                  Eq. (3)
    erase = sigmoid(W_e [x_t, h_hat] + b_e)                                       Eq. (4)
    h_k  <- add * erase * z_k + h_k * (1 - erase * z_k)                          Eq. (6)

Readings taken where the paper is open (each documented here and in the config):
* The debuff (Eq. 8) rescales z^w before it is used, so it weakens both the merge (Eq. 2) and
  the write (Eq. 6). The first event has no predecessor: cos(x_1, 0) = 0, so alpha**0 = 1.
* The debuff factor is capped at 1: alpha**cos exceeds 1 when alpha < 1 and the cosine is
  negative, which would break Eq. (6)'s stated bound 0 <= erase * z <= 1 (and a "debuff"
  should only weaken a write).
* The highway channel's write weight is 1 for every event, as Sec. 4.3 says (the public TF1
  code instead writes it with the debuff factor: ``debuff_highway=True``).
* Eq. (2) with the highway's weight 1 sums to 1 + sum(z) ~ 2; we divide by 2 (as the public
  code does) so h_hat stays on the scale of the channels.
* alpha (init 0.98) and beta (init 1.02, as in the public code) are trainable scalars;
  alpha is kept >= 1e-3 so alpha**sim is defined.
* Gate biases start at 1.0 (public code).

Ablations (Table 3): ``instance_attention=False`` (add/erase from x_t only, no reset gate: RUM's
writing), ``debuff=False``, ``highway=False``, ``writing="ntm"`` (NTM's erase-then-add:
h_k <- h_k * (1 - erase * z_k) + add * z_k).

Weights, as Keras' GRUCell keeps them: each kernel W of Eqs. (3)-(5) acts on [x_t, h] and is
split by that input, W [x_t, h] = W^x x_t + W^h h; ``kernel`` holds the W^x of the reset (Eq. 5,
one column), erase (Eq. 4) and add (Eq. 3) gates side by side, ``recurrent_kernel`` their W^h, and
``bias`` their biases. Eq. (5)'s reset is a scalar per event, so Eq. (3)'s
W_a^h (reset * h_hat) = reset * (W_a^h h_hat): one matmul of h_hat by ``recurrent_kernel`` serves
all three gates. Without instance attention the kernel holds erase and add only.

Padded steps (mask False) leave the whole state unchanged. Over a sequence the cell does this
itself (:meth:`SUMCell.sequence_inputs` gives a padded step z = 0, so Eq. (6) writes nothing,
and the previous real event as its input), so the RNN runs without a mask: Keras' masking
selects every state and output at every step, forward and backward; without it SUM's training
loop runs 124 ops per step instead of 193 (forward and backward, constants and identities not
counted). :meth:`SUMCell.step` keeps the state explicitly for incremental serving.

:class:`SUMReader` merges the state into the user vector for a candidate v (D):

    w_k = v F^r h_k           (F^r: D x D)      Eq. (12)   reading="sum"  (default)
    w_k = v . f^r_k           (f^r_k: D)        Eq. (9)    reading="rum"  (Table 3 "reading (-)")
    z_k = softmax_k(beta_r * w_k)               Eq. (10)
    u   = sum_k z_k h_k                         Eq. (11)
"""
from __future__ import annotations

import tensorflow as tf

from tfrec_pkg.layers.sequence import masked_step

_EPS = 1e-8


def _scalar(layer, name, init):
    return layer.add_weight(name=name, shape=(), initializer=tf.keras.initializers.Constant(init),
                            trainable=True)


def _gate_bias(gate_bias: float, gates: tuple[str, ...], d: int):
    """Bias initializer for gates side by side (reset: 1 column, erase/add: d): the sigmoid
    gates start at ``gate_bias`` (public code), add at 0."""
    def init(shape, dtype=None):
        parts = [tf.fill([1 if g == "reset" else d], 0.0 if g == "add" else gate_bias) for g in gates]
        return tf.cast(tf.concat(parts, 0), dtype or tf.float32)
    return init


def _write(memory, z, pre, recurrent_kernel, merge_scale: float, instance_attention: bool,
           writing: str):
    """One write, Eqs. (2)-(6), from the memory [B, K, D], the write weights z [B, K] (Eqs. 1,
    7-8) and ``pre``, the x-part of the gates' pre-activations with their biases [B, G]; returns
    the new memory and the intermediates the hand-written backward pass reads."""
    d = memory.shape[-1]
    zc = z[:, :, None]
    parts = {"zc": zc}
    if instance_attention:  # without it the gates see x_t only and h_hat (Eq. 2) is unused
        # Eq. (2). A broadcast product and a sum: at these sizes (K x D per row) batched matmuls
        # (matvec, einsum) cost several times more, forward and backward
        h_hat = tf.reduce_sum(memory * zc, 1) * merge_scale
        rec = tf.matmul(h_hat, recurrent_kernel)
        pre_reset_erase, pre_add = tf.split(pre, [1 + d, d], -1)
        rec_reset_erase, rec_add = tf.split(rec, [1 + d, d], -1)
        reset_erase = tf.sigmoid(pre_reset_erase + rec_reset_erase)
        reset, erase = tf.split(reset_erase, [1, d], -1)                                  # Eqs. (5), (4)
        add = tf.tanh(pre_add + reset * rec_add)                                          # Eq. (3)
        parts |= {"h_hat": h_hat, "reset_erase": reset_erase, "rec_add": rec_add}
    else:  # RUM's writing: the update vectors see x_t only
        pre_erase, pre_add = tf.split(pre, 2, -1)
        erase, add = tf.sigmoid(pre_erase), tf.tanh(pre_add)
    coef = erase[:, None, :] * zc                                                         # [B, K, D]
    if writing == "sum":  # Eq. (6): add * coef + h * (1 - coef), with one op fewer
        diff = add[:, None, :] - memory
        new_memory = memory + coef * diff
        parts |= {"diff": diff}
    else:  # NTM: erase, then add with weight z_k
        new_memory = memory * (1.0 - coef) + add[:, None, :] * zc
    return new_memory, parts | {"add": add, "coef": coef}


def _sum_write(memory, z, pre, recurrent_kernel, merge_scale: float):
    """:func:`_write` for the paper's cell (instance attention, SUM's writing) with its backward
    pass written out. The recurrence runs once per event at a few dozen rows, where every op's
    overhead counts; autodiff's broadcast gradients (shape, reshape and reduce per broadcast
    operand) and its saved intermediates gave SUM's backward ~1.7x the GRU's ops per step."""

    @tf.custom_gradient
    def write(memory, z, pre, recurrent_kernel):
        new_memory, p = _write(memory, z, pre, recurrent_kernel, merge_scale, True, "sum")

        def grad(d_new):
            zc, h_hat = p["zc"], p["h_hat"]
            reset, erase = tf.split(p["reset_erase"], [1, memory.shape[-1]], -1)
            d_new_coef = d_new * p["coef"]
            d_coef = d_new * p["diff"]
            d_add_pre = tf.raw_ops.TanhGrad(y=p["add"], dy=tf.reduce_sum(d_new_coef, 1))
            d_reset = tf.reduce_sum(d_add_pre * p["rec_add"], -1, keepdims=True)
            d_erase = tf.reduce_sum(d_coef * zc, 1)
            d_gates_pre = tf.raw_ops.SigmoidGrad(y=p["reset_erase"], dy=tf.concat([d_reset, d_erase], -1))
            d_rec = tf.concat([d_gates_pre, d_add_pre * reset], -1)
            d_h_hat = tf.matmul(d_rec, recurrent_kernel, transpose_b=True)[:, None, :] * merge_scale
            d_memory = d_new - d_new_coef + d_h_hat * zc
            d_z = tf.reduce_sum(d_coef * erase[:, None, :] + memory * d_h_hat, -1)
            return (d_memory, d_z, tf.concat([d_gates_pre, d_add_pre], -1),
                    tf.matmul(h_hat, d_rec, transpose_a=True))

        return new_memory, grad

    return write(memory, z, pre, recurrent_kernel)


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class SUMCell(tf.keras.layers.Layer):
    # sequence_inputs makes padded steps write nothing: the RNN needs no mask (module docstring)
    writes_nothing_on_padding = True

    def __init__(self, state_dim: int = 64, num_channels: int = 5, highway: bool = True,
                 debuff: bool = True, instance_attention: bool = True, writing: str = "sum",
                 debuff_highway: bool = False, alpha_init: float = 0.98, beta_init: float = 1.02,
                 gate_bias_init: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if writing not in ("sum", "ntm"):
            raise ValueError(f"writing must be 'sum' or 'ntm', got {writing!r}")
        if num_channels < (2 if highway else 1):
            raise ValueError(f"num_channels={num_channels} leaves no interest channel "
                             f"(highway={highway}); expected at least {2 if highway else 1}")
        self.state_dim = int(state_dim)
        self.num_channels = int(num_channels)
        self.highway = bool(highway)
        self.debuff = bool(debuff)
        self.instance_attention = bool(instance_attention)
        self.writing = writing
        self.debuff_highway = bool(debuff_highway)
        self.alpha_init = float(alpha_init)
        self.beta_init = float(beta_init)
        self.gate_bias_init = float(gate_bias_init)
        d = self.state_dim
        self.state_size = [tf.TensorShape([self.num_channels, d]), tf.TensorShape([d])]
        self.output_size = tf.TensorShape([self.num_channels])  # write weights z_t (plots)
        # gates side by side in the kernels' columns (see the module docstring)
        self.gates = ("reset", "erase", "add") if self.instance_attention else ("erase", "add")

    @property
    def num_interest_channels(self) -> int:
        return self.num_channels - (1 if self.highway else 0)

    def build(self, input_shape):
        d = self.state_dim
        self.write_heads = self.add_weight(name="write_heads", shape=(self.num_interest_channels, d),
                                           initializer="glorot_uniform")                   # F^w
        self.beta = _scalar(self, "beta", self.beta_init)
        self.alpha = _scalar(self, "alpha", self.alpha_init)
        width = sum(1 if gate == "reset" else d for gate in self.gates)
        self.kernel = self.add_weight(name="kernel", shape=(d, width), initializer="glorot_uniform")
        self.recurrent_kernel = (self.add_weight(name="recurrent_kernel", shape=(d, width),
                                                 initializer="glorot_uniform")
                                 if self.instance_attention else None)  # RUM's writing: x_t only
        self.bias = self.add_weight(name="bias", shape=(width,),
                                    initializer=_gate_bias(self.gate_bias_init, self.gates, d))
        super().build(input_shape)

    def write_weights(self, x, x_prev):
        """z_t over all channels [B, K] after debuff (highway last, weight 1)."""
        z = tf.nn.softmax(self.beta * tf.matmul(x, self.write_heads, transpose_b=True), -1)  # Eq. (1)
        factor = tf.ones_like(z[:, :1])
        if self.debuff:  # Eqs. (7)-(8)
            cos = tf.reduce_sum(x * x_prev, -1, keepdims=True) / (
                tf.norm(x, axis=-1, keepdims=True) * tf.norm(x_prev, axis=-1, keepdims=True) + _EPS)
            factor = tf.minimum(tf.pow(tf.maximum(self.alpha, 1e-3), cos), 1.0)
            z = z * factor
        if self.highway:
            hw = factor if (self.debuff and self.debuff_highway) else tf.ones_like(factor)
            z = tf.concat([z, hw], -1)
        return z

    def input_part(self, x):
        """The parts of Eqs. (3)-(5) that depend on x_t alone, for x [..., D]: the gates'
        pre-activations W^x x_t + b ([..., G], the gates side by side as in ``kernel``)."""
        flat = tf.matmul(tf.reshape(x, [-1, self.state_dim]), self.kernel) + self.bias
        return tf.reshape(flat, tf.concat([tf.shape(x)[:-1], tf.shape(flat)[-1:]], 0))

    def sequence_inputs(self, x, mask=None):
        """Per-step inputs for ``tf.keras.layers.RNN`` over x [B, L, D] from the zero state,
        with everything that depends on the events alone computed for all steps at once (as
        Keras' GRU layer does with its input projection): (x_t, z^w_t (Eqs. 1, 7-8, with x_{t-1}
        the previous *real* event), the x-part of Eqs. (3)-(5)). The recurrence then only does
        the memory-dependent work; the result is the same as feeding x.

        On a padded step (``mask`` False) z^w = 0, so Eq. (6) leaves the memory exactly as it
        is, and x_t is the previous real event (0 before the first), the state's last input:
        with or without the RNN's mask the memory and last input come out the same, and the
        per-step z is 0 on padding (a masked RNN repeats the previous step's instead)."""
        self._maybe_build(x[:, 0])  # called before the RNN builds the cell
        b, l, d = tf.shape(x)[0], tf.shape(x)[1], self.state_dim
        if mask is None:
            prev = tf.concat([tf.zeros_like(x[:, :1]), x[:, :-1]], 1)
        else:
            mask = tf.cast(mask, tf.bool)
            before = tf.cumsum(tf.cast(mask, tf.int32), axis=1, exclusive=True)  # real steps before t
            order = tf.argsort(tf.cast(tf.logical_not(mask), tf.int32), axis=1, stable=True)  # real first
            source = tf.gather(order, tf.maximum(before - 1, 0), batch_dims=1)
            prev = tf.where((before > 0)[:, :, None], tf.gather(x, source, batch_dims=1), tf.zeros_like(x))
        z = tf.reshape(self.write_weights(tf.reshape(x, [-1, d]), tf.reshape(prev, [-1, d])),
                       [b, l, self.num_channels])
        pre = self.input_part(x)
        if mask is not None:
            z = tf.where(mask[:, :, None], z, tf.zeros_like(z))
            x = tf.where(mask[:, :, None], x, prev)
        return x, z, pre

    def call(self, x, states, training=None):
        memory, x_prev = states[0], states[1]
        if isinstance(x, (tuple, list)):  # a sequence's step, from sequence_inputs
            x, z, pre = x
        else:  # one event (update_state)
            z = self.write_weights(x, x_prev)                                             # [B, K]
            pre = self.input_part(x)
        merge_scale = 0.5 if self.highway else 1.0  # Eq. (2) / 2 with the highway (docstring)
        if self.instance_attention and self.writing == "sum":
            # a tensor, not the variable: custom_gradient takes tensors (a distributed variable
            # under tf.distribute is neither), and the read carries the gradient to the variable
            new_memory = _sum_write(memory, z, pre, tf.convert_to_tensor(self.recurrent_kernel), merge_scale)
        else:  # the ablations: autodiff
            new_memory, _ = _write(memory, z, pre, self.recurrent_kernel, merge_scale,
                                   self.instance_attention, self.writing)
        return z, [new_memory, x]

    def step(self, x, states, mask=None):
        """One incremental update (the NRT user encoder): state -> state. Rows whose ``mask`` is
        False (no event) keep their state."""
        return masked_step(self, x, states, mask)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        dtype = dtype or tf.float32
        return [tf.zeros([batch_size, self.num_channels, self.state_dim], dtype),
                tf.zeros([batch_size, self.state_dim], dtype)]

    def get_config(self):
        return super().get_config() | {
            "state_dim": self.state_dim, "num_channels": self.num_channels, "highway": self.highway,
            "debuff": self.debuff, "instance_attention": self.instance_attention,
            "writing": self.writing, "debuff_highway": self.debuff_highway,
            "alpha_init": self.alpha_init, "beta_init": self.beta_init,
            "gate_bias_init": self.gate_bias_init}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class SUMReader(tf.keras.layers.Layer):
    """Reads the user vector u from the memory for candidate v (Eqs. 9-12)."""

    def __init__(self, state_dim: int = 64, num_channels: int = 5, reading: str = "sum",
                 beta_init: float = 1.02, **kwargs):
        super().__init__(**kwargs)
        if reading not in ("sum", "rum"):
            raise ValueError(f"reading must be 'sum' (Eq. 12) or 'rum' (Eq. 9), got {reading!r}")
        self.state_dim = int(state_dim)
        self.num_channels = int(num_channels)
        self.reading = reading
        self.beta_init = float(beta_init)

    def build(self, input_shape):
        d = self.state_dim
        shape = (d, d) if self.reading == "sum" else (self.num_channels, d)
        self.read_map = self.add_weight(name="read_map", shape=shape, initializer="glorot_uniform")
        self.beta = _scalar(self, "beta", self.beta_init)
        super().build(input_shape)

    def read_weights(self, memory, v):
        """z^r [B, K] for memory [B, K, D] and candidate v [B, D]."""
        if self.reading == "sum":
            w = tf.reduce_sum(tf.matmul(v, self.read_map)[:, None, :] * memory, -1)      # Eq. (12)
        else:
            w = tf.matmul(v, self.read_map, transpose_b=True)                             # Eq. (9)
        return tf.nn.softmax(self.beta * w, -1)                                           # Eq. (10)

    def call(self, memory, v):
        z = self.read_weights(memory, v)
        return tf.reduce_sum(z[:, :, None] * memory, 1), z                                # Eq. (11)

    def get_config(self):
        return super().get_config() | {"state_dim": self.state_dim, "num_channels": self.num_channels,
                                       "reading": self.reading, "beta_init": self.beta_init}
