"""IMN-Net's mutual-information estimator, its training losses and its joint discriminator
(Wu et al., "Interest-Behaviour Multiplicative Network for Resource-limited Recommendation",
Secs. 4.4, 4.5, 5.5; ../shared/papers/imn_net_resource_limited.txt).

* :func:`history_context` -- c_t of Eq. (15); :func:`interaction_vectors` -- pos_x, neg_x and
  pn_x of Eqs. (16)-(18).
* :class:`LogBilinearScore` -- log f_1(x, c) = x^T W_1 c, Eqs. (14), (19); its
  ``interaction_scores`` scores pn_x of Eq. (18) without forming it (the training path).
* :func:`sample_negative_items` -- the N - 1 negative items of Eq. (21), drawn from all
  candidate items (Sec. 4.4).
* :func:`nce_loss` -- Eq. (21); :func:`embedding_prediction_loss` -- Eq. (20);
  :func:`drift_penalty` and :func:`imn_loss` -- Eq. (22) (Eqs. (25), (26) are its ablations).
* :func:`fusion_score` -- the joint discriminator of Eqs. (23)-(24) (Eq. (27) at alpha_m = 0).

Readings taken where the paper is silent or inconsistent (each repeated at the code it concerns):

* f_1 is kept in log space: :class:`LogBilinearScore` returns log f_1 = x^T W_1 c and
  Eq. (21) is computed as logsumexp_j log f_1(pn_x_j, c) - log f_1(pos_x, c), never forming
  exp(.) (which overflows float32 above ~88).
* Eqs. (16)-(17) give the positive and every negative the same user block h^g_u(t + 1), so its
  score adds the same amount to all N terms and cancels in Eq. (21); only the item blocks are
  contrasted there. It is kept, as printed (it shifts f_1 in the discriminator).
* The negatives are passed in (their current dynamic states h_j(t) and static embeddings), so
  the loss is deterministic. They come from all candidate items, not from the mini-batch
  (Sec. 4.4, after cross-batch memory [46]), uniformly: :func:`sample_negative_items`.
  N = 128 (Sec. 5.5): one positive and 127 negatives.
* Eq. (20) prints the L2 norm ||j~ - j_bar||_2 (not squared) although it is called "MSE"; the
  printed norm is the default, ``squared=True`` gives the squared error (JODIE's ``MSELoss``,
  up to its 1/width). Likewise for the drift terms of Eq. (22).
* The target j_bar of Eq. (20) and the old state h(t - 1) of Eq. (22) are held constant
  (stop-gradient), as JODIE detaches both: a trainable target would be pulled towards the
  prediction (and the compressed static embeddings of Sec. 5.5 towards collapse).
* Eq. (22) sums Eq. (20) over the batch but takes the expectation of Eq. (21): every term is
  averaged over the t-batch here, so the lambdas do not depend on the batch size. The paper
  gives no lambda values; the defaults are 1 (JODIE weights its three terms 1).
* Eq. (23) adds the L2 distance to j~ with a plus sign and Eq. (24) takes the arg-max, which
  would rank the farthest items first. The distance enters with a minus sign:
  score_i = alpha_m (-||j~ - j_bar_i||_2) + alpha_n f_1(x_i, c_t) (the same ranking as
  arg-min of alpha_m ||.|| - alpha_n f_1). f_1 is exp(log f_1) as printed (``log_f1=True``
  uses log f_1).
"""
from __future__ import annotations

import numbers

import tensorflow as tf

NUM_SAMPLES = 128   # N of Eq. (21): one positive and N - 1 negatives (Sec. 5.5)


def history_context(combined_user, user_static, last_item_state, last_item_static):
    """c_t = [f(h^l_u(t + Delta), h^g_u(t + Delta)), u_bar, h_i(t - 1), i_bar(t - 1)], Eq. (15):
    the combined projected user states (:func:`tfrec_pkg.layers.mrrnn.combine_user_states`),
    the user's static embedding, and the current dynamic and the static embedding of the item
    the user interacted with last. ``[B, *]`` each -> ``[B, Dc]``."""
    return tf.concat([combined_user, user_static, last_item_state, last_item_static], -1)


def interaction_vectors(next_user_state, positive_item_state, positive_item_static,
                        negative_item_states, negative_item_statics):
    """pn_x of Eq. (18), ``[B, N, Dx]``: row 0 is pos_x = [h^g_u(t + 1), h_i(t + 1), i_bar(t + 1)]
    (Eq. (16)), rows 1..N-1 are neg_x = [h^g_u(t + 1), h_j(t), j_bar] (Eq. (17)), one per negative
    item j.

    ``next_user_state`` [B, d] and ``positive_item_state`` [B, d]: the general user state and
    the positive item's state after the next interaction (Eqs. (1)-(2)); the negatives'
    ``negative_item_states`` [B, N-1, d] are their current (not updated) states and
    ``negative_item_statics`` [B, N-1, e] their static embeddings."""
    positive = tf.concat([next_user_state, positive_item_state, positive_item_static], -1)[:, None, :]
    user = tf.broadcast_to(next_user_state[:, None, :],
                           tf.concat([tf.shape(negative_item_states)[:2], tf.shape(next_user_state)[-1:]], 0))
    negative = tf.concat([user, negative_item_states, negative_item_statics], -1)
    return tf.concat([positive, negative], 1)


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class LogBilinearScore(tf.keras.layers.Layer):
    """The log of IMN-Net's density ratio f_1, Eqs. (14), (19):

    f_1(x, c) = exp(x^T W_1 c)          Eq. (14); over the rows of pn_x, Eq. (19)

    ``call([x, c])`` with x ``[B, Dx]`` or ``[B, N, Dx]`` (pn_x of :func:`interaction_vectors`)
    and c ``[B, Dc]`` (:func:`history_context`) returns log f_1 = x^T W_1 c, ``[B]`` or
    ``[B, N]``; f_1 is its exp. Log space keeps Eq. (21) finite (module docstring). W_1
    ``[Dx, Dc]`` has no bias (Eq. (14) prints none).
    """

    def build(self, input_shape):
        x_shape, c_shape = input_shape
        self.kernel = self.add_weight(name="kernel", shape=(int(x_shape[-1]), int(c_shape[-1])),
                                      initializer="glorot_uniform")                     # W_1
        super().build(input_shape)

    def call(self, inputs):
        x, c = inputs
        wc = tf.matmul(c, self.kernel, transpose_b=True)                                 # W_1 c, [B, Dx]
        if x.shape.rank == 2:
            return tf.reduce_sum(x * wc, -1)                                             # Eq. (14)
        return tf.linalg.matvec(x, wc)                                                   # Eq. (19), [B, N]

    def blocks(self, c, widths):
        """W_1 c ``[B, Dx]`` split into the blocks of x = [x_1, x_2, ...] of ``widths``:
        x^T W_1 c = sum_k x_k^T (W_1 c)_k, so a score can be summed block by block without
        forming x."""
        if not self.built:
            self.build([tf.TensorShape([None, sum(widths)]), c.shape])
        return tf.split(tf.matmul(c, self.kernel, transpose_b=True), widths, axis=-1)

    def interaction_scores(self, c, next_user_state, positive_item_state, positive_item_static,
                           negative_item_states, negative_item_statics):
        """log f_1(pn_x, c) ``[B, N]`` of Eq. (19) for pn_x of Eq. (18), taking the inputs of
        :func:`interaction_vectors`: the same values as ``call([interaction_vectors(...), c])``
        up to float round-off, without forming pn_x ``[B, N, Dx]`` (which made the NCE term most
        of a training step): block by block, the shared user block once per row."""
        widths = [next_user_state.shape[-1], positive_item_state.shape[-1], positive_item_static.shape[-1]]
        w_user, w_state, w_static = self.blocks(c, widths)
        user = tf.reduce_sum(next_user_state * w_user, -1, keepdims=True)                # [B, 1]
        positive = (user + tf.reduce_sum(positive_item_state * w_state, -1, keepdims=True)
                    + tf.reduce_sum(positive_item_static * w_static, -1, keepdims=True))  # Eq. (16)
        negatives = (user + tf.linalg.matvec(negative_item_states, w_state)
                     + tf.linalg.matvec(negative_item_statics, w_static))                # Eq. (17)
        return tf.concat([positive, negatives], 1)                                       # Eqs. (18)-(19)


def sample_negative_items(rng, batch_size, num_items: int, num_negatives: int = NUM_SAMPLES - 1,
                          first_item: int = 1, positives=None):
    """``[batch_size, num_negatives]`` int64 item ids drawn uniformly, with replacement, from all
    candidate items ``[first_item, num_items)`` (id 0 is padding, as in
    :mod:`tfrec_pkg.data.negatives`), independently for every row: the negatives of Eq. (21)
    come from the whole catalogue, not from the mini-batch (Sec. 4.4).

    ``rng``: a ``tf.random.Generator`` (training: fresh draws each step, reproducible from the
    generator's seed), or a seed -- an int or a shape-[2] integer tensor -- for a stateless
    draw (the same seed gives the same ids). ``positives`` ``[batch_size]`` (candidate ids):
    draw from the other candidates instead, still uniformly (an id at or above the row's
    positive is shifted up by one). The paper samples from all items, positive included
    (``positives=None``); with a large catalogue a hit is rare, and a hit still differs from
    the positive in its state (h_j(t), not h_j(t + 1)).
    """
    num_items, first_item, num_negatives = int(num_items), int(first_item), int(num_negatives)
    need = 2 if positives is not None else 1
    if num_items - first_item < need:
        raise ValueError(f"need at least {need} candidate item(s) in [first_item, num_items) = "
                         f"[{first_item}, {num_items})")
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be >= 1, got {num_negatives!r}")
    shape = tf.stack([tf.cast(batch_size, tf.int32), num_negatives])
    high = num_items - (need - 1)
    if isinstance(rng, tf.random.Generator):
        ids = rng.uniform(shape, minval=first_item, maxval=high, dtype=tf.int64)
    else:
        seed = tf.stack([int(rng), 0]) if isinstance(rng, numbers.Integral) else rng
        ids = tf.random.stateless_uniform(shape, seed=seed, minval=first_item, maxval=high, dtype=tf.int64)
    if positives is not None:
        ids += tf.cast(ids >= tf.reshape(tf.cast(positives, tf.int64), [-1, 1]), tf.int64)
    return ids


def nce_loss(scores):
    """Eq. (21) per row, ``[B]``: -log(f_1(pos_x, c) / sum_{j in X} f_1(pn_x_j, c)) for
    ``scores`` = log f_1(pn_x, c) ``[B, N]``, the positive in column 0 (Eq. (18)), computed as
    logsumexp_j scores_j - scores_0. The expectation E_X is the mean over rows
    (:func:`imn_loss`)."""
    return tf.reduce_logsumexp(scores, -1) - scores[:, 0]


def _l2(diff, squared):
    """||diff||_2 over the last axis (its square with ``squared``); the norm's gradient at 0
    is 0 instead of NaN."""
    sq = tf.reduce_sum(tf.square(diff), -1)
    return sq if squared else tf.sqrt(tf.maximum(sq, tf.constant(1e-24, sq.dtype)))


def embedding_prediction_loss(predicted, target, squared: bool = False, stop_gradient: bool = True):
    """Eq. (20) per row, ``[B]``: ||j~(t + Delta) - j_bar||_2 between the predicted
    (:class:`tfrec_pkg.layers.mrrnn.ItemEmbeddingPredictor`) and the true next item's static
    embedding. ``squared``: the squared error instead of the printed norm; ``stop_gradient``:
    the target is a constant (JODIE detaches it; module docstring)."""
    target = tf.stop_gradient(target) if stop_gradient else target
    return _l2(predicted - target, squared)


def drift_penalty(new_state, old_state, squared: bool = False, stop_gradient: bool = True):
    """One "slow drift" term of Eq. (22) per row, ``[B]``: ||h(t) - h(t - 1)||_2 for the general
    user state (lambda_U) or the item state (lambda_I). ``stop_gradient``: h(t - 1) is a
    constant (JODIE detaches it)."""
    old_state = tf.stop_gradient(old_state) if stop_gradient else old_state
    return _l2(new_state - old_state, squared)


def imn_loss(prediction_loss, nce, user_drift, item_drift, lambda_m: float = 1.0, lambda_n: float = 1.0,
             lambda_u: float = 1.0, lambda_i: float = 1.0):
    """The fusion loss, Eq. (22):

    Loss = lambda_m L_MSE + lambda_n L_N + lambda_U ||h^g_u(t) - h^g_u(t-1)|| + lambda_I ||h_i(t) - h_i(t-1)||

    from the per-row terms of :func:`embedding_prediction_loss`, :func:`nce_loss` and
    :func:`drift_penalty` (user, item), each averaged over the t-batch (module docstring).
    IMN_MSE (Eq. (25)) is ``lambda_n=0``, IMN_NCE (Eq. (26)) ``lambda_m=0``."""
    mean = tf.reduce_mean
    return (lambda_m * mean(prediction_loss) + lambda_n * mean(nce)
            + lambda_u * mean(user_drift) + lambda_i * mean(item_drift))


def fusion_score(predicted, candidates, mi_logits, alpha_m: float = 0.9, alpha_n: float = 0.1,
                 log_f1: bool = False):
    """The joint discriminator of Eqs. (23)-(24), ``[B, C]`` (higher ranks first):

    score_i = -alpha_m ||j~(t + Delta) - j_bar_i||_2 + alpha_n f_1(x_i, c_t)       Eq. (23)
    i_{t+1} = argmax_i score_i                                                    Eq. (24)

    ``predicted`` j~ ``[B, D]``; ``candidates`` the candidates' static embeddings, ``[C, D]``
    (the whole catalogue, shared by the rows) or ``[B, C, D]``; ``mi_logits`` log f_1(x_i, c_t)
    ``[B, C]`` (:class:`LogBilinearScore`). The distance's sign is flipped from the printed
    Eq. (23) (module docstring). alpha_m, alpha_n default to the paper's CheZhiBao values
    (0.9, 0.1; Tmall: 0.75, 0.25); alpha_m = 0, alpha_n = 1 ranks by f_1 alone (Eq. (27)).
    ``log_f1``: use log f_1 in place of f_1."""
    if candidates.shape.rank == 2:   # ||p||^2 - 2 p.c + ||c||^2 without a [B, C, D] tensor
        sq = (tf.reduce_sum(tf.square(predicted), -1)[:, None]
              - 2.0 * tf.matmul(predicted, candidates, transpose_b=True)
              + tf.reduce_sum(tf.square(candidates), -1)[None, :])
        distance = tf.sqrt(tf.maximum(sq, 0.0))
    else:
        distance = _l2(predicted[:, None, :] - candidates, squared=False)
    mi = mi_logits if log_f1 else tf.exp(mi_logits)
    return -alpha_m * distance + alpha_n * mi
