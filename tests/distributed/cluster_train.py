"""One task of a test cluster (or the single process it is compared with): train a registered
model on the first ``--rows`` training rows of its planted data, then write the chief's result.

    python cluster_train.py MODEL OUT_DIR --rows 512 --batch 64 --epochs 1 [--checkpoint DIR]

OUT_DIR/result.npz holds the trained weights (in model.weights order, sharded tables joined)
and the per-epoch training loss; it is written by the chief only. ``--kill-at EPOCH:STEP``
makes worker 1 kill itself with SIGKILL at that step on its first run (a marker file in OUT_DIR
tells the restarted process not to).
"""
import argparse
import dataclasses
import os
import signal
import sys

import numpy as np

import tfrec_pkg  # noqa: F401  (sets the Keras 2 API before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg import distributed, experiment, training
from tfrec_pkg.models import persistence

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("out")
parser.add_argument("--rows", type=int, default=512)
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--checkpoint")
parser.add_argument("--kill-at")
parser.add_argument("--logs", help="TensorBoard log directory")
parser.add_argument("--set", action="append", default=[], help="config change key=value (an int or a string)")
parser.add_argument("--save", help="the chief saves the trained model here (persistence.save_trained) "
                    "with its scores of the first validation rows in OUT_DIR/scores.npy")
parser.add_argument("--print-epochs", action="store_true", help='print "epoch N done" after each epoch')
parser.add_argument("--min-shard-bytes", type=int, default=distributed.SHARD_MIN_BYTES)
parser.add_argument("--reference", type=int, metavar="WORKERS",
                    help="one process, trained on the global batches a cluster of WORKERS would form")
args = parser.parse_args()

os.makedirs(args.out, exist_ok=True)
strategy = distributed.strategy_from_env(args.min_shard_bytes)
changes = {"dropout": 0.0}
for item in args.set:
    key, _, value = item.partition("=")
    changes[key] = int(value) if value.lstrip("-").isdigit() else value
entry, config = experiment.resolve((args.model, changes))
train, val, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
train = dataclasses.replace(train, frame=train.frame.iloc[:args.rows].reset_index(drop=True))
with strategy.scope():
    model = experiment.build(entry, train.vocab, config, seed=0)


class KillOnce(tf.keras.callbacks.Callback):
    def __init__(self, epoch, step):
        super().__init__()
        self.at, self.epoch = (epoch, step), None
        self.marker = os.path.join(args.out, "killed")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        task = distributed.cluster_config()["task"]
        if (self.epoch, batch) == self.at and task == {"type": "worker", "index": 1} \
                and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)


callbacks = []
if args.print_epochs:
    callbacks.append(tf.keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: print(f"epoch {epoch + 1} done", flush=True)))
if args.kill_at:
    callbacks.append(KillOnce(*map(int, args.kill_at.split(":"))))
if args.reference:
    # Global batch k = batch k of every worker's share (training.train's multi-worker input),
    # taken from each share's first pass as a worker reads it, then fed in that order.
    steps = args.epochs * (len(train.frame) // args.batch)
    shares = [list(train.dataset(args.batch // args.reference, shuffle=True, seed=0,
                                 shard=(args.reference, i)).repeat().take(steps))
              for i in range(args.reference)]
    batches = [{k: tf.concat([share[s][k] for share in shares], 0) for k in shares[0][s]} for s in range(steps)]
    stacked = {k: tf.stack([b[k] for b in batches]) for k in batches[0]}
    model(model.example_batch())
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
    history = model.fit(tf.data.Dataset.from_tensor_slices(stacked), epochs=args.epochs,
                        steps_per_epoch=steps // args.epochs, verbose=0)
else:
    history = training.train(model, train, None, epochs=args.epochs, batch_size=args.batch, seed=0, verbose=0,
                             checkpoint_dir=args.checkpoint, tensorboard_dir=args.logs,
                             callbacks=callbacks)
weights = [tf.convert_to_tensor(w).numpy() for w in model.weights]
if distributed.is_chief(strategy):
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, "result.npz"), loss=np.asarray(history.history["loss"]),
             names=np.asarray([w.name for w in model.weights]), *weights)
if args.save:
    with distributed.write_dir(args.save, strategy) as directory:
        persistence.save_trained(model, directory)
    if distributed.is_chief(strategy):
        first = next(iter(val.dataset(16, shuffle=False)))
        np.save(os.path.join(args.out, "scores.npy"), model(first).numpy())
        table = getattr(model, "item_embedding", None)
        table = None if table is None else table.embeddings
        shards = len(table.variables) if isinstance(table, tf.__internal__.distribute.ShardedVariable) else 1
        np.save(os.path.join(args.out, "item_table_shards.npy"), np.asarray(shards))
print("done", {k: [round(x, 5) for x in v] for k, v in history.history.items()}, flush=True)
sys.exit(0)
