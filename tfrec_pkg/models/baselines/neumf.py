"""NeuMF (He et al., WWW 2017; IPRec's baseline [6]): a generalized MF branch and an MLP branch
on separate user and article embeddings, fused by one output layer,

    phi_GMF = p_u^G (*) q_a^G                              (d = item_dim)
    phi_MLP = MLP([p_u^M || q_a^M]),  layers 64 -> 32 -> 16, ReLU
    logit   = h^T [phi_GMF || phi_MLP] + b,   y = sigmoid(logit)

IPRec (Sec. 5.1): "a three-layer perceptron with latent factor sizes of 64, 32, 16 and MF for
user and item embedding", learning rate 1e-3. The MLP embeddings are half the first layer's
width each (32 + 32 = 64), NeuMF's tower convention. Trained from random initialisation (no
GMF/MLP pre-training: IPRec says "randomly initialized").
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrec_pkg.models import registry
from tfrec_pkg.models.baselines.user_article import RAW_FORMATS, UserArticleConfig, UserArticleModel, planted_data

__all__ = ["NeuMF", "NeuMFConfig"]


@dataclasses.dataclass
class NeuMFConfig(UserArticleConfig):
    mlp_units: tuple = (64, 32, 16)  # IPRec Sec. 5.1

    def __post_init__(self):
        super().__post_init__()
        self.check_units("mlp_units")


class NeuMF(UserArticleModel):
    config_class = NeuMFConfig

    def __init__(self, config: NeuMFConfig | None = None, vocab=None, name=None):
        config = config or NeuMFConfig()
        super().__init__(config, vocab, name=name or "neumf")
        half = max(config.mlp_units[0] // 2, 1)
        self.user_gmf = self.embedding("user", config.item_dim, "user_gmf")
        self.article_gmf = self.embedding("article", config.item_dim, "article_gmf")
        self.user_mlp = self.embedding("user", half, "user_mlp")
        self.article_mlp = self.embedding("article", half, "article_mlp")
        self.tower = [self.dense(u, "relu", name=f"mlp_{i}") for i, u in enumerate(config.mlp_units)]
        self.output_layer = self.dense(1, name="logit")

    def logit(self, features, training=False):
        u, a = features["user_id"], features["article_id"]
        gmf = self.user_gmf(u) * self.article_gmf(a)
        x = tf.concat([self.user_mlp(u), self.article_mlp(a)], -1)
        for layer in self.tower:
            x = layer(x)
        return tf.squeeze(self.output_layer(tf.concat([gmf, x], -1)), -1)


registry.register("neumf", NeuMF, NeuMFConfig, planted_data, protocol="pointwise", in_demo=False,
                  raw_formats=RAW_FORMATS,
                  description="NeuMF: GMF + MLP (64-32-16) on user x article (IPRec's baseline)")
