"""One task of a parameter-server test cluster: the chief trains a next-item model with
``item_loss="sampled_softmax"`` (GRU4Rec) through ``training.train``, then tries to fit IMN-Net
under the same strategy; the ps and worker tasks serve (``strategy_from_env`` does not return).

    python state_train.py OUT_DIR --rows 512 --batch 64 --epochs 2

The chief writes OUT_DIR/result.json: the sum of ``target_counts`` (read from the ps), the
optimiser's step count, the batch size, and the error IMN-Net's ``fit`` raised (None if none).
"""
import argparse
import dataclasses
import json
import os
import sys

import tfrec_pkg  # noqa: F401  (sets the Keras 2 API before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg import distributed, experiment, training

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--rows", type=int, default=512)
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()

strategy = distributed.strategy_from_env()   # ps and workers serve here until stopped
assert distributed.is_parameter_server(strategy), type(strategy).__name__
entry, config = experiment.resolve(("gru4rec", {"item_loss": "sampled_softmax", "dropout": 0.0}))
train, _, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
train = dataclasses.replace(train, frame=train.frame.iloc[:args.rows].reset_index(drop=True))
with strategy.scope():
    model = experiment.build(entry, train.vocab, config, seed=0)
training.train(model, train, None, epochs=args.epochs, batch_size=args.batch, seed=0, verbose=0)
result = {"counts_sum": float(tf.reduce_sum(model.target_counts).numpy()),
          "counts_on": model.target_counts.device,
          "steps": int(model.optimizer.iterations.numpy()), "batch": args.batch}

imn_entry, imn_config = experiment.resolve(("imn_net", {"hidden_dim": 8, "user_dim": 8, "item_dim": 8}))
imn_train, _, _ = experiment.planted_splits(imn_entry, imn_config, quick=True, seed=0)
with strategy.scope():
    imn = experiment.build(imn_entry, imn_train.vocab, imn_config, seed=0, options=imn_train.model_options)
try:
    training.train(imn, imn_train, None, epochs=1, verbose=0)
    result["imn_error"] = None
except ValueError as e:
    result["imn_error"] = str(e)

os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "result.json"), "w") as f:
    json.dump(result, f)
print("done", result, flush=True)
sys.exit(0)
