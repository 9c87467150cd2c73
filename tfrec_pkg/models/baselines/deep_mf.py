"""DeepMF (Xue et al., IJCAI 2017; IPRec's baseline [29]): a user tower and an article tower,
two-layer MLPs each, matched by cosine similarity,

    x_u = MLP_U(p_u),  x_a = MLP_A(q_a)        (two ReLU layers of ``tower_units``)
    y   = max(mu, cos(x_u, x_a)),  mu = 1e-6   Xue et al.'s Eq. (6): a probability, not a logit

Reading taken: Xue et al. feed each tower the user's row / the item's column of the rating
matrix; IPRec describes DeepMF as "a two layers MLP to process the interaction information of
users and items". We feed learned user and article embeddings (the same information, learned
instead of read from the matrix, which at millions of articles is the only feasible input) and
keep the towers, the cosine and the clipped probability. The loss is the binary cross-entropy
on y (Xue et al.'s normalised cross-entropy with 0/1 labels).
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrec_pkg.models import registry
from tfrec_pkg.models.baselines.user_article import RAW_FORMATS, UserArticleConfig, UserArticleModel, planted_data

__all__ = ["DeepMF", "DeepMFConfig"]

MU = 1e-6  # Xue et al.: the lower bound of the predicted probability


@dataclasses.dataclass
class DeepMFConfig(UserArticleConfig):
    tower_units: tuple = (64, 64)  # "two layers MLP" (IPRec Sec. 5.1), d wide

    def __post_init__(self):
        super().__post_init__()
        self.check_units("tower_units")


class DeepMF(UserArticleModel):
    config_class = DeepMFConfig

    def __init__(self, config: DeepMFConfig | None = None, vocab=None, name=None):
        config = config or DeepMFConfig()
        super().__init__(config, vocab, name=name or "deep_mf")
        self.user_embedding = self.embedding("user", config.item_dim, "user_embedding")
        self.article_embedding = self.embedding("article", config.item_dim, "article_embedding")
        self.user_tower = [self.dense(u, "relu", name=f"user_tower_{i}") for i, u in enumerate(config.tower_units)]
        self.article_tower = [self.dense(u, "relu", name=f"article_tower_{i}")
                              for i, u in enumerate(config.tower_units)]

    def probability(self, features):
        x, y = self.user_embedding(features["user_id"]), self.article_embedding(features["article_id"])
        for layer in self.user_tower:
            x = layer(x)
        for layer in self.article_tower:
            y = layer(y)
        cosine = tf.reduce_sum(tf.math.l2_normalize(x, -1) * tf.math.l2_normalize(y, -1), -1)
        return tf.clip_by_value(cosine, MU, 1.0 - MU)  # max(mu, cos); the upper clip keeps the logit finite

    def logit(self, features, training=False):
        p = self.probability(features)
        return tf.math.log(p) - tf.math.log1p(-p)  # BCE and AUC on logits see exactly y

    def call_indexed(self, features, training=False):
        return self.probability(features)


registry.register("deep_mf", DeepMF, DeepMFConfig, planted_data, protocol="pointwise", in_demo=False,
                  raw_formats=RAW_FORMATS,
                  description="DeepMF: user and article MLP towers matched by cosine (IPRec's baseline)")
