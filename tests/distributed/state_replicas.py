"""Two replicas in one process: ``tf.distribute.MirroredStrategy`` over two logical CPU devices,
against one process (the default strategy) trained on the same global batches. Logical devices
must be set before TensorFlow starts, so this runs as a script of its own:

    python state_replicas.py CASE [CASE ...]        CASE: counts | steps | prototypes | imn

and prints one line ``RESULT {json}``, ``{case: result}``:

* counts -- a next-item model with ``item_loss="sampled_softmax"`` (GRU4Rec): ``target_counts``
  on each replica after two steps, the one-process model's, and the targets' own counts;
* steps -- SASRec trained on all-position rows: ``trained_rows`` (sequences, real steps) on each
  replica after two steps, the one-process model's and the data's own counts, and the largest
  difference between a replica's trainable weights and the one-process model's (each replica
  divides its share of the loss by the global batch's sequences times the global mean steps);
* prototypes -- MuSENet (soft scenarios): the prototypes on each replica after two steps and
  the one-process model's;
* imn -- IMN-Net's JODIE variant trained one epoch on the planted stream's first windows by the
  two replicas and by one process from the same initial weights: the memory tables and the
  trainable weights of each replica and of the process, and both epoch losses; and the full IMN-Net's (with NCE)
  epoch losses under the two replicas.

Keras splits each global batch of the dataset into consecutive halves, one per replica.
"""
import sys

import numpy as np

import tfrec_pkg  # noqa: F401  (the Keras 2 API before TensorFlow)
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tfrec_pkg import experiment  # noqa: E402
from tfrec_pkg.bench import child  # noqa: E402

CASES = {
    "counts": (("gru4rec", {"item_loss": "sampled_softmax", "dropout": 0.0}), 2),   # (variant, steps)
    "steps": (("sasrec", {"training_positions": "all", "dropout": 0.0}), 2),
    "prototypes": (("musenet", {"version": "soft"}), 2),
}
GLOBAL_BATCH = 32


def _state(model, case):
    if case == "counts":
        return model.target_counts
    return model.trained_rows if case == "steps" else model.scenario.prototypes


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


IMN_WINDOWS = 6
IMN_DIMS = {"hidden_dim": 8, "user_dim": 8, "item_dim": 8}


def _imn(strategy, variant, train, source=None, epochs=1, learning_rate=1e-2):
    entry, config = experiment.resolve(("imn_net", {"variant": variant, **IMN_DIMS}))
    with strategy.scope():
        model = experiment.build(entry, train.vocab, config, seed=0, options=train.model_options)
        if source is not None:
            model.set_weights(source)
        model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate))
    weights = model.get_weights()
    history = model.fit(train.stream.dataset("train").take(IMN_WINDOWS), epochs=epochs, verbose=0)
    return model, weights, history.history["loss"]


def _copies(variable):
    values = getattr(variable, "values", (variable,))
    return [np.asarray(tf.convert_to_tensor(v).numpy()).tolist() for v in values]


def run_imn(mirrored):
    """JODIE (no NCE) on the planted stream's first windows: memory tables and trainable weights
    of each replica after one epoch, and of one process from the same initial weights; IMN-Net
    (with NCE) under the two replicas: its epoch losses."""
    entry, config = experiment.resolve(("imn_net", IMN_DIMS))
    train, _, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
    single, initial, single_loss = _imn(tf.distribute.get_strategy(), "jodie", train)
    replicas, _, replica_loss = _imn(mirrored, "jodie", train, source=initial)
    tables = ("user_state", "item_state", "last_item")
    out = {"windows": IMN_WINDOWS, "single_loss": single_loss, "replica_loss": replica_loss,
           "single": {name: _copies(getattr(single, name))[0] for name in tables},
           "replicas": {name: _copies(getattr(replicas, name)) for name in tables},
           "initial_weights": [np.asarray(w).tolist() for w in initial[:1]],
           "single_weights": [w.numpy().tolist() for w in single.trainable_weights],
           "replica_weights": [_copies(w) for w in replicas.trainable_weights]}
    _, _, losses = _imn(mirrored, "imn_net", train, epochs=3, learning_rate=3e-3)
    out["nce_losses"] = [float(x) for x in losses]
    out["train"] = _imn_train(mirrored)
    return out


def _imn_train(mirrored):
    """``training.train`` (with validation: ranked by the replicas, each its share of the rows)
    of JODIE on a coarse planted stream, then ``evaluate_stream`` on the test split, under the
    two replicas and in one process."""
    from tfrec_pkg import training

    entry, config = experiment.resolve(("imn_net", {"variant": "jodie", "windows": 30, **IMN_DIMS}))
    train, val, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
    out, initial = {}, None
    for name, strategy in (("single", tf.distribute.get_strategy()), ("replicas", mirrored)):
        with strategy.scope():
            model = experiment.build(entry, train.vocab, config, seed=0, options=train.model_options)
            initial = model.get_weights() if initial is None else model.set_weights(initial) or initial
        history = training.train(model, train, val, epochs=1, learning_rate=1e-2, verbose=0).history
        out[name] = {key: float(values[-1]) for key, values in history.items()}
        out[name]["test_mrr"] = model.evaluate_stream(train.stream, "test")["mrr"]
    return out


def _sequence_rows(entry, config, users=GLOBAL_BATCH * 2):
    """A training split of all-position rows (one per user, 2..11 steps, so the replicas' halves
    of a batch hold different numbers of steps)."""
    import pandas as pd

    from tfrec_pkg import specs
    from tfrec_pkg.data.synthetic.base import Split
    from tfrec_pkg.data.vocab import fit_vocabularies

    rng = np.random.default_rng(0)
    rows = []
    for user in range(users):
        items = rng.integers(100, 160, int(rng.integers(3, 13)))
        rows.append({"user_id": user, "hist_item_ids": items[:-1], "hist_provider_ids": items[:-1] % 7,
                     "target_item_ids": items[1:], "target_provider_ids": items[1:] % 7,
                     "item_id": items[-1], "provider_id": items[-1] % 7})
    frame = pd.DataFrame(rows)
    vocab = fit_vocabularies(frame, specs.next_item(config.max_history))
    spec = experiment.build(entry, vocab, config).training_spec(list(frame.columns))
    return Split("train", frame[[s.name for s in spec]], spec, vocab, label=None)


def run(case, mirrored):
    if case == "imn":
        return run_imn(mirrored)
    variant, steps = CASES[case]
    entry, config = experiment.resolve(variant)
    if case == "steps":
        train = _sequence_rows(entry, config)
    else:
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
    elif case == "steps":
        steps = train.frame["target_item_ids"].map(len)[:GLOBAL_BATCH * CASES[case][1]]
        out["expected"] = [float(len(steps)), float(steps.sum())]
        start = dict(zip([w.name for w in single.weights], initial))
        out["weights_max_diff"] = max(float(np.abs(np.asarray(copy) - w.numpy()).max())
                                      for w, r in zip(single.trainable_weights, replicas.trainable_weights)
                                      for copy in _copies(r))
        out["weights_moved"] = max(float(np.abs(w.numpy() - start[w.name]).max()) for w in single.trainable_weights)
    else:
        out["initial"] = np.asarray(initial[[w.name for w in single.weights].index(
            single.scenario.prototypes.name)]).tolist()
    return out


if __name__ == "__main__":
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    assert strategy.num_replicas_in_sync == 2, devices
    child.report({case: run(case, strategy) for case in sys.argv[1:]})
