"""BaseModel: the MuSENet paper's baseline (Sec. 4.1, "a baseline model with embedding & MLP
architecture"), with a DIN-style attention pooling of the behaviour history.

    e_u = E_user[u]                      e_t = [E_item[i] || E_cat[c]]
    e_j = [E_item[h_j] || E_cat[hc_j]]   (history behaviours, padding masked)
    p   = sum_j a(e_t, e_j) e_j        (DIN activation unit + sum pooling, layers/attention.py)
    y   = sigmoid(MLP([e_u, e_t, p, e_t * p]))

Trained with binary cross-entropy through ``tfrs.tasks.Ranking``.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrec_pkg import specs
from tfrec_pkg.config import Config
from tfrec_pkg.layers.attention import TargetAttentionPooling
from tfrec_pkg.layers.mlp import dense_stack
from tfrec_pkg.models import registry
from tfrec_pkg.models.recmodel import RecModel, click_task

__all__ = ["BaseModel", "BaseModelConfig"]


@dataclasses.dataclass
class BaseModelConfig(Config):
    max_history: int = 20
    user_dim: int = 16
    item_dim: int = 16
    category_dim: int = 8
    attention_units: tuple = (80, 40)
    # DIN's sum pooling keeps the interest intensity (how many related behaviours);
    # "softmax" normalises it away (see layers/attention.py).
    attention_normalize: str = "none"
    mlp_units: tuple = (200, 80)
    dropout: float = 0.2
    l2: float = 1e-5
    learning_rate: float = 1e-3
    batch_size: int = 256
    epochs: int = 6  # upper bound: training stops early on validation AUC


class BaseModel(RecModel):
    config_class = BaseModelConfig
    loss_names = ("bce",)
    early_stopping_monitor = "val_auc"

    def __init__(self, config: BaseModelConfig | None = None, vocab=None, name=None):
        config = config or BaseModelConfig()
        super().__init__(config, vocab or {}, name=name or "base_model")
        reg = tf.keras.regularizers.l2(config.l2) if config.l2 else None
        self.user_embedding = tf.keras.layers.Embedding(
            self.vocab["user"].size, config.user_dim, embeddings_regularizer=reg, name="user_embedding")
        self.item_embedding = tf.keras.layers.Embedding(
            self.vocab["item"].size, config.item_dim, embeddings_regularizer=reg, name="item_embedding")
        self.category_embedding = tf.keras.layers.Embedding(
            self.vocab["category"].size, config.category_dim, embeddings_regularizer=reg,
            name="category_embedding")
        self.attention = TargetAttentionPooling(config.attention_units, normalize=config.attention_normalize,
                                                name="history_attention")
        self.mlp = dense_stack(config.mlp_units, dropout=config.dropout, l2=config.l2)
        self.logit_layer = tf.keras.layers.Dense(1, name="logit")
        self.task = click_task()

    @property
    def feature_spec(self):
        return specs.click_history(self.config.max_history, category_dtype="string")

    def _encode(self, idx, training=False):
        """Index features -> (logits [B], history attention weights [B, L])."""
        target = tf.concat([self.item_embedding(idx["item_id"]),
                            self.category_embedding(idx["category_id"])], -1)
        history = tf.concat([self.item_embedding(idx["hist_item_ids"]),
                             self.category_embedding(idx["hist_category_ids"])], -1)
        mask = tf.not_equal(idx["hist_item_ids"], 0)
        pooled, weights = self.attention(target, history, mask)
        x = tf.concat([self.user_embedding(idx["user_id"]), target, pooled, target * pooled], -1)
        for layer in self.mlp:
            x = layer(x, training=training)
        return tf.squeeze(self.logit_layer(x), -1), weights

    def attention_weights(self, features):
        """History attention weights [B, L] (0 on padding) for raw features, for plots."""
        return self._encode(self.map_ids(features))[1]

    def call_indexed(self, features, training=False):
        return tf.sigmoid(self._encode(features, training)[0])

    def loss_terms(self, features, training=False):
        logits = self._encode(self.map_ids(features), training)[0]
        # [B, 1] so the loss stays per example (Keras losses average the last axis).
        bce = self.task(labels=features["label"][:, None], predictions=logits[:, None], training=training)
        return {"bce": bce}


def planted_data(config: BaseModelConfig, quick: bool = False, seed: int = 0):
    from tfrec_pkg.data.synthetic import ctr_with_history

    size = dict(num_users=600, impressions_per_user=40) if quick else dict(num_users=3000, impressions_per_user=60)
    return ctr_with_history(max_history=config.max_history, seed=seed, **size)


registry.register("base_model", BaseModel, BaseModelConfig, planted_data, protocol="pointwise",
                  demo_seconds=10, claims_minutes=4.1,
                  description="MuSENet's BaseModel: embedding & MLP with DIN attention over the history",
                  claims="tfrec_pkg.claims.base_model_checks:checks")
