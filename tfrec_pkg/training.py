"""Training helper shared by ``tfrec train``, the claim checks, the demo and tools/export.py.

``train(model, train, val)`` adapts a model that learns state from its training data
(``model.adapt(train)``, e.g. DiffNet's social graph, as Keras' preprocessing layers are adapted
before ``fit``), compiles with the config's learning rate (``models.optimizers.make_optimizer``: Adam, or the
config's ``embedding_optimizer`` for the embedding tables beside it), fits with Keras progress bars, stops
early on the model's validation metric (best weights restored) after ``patience`` epochs
without a better one (default: the config's ``patience`` where it has one -- the next-item
models' 10, RecBole's ``stopping_step`` -- else 1), and -- given ``checkpoint_dir`` -- resumes an
interrupted run from its last completed epoch (``tf.keras.callbacks.BackupAndRestore``).
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

import os

import tensorflow as tf

from tfrec_pkg import distributed
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
        callbacks.append(tf.keras.callbacks.EarlyStopping(
            monitor, mode=mode, patience=patience, restore_best_weights=True))
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
