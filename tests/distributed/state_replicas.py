"""Two replicas in one process: ``tf.distribute.MirroredStrategy`` over two logical CPU devices,
against one process (the default strategy) trained on the same global batches. Logical devices
must be set before TensorFlow starts, so this runs as a script of its own:

    python state_replicas.py CASE [CASE ...]        CASE: counts | prototypes | imn

and prints one line ``RESULT {json}``, ``{case: result}``:

* counts -- a next-item model with ``item_loss="sampled_softmax"`` (GRU4Rec): ``target_counts``
  on each replica after two steps, the one-process model's, and the targets' own counts;
* prototypes -- MuSENet (soft scenarios): the prototypes on each replica after two steps and
  the one-process model's;
* imn -- IMN-Net built under the two-replica strategy: the errors ``fit`` and a replicated
  ``run_window`` step raise.

Keras splits each global batch of the dataset into consecutive halves, one per replica.
"""
import json
import sys

import numpy as np

import tfrec_pkg  # noqa: F401  (the Keras 2 API before TensorFlow)
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tfrec_pkg import experiment  # noqa: E402

CASES = {
    "counts": (("gru4rec", {"item_loss": "sampled_softmax", "dropout": 0.0}), 2),   # (variant, steps)
    "prototypes": (("musenet", {"version": "soft"}), 2),
}
GLOBAL_BATCH = 32


def _state(model, case):
    return model.target_counts if case == "counts" else model.scenario.prototypes


def _train(strategy, entry, config, train, steps, source=None):
    with strategy.scope():
        model = experiment.build(entry, train.vocab, config, seed=0)
        model(model.example_batch())
        if source is not None:
            model.set_weights(source)
        model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
    data = train.dataset(GLOBAL_BATCH, shuffle=False).take(steps)
    weights = model.get_weights()
    model.fit(data, epochs=1, verbose=0)
    return model, weights, data


def run(case, mirrored):
    if case == "imn":
        entry, config = experiment.resolve(("imn_net", {"hidden_dim": 8, "user_dim": 8, "item_dim": 8}))
        train, _, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
        with mirrored.scope():
            model = experiment.build(entry, train.vocab, config, seed=0, options=train.model_options)
            model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
        out = {}
        try:
            model.fit(train.stream.dataset("train"), epochs=1, verbose=0)
            out["fit"] = None
        except ValueError as e:
            out["fit"] = str(e)
        window = next(iter(train.stream.dataset("train")))
        try:  # a step of the caller's own loop, in the strategy's replica context
            mirrored.run(tf.function(lambda w: model.run_window(w, learn=True, rank=False)), args=(window,))
            out["step"] = None
        except ValueError as e:
            out["step"] = str(e)
        return out
    variant, steps = CASES[case]
    entry, config = experiment.resolve(variant)
    train, _, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
    single, initial, data = _train(tf.distribute.get_strategy(), entry, config, train, steps)
    replicas, _, _ = _train(mirrored, entry, config, train, steps, source=initial)
    state = _state(replicas, case)
    out = {"single": _state(single, case).numpy().tolist(),
           "replicas": [tf.convert_to_tensor(v).numpy().tolist() for v in state.values]}
    if case == "counts":
        targets = np.concatenate([single.lookups["item"](b["item_id"]).numpy() for b in data])
        out["expected"] = np.bincount(targets, minlength=state.shape[0]).astype(float).tolist()
        out["rows"] = int(len(targets))
    else:
        out["initial"] = np.asarray(initial[[w.name for w in single.weights].index(
            single.scenario.prototypes.name)]).tolist()
    return out


if __name__ == "__main__":
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    assert strategy.num_replicas_in_sync == 2, devices
    print("RESULT " + json.dumps({case: run(case, strategy) for case in sys.argv[1:]}), flush=True)
