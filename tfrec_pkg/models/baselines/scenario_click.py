"""The single-scenario CTR baselines of MuSENet's Table 2 on MuSENet's own inputs
(:func:`tfrec_pkg.specs.scenario_click`: profile p_u, behaviours B_u, target b_t, context o_u),
so that every model of the table sees the same information:

* :class:`ScenarioBaseModel` -- the paper's BaseModel, "embedding & MLP": MLP([p_u, mean B_u,
  b_t, o_u]);
* :class:`ScenarioDIN` -- DIN (Zhou et al., KDD'18): B_u attention-pooled w.r.t. b_t;
* :class:`ScenarioWideDeep` -- Wide&Deep (Cheng et al., 2016): a linear model over the id
  features and the target x slot cross, plus the MLP;
* :class:`ScenarioDCNV2` -- DCN-V2 (Wang et al., WWW'21): ``num_cross`` full-rank cross layers
  (``tfrs.layers.dcn.Cross``: x_{l+1} = x_0 (*) (W x_l + b) + x_l) stacked before the MLP.

Each is trained with binary cross-entropy (AUC tracked) and reads no repeat label. (The
library's ``base_model`` reads the plain click-history rows of ``ctr_with_history``; these read
the scenario rows.) A subclass defines ``logit(fields, training)`` on the encoded fields.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec_pkg import specs
from tfrec_pkg.config import Config
from tfrec_pkg.features import PAD_INDEX
from tfrec_pkg.layers.attention import TargetAttentionPooling
from tfrec_pkg.layers.mlp import dense_stack
from tfrec_pkg.models import registry
from tfrec_pkg.models.musenet import planted_data, read_alimama_directory
from tfrec_pkg.models.recmodel import RecModel, click_task

__all__ = ["ScenarioClickConfig", "ScenarioBaseModel", "ScenarioDIN", "ScenarioWideDeep", "ScenarioDCNV2"]


@dataclasses.dataclass
class ScenarioClickConfig(Config):
    max_history: int = 20
    user_dim: int = 16
    item_dim: int = 16
    category_dim: int = 8
    profile_dim: int = 4
    context_numeric: tuple = specs.CONTEXT_NUMERIC
    mlp_units: tuple = (200, 80)
    attention_units: tuple = (80, 40)  # DIN
    num_cross: int = 3                 # DCN-V2
    learning_rate: float = 1e-3        # Adam, as MuSENet's Sec. 4.1 for every model
    batch_size: int = 256
    epochs: int = 10

    def __post_init__(self):
        self.check_positive_ints("max_history", "user_dim", "item_dim", "category_dim", "profile_dim", "num_cross",
                                 "batch_size", "epochs")
        self.check_units("mlp_units", "attention_units")


class ScenarioClickModel(RecModel):
    config_class = ScenarioClickConfig
    loss_names = ("bce",)
    early_stopping_monitor = "val_auc"

    def __init__(self, config, vocab, name):
        super().__init__(config, vocab or {}, name=name)
        c = config
        embed = lambda v, dim: tf.keras.layers.Embedding(self.vocab[v].size, dim, name=f"{v}_embedding")  # noqa: E731
        self.user_embedding = embed("user", c.user_dim)
        self.item_embedding = embed("item", c.item_dim)
        self.category_embedding = embed("category", c.category_dim)
        self.profile_embeddings = {n: embed(n, c.profile_dim) for n in specs.PROFILE_FIELDS}
        self.context_embeddings = {n: embed(n, c.profile_dim) for n in specs.CONTEXT_CATEGORICAL}
        self.mlp = dense_stack(c.mlp_units, name="mlp")
        self.logit_layer = tf.keras.layers.Dense(1, name="logit")
        self.task = click_task()

    @property
    def feature_spec(self):
        spec = specs.scenario_click(self.config.max_history, context_numeric=self.config.context_numeric)
        return [s for s in spec if s.name not in ("repeat_label", "predefined_scenario")]

    def fields(self, f) -> dict[str, tf.Tensor]:
        """Index features -> p_u, b_t, the behaviours [B, L, e] with their mask and their mean,
        o_u, and the index features themselves (``ids``)."""
        user = tf.concat([self.user_embedding(f["user_id"])]
                         + [self.profile_embeddings[n](f[f"profile_{n}"]) for n in specs.PROFILE_FIELDS], -1)
        target = tf.concat([self.item_embedding(f["item_id"]), self.category_embedding(f["category_id"])], -1)
        behaviours = tf.concat([self.item_embedding(f["hist_item_ids"]),
                                self.category_embedding(f["hist_category_ids"])], -1)
        mask = tf.not_equal(f["hist_item_ids"], PAD_INDEX)
        w = tf.cast(mask, behaviours.dtype)[..., None]
        context = tf.concat([self.context_embeddings[n](f[f"context_{n}"]) for n in specs.CONTEXT_CATEGORICAL]
                            + [tf.cast(f[f"context_{n}"], tf.float32)[:, None] for n in self.config.context_numeric], -1)
        return {"user": user, "target": target, "behaviours": behaviours, "mask": mask, "context": context,
                "behaviour_mean": tf.reduce_sum(behaviours * w, 1) / tf.maximum(tf.reduce_sum(w, 1), 1.0), "ids": f}

    def deep(self, x, training=False):
        for layer in self.mlp:
            x = layer(x, training=training)
        return tf.squeeze(self.logit_layer(x), -1)

    def logit(self, fields, training=False) -> tf.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define logit")

    def call_indexed(self, features, training=False):
        return tf.sigmoid(self.logit(self.fields(features), training))

    def loss_terms(self, features, training=False):
        logits = self.logit(self.fields(self.map_ids(features)), training)
        return {"bce": self.task(labels=features["label"][:, None], predictions=logits[:, None], training=training)}


class ScenarioBaseModel(ScenarioClickModel):
    """MuSENet's BaseModel: embedding & MLP on [p_u, mean B_u, b_t, o_u]."""

    def __init__(self, config: ScenarioClickConfig | None = None, vocab=None, name=None):
        super().__init__(config or ScenarioClickConfig(), vocab, name or "scenario_base_model")

    def logit(self, fields, training=False):
        return self.deep(tf.concat([fields["user"], fields["behaviour_mean"], fields["target"], fields["context"]], -1),
                         training)


class ScenarioDIN(ScenarioClickModel):
    """DIN: B_u pooled by the activation unit w.r.t. b_t (sum pooling, DIN's), then the MLP."""

    def __init__(self, config: ScenarioClickConfig | None = None, vocab=None, name=None):
        config = config or ScenarioClickConfig()
        super().__init__(config, vocab, name or "scenario_din")
        self.attention = TargetAttentionPooling(config.attention_units, normalize="none", name="din_attention")

    def logit(self, fields, training=False):
        pooled, _ = self.attention(fields["target"], fields["behaviours"], fields["mask"])
        return self.deep(tf.concat([fields["user"], pooled, fields["target"], fields["context"]], -1), training)


class ScenarioWideDeep(ScenarioClickModel):
    """Wide&Deep: logit = wide + deep. The wide part is a linear model over the id features
    (one weight per id: user, profile fields, item, category, slot) and one cross product
    (item x slot, hashed into ``cross_buckets`` weights); the deep part is BaseModel's MLP."""

    cross_buckets = 10_007

    def __init__(self, config: ScenarioClickConfig | None = None, vocab=None, name=None):
        super().__init__(config or ScenarioClickConfig(), vocab, name or "scenario_wide_deep")
        one = lambda v: tf.keras.layers.Embedding(self.vocab[v].size, 1, embeddings_initializer="zeros",  # noqa: E731
                                                  name=f"wide_{v}")
        self.wide_ids = {"user_id": one("user"), "item_id": one("item"), "category_id": one("category"),
                         **{f"profile_{n}": one(n) for n in specs.PROFILE_FIELDS},
                         **{f"context_{n}": one(n) for n in specs.CONTEXT_CATEGORICAL}}
        self.wide_cross = tf.keras.layers.Embedding(self.cross_buckets, 1, embeddings_initializer="zeros",
                                                    name="wide_item_x_slot")

    def wide(self, f):
        slot = f[f"context_{specs.CONTEXT_CATEGORICAL[0]}"]
        cross = (f["item_id"] * 1_000_003 + slot) % self.cross_buckets
        parts = [layer(f[name]) for name, layer in self.wide_ids.items()] + [self.wide_cross(cross)]
        return tf.squeeze(tf.add_n(parts), -1)

    def logit(self, fields, training=False):
        deep = self.deep(tf.concat([fields["user"], fields["behaviour_mean"], fields["target"], fields["context"]], -1),
                         training)
        return deep + self.wide(fields["ids"])


class ScenarioDCNV2(ScenarioClickModel):
    """DCN-V2 (stacked): x_0 = [p_u, mean B_u, b_t, o_u]; ``num_cross`` full-rank cross layers
    x_{l+1} = x_0 (*) (W_l x_l + b_l) + x_l (``tfrs.layers.dcn.Cross``), then the MLP."""

    def __init__(self, config: ScenarioClickConfig | None = None, vocab=None, name=None):
        config = config or ScenarioClickConfig()
        super().__init__(config, vocab, name or "scenario_dcn_v2")
        self.cross = [tfrs.layers.dcn.Cross(kernel_initializer="glorot_uniform", name=f"cross_{i}")
                      for i in range(config.num_cross)]

    def logit(self, fields, training=False):
        x0 = tf.concat([fields["user"], fields["behaviour_mean"], fields["target"], fields["context"]], -1)
        x = x0
        for layer in self.cross:
            x = layer(x0, x)
        return self.deep(x, training)


# one call per model, with literal names: tfrec_pkg/model_names.py reads them without importing TensorFlow
_DESCRIPTION = "{} on MuSENet's scenario rows (MuSENet's Table 2 baseline)"
registry.register("scenario_base_model", ScenarioBaseModel, ScenarioClickConfig, planted_data, protocol="pointwise",
                  in_demo=False, description=_DESCRIPTION.format("embedding & MLP"),
                  raw_formats={"alimama": read_alimama_directory})
registry.register("scenario_din", ScenarioDIN, ScenarioClickConfig, planted_data, protocol="pointwise",
                  in_demo=False, description=_DESCRIPTION.format("DIN"),
                  raw_formats={"alimama": read_alimama_directory})
registry.register("scenario_wide_deep", ScenarioWideDeep, ScenarioClickConfig, planted_data, protocol="pointwise",
                  in_demo=False, description=_DESCRIPTION.format("Wide&Deep"),
                  raw_formats={"alimama": read_alimama_directory})
registry.register("scenario_dcn_v2", ScenarioDCNV2, ScenarioClickConfig, planted_data, protocol="pointwise",
                  in_demo=False, description=_DESCRIPTION.format("DCN-V2"),
                  raw_formats={"alimama": read_alimama_directory})
