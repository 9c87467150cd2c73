"""One worker of a two-worker ``MultiWorkerMirroredStrategy`` cluster (no ps): IMN-Net's JODIE
variant trained by ``training.train`` (with validation) on a coarse planted stream; each worker
writes OUT_DIR/worker{index}.json with its memory tables, trainable weights, last logs and the
test split's MRR (``evaluate_stream``). Run
with ``--single`` (no TF_CONFIG) for one process's, from the same seeds.

    python imn_workers.py OUT_DIR [--single]
"""
import argparse
import json
import os

import numpy as np

import tfrec_pkg  # noqa: F401  (sets the Keras 2 API before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg import distributed, experiment, training

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--single", action="store_true")
args = parser.parse_args()

strategy = distributed.strategy_from_env()
entry, config = experiment.resolve(("imn_net", {"variant": "jodie", "windows": 30, "hidden_dim": 8,
                                                "user_dim": 8, "item_dim": 8}))
train, val, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
tf.keras.utils.set_random_seed(0)
with strategy.scope():
    model = experiment.build(entry, train.vocab, config, seed=0, options=train.model_options)
history = training.train(model, train, val, epochs=2, learning_rate=1e-2, verbose=0).history
test_mrr = model.evaluate_stream(train.stream, "test")["mrr"]
index = 0 if args.single else json.loads(os.environ["TF_CONFIG"])["task"]["index"]
result = {"replicas": strategy.num_replicas_in_sync, "steps": int(model.optimizer.iterations.numpy()),
          "windows": train.steps, "logs": {key: float(values[-1]) for key, values in history.items()} | {"test_mrr": test_mrr},
          "tables": {name: np.asarray(getattr(model, name).numpy()).tolist()
                     for name in ("user_state", "item_state", "last_item")},
          "weights": [w.numpy().tolist() for w in model.trainable_weights]}
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, f"{'single' if args.single else 'worker'}{index}.json"), "w") as f:
    json.dump(result, f)
