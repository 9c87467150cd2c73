"""NextItemModel: the shared half of next-item models (IPSRec, SASRec, GRU4Rec).

A subclass encodes the history causally into one vector per step (``sequence_outputs``: the
output at step t has seen the inputs at steps <= t only); the user vector u [B, H] is the
output at the last real step (``user_vectors``). Everything else is shared: the score of item
i is u . E_item[i] over the item table, the training loss, validation MRR@10 for early
stopping (and NDCG@10 beside it, logged per epoch), whole-catalogue scoring
(``score_catalogue``), top-k serving and ``recommend``.

Training forms (``NextItemConfig.training_positions``; the rows come from the data side,
``Interactions.splits(training_positions=...)``, and the model trains on either):

* ``"last"`` (RecBole's form, the default): one row per prefix, the loss at its last step
  (target ``item_id``). A user with n events costs n - 1 encoder passes.
* ``"all"`` (SASRec's own form): one row per user sequence with the next item at every step
  (``target_item_ids``, :func:`tfrec_pkg.specs.next_item_all_positions`); the loss is taken at
  every real step, so one pass trains n - 1 targets. Because the encoders are causal, step t's
  output is the same vector the prefix form would compute for the prefix ending at t
  (tests/models/test_training_positions.py checks it). In training, a batch's summed step losses
  are divided by its sequences times the mean real steps per sequence trained on so far
  (``trained_rows``), not by the batch's own step count: with length buckets a batch holds
  sequences of one length range, and its own count would weigh a step of a short sequence up
  to 5x (50 / 10) a step of a long one. So every step weighs the same, as in batches of mixed
  lengths (RESULTS.md: on Amazon Toys the batch's own count cost SASRec with buckets 0.0025
  validation MRR@10 in two seeds). The displayed ``loss`` is this weighted one; the ``ce`` beside
  it stays each batch's mean.

Item loss (``NextItemConfig.item_loss``):

* ``"full_softmax"`` (default; the papers' and RecBole's CE loss): softmax cross-entropy of
  u . E_item^T against the target over the whole item table. Cost O(B V H) per step and a
  dense [V, H] gradient: the right choice up to ~100k items.
* ``"sampled_softmax"``: in-batch negatives through ``tfrs.tasks.Retrieval`` with the log-Q
  correction of Yi et al. (RecSys'19): each candidate's logit is reduced by log p(i), the
  probability that i appears as a batch target, and accidental hits (the same item as
  another row's target) are removed. p(i) is counted from the training stream itself (a
  non-trainable counter of target occurrences, add-one smoothed), so it needs no extra pass
  over the data, follows the data as it streams, and is saved with the checkpoints. Cost
  O(B^2 H) per step and a sparse gradient: for catalogues of ~1M items (IPSRec's Tmall).

Validation MRR@10 and NDCG@10 rank the target among all items in row blocks of
``_RANK_BLOCK`` rows, so memory stays O(_RANK_BLOCK x V) whatever the batch size (a [1024, 1M]
score matrix is 4 GB).

Items outside the vocabulary (one rule, in Python and in the export): the model has no trained
row for an item first seen after its vocabulary was fitted (index 1, OOV), so such an item is
never recommended and never ranked: ``all_item_scores``, ``score_catalogue``, ``top_k``,
``recommend`` and ``score_candidates`` all give it -inf. The evaluation protocols count an
unknown test target as a miss.

Targets outside the vocabulary (OOV: vocabularies are fitted on the training split, so a
validation or test item never seen in training maps to index 1) have no trained row: they
count as misses in MRR@10 and get loss 0 in both item losses, so ``val_loss`` stays finite.
The padding and OOV rows stay -inf in the scores, so they are never recommended.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec_pkg import specs
from tfrec_pkg.config import Config
from tfrec_pkg.evaluation.metrics import MRRAtK, NDCGAtK
from tfrec_pkg.evaluation.ranking import pessimistic_rank
from tfrec_pkg.features import NUM_RESERVED, PAD_INDEX, FeatureSpec, signature
from tfrec_pkg.layers.sequence import last_step
from tfrec_pkg.models.endpoint import Endpoint
from tfrec_pkg.models.recmodel import RecModel, global_rows

ITEM_LOSSES = ("full_softmax", "sampled_softmax")
# Planted sequences are 30 events long: the paper's max length for short-sequence data (20).
# The planted sets have ~30k training rows, 100x fewer than the paper's: with its lr 1e-3 and
# dropout 0.5 SASRec still gains after 15 epochs (HR@10 0.36 vs 0.51 Bayes-optimal at 2000
# users), so planted runs use lr 3e-3, dropout 0.2 and at most 15 epochs.
# Patience 1 keeps the planted runs as they were recorded; real sequences use the config's 10.
# Planted histories are nearly all 20 long: no length buckets, batches as recorded.
PLANTED = {"max_history": 20, "learning_rate": 3e-3, "dropout": 0.2, "epochs": 15, "patience": 1,
           "length_buckets": ()}
TRAINING_POSITIONS = ("last", "all")
_RANK_BLOCK = 128  # rows per block when ranking validation targets over the item table


@dataclasses.dataclass
class NextItemConfig(Config):
    max_history: int = 50
    item_dim: int = 64               # item embeddings and the user vector u (SASRec's d)
    item_loss: str = "full_softmax"  # | "sampled_softmax" (in-batch, log-Q corrected)
    top_k_max: int = 100             # largest k a serving request may ask for
    learning_rate: float = 1e-3
    batch_size: int = 256
    epochs: int = 200                # upper bound; early stopping on validation MRR@10
    patience: int = 10               # epochs without a better validation MRR@10 (RecBole's stopping_step)
    # batches of similar history length: histories of <= 10, <= 20 and <= max_history items are
    # padded to 10, 20 and max_history steps (pipelines.bucketed); () pads every row to max_history
    length_buckets: tuple = (10, 20)
    training_positions: str = "last"  # | "all": SASRec's one row per sequence, loss at every step

    def __post_init__(self):
        if self.item_loss not in ITEM_LOSSES:
            raise ValueError(f"item_loss must be one of {ITEM_LOSSES}, got {self.item_loss!r}")
        if self.training_positions not in TRAINING_POSITIONS:
            raise ValueError(f"training_positions must be one of {TRAINING_POSITIONS}, "
                             f"got {self.training_positions!r}")
        if any(int(w) != w or w < 1 for w in self.length_buckets):
            raise ValueError(f"length_buckets must be positive integers, got {self.length_buckets!r}")
        if self.max_history < 1 or self.top_k_max < 1:
            raise ValueError(f"max_history and top_k_max must be positive, got {self.max_history}, {self.top_k_max}")


class NextItemModel(RecModel):
    """Subclasses set ``item_embedding`` (an Embedding over the "item" vocabulary) in
    ``__init__`` after calling ``super().__init__`` and implement ``sequence_outputs``."""

    config_class = NextItemConfig
    loss_names = ("ce",)
    supports_mixed_bfloat16 = True   # tests/models/test_mixed_precision.py
    early_stopping_monitor = "val_mrr_at_10"  # the reference's model selection

    def __init__(self, config, vocab, name=None):
        super().__init__(config, vocab, name=name)
        self.mrr = MRRAtK(10)
        self.ndcg = NDCGAtK(10)  # SASRec's and RecBole's reported metric
        # (sequences, real steps) of the all-position rows trained on so far, for the loss's
        # denominator (module docstring). Written in the training step, outside the gradient,
        # summed over replicas as target_counts is (below), so every replica divides by the
        # global batch's numbers. In float32, past 2^24 an addition rounds by ~1e-7 of the total.
        self.trained_rows = (tf.Variable(tf.zeros([2], tf.float32), trainable=False, name="trained_rows",
                                         synchronization=tf.VariableSynchronization.ON_WRITE,
                                         aggregation=tf.VariableAggregation.SUM)
                             if config.training_positions == "all" else None)
        if config.item_loss == "sampled_softmax":
            self.retrieval = tfrs.tasks.Retrieval(
                loss=tf.keras.losses.CategoricalCrossentropy(
                    from_logits=True, reduction=tf.keras.losses.Reduction.NONE),
                remove_accidental_hits=True)
            # How often each item has been a training target: the sampling probabilities of the
            # logQ correction (item_loss). Written in the training step, outside the gradient:
            # * MultiWorkerMirroredStrategy (and MirroredStrategy): every replica holds a copy and
            #   counts only its own rows; SUM aggregation all-reduces each step's update (the
            #   replicas' IndexedSlices gathered), so after a step every copy holds the counts of
            #   ALL the global batch's targets, as one process would. Without it (aggregation
            #   NONE) the copies silently keep their own halves' counts.
            # * ParameterServerStrategy: one copy on a ps (one replica per worker, so the
            #   aggregation does nothing); each worker's step scatter-adds its own batch's
            #   targets into it directly (an atomic add: no worker's count is lost).
            self.target_counts = tf.Variable(tf.zeros([self.vocab["item"].size], tf.float32),
                                             trainable=False, name="target_counts",
                                             synchronization=tf.VariableSynchronization.ON_WRITE,
                                             aggregation=tf.VariableAggregation.SUM)

    def train_step(self, inputs):
        logs = super().train_step(inputs)
        for name in (self.mrr.name, self.ndcg.name):  # validation only: a training "mrr_at_10: 0" means nothing
            logs.pop(name)
        return logs

    # --- what a subclass provides --------------------------------------------------------
    def sequence_outputs(self, features, training=False):
        """(h [B, L, H], g [B, L, H] or None) on index features: the encoder's output at every
        step, causal (step t sees the inputs at steps <= t only); ``g`` is model-specific
        (IPSRec: the provider-side outputs) or None."""
        raise NotImplementedError(f"{type(self).__name__} must define sequence_outputs")

    @property
    def history_spec(self) -> list[FeatureSpec]:
        return [s for s in self.feature_spec if s.name.startswith("hist_")]

    @property
    def training_only_spec(self) -> list[FeatureSpec]:
        """The next item at every step, read by the all-position training form only."""
        return [s for s in specs.next_item_all_positions(self.config.max_history)
                if s.name.startswith("target_") and s.vocabulary in self.lookups]

    def training_spec(self, columns) -> list[FeatureSpec]:
        if "target_item_ids" in columns:  # the all-position form: next items replace the scalar target
            return [*self.history_spec, *self.training_only_spec]
        return list(self.feature_spec)

    # --- vectors -------------------------------------------------------------------------
    def user_vectors(self, features, training=False):
        """(u [B, H], v [B, H] or None): the outputs at each row's last real step."""
        h, g = self.sequence_outputs(features, training)
        items = features["hist_item_ids"]
        return last_step(h, items), (None if g is None else last_step(g, items))

    def training_vectors(self, features, training=False):
        """(u [N, H], v [N, H] or None, target [N]) on index features: one row per prefix row
        (target ``item_id``), or, for rows of the all-position form, one per real step of every
        row (target ``target_item_ids``), flattened."""
        if "target_item_ids" not in features:
            u, v = self.user_vectors(features, training)
            return u, v, features["item_id"]
        h, g = self.sequence_outputs(features, training)
        steps = tf.not_equal(features["target_item_ids"], PAD_INDEX)
        if training and self.trained_rows is not None:
            self.trained_rows.assign_add(tf.stack([tf.cast(tf.shape(steps)[0], tf.float32),
                                                   tf.reduce_sum(tf.cast(steps, tf.float32))]))
        flat = lambda x: None if x is None else tf.boolean_mask(x, steps)
        return flat(h), flat(g), flat(features["target_item_ids"])

    def loss_denominator(self, features, value, training=False):
        """All-position rows in training (``trained_rows``): the global batch's sequences times
        the mean real steps per sequence trained on so far, this batch included (the module
        docstring says why). Otherwise, and for a model configured with
        ``training_positions="last"``, the batch's rows."""
        if not training or self.trained_rows is None or "target_item_ids" not in features:
            return super().loss_denominator(features, value, training)
        sequences, steps = tf.unstack(self.trained_rows)  # read after this step's update (training_vectors)
        return global_rows(features["hist_item_ids"]) * steps / tf.maximum(sequences, 1.0)

    # --- scoring and losses --------------------------------------------------------------
    def all_item_scores(self, u):
        """u . E_item^T over the whole item table [B, V] (padding and OOV rows -inf)."""
        scores = tf.matmul(u, self.item_embedding.embeddings, transpose_b=True)
        reserved = tf.concat([tf.fill([NUM_RESERVED], float("-inf")),
                              tf.zeros([tf.shape(scores)[1] - NUM_RESERVED])], 0)
        return scores + reserved[None]

    def call_indexed(self, features, training=False):
        """Score of the target item (``item_id``) for each row: u . e_target."""
        u, _ = self.user_vectors(features, training)
        return tf.reduce_sum(u * self.item_embedding(features["item_id"]), -1)

    def item_loss(self, u, target, training):
        """Per-row loss [B] of predicting ``target`` (item indices) from u; 0 for OOV targets."""
        if not training:
            rank = self.target_ranks(u, target)
            self.mrr.update_ranks(rank)
            self.ndcg.update_ranks(rank)
        # An OOV target (first seen after the vocabulary was fitted) has no row to learn: the
        # softmax puts -inf on it (CE = +inf), and its shared OOV row says nothing about the
        # item. Such rows get loss 0; they still count in the batch mean's denominator.
        known = target >= NUM_RESERVED
        if self.config.item_loss == "full_softmax":
            safe = tf.where(known, target, NUM_RESERVED)  # any finite column: the value is dropped
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(safe, self.all_item_scores(u))
            return tf.where(known, ce, 0.0)
        if training:  # count this batch's targets before using them: p(i) > 0 for every candidate
            self.target_counts.scatter_add(tf.IndexedSlices(tf.ones_like(target, tf.float32), target))
        counts = tf.gather(self.target_counts, target) + 1.0
        total = tf.reduce_sum(self.target_counts) + tf.cast(tf.shape(self.target_counts)[0], tf.float32)
        loss = self.retrieval(u, self.item_embedding(target), candidate_sampling_probability=counts / total,
                              candidate_ids=target, compute_metrics=False, compute_batch_metrics=False)
        return tf.where(known, loss, 0.0)  # the OOV row may stay an in-batch negative: it is never scored

    def target_ranks(self, u, target):
        """Pessimistic rank [B] (1 = best; ties count against the target) of each row's target
        among all items (``evaluation.ranking.pessimistic_rank``), computed in blocks of rows
        to bound memory. A padding or OOV target gets int32 max, a miss at any k: ranking it by
        the untrained OOV row's score could count as a hit."""
        table = self.item_embedding.embeddings
        valid = tf.range(tf.shape(table)[0]) >= NUM_RESERVED
        n = tf.shape(u)[0]
        pad = (-n) % _RANK_BLOCK  # pad the rows to whole blocks, then one block per map_fn step
        blocks = tf.reshape(tf.pad(u, [[0, pad], [0, 0]]), [-1, _RANK_BLOCK, tf.shape(u)[1]])
        t_blocks = tf.reshape(tf.pad(target, [[0, pad]]), [-1, _RANK_BLOCK])

        def block_ranks(args):
            rows, t = args
            scores = tf.matmul(rows, table, transpose_b=True)
            t_score = tf.gather(scores, t, batch_dims=1)  # from the same matmul: exact self-tie
            return pessimistic_rank(scores, t_score, valid[None])

        ranks = tf.map_fn(block_ranks, (blocks, t_blocks), fn_output_signature=tf.int32)
        ranks = tf.maximum(tf.reshape(ranks, [-1])[:n], 1)
        return tf.where(target >= NUM_RESERVED, ranks, tf.int32.max)

    # --- ranking and serving -------------------------------------------------------------
    def score_candidates(self, features, candidates):
        """Scores [B, C] of raw candidate ids (``candidates["item_id"]`` [B, C]) for the raw
        histories; an item the vocabulary does not know scores -inf (module docstring)."""
        u, _ = self.user_vectors(self.map_ids(features))
        cand = self.lookups["item"](candidates["item_id"])
        scores = tf.einsum("bh,bch->bc", u, self.item_embedding(cand))
        return tf.where(cand >= NUM_RESERVED, scores, float("-inf"))

    def score_catalogue(self, features):
        """(item_ids [V], scores [B, V]): every item the model knows (raw ids, in vocabulary
        order) scored for each of the B raw histories -- what a user's own evaluation needs.
        Unknown items are not in the catalogue: the model has no trained row for them."""
        u, _ = self.user_vectors(self.map_ids(features))
        scores = tf.matmul(u, self.item_embedding.embeddings[NUM_RESERVED:], transpose_b=True)
        return tf.constant(self.vocab["item"].ids, dtype=tf.int64), scores

    def top_k(self, features, k, exclude_seen):
        """Top-k raw item ids and scores per row; k [B] (>= 1; above top_k_max it is capped),
        exclude_seen [B] bool. Entries beyond a row's own k come back as padding id / -inf."""
        k = tf.convert_to_tensor(k)
        tf.debugging.assert_positive(k, message="k must be >= 1")
        # capped in the request's own integer type first: a cast of 2**31 to int32 would wrap
        k = tf.cast(tf.minimum(k, tf.cast(self.config.top_k_max, k.dtype)), tf.int32)
        indices, values = self.top_indices(self.map_ids(features), tf.reduce_max(k), exclude_seen)
        ids = tf.gather(tf.constant(self.vocab["item"].ids, dtype=tf.int64), tf.maximum(indices - NUM_RESERVED, 0))
        beyond = (tf.range(tf.shape(ids)[1])[None] >= k[:, None]) | tf.math.is_inf(values)
        pad = tf.constant(self.vocab["item"].padding, tf.int64)
        return tf.where(beyond, pad, ids), tf.where(beyond, float("-inf"), values)

    def top_indices(self, idx, k, exclude_seen):
        """Top-k item indices and scores on index features; k is capped at top_k_max and at
        the catalogue size, history items get -inf where ``exclude_seen`` [B] is set."""
        u, _ = self.user_vectors(idx)
        scores = self.all_item_scores(u)
        hist = idx["hist_item_ids"]  # scatter the history into a [B, V] mask: O(B L), not O(B L V)
        rows = tf.broadcast_to(tf.range(tf.shape(hist, out_type=tf.int64)[0])[:, None], tf.shape(hist))
        seen = tf.scatter_nd(tf.stack([tf.reshape(rows, [-1]), tf.reshape(hist, [-1])], 1),
                             tf.ones([tf.size(hist)], tf.int32), tf.shape(scores, out_type=tf.int64)) > 0
        scores = tf.where(seen & exclude_seen[:, None], float("-inf"), scores)
        k = tf.minimum(k, tf.minimum(self.config.top_k_max, tf.shape(scores)[1] - NUM_RESERVED))
        top = tf.math.top_k(scores, k=k)
        return top.indices, top.values

    def serving_endpoints(self):
        """serving_default: top-k raw item ids per row for the histories, with k and
        exclude_seen per row; score_candidates: given raw candidates; serving_indices (ONNX):
        no hash tables, a fixed k = top_k_max, history excluded."""
        history = signature(self.history_spec)
        k = tf.TensorSpec([None], tf.int64, name="k")
        exclude = tf.TensorSpec([None], tf.bool, name="exclude_seen")
        cand = tf.TensorSpec([None, None], tf.int64, name="candidate_item_ids")
        index_history = signature([s for s in self.index_spec if s.name.startswith("hist_")])

        def serving_default(features, k, exclude_seen):
            ids, scores = self.top_k(features, k, exclude_seen)
            return {"item_ids": ids, "scores": scores}

        def serving_indices(features):
            n = tf.shape(features["hist_item_ids"])[0]
            indices, scores = self.top_indices(features, self.config.top_k_max, tf.fill([n], True))
            return {"item_indices": indices, "scores": scores}

        return {"serving_default": Endpoint(serving_default, [history, k, exclude], {"k": 10, "exclude_seen": True}),
                "score_candidates": Endpoint(
                    lambda features, ids: {"scores": self.score_candidates(features, {"item_id": ids})},
                    [history, cand]),
                "serving_indices": Endpoint(serving_indices, [index_history])}

    def recommend(self, histories: pd.DataFrame, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-k per user as a DataFrame (user, rank, item, score). ``histories``: a DataFrame
        with the history columns (lists of raw ids) and optionally user_id."""
        from tfrec_pkg.data.pipelines import frame_to_arrays

        if not 1 <= k <= self.config.top_k_max:
            raise ValueError(f"k must be in [1, top_k_max={self.config.top_k_max}], got {k}")
        arrays = frame_to_arrays(histories, self.history_spec, label=None)
        n = len(histories)
        ids, scores = self.top_k({k_: tf.constant(v) for k_, v in arrays.items()},
                                 tf.fill([n], tf.constant(k, tf.int64)), tf.fill([n], exclude_seen))
        ids, scores = ids.numpy(), scores.numpy()
        users = histories["user_id"].to_numpy() if "user_id" in histories else np.arange(n)
        return pd.DataFrame({"user": np.repeat(users, ids.shape[1]), "rank": np.tile(np.arange(1, ids.shape[1] + 1), n),
                             "item": ids.ravel(), "score": scores.ravel()})


def planted_data(config: NextItemConfig, quick: bool = False, seed: int = 0):
    """Provider-structured sequences (``data.synthetic.providers``), shared by the next-item models."""
    from tfrec_pkg.data.synthetic import providers

    return providers(num_users=500 if quick else 1000, num_items=1500 if quick else 3000, seq_len=30,
                     max_history=config.max_history, seed=seed)
