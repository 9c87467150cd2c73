"""MF (Koren, Bell and Volinsky, 2009; IPRec's baseline [12]): the inner product of user and
article factors plus user, article and global biases,

    logit = p_u . q_a + b_u + b_a + b,        y = sigmoid(logit)

trained pointwise with binary cross-entropy on IPRec's click rows (module
:mod:`tfrec_pkg.models.baselines.user_article`).
"""
from __future__ import annotations

import tensorflow as tf

from tfrec_pkg.models import registry
from tfrec_pkg.models.baselines.user_article import RAW_FORMATS, UserArticleConfig, UserArticleModel, planted_data

__all__ = ["MF"]


class MF(UserArticleModel):
    def __init__(self, config: UserArticleConfig | None = None, vocab=None, name=None):
        config = config or UserArticleConfig()
        super().__init__(config, vocab, name=name or "mf")
        self.user_factors = self.embedding("user", config.item_dim, "user_factors")
        self.article_factors = self.embedding("article", config.item_dim, "article_factors")
        # biases are not penalised (as every bias of the library)
        self.user_bias = tf.keras.layers.Embedding(self.vocab["user"].size, 1, embeddings_initializer="zeros",
                                                   name="user_bias")
        self.article_bias = tf.keras.layers.Embedding(self.vocab["article"].size, 1, embeddings_initializer="zeros",
                                                      name="article_bias")
        self.global_bias = self.add_weight(name="global_bias", shape=(), initializer="zeros")

    def logit(self, features, training=False):
        u, a = features["user_id"], features["article_id"]
        dot = tf.reduce_sum(self.user_factors(u) * self.article_factors(a), -1)
        return dot + tf.squeeze(self.user_bias(u), -1) + tf.squeeze(self.article_bias(a), -1) + self.global_bias


registry.register("mf", MF, UserArticleConfig, planted_data, protocol="pointwise", in_demo=False,
                  raw_formats=RAW_FORMATS,
                  description="MF: user x article factors with biases (IPRec's baseline)")
