"""SUM — Sequential User Matrix (Lian et al., multi-interest user modelling), Fig. 2:
a *User Encoder* that is updated one event at a time, and a *User-Item Ranker*.

    x_t = P [E_item[i_t] || E_cat[c_t]]      behaviour: item id (64) + category (16) embeddings,
    v   = P [E_item[i]   || E_cat[c]]        projected to the state size D by P when 64+16 != D
    H_T = fold of SUMCell over x_1..x_T      (layers/sum_cell.py, Eqs. 1-8)
    u_T = SUMReader(H_T, v)                  (Eqs. 10-12)
    y   = sigmoid(FCN^2([u_T, v]))           2-layer ReLU FCN ranker (Sec. 4.5)
    L   = BCE + lambda * ||Theta||^2         Eq. (13); lambda = 0 is the paper's suggestion

Reading of the paper: behaviours and candidates share the item/category embeddings and the
projection (the Taobao setting, where both are items). The trainable scalars alpha and beta
carry no L2 (public code); lambda applies to the embeddings, the projection and the
ranker (the encoder cell is not regularised; lambda = 0 by default, as the paper suggests).

The baselines sharing the ranker are configs of the same model (``user_encoder``):
"gru" (GRU), "rum" (RUM writing + Eq. 9 reading), "attmerge" (AttMerge, non-sequential).
Table 3's ablations are SUM configs (``instance_attention``, ``debuff``, ``highway``,
``reading="rum"``, ``writing="ntm"``).

Incremental serving (Sec. 2, the NRT design): every sequential encoder keeps the state
``memory [B, K, D]`` + ``last_input [B, D]``; ``update_state`` applies one event,
``score_state`` scores candidates from a stored state. Folding ``update_state`` over a
history gives the state ``serving_default`` computes from the whole history.

Distributed training: SUM's training step writes no state outside the gradient -- no counters,
no memory variables. The user matrix ``memory`` and ``last_input`` are tensors computed from
each row's own history in the forward pass (serving keeps them in the caller's store, not in
the model), and every variable of SUM and of its baseline encoders is a trainable weight, so
the gradient all-reduce (MultiWorkerMirroredStrategy) or the parameter servers' single copy
(ParameterServerStrategy) is all it needs.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrec_pkg import specs
from tfrec_pkg.config import Config
from tfrec_pkg.features import FeatureSpec
from tfrec_pkg.layers.mlp import dense_stack
from tfrec_pkg.layers.sum_cell import SUMCell, SUMReader
from tfrec_pkg.layers.user_encoders import AttentiveMerge, FirstChannelReader, GRUUserCell
from tfrec_pkg.models import registry
from tfrec_pkg.models.endpoint import Endpoint
from tfrec_pkg.models.recmodel import RecModel, click_task

__all__ = ["SUM", "SUMConfig"]

ENCODERS = ("sum", "gru", "rum", "attmerge")


@dataclasses.dataclass
class SUMConfig(Config):
    user_encoder: str = "sum"
    item_dim: int = 64          # Appendix A.2 (Taobao)
    category_dim: int = 16      # Appendix A.2 (Taobao)
    hidden_dim: int = 64        # Appendix A.2 (Taobao)
    num_channels: int = 5       # incl. the highway channel
    max_history: int = 50       # the paper truncates to 100; 50 keeps CPU training quick
    highway: bool = True
    debuff: bool = True
    instance_attention: bool = True
    reading: str = "sum"        # "sum" (Eq. 12) | "rum" (Eq. 9, Table 3 "reading (-)")
    writing: str = "sum"        # "sum" (Eq. 6) | "ntm"
    debuff_highway: bool = False
    ranker_units: tuple = (128, 64)
    l2: float = 0.0             # lambda of Eq. (13)
    # "bce": the paper's point-wise loss, Eq. (13). "softmax": the public code's loss, a softmax
    # over each positive and its ``negatives`` sampled negatives (consecutive rows of a group).
    loss: str = "bce"
    negatives: int = 4
    learning_rate: float = 5e-4  # Appendix A.2
    batch_size: int = 256       # Appendix A.2
    epochs: int = 10            # upper bound; early stopping on validation AUC

    def __post_init__(self):
        if self.user_encoder not in ENCODERS:
            raise ValueError(f"user_encoder must be one of {ENCODERS}, got {self.user_encoder!r}")
        if self.loss not in ("bce", "softmax"):
            raise ValueError(f"loss must be 'bce' (Eq. 13) or 'softmax', got {self.loss!r}")


class SUM(RecModel):
    config_class = SUMConfig
    early_stopping_monitor = "val_auc"

    @property
    def loss_names(self):
        return (self.config.loss,)

    @property
    def example_group_size(self) -> int:
        """Rows the training pipeline keeps together: 1 + negatives for the softmax loss."""
        return 1 + self.config.negatives if self.config.loss == "softmax" else 1

    def __init__(self, config: SUMConfig | None = None, vocab=None, name=None):
        config = config or SUMConfig()
        super().__init__(config, vocab or {}, name=name or ("sum" if config.user_encoder == "sum"
                                                            else f"sum_{config.user_encoder}"))
        reg = tf.keras.regularizers.l2(config.l2) if config.l2 else None
        self.item_embedding = tf.keras.layers.Embedding(
            self.vocab["item"].size, config.item_dim, embeddings_regularizer=reg, name="item_embedding")
        self.category_embedding = tf.keras.layers.Embedding(
            self.vocab["category"].size, config.category_dim, embeddings_regularizer=reg,
            name="category_embedding")
        self.projection = (tf.keras.layers.Dense(config.hidden_dim, use_bias=False, kernel_regularizer=reg,
                                                 name="projection")
                           if config.item_dim + config.category_dim != config.hidden_dim else None)
        d = config.hidden_dim
        if config.user_encoder == "sum":
            self.cell = SUMCell(d, config.num_channels, highway=config.highway, debuff=config.debuff,
                                instance_attention=config.instance_attention, writing=config.writing,
                                debuff_highway=config.debuff_highway, name="sum_cell")
            self.reader = SUMReader(d, config.num_channels, reading=config.reading, name="reader")
        elif config.user_encoder == "rum":
            self.cell = SUMCell(d, config.num_channels, highway=False, debuff=False,
                                instance_attention=False, writing="ntm", name="rum_cell")
            self.reader = SUMReader(d, config.num_channels, reading="rum", name="reader")
        elif config.user_encoder == "gru":
            self.cell = GRUUserCell(d, name="gru_cell")
            self.reader = FirstChannelReader(name="reader")
        else:
            self.cell = None
            self.merge = AttentiveMerge(d, name="attentive_merge")
        if self.cell is not None:
            self.rnn = tf.keras.layers.RNN(self.cell, return_sequences=True, return_state=True, name="encoder")
        self.ranker = dense_stack(config.ranker_units, l2=config.l2, name="ranker")
        self.logit_layer = tf.keras.layers.Dense(1, name="logit")
        self.task = click_task()

    @property
    def feature_spec(self) -> list[FeatureSpec]:
        return specs.click_history(self.config.max_history)

    @property
    def incremental(self) -> bool:
        return self.cell is not None

    # --- building blocks (index features) ----------------------------------------------
    def item_vector(self, item_idx, category_idx):
        x = tf.concat([self.item_embedding(item_idx), self.category_embedding(category_idx)], -1)
        return self.projection(x) if self.projection is not None else x

    def encode(self, features):
        """History -> (final state [memory, last_input], per-step write weights [B, L, K])."""
        x = self.item_vector(features["hist_item_ids"], features["hist_category_ids"])
        mask = tf.not_equal(features["hist_item_ids"], 0)
        # the event-only work of every step computed before the recurrence (same result); SUM's
        # cell keeps its state on padded steps by itself, the GRU's needs the RNN's mask
        inputs = self.cell.sequence_inputs(x, mask)
        z, memory, last = self.rnn(inputs, mask=None if self.cell.writes_nothing_on_padding else mask)
        return [memory, last], z

    def rank(self, u, v, training=False):
        h = tf.concat([u, v], -1)
        for layer in self.ranker:
            h = layer(h, training=training)
        return tf.squeeze(self.logit_layer(h), -1)

    def grouped_memory(self, features, group_size: int):
        """Memory [B, K, D] of every row, for rows in groups of ``group_size`` consecutive rows
        (a positive and its negatives, as the grouped training pipeline batches them).

        When every row of each group has its group's first history (the planted data and
        ``pipelines.from_frame(group_size=...)`` build groups so: one user's 1 + negatives rows),
        the encoder runs once per group and each candidate is read from that one state; the
        result equals encoding every row. A batch where some group's histories differ (checked
        here on the index ids the encoder sees, a cheap compare) is encoded row by row.

        Compiled steps (``jit_compile``) always encode once per group: XLA cannot compile the
        row-by-row branch (a cond around the encoder's loop), so ``fit`` and ``evaluate`` check
        the groups in the input pipeline instead (:meth:`compiled_loss_batch_check`)."""
        hist = [features["hist_item_ids"], features["hist_category_ids"]]

        def once():
            state, _ = self.encode({"hist_item_ids": hist[0][::group_size],
                                    "hist_category_ids": hist[1][::group_size]})
            return tf.repeat(state[0], group_size, axis=0)

        if self.config.jit_compile:
            return once()
        return tf.cond(_groups_share_history(hist, group_size), once, lambda: self.encode(features)[0][0])

    def compiled_loss_batch_check(self, features):
        """The compiled steps' grouped loss (:meth:`grouped_memory`) needs every group of
        ``example_group_size`` consecutive rows to share one history: raise if one does not."""
        g = self.example_group_size
        if g == 1:
            return features
        shared = _groups_share_history([features["hist_item_ids"], features["hist_category_ids"]], g)
        check = tf.debugging.Assert(shared, [
            f"SUM with loss='softmax' and jit_compile reads batches of groups of {g} consecutive rows "
            f"(a positive and its {g - 1} negatives) that share one history, as dataset(group_size={g}) "
            "builds them; a group's histories differ"])
        with tf.control_dependencies([check]):
            return {k: tf.identity(v) for k, v in features.items()}

    def logits(self, features, training=False, group_size: int = 1):
        """Per-row logits. ``group_size`` > 1: the rows come in groups of that many consecutive
        rows (the softmax loss's), so a sequential encoder may encode each group's history once
        (:meth:`grouped_memory`); the logits are the same."""
        v = self.item_vector(features["item_id"], features["category_id"])
        if self.cell is None:
            history = self.item_vector(features["hist_item_ids"], features["hist_category_ids"])
            u, _ = self.merge(history, tf.not_equal(features["hist_item_ids"], 0), v)
        elif group_size > 1:
            u, _ = self.reader(self.grouped_memory(features, group_size), v)
        else:
            state, _ = self.encode(features)
            u, _ = self.reader(state[0], v)
        return self.rank(u, v, training)

    def call_indexed(self, features, training=False):
        return tf.sigmoid(self.logits(features, training))

    def loss_terms(self, features, training=False):
        # the softmax loss's rows come in groups sharing one history: encode it once per group
        logits = self.logits(self.map_ids(features), training, group_size=self.example_group_size)
        bce = self.task(labels=features["label"][:, None], predictions=logits[:, None], training=training)
        if self.config.loss == "bce":
            return {"bce": bce}
        g = self.example_group_size  # softmax over each positive and its negatives
        labels = tf.reshape(features["label"], [-1, g])
        return {"softmax": tf.nn.softmax_cross_entropy_with_logits(
            labels / tf.reduce_sum(labels, -1, keepdims=True), tf.reshape(logits, [-1, g]))}

    # --- incremental serving -----------------------------------------------------------
    def _ensure_built(self):
        if not self.built:
            self(self.example_batch())

    def initial_state(self, batch_size):
        return self.cell.get_initial_state(batch_size=batch_size, dtype=tf.float32)

    def update_state(self, state, item_id, category_id):
        """One event per row (raw ids; padding id = no event, state kept) -> new state."""
        self._ensure_built()
        item = self.lookups["item"](item_id)
        x = self.item_vector(item, self.lookups["category"](category_id))
        return self.cell.step(x, list(state), mask=tf.not_equal(item, 0))

    def score_state(self, state, item_ids, category_ids):
        """Scores [B, C] of raw candidates [B, C] from stored states."""
        self._ensure_built()
        memory = state[0]
        b, c = tf.shape(item_ids)[0], tf.shape(item_ids)[1]
        v = self.item_vector(self.lookups["item"](tf.reshape(item_ids, [-1])),
                             self.lookups["category"](tf.reshape(category_ids, [-1])))
        memory = tf.repeat(memory, c, axis=0)
        u, _ = self.reader(memory, v)
        return tf.reshape(tf.sigmoid(self.rank(u, v)), [b, c])

    def read_weights(self, features):
        """Reading attention z^r [B, K] for raw features (Fig. 5)."""
        idx = self.map_ids(features)
        state, _ = self.encode(idx)
        return self.reader(state[0], self.item_vector(idx["item_id"], idx["category_id"]))[1]

    def write_weights(self, features):
        """Per-event write attention [B, L, K] for raw features (Fig. 6); 0 rows on padding."""
        idx = self.map_ids(features)
        _, z = self.encode(idx)
        return z * tf.cast(tf.not_equal(idx["hist_item_ids"], 0), z.dtype)[:, :, None]

    def serving_endpoints(self):
        """Besides the scores: the incremental-serving triple initial_state / update_state /
        score_state (Sec. 2, the NRT design) for the sequential encoders."""
        endpoints = super().serving_endpoints()
        if not self.incremental:
            return endpoints
        k, d = self.cell.state_size[0].as_list()
        memory = tf.TensorSpec([None, k, d], tf.float32, name="memory")
        last = tf.TensorSpec([None, d], tf.float32, name="last_input")
        item = tf.TensorSpec([None], tf.int64, name="item_id")
        cat = tf.TensorSpec([None], tf.int64, name="category_id")
        items = tf.TensorSpec([None, None], tf.int64, name="item_ids")
        cats = tf.TensorSpec([None, None], tf.int64, name="category_ids")

        def update_state(memory, last_input, item_id, category_id):
            new = self.update_state([memory, last_input], item_id, category_id)
            return {"memory": new[0], "last_input": new[1]}

        def initial_state(user_id):
            state = self.initial_state(tf.shape(user_id)[0])
            return {"memory": state[0], "last_input": state[1]}

        endpoints.update(
            update_state=Endpoint(update_state, [memory, last, item, cat]),
            score_state=Endpoint(lambda memory, last_input, item_ids, category_ids: {
                "scores": self.score_state([memory, last_input], item_ids, category_ids)}, [memory, last, items, cats]),
            initial_state=Endpoint(initial_state, [tf.TensorSpec([None], tf.int64, name="user_id")]))
        return endpoints


def _groups_share_history(histories, group_size: int):
    """True when in every group of ``group_size`` consecutive rows each history tensor [B, L]
    equals the group's first row (raw or index ids)."""
    return tf.reduce_all([tf.reduce_all(tf.equal(
        tf.reshape(h, tf.concat([[-1, group_size], tf.shape(h)[1:]], 0)), h[::group_size][:, None]))
        for h in histories])


def planted_data(config: SUMConfig, quick: bool = False, seed: int = 0):
    from tfrec_pkg.data.synthetic import multi_interest

    return multi_interest(num_users=2500 if quick else 10_000, max_history=config.max_history, seed=seed)


# The planted data is ~60x smaller than the paper's Taobao set: with the paper's learning rate
# (5e-4) every model is still underfit after 10 epochs, so planted runs use 3e-3.
registry.register("sum", SUM, SUMConfig, planted_data, protocol="pointwise",
                  demo_seconds=23, claims_minutes=78.6,
                  description="SUM: multi-interest sequential user matrix with incremental serving",
                  planted={"learning_rate": 3e-3}, claims="tfrec_pkg.claims.sum_checks:checks",
                  bench="tfrec_pkg.bench.sum_state:update_state_bench")
