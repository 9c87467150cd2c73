"""The collaborative-filtering baselines of IPRec's Table 2 (MF, DeepMF, NeuMF): pointwise
click models that see only the user and the article ("for other methods, we regard the articles
as the recommended items", Sec. 5.1) -- not the package's media or friends.

A subclass defines ``logit(features, training)`` on index features; this base gives the
inputs (``user_id``, ``article_id`` of :func:`tfrec_pkg.specs.package_click`, so the models
train on IPRec's rows and splits as they are), the binary cross-entropy with an AUC metric
(the paper's metric), and L2 on every embedding and kernel (Keras ``l2``, lambda sum w^2).
The planted data is IPRec's (:func:`tfrec_pkg.models.iprec.planted_data`), and so is the raw
log's reader (``--format iprec_raw``).
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrec_pkg import specs
from tfrec_pkg.config import Config
from tfrec_pkg.models.iprec import read_raw_log
from tfrec_pkg.models.recmodel import RecModel, click_task

__all__ = ["UserArticleConfig"]

INPUTS = ("user_id", "article_id")
# ``tfrec train --format iprec_raw``: the paper's raw impression log, as IPRec reads it
RAW_FORMATS = {"iprec_raw": read_raw_log}


@dataclasses.dataclass
class UserArticleConfig(Config):
    article_dtype: str = "int64"  # "string" for the public WeChat release's article ids
    item_dim: int = 64            # d, as IPRec (Sec. 5.2: "the embedding size is fixed to 64")
    l2: float = 1e-5
    learning_rate: float = 1e-3
    batch_size: int = 512
    epochs: int = 20              # upper bound; early stopping on validation AUC

    def __post_init__(self):
        self.check_positive_ints("item_dim", "batch_size", "epochs")
        if self.article_dtype not in ("int64", "string"):
            raise ValueError(f"article_dtype must be 'int64' or 'string', got {self.article_dtype!r}")
        if not self.l2 >= 0.0:
            raise ValueError(f"l2 must be >= 0, got {self.l2!r}")
        if not self.learning_rate > 0.0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")


class UserArticleModel(RecModel):
    """Base of the user x article baselines (module docstring)."""

    config_class = UserArticleConfig
    loss_names = ("bce",)
    early_stopping_monitor = "val_auc"

    def __init__(self, config, vocab, name):
        super().__init__(config, vocab or {}, name=name)
        self.regularizer = tf.keras.regularizers.l2(config.l2) if config.l2 else None
        self.task = click_task()

    def embedding(self, vocabulary: str, dim: int, name: str) -> tf.keras.layers.Embedding:
        return tf.keras.layers.Embedding(self.vocab[vocabulary].size, dim, embeddings_regularizer=self.regularizer,
                                         name=name)

    def dense(self, units: int, activation=None, name: str | None = None, use_bias: bool = True):
        return tf.keras.layers.Dense(units, activation=activation, use_bias=use_bias,
                                     kernel_regularizer=self.regularizer, name=name)

    @property
    def feature_spec(self):
        return [s for s in specs.package_click(article_dtype=self.config.article_dtype) if s.name in INPUTS]

    def logit(self, features, training=False) -> tf.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define logit")

    def call_indexed(self, features, training=False):
        return tf.sigmoid(self.logit(features, training))

    def loss_terms(self, features, training=False):
        logits = self.logit(self.map_ids(features), training)
        # [B, 1] so the loss stays per example (Keras losses average the last axis)
        return {"bce": self.task(labels=features["label"][:, None], predictions=logits[:, None], training=training)}


def planted_data(config, quick: bool = False, seed: int = 0):
    """IPRec's planted package data at IPRec's planted sizes (the baselines read two of its
    columns), so every model of Table 2 trains on the same rows."""
    from tfrec_pkg.models.iprec import IPRecConfig, PLANTED_SIZES, planted_data as iprec_data

    return iprec_data(IPRecConfig(**PLANTED_SIZES), quick=quick, seed=seed)
