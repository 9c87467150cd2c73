"""MuSENet's layers (Xu et al., "MuSENet: Multi-Scenario Learning for Repeat-Aware Personalized
Recommendation", WSDM'23; ../shared/papers/musenet_wsdm23.txt).

* :class:`ScenarioLearner` -- Sec. 3.1.1 and 3.2.1: a projection f_omega of the sample
  embedding, K scenario prototypes, the soft assignment Q_s (Eq. 3), the hard assignment (Eq. 4)
  sampled with the Gumbel-softmax trick while training (Eq. 7), the clustering loss L_C (Eq. 8)
  and the online prototype update of Eq. (14).
* :class:`RepeatAwareHead` -- Sec. 3.2.2: per scenario, the repeat intention p_r, the repeat
  and explore scores s_r, s_e and their combination z (Eq. 9).
* :func:`kl_to_uniform` (Eq. 12) and :func:`repeat_loss` (Eq. 10).

Readings taken where the paper is silent (each repeated at the code it concerns):

* d is the squared Euclidean distance (Eq. (15) analyses Euclidean distance as
  -||f(x) - c||^2, i.e. the squared norm); ``distance="euclidean"`` takes its square root.
* f_omega is linear, f(x) = x omega ("the projection operation with the transformation matrix
  omega"), to ``projection_dim`` (default: the width of x).
* Eq. (14) averages the samples x_i, while Eqs. (3), (8) measure distances from f_omega(x_i):
  the prototypes and the samples must live in one space, so the update averages the *projected*
  samples f_omega(x_i) (stop-gradient; the prototypes are not trained by back-propagation,
  Sec. 3.2.4's Step 1). A scenario that receives no weight in a batch keeps its prototype.
* Prototypes start at N(0, 1 / projection_dim) draws (the paper gives no initialisation); the
  first updates pull them to the batch means.
"""
from __future__ import annotations

import math

import tensorflow as tf

DISTANCES = ("squared_euclidean", "euclidean")


def _distances(z, prototypes, kind):
    """d(f(x), c_k) for z [..., e] and prototypes [K, e] -> [..., K]."""
    sq = tf.reduce_sum(tf.square(z[..., None, :] - prototypes), -1)
    return sq if kind == "squared_euclidean" else tf.sqrt(sq + 1e-12)


def kl_to_uniform(assignment, marginal: bool = False):
    """Eq. (12): mean_i sum_k a_ki (log a_ki + log K), the KL divergence of each sample's
    assignment from the uniform prior P(c) = 1/K (0 log 0 = 0).

    ``marginal=True`` is the KL of the batch's mean assignment, sum_k abar_k (log abar_k + log K)
    with abar = mean_i a_i: it keeps every scenario in use without pushing each sample's own
    assignment towards uniform (which the per-sample form does at weight 1: a soft MuSENet then
    drifts to Q_s = 1/K, every head weighted alike)."""
    if marginal:
        assignment = tf.reduce_mean(assignment, 0, keepdims=True)
    k = tf.cast(tf.shape(assignment)[-1], assignment.dtype)
    safe = tf.where(assignment > 0, assignment, tf.ones_like(assignment))
    per_sample = tf.reduce_sum(assignment * (tf.math.log(safe) + tf.math.log(k)), -1)
    return tf.reduce_mean(per_sample)


def repeat_loss(repeat_label, repeat_probs, assignment):
    """Eq. (10) as a loss to minimise: the per-sample squared error between the repeat label
    r_i and the predicted repeat propensity sum_k p_r^k a_ki, [B]. (The paper prints a minus
    sign in front of the mean, which would *maximise* the error when Eq. (13) minimises
    beta L_A; the text says the term supervises p_r, so the sign is dropped.)"""
    predicted = tf.reduce_sum(repeat_probs * assignment, -1)
    return tf.square(tf.cast(repeat_label, predicted.dtype) - predicted)


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class ScenarioLearner(tf.keras.layers.Layer):
    """Learned implicit scenarios, MuSENet Eqs. (3), (4), (7), (8), (14).

    z     = f_omega(x) = x omega                                        projection
    d_k   = ||z - c_k||^2                                               (see ``distance``)
    Q_s   = softmax_k(-d_k)                                             Eq. (3), soft assignment
    a     = Q_s                                                         soft version
    a     = softmax_k((log Q_s + g_k) / tau),  g_k ~ Gumbel(0, 1)       hard version, training, Eq. (7)
    a     = one_hot(argmax_k Q_s)                                       hard version, inference, Eq. (4)
    L_C   = mean_i sum_k a_ki d_ki                                      Eq. (8)
    c_k  <- (1 - alpha) c_k + alpha sum_i a_ki z_i / sum_i a_ki        Eq. (14), outside the gradient

    ``call(x [B, D], training)`` returns a dict: ``probs`` Q_s [B, K], ``assignment`` a [B, K],
    ``distances`` [B, K], ``projected`` z [B, e] and ``clustering_loss`` L_C (a scalar, reported:
    it is minimised over the prototypes by Eq. (14), not over the other weights, Eq. (13)).
    ``update_prototypes(projected, assignment)`` applies Eq. (14); the model calls it in its
    training step with the same forward pass's z and a. Under a mirrored ``tf.distribute``
    strategy (MultiWorkerMirroredStrategy) the sums of Eq. (14) are all-reduced over the
    replicas, so every replica applies the same update (the whole global batch's means) and the
    prototypes stay equal to one process's on the same global batches. Under
    ParameterServerStrategy the prototypes are one variable on a parameter server; each worker's
    step adds its own batch's change c_k' - c_k to it (``assign_add``, so that concurrent steps
    lose no update, as asynchronous gradient steps).

    * ``hard=False``: the soft version. ``hard=True``: the hard version; with
      ``straight_through=True`` the training assignment is the one-hot arg-max of the Gumbel
      sample in the forward pass, with the Gumbel-softmax gradient (MuSENet's default; the
      layer's default is Eq. (7)'s relaxed sample, as printed).
    * ``tau`` 0.1 and ``alpha`` 0.2 are the paper's defaults (Sec. 3.2.1, 3.2.4).
    """

    def __init__(self, num_scenarios=4, projection_dim=None, distance="squared_euclidean", hard=False,
                 tau=0.1, alpha=0.2, straight_through=False, **kwargs):
        super().__init__(**kwargs)
        if int(num_scenarios) < 1:
            raise ValueError(f"num_scenarios must be >= 1, got {num_scenarios!r}")
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        self.num_scenarios = int(num_scenarios)
        self.projection_dim = None if projection_dim is None else int(projection_dim)
        self.distance = distance
        self.hard = bool(hard)
        self.tau = float(tau)
        self.alpha = float(alpha)
        self.straight_through = bool(straight_through)

    def build(self, x_shape):
        e = self.projection_dim or int(x_shape[-1])
        self.omega = self.add_weight("omega", (int(x_shape[-1]), e), initializer="glorot_uniform")
        # not trained by back-propagation (Eq. (14) updates them); saved with the model.
        # MultiWorkerMirroredStrategy / MirroredStrategy: every replica holds a copy; the sums
        # of Eq. (14) are all-reduced in update_prototypes, so every replica computes the same
        # update (the global batch's means), and ONLY_FIRST_REPLICA writes that one update to
        # every copy. ParameterServerStrategy: one copy on a ps, which each worker's step
        # updates directly (update_prototypes adds its step's change: module docstring).
        self.prototypes = self.add_weight(
            "prototypes", (self.num_scenarios, e), trainable=False,
            initializer=tf.keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(e)),
            synchronization=tf.VariableSynchronization.ON_WRITE,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        super().build(x_shape)

    def call(self, x, training=False):
        z = tf.matmul(x, self.omega)
        d = _distances(z, tf.cast(self.prototypes, z.dtype), self.distance)
        probs = tf.nn.softmax(-d, -1)                                                      # Eq. (3)
        if not self.hard:
            assignment = probs
        elif training:
            assignment = self.gumbel_softmax(probs)                                        # Eq. (7)
        else:
            assignment = tf.one_hot(tf.argmax(probs, -1), self.num_scenarios, dtype=probs.dtype)  # Eq. (4)
        clustering = tf.reduce_mean(tf.reduce_sum(assignment * d, -1))                     # Eq. (8)
        return {"probs": probs, "assignment": assignment, "distances": d, "projected": z,
                "clustering_loss": clustering}

    def gumbel_softmax(self, probs, gumbel=None):
        """Eq. (7): softmax((log pi + g) / tau), g ~ Gumbel(0, 1) (``gumbel``: given noise);
        straight-through: the one-hot arg-max of that sample forward, its gradient backward."""
        if gumbel is None:
            u = tf.random.uniform(tf.shape(probs), minval=1e-20, maxval=1.0, dtype=probs.dtype)
            gumbel = -tf.math.log(-tf.math.log(u))
        g = tf.cast(gumbel, probs.dtype)
        logits = tf.math.log(tf.maximum(probs, tf.constant(1e-20, probs.dtype)))
        sample = tf.nn.softmax((logits + g) / self.tau, -1)
        if not self.straight_through:
            return sample
        hard = tf.one_hot(tf.argmax(sample, -1), self.num_scenarios, dtype=sample.dtype)
        return sample + tf.stop_gradient(hard - sample)

    def update_prototypes(self, projected, assignment):
        """Eq. (14) on the projected samples (module docstring), outside the gradient; returns
        the new prototypes."""
        z, a = tf.stop_gradient(projected), tf.stop_gradient(assignment)
        weighted = tf.matmul(a, z, transpose_a=True)                                       # [K, e]
        mass = tf.reduce_sum(a, 0)                                                         # [K]
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:  # the global batch's means
            weighted, mass = context.all_reduce(tf.distribute.ReduceOp.SUM, [weighted, mass])
        old = tf.cast(self.prototypes, z.dtype)
        mean = weighted / tf.maximum(mass, tf.constant(1e-12, z.dtype))[:, None]
        new = tf.where((mass > 0)[:, None], (1.0 - self.alpha) * old + self.alpha * mean, old)
        # added as a change, not assigned: with parameter servers two workers' steps may read the
        # same prototypes, and an assignment would drop one of their updates (as asynchronous
        # gradient steps, each change is then applied to the prototypes as they stand)
        self.prototypes.assign_add(tf.cast(new - old, self.prototypes.dtype))
        return new

    def get_config(self):
        return super().get_config() | {"num_scenarios": self.num_scenarios, "projection_dim": self.projection_dim,
                                       "distance": self.distance, "hard": self.hard, "tau": self.tau,
                                       "alpha": self.alpha, "straight_through": self.straight_through}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class RepeatAwareHead(tf.keras.layers.Layer):
    """The repeat intention modules of the K scenarios, MuSENet Sec. 3.2.2, Eq. (9).

    p_r^k = sigma(MLP_I^k([p_u, B_u, o_u]))               the repeat intention (no target item)
    s_r^k = MLP_R^k([p_u, B_u, b_t, o_u])                 repeat score
    s_e^k = MLP_E^k([p_u, B_u, b_t, o_u])                 explore score
    z_k   = I[t in B_u] p_r^k s_r^k + (1 - I[t in B_u]) (1 - p_r^k) s_e^k     Eq. (9)

    ``call(user, behaviour, target, context, is_repeat, target_behaviour=None)`` with
    representations [B, *] and the indicator I[t in B_u] [B] (0/1 or bool; the model computes it
    from the history ids and the target id) returns a dict of [B, K] tensors ``z``,
    ``repeat_prob`` (p_r), ``repeat_score`` (s_r), ``explore_score`` (s_e). ``target_behaviour``
    is a target-aware encoding of B_u for s_r and s_e (default: ``behaviour``); p_r always reads
    ``behaviour``, which must not depend on the target ("without the target item").

    Readings taken: each scenario has its own three MLPs (``hidden_units`` ReLU layers, then a
    linear output), the "k-th repeat intention module" of Eq. (9); s_r and s_e are the MLPs'
    linear outputs (scores: the final prediction applies the sigmoid to z, Sec. 3.2.3).
    ``repeat_aware=False`` (MuSENet w/o M2) keeps one scoring MLP per scenario, z = its score on
    [p_u, B_u, b_t, o_u]; p_r, s_r are then absent from the output.
    """

    def __init__(self, num_scenarios=4, hidden_units=(64, 32), repeat_aware=True, **kwargs):
        super().__init__(**kwargs)
        if int(num_scenarios) < 1:
            raise ValueError(f"num_scenarios must be >= 1, got {num_scenarios!r}")
        self.num_scenarios = int(num_scenarios)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.repeat_aware = bool(repeat_aware)

        def mlp(name):
            dense = dict(dtype=self.dtype_policy)
            layers = [tf.keras.layers.Dense(u, activation="relu", name=f"{name}_{i}", **dense)
                      for i, u in enumerate(self.hidden_units)]
            return layers + [tf.keras.layers.Dense(1, name=f"{name}_out", **dense)]

        scenarios = range(self.num_scenarios)
        self.intention = [mlp(f"intention_{k}") for k in scenarios] if self.repeat_aware else []
        self.repeat = [mlp(f"repeat_{k}") for k in scenarios] if self.repeat_aware else []
        self.explore = [mlp(f"explore_{k}") for k in scenarios]

    @staticmethod
    def _run(layers, x):
        for layer in layers:
            x = layer(x)
        return tf.squeeze(x, -1)

    def call(self, user, behaviour, target, context, is_repeat, target_behaviour=None):
        target_behaviour = behaviour if target_behaviour is None else target_behaviour
        with_target = tf.concat([user, target_behaviour, target, context], -1)
        if not self.repeat_aware:
            return {"z": tf.stack([self._run(m, with_target) for m in self.explore], -1)}
        without_target = tf.concat([user, behaviour, context], -1)
        p_r = tf.stack([tf.sigmoid(self._run(m, without_target)) for m in self.intention], -1)
        s_r = tf.stack([self._run(m, with_target) for m in self.repeat], -1)
        s_e = tf.stack([self._run(m, with_target) for m in self.explore], -1)
        i = tf.cast(is_repeat, p_r.dtype)[:, None]
        z = i * p_r * s_r + (1.0 - i) * (1.0 - p_r) * s_e                                 # Eq. (9)
        return {"z": z, "repeat_prob": p_r, "repeat_score": s_r, "explore_score": s_e}

    def get_config(self):
        return super().get_config() | {"num_scenarios": self.num_scenarios, "hidden_units": list(self.hidden_units),
                                       "repeat_aware": self.repeat_aware}
