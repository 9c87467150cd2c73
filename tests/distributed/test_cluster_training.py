"""Training on real multi-process clusters on loopback (``tfrec_pkg.cluster.LocalCluster``
starting ``cluster_train.py`` once per task with its ``TF_CONFIG``):

* two-worker ``MultiWorkerMirroredStrategy`` training of BaseModel and IPSRec-S equals one
  process trained on the same global batches, and the model exports and serves like it;
* parameter-server training (chief + 2 workers + 2 ps, lazy Adam for the tables) shards the
  item table over the ps, lowers the loss, and saves a model whose export holds one ordinary
  table;
* fault tolerance: a worker killed with SIGKILL mid-epoch is restarted and training resumes
  from the last epoch (multi-worker) or carries on (parameter servers).
"""
import io
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (the Keras 2 API before TensorFlow)
import tensorflow as tf

from tfrec_pkg import cluster, experiment
from tfrec_pkg.export import saved_model
from tfrec_pkg.models import persistence

SCRIPT = os.path.join(os.path.dirname(__file__), "cluster_train.py")
ROWS, BATCH = 512, 64
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}


def _command(model, out, *args):
    return [sys.executable, SCRIPT, model, str(out), "--rows", str(ROWS), "--batch", str(BATCH), *map(str, args)]


def _run_cluster(command, workers, ps=0, restarts=0, timeout=300, on_line=None):
    log = io.StringIO()
    with cluster.LocalCluster(command, workers=workers, ps=ps, restarts=restarts, env=ENV, out=log, grace=5) as c:
        status = c.wait(timeout=timeout)
    text = log.getvalue()
    assert status == 0, text[-4000:]
    return text


def _single(command):
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, **ENV})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def _weights(path):
    """The trained variables (the Keras metrics' counters left out) and the logged losses."""
    result = np.load(os.path.join(path, "result.npz"))
    names = result["names"]
    return ({n: result[f"arr_{i}"] for i, n in enumerate(names) if "/" in n}, result["loss"])


def _served(run_dir, export_base):
    """(loaded SavedModel, its serving_default outputs for the export's sample request, the
    in-process model's outputs for it)."""
    model = persistence.load_trained(str(run_dir))
    path = saved_model.save(model, str(export_base))
    loaded = tf.saved_model.load(path)
    request = {k: tf.constant(v) for k, v in saved_model.sample_features(model, batch=4).items()}
    served = {k: v.numpy() for k, v in loaded.signatures["serving_default"](**request).items()}
    return loaded, served, model


@pytest.mark.parametrize("model", ["base_model", "ipsrec"])
def test_two_workers_train_as_one_process_on_the_same_global_batches(model, tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    _single(_command(model, single, "--epochs", 2, "--reference", 2, "--save", single / "run"))
    log = _run_cluster(_command(model, multi, "--epochs", 2, "--save", multi / "run", "--logs", multi / "logs"),
                       workers=2)
    assert "[worker 0] done" in log and "[worker 1] done" in log
    logs = [os.path.relpath(os.path.join(d, f), multi / "logs") for d, _, files in os.walk(multi / "logs")
            for f in files]
    assert logs and all(f.split(os.sep)[0] in ("train",) for f in logs), logs  # the chief's alone
    w_single, loss_single = _weights(single)
    w_multi, loss_multi = _weights(multi)
    assert sorted(w_single) == sorted(w_multi) and len(w_single) > 5
    assert len(loss_multi) == 2 and np.all(np.diff(loss_multi) < 0)  # it learned
    np.testing.assert_allclose(loss_multi, loss_single, rtol=1e-5)
    for name in w_single:
        np.testing.assert_allclose(w_multi[name], w_single[name], atol=5e-5, err_msg=name)
    _, served_single, _ = _served(single / "run", tmp_path / "export_single")
    _, served_multi, _ = _served(multi / "run", tmp_path / "export_multi")
    assert sorted(served_multi) == sorted(served_single)
    for key, value in served_single.items():
        if value.dtype.kind == "f":
            assert np.isfinite(value[np.isfinite(served_multi[key])]).all()
            np.testing.assert_allclose(served_multi[key], value, atol=1e-4, err_msg=key)


def test_parameter_server_training_shards_the_item_table_and_exports_one(tmp_path):
    out = tmp_path / "ps"
    # a [1470, 64] float32 table is 376 KB: shard from 64 KiB so that it spreads over both ps;
    # the tables train with lazy Adam (only the batch's rows), the catalogue-scale configuration
    _run_cluster(_command("ipsrec", out, "--epochs", 2, "--save", out / "run", "--min-shard-bytes", 65536,
                          "--set", "embedding_optimizer=lazy_adam"), workers=2, ps=2)
    assert int(np.load(out / "item_table_shards.npy")) == 2
    _, loss = _weights(out)
    assert len(loss) == 2 and np.isfinite(loss).all() and loss[1] < loss[0]
    # the saved model, loaded without a cluster: one ordinary table, the in-cluster outputs
    model = persistence.load_trained(str(out / "run"))
    table = model.item_embedding.embeddings
    assert isinstance(table, tf.Variable) and not isinstance(table, tf.__internal__.distribute.ShardedVariable)
    entry, config = experiment.resolve(("ipsrec", {"dropout": 0.0}))
    _, val, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
    first = next(iter(val.dataset(16, shuffle=False)))
    np.testing.assert_allclose(model(first).numpy(), np.load(out / "scores.npy"), atol=1e-5)
    loaded, _, _ = _served(out / "run", tmp_path / "export")
    tables = [v for v in loaded.variables if v.shape == table.shape]
    assert len(tables) == 1, [(v.name, v.shape) for v in loaded.variables]
    history = {k: v for k, v in first.items() if k.startswith("hist_")}
    served = loaded.signatures["score_candidates"](**history, candidate_item_ids=first["item_id"][:, None])
    np.testing.assert_allclose(served["scores"].numpy()[:, 0], np.load(out / "scores.npy"), atol=1e-5)


def test_a_worker_killed_mid_epoch_is_restarted_and_training_resumes_from_the_last_epoch(tmp_path):
    out, checkpoints = tmp_path / "multi", tmp_path / "checkpoints"
    # worker 1 kills itself (SIGKILL) at step 3 of epoch 2; worker 0's collectives then fail too:
    # both are restarted and resume from the backup of epoch 1 (on an idle machine in ~20 s; on a
    # loaded one a restarted task can meet the other mid-start and fail again: hence 8 restarts)
    command = _command("base_model", out, "--epochs", 3, "--checkpoint", checkpoints, "--kill-at", "1:3")
    log = io.StringIO()
    with cluster.LocalCluster(command, workers=2, restarts=8, env=ENV, out=log, grace=5) as c:
        deadline = time.monotonic() + 300
        while not c.exited("worker", 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (out / "killed").exists(), log.getvalue()[-3000:]
        # the moment of the kill: the backup on disk is whole (its index names files that load)
        backup = tf.train.latest_checkpoint(str(checkpoints / "backup" / "chief"))
        assert backup is not None, sorted(str(p) for p in checkpoints.rglob("*"))
        assert tf.train.load_checkpoint(backup).get_variable_to_shape_map()
        status = c.wait(timeout=420)
    text = log.getvalue()
    assert status == 0, text[-4000:]
    assert os.path.exists(out / "killed")
    assert re.search(r"\[cluster\] worker 1 exited with .*SIGKILL", text), text[-3000:]
    _, loss = _weights(out)
    assert len(loss) == 2 and np.isfinite(loss).all()  # epochs 2 and 3 only: resumed, not restarted
    assert not [p for p in checkpoints.rglob("*") if p.is_file()]  # the backup is removed when training ends


def test_parameter_server_training_survives_a_killed_worker(tmp_path):
    out = tmp_path / "ps"
    command = _command("ipsrec", out, "--epochs", 4, "--rows", 2048, "--print-epochs")
    log = io.StringIO()
    with cluster.LocalCluster(command, workers=2, ps=1, restarts=2, env=ENV, out=log, grace=5) as c:
        deadline = time.monotonic() + 300
        while "epoch 1 done" not in log.getvalue() and time.monotonic() < deadline and c.task("chief", 0).running:
            time.sleep(0.2)
        assert "epoch 1 done" in log.getvalue(), log.getvalue()[-3000:]
        os.kill(c.task("worker", 1).pid, signal.SIGKILL)
        status = c.wait(timeout=300)
    text = log.getvalue()
    assert status == 0, text[-4000:]
    assert re.search(r"\[cluster\] worker 1 exited with .*SIGKILL", text), text[-3000:]
    _, loss = _weights(out)
    assert len(loss) == 4 and np.isfinite(loss).all()
