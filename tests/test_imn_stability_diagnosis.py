"""The replay of tools/imn_stability_diagnosis.py stops where Keras' EarlyStopping stops a real
``fit`` and reports the epoch whose weights it restores (the protocol of training.train), so
what it says of other protocols is what the claim checks would have reported under them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tfrec_pkg  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)
import tensorflow as tf

import tool_modules


@pytest.fixture(scope="module")
def tool():
    return tool_modules.load("imn_stability_diagnosis")


class ScriptedMonitor(tf.keras.callbacks.Callback):
    """Puts the scripted validation MRR of each epoch into the logs EarlyStopping reads, and
    stamps the epoch into the weights so the restored epoch can be read back."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_mrr"] = self.values[epoch]
        self.model.layers[0].kernel.assign(tf.fill(self.model.layers[0].kernel.shape, float(epoch)))


def keras_protocol(values, patience, cap):
    """(restored epoch, epochs run, stopped early) of a real fit under training.train's early
    stopping."""
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer="sgd", loss="mse")
    stopping = tf.keras.callbacks.EarlyStopping(monitor="val_mrr", mode="max", patience=patience,
                                                restore_best_weights=True)
    history = model.fit(np.zeros((4, 1)), np.zeros((4, 1)), epochs=cap, verbose=0,
                        callbacks=[ScriptedMonitor(values), stopping])
    return int(model.layers[0].kernel.numpy()[0, 0]), len(history.history["loss"]), stopping.stopped_epoch > 0


@pytest.mark.parametrize("patience,cap", [(1, 6), (2, 10), (3, 8), (5, 12)])
def test_replay_restores_and_stops_where_keras_does(tool, patience, cap):
    rng = np.random.default_rng(patience * 100 + cap)
    # rounded so that ties (not an improvement for Keras) occur
    for values in [np.round(rng.normal(size=cap), 1), np.arange(cap, dtype=float),
                   np.arange(cap, 0, -1, dtype=float), np.r_[1.0, np.zeros(cap - 1)], np.ones(cap)]:
        restored, ran, stopped = keras_protocol(list(values), patience, cap)
        test = np.arange(cap) * 10.0   # each epoch's test value names the epoch
        assert tool.replay(values, test, patience, cap) == (10.0 * restored, ran, stopped), values


def test_no_stopping_reports_the_last_epoch_under_the_cap(tool):
    assert tool.replay([3.0, 2.0, 1.0], [0.1, 0.2, 0.3], None, 2) == (0.2, 2, False)


def test_summaries_measure_the_moves_between_draws_and_the_lead(tool):
    rows = []
    for seed, draw, model in [(s, d, m) for s in (0, 1) for d in ("base", "perturbed") for m in tool.MODELS]:
        lead = 0.02 if model == "IMN-Net" else 0.0
        moved = 0.01 * seed if (draw, model) == ("perturbed", "JODIE") else 0.0
        for epoch in (1, 2, 3, 4):   # the validation MRR peaks at epoch 1
            rows.append({"seed": seed, "draw": draw, "model": model, "epoch": epoch, "val_mrr": -float(epoch),
                         "recall@10": 0.1 * epoch + lead + moved})
    runs = tool.replayed(pd.DataFrame(rows))
    # patience 2 and 3 stop within the 4 traced epochs; the others would run past them
    assert set(runs["patience"]) == {2, 3}
    assert (runs["recall@10"] < 0.2).all()   # epoch 1 restored
    moved, leads = tool.summaries(runs)
    assert moved.loc[(2, 10), ("max", "JODIE")] == pytest.approx(0.01)
    assert moved.loc[(2, 10), ("max", "IMN-Net")] == 0
    assert leads.loc[(2, 10, "base"), "lead"] == pytest.approx(0.02)
    assert leads.loc[(2, 10, "perturbed"), "lead"] == pytest.approx(0.015)
    assert (leads["seeds"] == 2).all()
