"""Microsoft Recommenders 1.2.1's SUM (``recommenders.models.deeprec``, TF1 graph code), trained
for tools/sum_side_by_side.py.

Run by the python of its own virtual environment (the driver creates it: TensorFlow 2.15 with
``tf.compat.v1``, numpy < 2), never by the project's.

    .venv-msrec/bin/python tools/msrec_sum_runner.py --data DIR --epochs 3

DIR holds what the driver writes: ``train.tsv`` in the library's sequential format and the
``user_vocab.pkl`` / ``item_vocab.pkl`` / ``category_vocab.pkl`` dictionaries. The settings are
those of the library's SUM example configuration (``sum.yaml``: embeddings 32 / 8 / 16, hidden
40, 4 slots, attention 40, L 50, batch 400 positives each with 4 in-batch sampled negatives,
softmax loss, Adam 1e-3). Each epoch is the loop of ``SequentialBaseModel.fit`` without its
validation pass: the library's iterator (Python-side batches) and one ``train`` call per batch
(``session_s``: the seconds inside those calls, the graph's own share).
Every line printed that starts with ``@@ `` is a JSON event for the driver (``ready``,
``epoch``); TensorFlow's own output goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HPARAMS = dict(
    method="classification", model_type="sum", cell="SUM", item_embedding_dim=32, cate_embedding_dim=8,
    user_embedding_dim=16, max_seq_length=50, hidden_size=40, slots=4, attention_size=40,
    layer_sizes=[100, 64], att_fcn_layer_sizes=[80, 40], activation=["relu", "relu"], dropout=[0.0, 0.0],
    user_dropout=False, enable_BN=True, init_method="tnormal", init_value=0.01, embed_l2=1e-4, layer_l2=1e-4,
    learning_rate=1e-3, loss="softmax", optimizer="adam", batch_size=400, train_num_ngs=4, need_sample=True,
    epochs=1, show_step=10**9, save_model=False, write_tfevents=False, metrics=["auc", "logloss"],
    pairwise_metrics=["mean_mrr", "group_auc"])


def emit(event: str, **values) -> None:
    print("@@ " + json.dumps({"event": event, **values}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    args = parser.parse_args()
    import tensorflow as tf
    from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl

    # Their sum_cells.py imports LayerRNNCell from keras.layers.legacy_rnn, a module Keras 2.8
    # had and later Keras releases do not (TensorFlow 2.8 has no wheels for Python 3.11); its
    # other imports come from TensorFlow's own copy of legacy Keras, which still has the module:
    # this process reads it there. Their installed files are left as they are.
    sys.modules["keras.layers.legacy_rnn.rnn_cell_impl"] = rnn_cell_impl
    from recommenders.models.deeprec.deeprec_utils import prepare_hparams
    from recommenders.models.deeprec.io.sequential_iterator import SequentialIterator
    from recommenders.models.deeprec.models.sequential.sum import SUMModel

    tf.compat.v1.disable_eager_execution()
    vocab = {k: os.path.join(args.data, f"{k}_vocab.pkl") for k in ("user", "item", "category")}
    hparams = prepare_hparams(user_vocab=vocab["user"], item_vocab=vocab["item"], cate_vocab=vocab["category"],
                              MODEL_DIR=os.path.join(args.data, "model"), SUMMARIES_DIR=os.path.join(args.data, "logs"),
                              **HPARAMS)
    model = SUMModel(hparams, SequentialIterator, seed=0)
    train = os.path.join(args.data, "train.tsv")
    emit("ready", versions={"tensorflow": tf.__version__}, threads="TF default")
    for epoch in range(1, args.epochs + 1):
        start, rows, session_s = time.perf_counter(), 0, 0.0
        for batch in model.iterator.load_data_from_file(train, min_seq_length=1,
                                                        batch_num_ngs=hparams.train_num_ngs):
            if batch:
                call = time.perf_counter()
                model.train(model.sess, batch)
                session_s += time.perf_counter() - call
                rows += len(batch[model.iterator.labels])
        emit("epoch", epoch=epoch, train_s=round(time.perf_counter() - start, 3), session_s=round(session_s, 3),
             rows=rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
