"""IMN-Net's recurrent layers (Wu et al., "Interest-Behaviour Multiplicative Network for
Resource-limited Recommendation"; ../shared/papers/imn_net_resource_limited.txt), built on
JODIE's mutually-recursive RNNs (Kumar et al., KDD 2019).

* :class:`MRRNNCell` -- Sec. 4.2, Eqs. (1)-(2): the general user state h^g_u and the item
  state h_i, each updated from both previous states.
* :class:`ResourceLimitedCell` -- Sec. 4.3, Eq. (6): the resource-limited user state h^l_u,
  updated on purchases only.
* :class:`TimeProjection` -- Eqs. (7)-(10): h(t + Delta) = (1 + W_t Delta) * h(t).
* :func:`combine_user_states` -- f(h^g, h^l) of Sec. 4.3; :class:`ItemEmbeddingPredictor` --
  Eq. (11), the predicted static embedding j~ of the next item.

Every layer works on one t-batch: ``[B, *]`` tensors, one interaction per row. The layers hold
weights only; the users' and items' states live in the model's memory tables.

Readings taken where the paper is silent or differs from JODIE's public code (each repeated at
the code it concerns):

* sigma is the sigmoid, as Sec. 4.2 says. JODIE's code uses tanh (``torch.nn.RNNCell``'s
  default) and L2-normalises every new state; ``activation="tanh", use_bias=True,
  l2_normalize=True`` give JODIE's update.
* No biases: Eqs. (1), (2), (6), (7), (9), (11) print none. JODIE's layers carry them
  (``use_bias=True``). Without one, the time projection at Delta = 0 is the identity.
* Both updates of Eqs. (1)-(2) read the states *before* the interaction (index t - 1), as in
  JODIE, which computes both new states from the old ones.
* v_{t-1} of Eqs. (1)-(2) is the feature vector of the interaction being processed (the one
  that moves h(t - 1) to h(t)), as JODIE feeds it. ``features=None`` (no features, as the
  paper's Tmall runs) drops the W_4 / W_7 term.
* Time deltas arrive standardised, as in JODIE: per entity (the user's time since its previous
  interaction, the item's since its previous one, the user's since its previous purchase),
  scaled to zero mean and unit variance over the training interactions. The layers take them
  as given, ``[B]`` or ``[B, 1]``.
* Eq. (6) reads the *updated* states u^g(t), h_i(t) (its time index t; the general form,
  Eq. (3), reads h^g(t - 1), but Eq. (6) is the implementation the paper runs).
* One W_t serves Eqs. (7) and (9): the paper writes the same symbol. The model calls one
  :class:`TimeProjection` on both user states, h^g with the time since the user's last
  interaction, h^l with the time since its last purchase.
* Vectors are rows here: ``x @ K`` is the paper's ``W x`` with K = W transposed. Each equation
  is one Dense over the concatenated inputs, so its kernel stacks the paper's W_1, W_2, ...
  blocks in the order the class docstrings give.
"""
from __future__ import annotations

import tensorflow as tf

COMBINATIONS = ("add", "concat", "product", "general")


def _column(delta, dtype):
    """A time delta ``[B]`` or ``[B, 1]`` as a ``[B, 1]`` column."""
    return tf.reshape(tf.cast(delta, dtype), [-1, 1])


def _dense(layer, units, use_bias, name):
    return tf.keras.layers.Dense(units, use_bias=use_bias, name=name, dtype=layer.dtype_policy)


def _parts(*tensors):
    return tf.concat([t for t in tensors if t is not None], -1)


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class MRRNNCell(tf.keras.layers.Layer):
    """The mutually-recursive update, IMN-Net Eqs. (1)-(2) (JODIE's RNN_U and RNN_I).

    h^g_u(t) = sigma(W^u_1 h^g_u(t-1) + W^u_2 h_i(t-1) + W^u_3 Delta_u + W^u_4 v)      Eq. (1)
    h_i(t)   = sigma(W^i_1 h_i(t-1) + W^i_2 h^g_u(t-1) + W^i_3 Delta_i + W^i_4 v)      Eq. (2)

    ``call(user_state, item_state, delta_user, delta_item, features=None)`` with the states
    before the interaction ``[B, d]``, the standardised deltas ``[B]`` and the interaction's
    features ``[B, f]`` returns ``(new_user_state, new_item_state)``. Kernel row blocks:
    ``user_update`` = [W^u_1; W^u_2; W^u_3; W^u_4], ``item_update`` = [W^i_1; W^i_2; W^i_3; W^i_4].

    ``activation`` (default "sigmoid", the paper's sigma; JODIE uses "tanh"), ``use_bias``
    (JODIE: True), ``l2_normalize`` (JODIE: True, each new state scaled to unit norm).
    """

    def __init__(self, state_dim: int = 128, activation="sigmoid", use_bias: bool = False,
                 l2_normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        if int(state_dim) < 1:
            raise ValueError(f"state_dim must be >= 1, got {state_dim!r}")
        self.state_dim = int(state_dim)
        self.activation = tf.keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.l2_normalize = bool(l2_normalize)
        self.user_update = _dense(self, self.state_dim, self.use_bias, "user_update")   # RNN^g_U
        self.item_update = _dense(self, self.state_dim, self.use_bias, "item_update")   # RNN_I

    def _new_state(self, pre_activation):
        h = self.activation(pre_activation)
        return tf.math.l2_normalize(h, -1) if self.l2_normalize else h

    def call(self, user_state, item_state, delta_user, delta_item, features=None):
        du = _column(delta_user, user_state.dtype)
        di = _column(delta_item, item_state.dtype)
        # both from the states before the interaction
        new_user = self._new_state(self.user_update(_parts(user_state, item_state, du, features)))  # Eq. (1)
        new_item = self._new_state(self.item_update(_parts(item_state, user_state, di, features)))  # Eq. (2)
        return new_user, new_item

    def get_config(self):
        return super().get_config() | {"state_dim": self.state_dim,
                                       "activation": tf.keras.activations.serialize(self.activation),
                                       "use_bias": self.use_bias, "l2_normalize": self.l2_normalize}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class ResourceLimitedCell(tf.keras.layers.Layer):
    """The resource-limited user state h^l_u, IMN-Net Eq. (6), moved by purchases only.

    h^l_u(t) = sigma(W_1 h^l_u(t-1) + W_2 u^g(t) + W_3 h_i(t) + W_4 u_bar_p + W_5 i_bar_p
                     + W_6 Delta_ip + W_7 v_p)                                          Eq. (6)

    ``call(limited_state, user_state, item_state, user_static, item_static, delta_purchase,
    is_purchase, features=None)``: the previous h^l ``[B, d]``; the general user state and the
    item state *after* this interaction's Eqs. (1)-(2) update (Eq. (6)'s index t); the static
    (compressed, Sec. 5.5) embeddings of the user and the purchased item; the standardised time
    since the user's last purchase; the purchase flag ``[B]``; the purchased item's features
    v_p. Rows whose ``is_purchase`` is False (clicks) return ``limited_state`` unchanged,
    exactly (Sec. 4.4: "updates only when a transaction happens"). Kernel row blocks:
    ``limited_update`` = [W_1; ...; W_7].
    """

    def __init__(self, state_dim: int = 128, activation="sigmoid", use_bias: bool = False, **kwargs):
        super().__init__(**kwargs)
        if int(state_dim) < 1:
            raise ValueError(f"state_dim must be >= 1, got {state_dim!r}")
        self.state_dim = int(state_dim)
        self.activation = tf.keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.limited_update = _dense(self, self.state_dim, self.use_bias, "limited_update")   # RNN^l_U

    def call(self, limited_state, user_state, item_state, user_static, item_static, delta_purchase,
             is_purchase, features=None):
        dp = _column(delta_purchase, limited_state.dtype)
        new = self.activation(self.limited_update(_parts(limited_state, user_state, item_state, user_static,
                                                         item_static, dp, features)))  # Eq. (6)
        purchase = tf.reshape(tf.cast(is_purchase, tf.bool), [-1, 1])
        return tf.where(purchase, new, limited_state)   # clicks leave h^l as it was

    def get_config(self):
        return super().get_config() | {"state_dim": self.state_dim,
                                       "activation": tf.keras.activations.serialize(self.activation),
                                       "use_bias": self.use_bias}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class TimeProjection(tf.keras.layers.Layer):
    """The projection of a user state to the present, IMN-Net Eqs. (7)-(10) (JODIE's
    ``context_convert``).

    w           = W_t Delta                        Eqs. (7), (9)
    h(t + Delta) = (1 + w) * h(t)                   Eqs. (8), (10)

    ``call(state [B, d], delta [B])``. One instance (one W_t) serves both user states (module
    docstring). W_t starts at N(0, 1) draws, as JODIE's ``NormalLinear`` (std 1/sqrt(fan_in),
    fan_in = 1). ``use_bias=True`` adds JODIE's bias (then Delta = 0 is no longer the identity).
    """

    def __init__(self, use_bias: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.use_bias = bool(use_bias)

    def build(self, state_shape):
        d = int(state_shape[-1])
        normal = tf.keras.initializers.RandomNormal
        self.kernel = self.add_weight(name="kernel", shape=(1, d), initializer=normal(stddev=1.0))   # W_t
        self.bias = (self.add_weight(name="bias", shape=(d,), initializer=normal(stddev=1.0))
                     if self.use_bias else None)
        super().build(state_shape)

    def call(self, state, delta):
        w = _column(delta, state.dtype) * self.kernel                                     # Eqs. (7), (9)
        if self.bias is not None:
            w = w + self.bias
        return (1.0 + w) * state                                                          # Eqs. (8), (10)

    def get_config(self):
        return super().get_config() | {"use_bias": self.use_bias}


def combine_user_states(general, limited, mode: str = "add"):
    """f(h^g_u(t + Delta), h^l_u(t + Delta)) of Sec. 4.3 (used in Eqs. (11) and (15)).

    "add" (the paper's choice): h^g + h^l; "concat": [h^g, h^l] (Eq. (11)'s argument order,
    also for Eq. (15), whose swapped arguments only matter for concat); "product": h^g * h^l;
    "general": h^g alone (IMN-Net*, Table 4: the resource-limited branch removed)."""
    if mode == "add":
        return general + limited
    if mode == "concat":
        return tf.concat([general, limited], -1)
    if mode == "product":
        return general * limited
    if mode == "general":
        return general
    raise ValueError(f"mode must be one of {COMBINATIONS}, got {mode!r}")


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class ItemEmbeddingPredictor(tf.keras.layers.Layer):
    """The predicted static embedding of the next item, IMN-Net Eq. (11).

    j~(t + Delta) = W_1 f(h^g_u(t + Delta), h^l_u(t + Delta)) + W_2 u_bar
                    + W_3 h_i(t - 1) + W_4 i_bar(t - 1)                                Eq. (11)

    ``call(general_state, limited_state, user_static, last_item_state, last_item_static)``: the
    two projected user states, the user's static embedding, and the current dynamic and the
    static embedding of the item the user interacted with last (JODIE: ``item_embeddings`` of
    the previous item). Returns ``[B, output_dim]``; ``output_dim`` is the width of the static
    item embedding, the target of Eq. (20) (JODIE predicts [dynamic, static] of the next item;
    IMN's Eq. (20) targets the static one only). ``combine``: f, see
    :func:`combine_user_states`. Kernel row blocks: ``prediction`` = [W_1; W_2; W_3; W_4].
    """

    def __init__(self, output_dim: int = 128, combine: str = "add", use_bias: bool = False, **kwargs):
        super().__init__(**kwargs)
        if int(output_dim) < 1:
            raise ValueError(f"output_dim must be >= 1, got {output_dim!r}")
        if combine not in COMBINATIONS:
            raise ValueError(f"combine must be one of {COMBINATIONS}, got {combine!r}")
        self.output_dim = int(output_dim)
        self.combine = combine
        self.use_bias = bool(use_bias)
        self.prediction = _dense(self, self.output_dim, self.use_bias, "prediction")

    def call(self, general_state, limited_state, user_static, last_item_state, last_item_static):
        f = combine_user_states(general_state, limited_state, self.combine)
        return self.prediction(tf.concat([f, user_static, last_item_state, last_item_static], -1))  # Eq. (11)

    def get_config(self):
        return super().get_config() | {"output_dim": self.output_dim, "combine": self.combine,
                                       "use_bias": self.use_bias}
