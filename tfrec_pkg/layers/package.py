"""IPRec's package and user layers (intra- and inter-package attention network for package
recommendation, SIGIR'21; ../shared/papers/iprec_sigir21.txt).

* :class:`IntraPackageAttention` — Sec. 4.2.1, Eqs. (1)-(8): disentangled friend influence,
  the seven object combinations and the user-conditioned combination attention -> package p.
* :class:`GatedAggregation` — Eqs. (9)-(10) (inter-package neighbours) and, as its own
  instance, Eqs. (15)-(16) (coarse-grained user aggregation over the interacted packages).
* :class:`UserObjectAggregation` — Sec. 4.3.1, Eqs. (11)-(14): node-level then type-level
  attention over the user's clicked articles, subscribed media and friends -> u_hat.

Readings taken where the paper is silent (each repeated at the code it concerns):

* sigma is the sigmoid everywhere: the paper defines it once, at Eq. (9), and uses the same
  symbol in Eqs. (11)-(13), (15).
* The attention parameters z, w of Eqs. (3), (5), (8), (14) are written with the same letters
  but are separate parameters per equation (one :class:`AdditiveAttention` each). Within
  Eq. (3) they are shared by the K spaces: W^k carries the index k, z and w do not. (The public
  code has one scoring vector per space.)
* Vectors are rows here: ``x @ W`` is the paper's ``W x`` with W transposed.
* Zero-init biases are kept in the attention scores and the gates (see AdditiveAttention).
"""
from __future__ import annotations

import tensorflow as tf

from tfrec_pkg.layers.attention import AdditiveAttention, masked_softmax, weighted_sum

_FUSIONS = ("product", "add", "concat")


def _mean_weights(mask, dtype):
    """Uniform weights over the valid positions (the "mean pooling" of Table 3's ablations);
    an all-padded row gets zeros. The masked softmax of equal logits is exactly that."""
    return masked_softmax(tf.zeros(tf.shape(mask), dtype), tf.cast(mask, tf.bool))


def _project(x, kernels, axis):
    """x [..., d] through each of the K kernels [d, e]: [..., e] per space, the K axis moved to
    ``axis``. Written as one 2-D batch of rows times each kernel because TF 2.21's oneDNN
    einsum ``"...fd,kde->...kfe"`` returns garbage (and corrupts memory) for leading dims such
    as [8, 1] (tests/layers/test_package.py pins that shape)."""
    rows = tf.reshape(x, [-1, tf.shape(x)[-1]])
    out = tf.stack([tf.matmul(rows, w) for w in kernels])                     # [K, rows, e]
    out = tf.reshape(out, tf.concat([[len(kernels)], tf.shape(x)[:-1], [kernels[0].shape[-1]]], 0))
    static = x.shape[:-1].as_list() + [kernels[0].shape[-1]]
    static.insert(len(static) + axis + 1, len(kernels))  # the K axis where ``axis`` puts it
    return tf.ensure_shape(tf.experimental.numpy.moveaxis(out, 0, axis), static)


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class IntraPackageAttention(tf.keras.layers.Layer):
    """Intra-package attention network, IPRec Eqs. (1)-(8).

    u_i^k = W_f^k u_i,  a^k = W_a^k a                                         Eq. (1)
    f^k   = sum_i alpha_i^k u_i^k,  alpha^k = softmax_i z^T tanh(w [a^k || u_i^k])   Eqs. (2)-(3)
    f     = sum_k beta_k f^k,      beta = softmax_k z^T tanh(w [u || f^k])          Eqs. (4)-(5)
    C     = {a, m, f, G(a,m), G(a,f), G(m,f), G(a,m,f)}                            Eq. (6)
    p     = sum_c gamma_c c,       gamma = softmax_c z^T tanh(w [u || c])            Eqs. (7)-(8)

    ``call(user [..., d], article [..., d], media [..., d], friends [..., F, d],
    friend_mask=None [..., F])`` returns ``(p [..., d], gamma [..., 7])``, gamma in the order of
    :attr:`COMBINATIONS` (the paper's Eq. (6) order) for explanations. Leading dims are
    arbitrary (e.g. [B, P, ...] for a user's history of packages); ``user`` only has to
    broadcast against ``article`` (e.g. [B, 1, d]). W_f^k, W_a^k are d x d (Eq. (3)'s
    w in R^{d x 2d} needs a^k, u_i^k in R^d).

    Friends shared by many packages: with ``friend_index`` [..., F] (int), ``friends`` is
    [V, d], the distinct friend vectors, and slot i of a package holds row ``friend_index[i]``.
    The outputs are the same; Eq. (1)'s W_f^k and Eq. (3)'s key term then run once per
    distinct friend instead of once per slot (friends are users: a batch of 512 of IPRec's
    planted data has ~34k friend slots and 300 distinct friends). Likewise with ``article_index`` [...]
    (int), ``article`` is [A, d], the distinct article vectors, and a package's article is row
    ``article_index`` of it (the leading dims are then ``article_index``'s).

    * ``num_spaces`` K (paper: 4, Sec. 5.2).
    * ``fusion`` G: "product" (paper's choice), "add" or "concat". For "concat" each of the four
      concatenations gets its own linear map (no bias) back to d, because Eq. (8)'s w takes
      [u || c] with c in R^d like a, m, f.
    * ``attention=False`` is Table 3's IPRec w/o att: Eqs. (3), (5), (8) become means over the
      valid friends, the K spaces and the valid combinations; projections and combinations
      are kept (the public code's commented-out ablation is the mean over the combinations).

    A package without friends (all of ``friend_mask`` False) has f = 0 (Eq. (2) over an empty
    set). Its combinations that contain f are then left out of Eq. (8) (gamma = 0 there): the
    friend object is absent, so C has no friend terms. This is also what the public code does
    (it masks all-zero combinations); without it a friendless package would spend attention on
    zero vectors and shrink p.
    """

    COMBINATIONS = ("a", "m", "f", "a*m", "a*f", "m*f", "a*m*f")

    def __init__(self, num_spaces=4, fusion="product", attention=True, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if fusion not in _FUSIONS:
            raise ValueError(f"fusion must be one of {_FUSIONS}, got {fusion!r}")
        if int(num_spaces) < 1:
            raise ValueError(f"num_spaces must be >= 1, got {num_spaces!r}")
        self.num_spaces = int(num_spaces)
        self.fusion = fusion
        self.attention = bool(attention)
        self.use_bias = bool(use_bias)

    def build(self, user_shape):
        d = int(user_shape[-1])
        # One d x d matrix per space, each Xavier-initialised on its own (a single [K, d, d]
        # variable would get fan_in = K d from glorot_uniform).
        self.w_f = [self.add_weight(f"W_f_{k}", (d, d), initializer="glorot_uniform")
                    for k in range(self.num_spaces)]
        self.w_a = [self.add_weight(f"W_a_{k}", (d, d), initializer="glorot_uniform")
                    for k in range(self.num_spaces)]
        att = dict(use_bias=self.use_bias, dtype=self.dtype_policy)
        if self.attention:
            self.friend_attention = AdditiveAttention(name="friend_attention", **att)       # Eq. (3)
            self.space_attention = AdditiveAttention(name="space_attention", **att)         # Eq. (5)
            self.combination_attention = AdditiveAttention(name="combination_attention", **att)  # Eq. (8)
        if self.fusion == "concat":
            self.fuse = {name: tf.keras.layers.Dense(d, use_bias=False, kernel_initializer="glorot_uniform",
                                                     dtype=self.dtype_policy, name=f"concat_{name.replace('*', '')}")
                         for name in self.COMBINATIONS[3:]}
        super().build(user_shape)

    def _fuse(self, name, parts):
        """Gamma of Eq. (6) over the objects ``parts``."""
        if self.fusion == "product":
            out = parts[0]
            for x in parts[1:]:
                out = out * x
            return out
        if self.fusion == "add":
            return tf.add_n(parts)
        return self.fuse[name](tf.concat(parts, -1))

    def call(self, user, article, media, friends, friend_mask=None, friend_index=None, article_index=None):
        article_rows = None
        if article_index is not None:  # article [A, d] are distinct vectors, one row per package
            article_rows, article = article, tf.gather(article, article_index)
        user = tf.broadcast_to(user, tf.shape(article))
        slot_shape = tf.shape(friends)[:-1] if friend_index is None else tf.shape(friend_index)
        if friend_mask is None:
            friend_mask = tf.ones(slot_shape, tf.bool)
        friend_mask = tf.cast(friend_mask, tf.bool)
        d, k = article.shape[-1], self.num_spaces
        # Eqs. (1)-(3) on the real friends only, flat: one row per (package, friend), the
        # package index as the segment (packages average under 2 friends in 10 slots, and the
        # padded form spent most of IPRec's training step on empty slots; same numbers).
        slots = tf.reshape(friend_mask, [-1, slot_shape[-1]])                      # [n, F]
        real = tf.where(slots)                                                      # [M, 2]
        package, num_packages = real[:, 0], tf.shape(slots, out_type=tf.int64)[0]
        rows = None
        if friend_index is None:
            friends_real = tf.gather_nd(tf.reshape(friends, [-1, tf.shape(friends)[-2], d]), real)
            friends_k = _project(friends_real, self.w_f, axis=-2)                    # Eq. (1) [M, K, d]
        else:  # friends [V, d] are distinct vectors: Eq. (1) and Eq. (3)'s key term once per friend
            rows = tf.gather_nd(tf.reshape(friend_index, [-1, slot_shape[-1]]), real)  # [M]
            friends_k = _project(friends, self.w_f, axis=-2)                         # Eq. (1) [V, K, d]
        query_index = None
        if article_index is None:
            article_k = _project(tf.reshape(article, [-1, d]), self.w_a, axis=-2)    # Eq. (1) [n, K, d]
        else:  # Eq. (1) and Eq. (3)'s query term once per distinct article
            article_k = _project(article_rows, self.w_a, axis=-2)                    # Eq. (1) [A, K, d]
            query_index = tf.gather(tf.reshape(article_index, [-1]), package)
        if self.attention:
            f_k, _ = self.friend_attention(friends_k, query=article_k, segment_ids=package, num_segments=num_packages,
                                           key_index=rows, query_index=query_index)  # Eqs. (2)-(3)
        else:
            members = friends_k if rows is None else tf.gather(friends_k, rows)
            f_k = tf.math.unsorted_segment_mean(members, package, num_packages)
        f_k = tf.ensure_shape(tf.reshape(f_k, tf.concat([tf.shape(article)[:-1], [k, d]], 0)),
                              article.shape[:-1].as_list() + [k, d])                 # [..., K, d]
        if self.attention:
            f, _ = self.space_attention(f_k, query=user)                             # Eqs. (4)-(5)
        else:
            f = tf.reduce_mean(f_k, -2)
        a, m = article, media
        combos = [a, m, f, self._fuse("a*m", [a, m]), self._fuse("a*f", [a, f]),
                  self._fuse("m*f", [m, f]), self._fuse("a*m*f", [a, m, f])]         # Eq. (6)
        combos = tf.stack(combos, -2)                                                # [..., 7, d]
        has_f = tf.reduce_any(friend_mask, -1)
        yes = tf.ones_like(has_f)
        combo_mask = tf.stack([yes, yes, has_f, yes, has_f, has_f, has_f], -1)       # order of COMBINATIONS
        if self.attention:
            return self.combination_attention(combos, query=user, mask=combo_mask)    # Eqs. (7)-(8)
        gamma = _mean_weights(combo_mask, combos.dtype)
        return weighted_sum(gamma, combos), gamma

    def get_config(self):
        return super().get_config() | {"num_spaces": self.num_spaces, "fusion": self.fusion,
                                       "attention": self.attention, "use_bias": self.use_bias}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class GatedAggregation(tf.keras.layers.Layer):
    """Gate filter over a set of neighbour vectors, IPRec Eqs. (9)-(10) and (15)-(16).

    g_i     = sigma(W1 p + W2 p_i + b)                  Eq. (9)  (Eq. (15): W3 u_hat + W4 p_i + b_g2)
    p_tilde = p + sum_i g_i (*) p_i                     Eq. (10) (Eq. (16): u_tilde)

    ``call(p [..., d], neighbours [..., N, d], mask=None [..., N])`` returns p_tilde [..., d].
    g_i is a vector gate (W1, W2 in R^{d x d}, b in R^d): Eq. (10) multiplies it element-wise
    (the paper's ⊙) with p_i, and the public code's gate is d-dimensional too. sigma is the
    sigmoid (Eq. (9)'s text). Padded neighbours contribute nothing; with none, p_tilde = p.

    ``reduce="sum"`` is the paper's Eq. (10) sum. ``reduce="mean"`` follows the public code,
    which takes ``reduce_mean`` of the masked gated neighbours over the *padded* axis, i.e.
    divides by the slot count N whatever the number of real neighbours.
    """

    def __init__(self, reduce="sum", **kwargs):
        super().__init__(**kwargs)
        if reduce not in ("sum", "mean"):
            raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
        self.reduce = reduce

    def build(self, p_shape):
        d = int(p_shape[-1])
        self.w1 = self.add_weight("W1", (d, d), initializer="glorot_uniform")
        self.w2 = self.add_weight("W2", (d, d), initializer="glorot_uniform")
        self.b = self.add_weight("b", (d,), initializer="zeros")
        super().build(p_shape)

    def call(self, p, neighbours, mask=None):
        g = tf.sigmoid(tf.tensordot(p, self.w1, 1)[..., None, :]
                       + tf.tensordot(neighbours, self.w2, 1) + self.b)              # Eq. (9)
        gated = g * neighbours
        if mask is not None:
            gated = gated * tf.cast(mask, gated.dtype)[..., None]
        agg = tf.reduce_sum(gated, -2)                                               # Eq. (10)
        if self.reduce == "mean":
            agg = agg / tf.cast(tf.maximum(tf.shape(neighbours)[-2], 1), agg.dtype)
        return p + agg

    def get_config(self):
        return super().get_config() | {"reduce": self.reduce}


@tf.keras.utils.register_keras_serializable(package="tfrec_pkg")
class UserObjectAggregation(tf.keras.layers.Layer):
    """Fine-grained aggregation network, IPRec Eqs. (11)-(14).

    u^t   = sigma(sum_v eta_uv v),   eta_u = softmax_v sigma(w_t^T [u || v])    Eqs. (11)-(12), per type t
    u_hat = sigma(sum_t eps_u^t u^t), eps_u = softmax_t z^T tanh(w [u || u^t])   Eqs. (13)-(14)

    ``call(user [..., d], objects, masks=None)``: ``objects`` is a list of ``num_types`` padded
    sets [..., L_t, d] (IPRec: clicked articles, subscribed media, friends), ``masks`` a list of
    [..., L_t] booleans (None: all valid). Returns ``(u_hat [..., d], eps [..., num_types])``.

    * sigma = ``activation`` (default sigmoid, the only sigma the paper defines, Eq. (9)),
      used in all of Eqs. (11)-(13). Eq. (12) has its own w_t per type (``single_layer``
      AdditiveAttention), Eq. (14) one z, w.
    * A type with no objects has no t-induced representation: it is left out of Eq. (14)
      (eps = 0) instead of entering as sigma(0). The public code does the same (it masks
      all-zero type vectors). A user with no objects at all gets u_hat = sigma(0).
    * ``attention=False`` is Table 3's IPRec w/o dual: Eqs. (12) and (14) become means over
      the valid objects / non-empty types; the sigmas of Eqs. (11), (13) stay.
    """

    def __init__(self, num_types=3, attention=True, activation="sigmoid", use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.num_types = int(num_types)
        self.attention = bool(attention)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self._act = tf.keras.activations.get(activation)

    def build(self, user_shape):
        if self.attention:
            att = dict(use_bias=self.use_bias, dtype=self.dtype_policy)
            self.node_attention = [AdditiveAttention(single_layer=True, activation=self.activation,
                                                     name=f"node_attention_{t}", **att)      # Eq. (12)
                                   for t in range(self.num_types)]
            self.type_attention = AdditiveAttention(name="type_attention", **att)             # Eq. (14)
        super().build(user_shape)

    def call(self, user, objects, masks=None):
        if len(objects) != self.num_types:
            raise ValueError(f"expected {self.num_types} object sets, got {len(objects)}")
        masks = [None] * self.num_types if masks is None else masks
        per_type, nonempty = [], []
        for t, (v, mask) in enumerate(zip(objects, masks)):
            mask = tf.ones(tf.shape(v)[:-1], tf.bool) if mask is None else tf.cast(mask, tf.bool)
            if self.attention:
                pooled, _ = self.node_attention[t](v, query=user, mask=mask)          # Eq. (12)
            else:
                pooled = weighted_sum(_mean_weights(mask, v.dtype), v)
            per_type.append(self._act(pooled))                                         # Eq. (11)
            nonempty.append(tf.reduce_any(mask, -1))
        u_t, type_mask = tf.stack(per_type, -2), tf.stack(nonempty, -1)
        if self.attention:
            pooled, eps = self.type_attention(u_t, query=user, mask=type_mask)         # Eq. (14)
        else:
            eps = _mean_weights(type_mask, u_t.dtype)
            pooled = weighted_sum(eps, u_t)
        return self._act(pooled), eps                                                  # Eq. (13)

    def get_config(self):
        return super().get_config() | {"num_types": self.num_types, "attention": self.attention,
                                       "activation": self.activation, "use_bias": self.use_bias}
