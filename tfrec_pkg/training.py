"""Training helper shared by ``tfrec train``, the claim checks, the demo and tools/export.py.

``train(model, train, val)`` adapts a model that learns state from its training data
(``model.adapt(train)``, e.g. DiffNet's social graph, as Keras' preprocessing layers are adapted
before ``fit``), compiles with the config's learning rate (``models.optimizers.make_optimizer``: Adam, or the
config's ``embedding_optimizer`` for the embedding tables beside it), fits with Keras progress bars, stops
early on the model's validation metric (best weights restored) after ``patience`` epochs
without a better one (default: the config's ``patience`` where it has one -- the next-item
models' 10, RecBole's ``stopping_step`` -- else 1), and -- given ``checkpoint_dir`` -- resumes an
interrupted run from its last completed epoch (``tf.keras.callbacks.BackupAndRestore``; the
early stopping's state -- best value and epoch, epochs without improvement, best weights -- is
kept beside it, which Keras' backup does not do, so that a resumed run stops where the
uninterrupted one would and restores the same weights).
``callbacks`` are added to those. ``train`` and ``val`` are splits (``Split``, as the loaders
and planted generators return them) or plain DataFrames with the model's input columns.
On a cluster (:mod:`tfrec_pkg.distributed`) the model is built in ``strategy.scope()`` and
``train`` follows its strategy: ``batch_size`` is the global batch, each worker reads its own
share of the training rows (``Split.dataset(shard=...)``) and an epoch is
``rows // batch_size`` steps -- except for a split that every replica reads whole
(``read_by_every_replica``: IMN-Net's time windows, ``StreamSplit.replica_dataset``), whose
epoch is its ``steps`` windows; checkpoints and TensorBoard logs are written by the chief only
(the other workers write to temporary directories that Keras removes). With parameter servers
validation is Keras' inline evaluation, approximate: each validation step reads the next batch
of whichever worker runs it.
"""
from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from tfrec_pkg import distributed
from tfrec_pkg.atomic_files import atomic_write
from tfrec_pkg.data.synthetic.base import as_split
from tfrec_pkg.models.optimizers import make_optimizer


def train(model, train_split, val_split=None, *, epochs: int | None = None, batch_size: int | None = None,
          learning_rate: float | None = None, checkpoint_dir: str | None = None,
          tensorboard_dir: str | None = None, patience: int | None = None, callbacks=(),
          verbose: int | str = "auto", seed: int = 0):
    cfg = model.config
    epochs = epochs or getattr(cfg, "epochs", 1)
    batch_size = batch_size or getattr(cfg, "batch_size", 256)
    learning_rate = learning_rate or getattr(cfg, "learning_rate", 1e-3)
    patience = getattr(cfg, "patience", 1) if patience is None else patience
    train_split = as_split(train_split, model, "train")
    strategy = model.distribute_strategy
    if distributed.cluster_config() and not distributed.is_multi_worker(strategy):
        raise ValueError("TF_CONFIG is set but the model was built outside a cluster strategy: build it "
                         "inside `with tfrec_pkg.distributed.strategy_from_env().scope():`")
    if hasattr(model, "check_strategy"):  # a model that cannot train under every strategy says so first
        model.check_strategy(strategy)      # (IMN-Net: no parameter servers)
    with strategy.scope():
        model(model.example_batch())  # build first: BackupAndRestore restores into existing variables
        if hasattr(model, "adapt"):
            model.adapt(train_split)
        if model.optimizer is None:
            model.compile(optimizer=make_optimizer(model, learning_rate))
    callbacks = list(callbacks)
    val = None
    group = getattr(model, "example_group_size", 1)  # e.g. 1 positive + 4 negatives per softmax
    # batches of similar history length, for the splits of models whose config asks for them
    buckets = {"length_buckets": cfg.length_buckets} if getattr(cfg, "length_buckets", ()) else {}
    if val_split is not None:
        val_split = as_split(val_split, model, "val")
        val = val_split.dataset(max(batch_size, 1024), shuffle=False, group_size=group, **buckets)
        monitor = getattr(model, "early_stopping_monitor", "val_total_loss")
        mode = "max" if "auc" in monitor or "ndcg" in monitor or "mrr" in monitor else "min"
        early_stopping = dict(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True)
        callbacks.append(
            ResumableEarlyStopping(os.path.join(checkpoint_dir, "early_stopping"), strategy, **early_stopping)
            if checkpoint_dir else tf.keras.callbacks.EarlyStopping(**early_stopping))
    if checkpoint_dir:
        callbacks.append(tf.keras.callbacks.BackupAndRestore(os.path.join(checkpoint_dir, "backup")))
    if tensorboard_dir:
        callbacks.append(tf.keras.callbacks.TensorBoard(tensorboard_dir))
    if distributed.is_multi_worker(strategy):
        def shard(context: tf.distribute.InputContext):
            if getattr(train_split, "read_by_every_replica", False):   # e.g. IMN-Net's windows, in time order
                return train_split.replica_dataset(context).repeat()
            per_replica = distributed.per_replica_batch(batch_size, strategy)
            return train_split.dataset(per_replica, shuffle=True, seed=seed, group_size=group, **buckets,
                                       shard=(context.num_input_pipelines, context.input_pipeline_id)).repeat()

        if getattr(train_split, "read_by_every_replica", False):
            steps = train_split.steps
        else:
            steps = max(1, len(train_split.frame) // batch_size)
        extra = {}
        if val is not None and distributed.is_parameter_server(strategy):
            # Keras' inline evaluation: each step reads the next batch of whichever worker runs it,
            # so a batch can be seen twice and another not at all (documented as approximate)
            val_batch = max(batch_size, 1024)
            val = tf.keras.utils.experimental.DatasetCreator(lambda context: val_split.dataset(
                val_batch, shuffle=False, group_size=group, **buckets).repeat())
            extra["validation_steps"] = -(-len(val_split.frame) // val_batch)
        return model.fit(tf.keras.utils.experimental.DatasetCreator(shard), steps_per_epoch=steps,
                         validation_data=val, epochs=epochs, callbacks=callbacks, verbose=verbose, **extra)
    data = train_split.dataset(batch_size, shuffle=True, seed=seed, group_size=group, **buckets)
    return model.fit(data, validation_data=val, epochs=epochs, callbacks=callbacks, verbose=verbose)


class ResumableEarlyStopping(tf.keras.callbacks.EarlyStopping):
    """``EarlyStopping`` that keeps its state in ``directory`` after every epoch (the chief
    writes, atomically; every worker reads), takes it back when a run resumes after the epoch it
    was written at (``BackupAndRestore``'s last completed epoch), and removes it when training
    ends. State written at another epoch (an interruption between this save and the backup's) is
    ignored: the run then starts its early stopping afresh."""

    def __init__(self, directory: str, strategy=None, **kwargs):
        super().__init__(**kwargs)
        self.directory, self.chief = directory, distributed.is_chief(strategy)
        self.state_path = os.path.join(directory, "state.json")
        self.weights_path = os.path.join(directory, "best_weights.npz")
        self._saved = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if os.path.exists(self.state_path):
            with open(self.state_path) as f:
                self._saved = json.load(f)

    def on_epoch_begin(self, epoch, logs=None):
        saved, self._saved = self._saved, None
        if saved is None or saved["epoch"] != epoch - 1:
            return
        self.wait, self.best, self.best_epoch = saved["wait"], saved["best"], saved["best_epoch"]
        if saved["has_best_weights"]:
            with np.load(self.weights_path) as weights:
                self.best_weights = [weights[f"w{i}"] for i in range(len(weights.files))]

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if not self.chief:
            return
        os.makedirs(self.directory, exist_ok=True)
        if self.best_weights is not None and self.best_epoch == epoch:   # new best weights this epoch
            with atomic_write(self.weights_path, "wb") as f:
                np.savez(f, **{f"w{i}": w for i, w in enumerate(self.best_weights)})
        state = {"epoch": epoch, "wait": self.wait, "best": float(self.best), "best_epoch": self.best_epoch,
                 "has_best_weights": self.best_weights is not None}
        with atomic_write(self.state_path) as f:
            json.dump(state, f)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self.chief:
            for path in (self.state_path, self.weights_path):
                if os.path.exists(path):
                    os.remove(path)
