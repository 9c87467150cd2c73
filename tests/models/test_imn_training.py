"""IMN-Net through ``training.train`` (tfrec_pkg/training.py) with ``checkpoint_dir`` and
``tensorboard_dir``: the TensorBoard event files hold every epoch's training and validation
scalars, and a run interrupted after its first epoch resumes from the BackupAndRestore backup
to exactly the run that was never interrupted -- the trainable weights, the optimiser's state,
the negatives' generator (whose draws would otherwise repeat the first epoch's), the memory
tables and clocks at every later epoch's end, the logged metrics and the event files' scalars.

EarlyStopping's own state (best value and epoch, wait count, best weights), which Keras'
BackupAndRestore does not save, is kept by ``training.ResumableEarlyStopping``: with ``patience``
1 (training.train's default for IMN-Net) and the best validation MRR before the interruption,
the resumed run stops where the uninterrupted one stops and restores the same epoch's weights.
Mutation tried: training.train with Keras' plain EarlyStopping -> early_stopping test (the
resumed run trains on to epoch 2)."""
import os

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf
from tensorflow.core.util import event_pb2

from tfrec_pkg.data.synthetic.resource_limited import resource_limited
from tfrec_pkg.data.tbatch_windows import WindowedStream
from tfrec_pkg.models.imn import IMNConfig, IMNNet
from tfrec_pkg.training import train

TINY = dict(hidden_dim=6, user_dim=5, item_dim=4, num_samples=6, windows=40, epochs=3)
CLOSE = dict(rtol=1e-6, atol=1e-7)   # the same computation twice in one process (bit-equal here)


@pytest.fixture(scope="module")
def splits():
    return WindowedStream.from_stream(resource_limited(num_users=15, num_items=30, num_events=800, seed=1),
                                      parts=40).splits()


def build(splits, seed):
    tf.keras.utils.set_random_seed(seed)
    return IMNNet(IMNConfig(**TINY), splits[0].vocab, **splits[0].model_options)


def snapshot(model) -> dict:
    return {"weights": [v.numpy() for v in model.trainable_variables],
            "optimizer": [v.numpy() for v in model.optimizer.variables()],
            "negatives": model.negative_rng.state.numpy(),
            "memory": [t.numpy() for t in model._tables()] + [c.numpy() for c in model._clocks()],
            "delta_stats": [model.delta_mean.numpy(), model.delta_std.numpy(), model.time_origin.numpy()]}


def assert_same(got: dict, want: dict):
    assert got.keys() == want.keys()
    for key in want:
        assert len(got[key]) == len(want[key]), key
        for a, b in zip(got[key], want[key]):
            np.testing.assert_allclose(a, b, **CLOSE, err_msg=key)


class EpochEnds(tf.keras.callbacks.Callback):
    """The model's state at each epoch's end (after the validation pass)."""

    def __init__(self):
        super().__init__()
        self.seen = {}

    def on_epoch_end(self, epoch, logs=None):
        self.seen[epoch] = snapshot(self.model)


class Interrupt(tf.keras.callbacks.Callback):
    """Fails as the second epoch starts, after BackupAndRestore saved the first (a failure in
    ``on_epoch_end`` would come before the backup: the given callbacks run first)."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("interrupted")


def event_scalars(log_dir) -> dict:
    """{(train | validation, tag): {step: value}} over every event file under ``log_dir``,
    each (tag, step) written once."""
    out = {}
    for part in ("train", "validation"):
        folder = os.path.join(log_dir, part)
        for name in sorted(os.listdir(folder)):
            for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
                event = event_pb2.Event.FromString(record.numpy())
                for value in event.summary.value:
                    steps = out.setdefault((part, value.tag), {})
                    assert event.step not in steps, (part, value.tag, event.step)
                    steps[event.step] = float(tf.make_ndarray(value.tensor))
    return out


def test_an_interrupted_run_resumes_from_the_backup_to_the_uninterrupted_run(splits, tmp_path):
    train_split, val_split, _ = splits
    windows = train_split.steps
    options = dict(patience=TINY["epochs"], verbose=0)   # no early stop: every epoch compared

    reference, reference_ends = build(splits, 0), EpochEnds()
    history = train(reference, train_split, val_split, checkpoint_dir=str(tmp_path / "ref_ckpt"),
                    tensorboard_dir=str(tmp_path / "ref_logs"), callbacks=[reference_ends], **options).history
    assert len(history["loss"]) == 3 and all(np.isfinite(v).all() for v in history.values())
    assert int(reference.optimizer.iterations) == 3 * windows

    ckpt, logs = str(tmp_path / "ckpt"), str(tmp_path / "logs")
    crashed = build(splits, 0)
    with pytest.raises(RuntimeError, match="interrupted"):
        train(crashed, train_split, val_split, checkpoint_dir=ckpt, tensorboard_dir=logs,
              callbacks=[Interrupt()], **options)
    assert int(crashed.optimizer.iterations) == windows
    # what the backup holds; the memory was reset for the second epoch before the failure (and
    # is rebuilt from that reset by every epoch)
    at_crash, after_first = snapshot(crashed), dict(reference_ends.seen[0])
    assert not any(np.any(t) for t in at_crash.pop("memory")[:4])
    after_first.pop("memory")
    assert_same(at_crash, after_first)

    resumed, resumed_ends = build(splits, 1), EpochEnds()   # other initial weights: all from the backup
    resumed_history = train(resumed, train_split, val_split, checkpoint_dir=ckpt, tensorboard_dir=logs,
                            callbacks=[resumed_ends], **options)
    assert resumed_history.epoch == [1, 2]
    assert resumed_history.history.keys() == history.keys()
    for name, values in resumed_history.history.items():
        np.testing.assert_allclose(values, history[name][1:], **CLOSE, err_msg=name)
    assert sorted(resumed_ends.seen) == [1, 2]
    for epoch in (1, 2):
        assert_same(resumed_ends.seen[epoch], reference_ends.seen[epoch])
    # EarlyStopping restored the best epoch's weights (memory included) at the end
    assert int(np.argmax(history["val_mrr"])) == 2
    assert_same(snapshot(resumed), snapshot(reference))
    assert not os.listdir(os.path.join(ckpt, "backup"))   # a finished run removes its backup

    # TensorBoard: per-epoch scalars of training and validation, and the validation scalars per
    # optimiser step; the two runs' event files together are the uninterrupted run's
    scalars, uninterrupted = event_scalars(logs), event_scalars(str(tmp_path / "ref_logs"))
    assert scalars.keys() == uninterrupted.keys()
    for (part, tag), steps in uninterrupted.items():
        assert sorted(scalars[part, tag]) == sorted(steps), (part, tag)
        np.testing.assert_allclose([scalars[part, tag][s] for s in sorted(steps)],
                                   [steps[s] for s in sorted(steps)], **CLOSE, err_msg=tag)
    for part, key in (("train", "loss"), ("validation", "val_mrr")):
        tag = "epoch_" + key.removeprefix("val_")
        np.testing.assert_allclose([scalars[part, tag][e] for e in range(3)], history[key], **CLOSE)
    assert sorted(scalars["validation", "evaluation_mrr_vs_iterations"]) == [windows, 2 * windows, 3 * windows]


def test_early_stopping_state_survives_a_resume(splits, tmp_path):
    """patience 1, best validation MRR at epoch 0: the uninterrupted run stops after epoch 1 and
    restores epoch 0; the run interrupted after epoch 0 and resumed does the same, from the
    early stopping state kept beside the backup, which the finished run removes."""
    train_split, val_split, _ = splits
    reference = build(splits, 0)
    history = train(reference, train_split, val_split, checkpoint_dir=str(tmp_path / "ref"), patience=1,
                    verbose=0).history
    assert len(history["val_mrr"]) == 2 and history["val_mrr"][1] < history["val_mrr"][0]   # the case tested

    ckpt = str(tmp_path / "ckpt")
    with pytest.raises(RuntimeError, match="interrupted"):
        train(build(splits, 0), train_split, val_split, checkpoint_dir=ckpt, patience=1, callbacks=[Interrupt()],
              verbose=0)
    assert sorted(os.listdir(os.path.join(ckpt, "early_stopping"))) == ["best_weights.npz", "state.json"]
    resumed = build(splits, 1)
    resumed_history = train(resumed, train_split, val_split, checkpoint_dir=ckpt, patience=1, verbose=0)
    assert resumed_history.epoch == [1]   # stopped where the uninterrupted run stopped
    np.testing.assert_allclose(resumed_history.history["val_mrr"], history["val_mrr"][1:], **CLOSE)
    assert_same(snapshot(resumed), snapshot(reference))   # epoch 0's weights restored by both
    assert not os.listdir(os.path.join(ckpt, "early_stopping"))
