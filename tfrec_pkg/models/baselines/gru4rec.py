"""GRU4Rec (Hidasi et al., ICLR'16) as IPSRec's Table 2 runs it: the RecBole version, a
next-item baseline trained like IPSRec (full-softmax cross-entropy over the item table,
validation MRR@10 early stopping) on the same pipeline and protocol.

    e_t = Dropout(E_item[i_t])          (embedding dropout, RecBole ``dropout_prob`` 0.3)
    h_t = GRU(e_t, h_{t-1})             (hidden_dim 128, one layer)
    u   = W h_n                         (dense back to the embedding size)
    score(i) = u . E_item[i]

Histories are left-aligned, so u is read at the last real step n and padded steps after it
never reach u (no masking needed, which keeps the fused GRU kernel).
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrec_pkg import specs
from tfrec_pkg.features import FeatureSpec
from tfrec_pkg.layers.dropout import Dropout
from tfrec_pkg.models import registry
from tfrec_pkg.models.next_item import PLANTED, NextItemConfig, NextItemModel, planted_data

__all__ = ["GRU4Rec", "GRU4RecConfig"]


@dataclasses.dataclass
class GRU4RecConfig(NextItemConfig):
    hidden_dim: int = 128
    dropout: float = 0.3


class GRU4Rec(NextItemModel):
    config_class = GRU4RecConfig

    def __init__(self, config: GRU4RecConfig | None = None, vocab=None, name=None):
        config = config or GRU4RecConfig()
        super().__init__(config, vocab or {}, name=name or "gru4rec")
        self.item_embedding = tf.keras.layers.Embedding(
            self.vocab["item"].size, config.item_dim, name="item_embedding",
            embeddings_initializer=tf.keras.initializers.GlorotUniform())
        self.embedding_dropout = Dropout(config.dropout)
        self.gru = tf.keras.layers.GRU(config.hidden_dim, return_sequences=True, name="gru")
        self.output_dense = tf.keras.layers.Dense(config.item_dim, name="to_embedding")

    @property
    def feature_spec(self) -> list[FeatureSpec]:
        return [s for s in specs.next_item(self.config.max_history) if s.name in ("hist_item_ids", "item_id")]

    def sequence_outputs(self, features, training=False):
        x = self.embedding_dropout(self.item_embedding(features["hist_item_ids"]), training=training)
        return self.output_dense(self.gru(x, training=training)), None

    def loss_terms(self, features, training=False):
        u, _, target = self.training_vectors(self.map_ids(features), training)
        return {"ce": self.item_loss(u, target, training)}


registry.register("gru4rec", GRU4Rec, GRU4RecConfig, planted_data, protocol="full_ranking",
                  description="GRU4Rec (RecBole form): IPSRec's recurrent baseline", planted=PLANTED, in_demo=False)
