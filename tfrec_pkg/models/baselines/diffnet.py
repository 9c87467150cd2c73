"""DiffNet (Wu et al., "A Neural Influence Diffusion Model for Social Recommendation", SIGIR
2019; IPRec's baseline [28], "two layers of GCN as suggested in the original paper"): user
embeddings diffused over the social graph, plus the mean of the items the user consumed,

    h_u^0     = P[u],  v_a = Q[a]                                      (no side features)
    h_{S_u}^k = mean_{b in S_u} h_b^{k-1}                               influence diffusion,
    h_u^k     = sigmoid(W^k [h_{S_u}^k || h_u^{k-1}] + b^k),  k = 1..K   K = ``num_layers`` = 2
    u         = h_u^K + mean_{i in R_u} v_i
    logit     = v_a . u,        y = sigmoid(logit)

trained pointwise with binary cross-entropy on IPRec's rows.

Readings taken:

* **The social graph S.** IPRec: "we build the social network with the friend list in package".
  S_u is the set of users who appear as friends in u's training packages (clicked or not), made
  symmetric (friendship is mutual), at most ``max_social`` per user (the most frequent first).
  :meth:`DiffNet.adapt` builds it from the training split; :func:`tfrec_pkg.training.train`
  calls it before fitting, as Keras' preprocessing layers are adapted before ``fit``. The table
  is a non-trainable weight, so it is saved, restored and exported with the model.
* **Consumed items R_u** are the row's ``user_article_ids``: the user's clicked training
  articles without the row itself (IPRec's leak-free user set).
* **s(x).** The paper leaves the diffusion's non-linearity open; we take the sigmoid. The
  diffusion runs over the whole user table each step (the public code's sparse product over the
  full graph), cost O(users x max_social x d) per layer; users without friends keep
  h_{S_u} = 0.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec_pkg import specs
from tfrec_pkg.features import NUM_RESERVED, PAD_INDEX
from tfrec_pkg.models import registry
from tfrec_pkg.models.baselines.user_article import RAW_FORMATS, UserArticleConfig, UserArticleModel, planted_data
from tfrec_pkg.models.iprec import PLANTED_SIZES

__all__ = ["DiffNet", "DiffNetConfig"]

INPUTS = ("user_id", "article_id", "user_article_ids")


@dataclasses.dataclass
class DiffNetConfig(UserArticleConfig):
    num_layers: int = 2      # K diffusion layers (IPRec Sec. 5.1: two)
    max_social: int = 50     # neighbours kept per user in the social table
    max_objects: int = 50    # length of user_article_ids (IPRec's default O)

    def __post_init__(self):
        super().__post_init__()
        self.check_positive_ints("num_layers", "max_social", "max_objects")


class DiffNet(UserArticleModel):
    config_class = DiffNetConfig

    def __init__(self, config: DiffNetConfig | None = None, vocab=None, name=None):
        config = config or DiffNetConfig()
        super().__init__(config, vocab, name=name or "diffnet")
        d = config.item_dim
        self.user_embedding = self.embedding("user", d, "user_embedding")
        self.article_embedding = self.embedding("article", d, "article_embedding")
        self.diffusion = [self.dense(d, "sigmoid", name=f"diffusion_{k}") for k in range(config.num_layers)]
        # S as user index -> up to max_social neighbour indices (0 = none); filled by adapt()
        self.social = self.add_weight(name="social", shape=(self.vocab["user"].size, config.max_social),
                                      dtype=tf.int64, initializer="zeros", trainable=False)

    @property
    def feature_spec(self):
        spec = specs.package_click(max_objects=self.config.max_objects, article_dtype=self.config.article_dtype)
        return [s for s in spec if s.name in INPUTS]

    def adapt(self, split) -> "DiffNet":
        """Fill the social table from a training split's ``user_id`` and ``friend_ids`` (module
        docstring: symmetric, most frequent neighbours first, at most ``max_social``)."""
        frame = split.frame
        lookup = self.vocab["user"].lookup
        friends = frame["friend_ids"].to_numpy()
        counts = np.array([len(f) for f in friends])
        user = lookup(np.repeat(frame["user_id"].to_numpy(), counts))
        friend = lookup(np.concatenate([np.asarray(f, np.int64) for f in friends]) if len(friends) else [])
        pairs = pd.DataFrame({"u": np.r_[user, friend], "f": np.r_[friend, user]})
        pairs = pairs[(pairs.u >= NUM_RESERVED) & (pairs.f >= NUM_RESERVED) & (pairs.u != pairs.f)]  # known users
        top = (pairs.value_counts().rename("n").reset_index()
               .sort_values(["u", "n", "f"], ascending=[True, False, True], kind="stable"))
        top["slot"] = top.groupby("u").cumcount()
        top = top[top.slot < self.config.max_social]
        table = np.zeros(self.social.shape, np.int64)
        table[top.u.to_numpy(), top.slot.to_numpy()] = top.f.to_numpy()
        self.social.assign(table)
        return self

    def user_vectors(self) -> tf.Tensor:
        """h^K for every user [users, d]: K rounds of influence diffusion."""
        h = self.user_embedding(tf.range(self.vocab["user"].size, dtype=tf.int64))            # h^0 = P, [U, d]
        mask = tf.cast(tf.not_equal(self.social, PAD_INDEX), h.dtype)[..., None]             # [U, S, 1]
        count = tf.reduce_sum(mask, 1)
        for layer in self.diffusion:
            neighbours = tf.reduce_sum(tf.gather(h, self.social) * mask, 1) / tf.maximum(count, 1.0)
            h = layer(tf.concat([neighbours, h], -1))
        return h

    def logit(self, features, training=False):
        consumed = self.article_embedding(features["user_article_ids"])                      # [B, O, d]
        valid = tf.cast(tf.not_equal(features["user_article_ids"], PAD_INDEX), consumed.dtype)[..., None]
        mean_consumed = tf.reduce_sum(consumed * valid, 1) / tf.maximum(tf.reduce_sum(valid, 1), 1.0)
        u = tf.gather(self.user_vectors(), features["user_id"]) + mean_consumed
        return tf.reduce_sum(self.article_embedding(features["article_id"]) * u, -1)


registry.register("diffnet", DiffNet, DiffNetConfig, planted_data, protocol="pointwise", in_demo=False,
                  planted={"max_objects": PLANTED_SIZES["max_objects"]}, raw_formats=RAW_FORMATS,
                  description="DiffNet: social influence diffusion (2 layers) over the package friend graph "
                              "(IPRec's baseline)")
