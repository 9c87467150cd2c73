"""State a training step writes outside the gradient stays correct under tf.distribute:

* two replicas (``MirroredStrategy`` over two logical CPUs, in a subprocess: ``state_replicas.py``)
  end a step on a global batch with the state one process holds after the same global batch --
  the sampled-softmax ``target_counts`` (SUM-aggregated: the counts of all the global batch's
  targets, not each replica's half), the all-position rows' ``trained_rows`` and the weights
  trained with them, and MuSENet's prototypes (Eq. 14 on the global batch's
  all-reduced sums); these fail with the aggregation (or the all-reduce) taken out;
* parameter-server training (chief + 2 workers + 1 ps, ``state_train.py``): the single copy of
  ``target_counts`` on the ps counts every target the workers trained on;
* IMN-Net under two mirrored replicas (every replica reads every window, the loss terms shared
  out by rows) ends with the memory tables and weights of one process (JODIE, no random
  negatives), as does a two-worker MultiWorkerMirroredStrategy cluster running
  ``training.train`` (``imn_workers.py``), and the full IMN-Net trains with finite, decreasing
  loss; under parameter servers it refuses with an error that says why and what to do.

SUM writes no state in its training step (``tfrec_pkg.models.sum``): nothing to test there.
"""
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfrec_pkg import cluster
from tfrec_pkg.bench import child

HERE = os.path.dirname(__file__)
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def replicas():
    """The three two-replica cases of ``state_replicas.py``, run in one subprocess."""
    return child.run([sys.executable, os.path.join(HERE, "state_replicas.py"), "counts", "steps", "prototypes", "imn"],
                     timeout=300)


def test_two_replicas_count_every_target_of_the_global_batch(replicas):
    r = replicas["counts"]
    expected, single = np.asarray(r["expected"]), np.asarray(r["single"])
    assert r["rows"] == 64 and expected.sum() == 64
    np.testing.assert_array_equal(single, expected)
    assert len(r["replicas"]) == 2
    for copy in r["replicas"]:  # each replica's copy: the whole global batch's counts, not its half's
        np.testing.assert_allclose(np.asarray(copy), single, atol=1e-5)


def test_two_replicas_weigh_all_position_steps_by_the_global_batch(replicas):
    """All-position rows of different lengths: each replica divides its share of the loss by the
    global batch's sequences times the global mean steps per sequence (``trained_rows``, summed
    over the replicas), so two steps end on one process's weights. Fails when a replica divides
    by its own steps (weights 1e-2 apart) or counts only its own rows."""
    r = replicas["steps"]
    assert r["expected"] == [64.0, 462.0]
    np.testing.assert_array_equal(r["single"], r["expected"])
    assert len(r["replicas"]) == 2
    for copy in r["replicas"]:
        np.testing.assert_array_equal(copy, r["expected"])
    assert r["weights_moved"] > 1e-3 and r["weights_max_diff"] < 1e-5


def test_two_replicas_update_musenet_prototypes_from_the_global_batch(replicas):
    r = replicas["prototypes"]
    single, initial = np.asarray(r["single"]), np.asarray(r["initial"])
    assert np.abs(single - initial).max() > 0.05  # Eq. (14) moved them
    assert len(r["replicas"]) == 2
    for copy in r["replicas"]:
        np.testing.assert_allclose(np.asarray(copy), single, atol=1e-5)


def test_two_replicas_train_imn_jodie_as_one_process(replicas):
    """Every replica reads every window and keeps the memory one process keeps; the loss terms
    are shared out by rows, so the summed gradients are one process's (JODIE: no random
    negatives). Fails when the replicas read different windows or each takes the whole loss."""
    r = replicas["imn"]
    single = r["single"]
    assert np.abs(np.asarray(single["user_state"])).max() > 0.1 and np.asarray(single["last_item"]).max() > 1
    for name, copies in r["replicas"].items():
        assert len(copies) == 2, name
        for copy in copies:
            np.testing.assert_allclose(np.asarray(copy), np.asarray(single[name]), atol=1e-5, err_msg=name)
    assert np.abs(np.asarray(r["single_weights"][0]) - np.asarray(r["initial_weights"][0])).max() > 1e-3
    np.testing.assert_allclose(r["replica_loss"], r["single_loss"], rtol=1e-5)   # the replicas' shares summed
    for single_weight, copies in zip(r["single_weights"], r["replica_weights"]):
        assert len(copies) == 2
        for copy in copies:
            np.testing.assert_allclose(np.asarray(copy), np.asarray(single_weight), atol=1e-5)


def test_two_replicas_run_training_train_for_imn_with_validation(replicas):
    """``training.train`` under the replicas: every window read by both, the validation ranks
    shared out by rows and summed by the metrics -- one process's logs; ``evaluate_stream``
    after it ranks the test split as one process."""
    r = replicas["imn"]["train"]
    assert r["replicas"]["val_mrr"] > 0 and np.isfinite(list(r["replicas"].values())).all(), r
    for key in ("loss", "val_loss", "val_mrr", "val_recall@10", "test_mrr"):
        np.testing.assert_allclose(r["replicas"][key], r["single"][key], rtol=1e-4, err_msg=key)


def test_two_replicas_train_imn_net_with_nce(replicas):
    """The full IMN-Net (each replica draws its own negatives): finite, decreasing epoch losses."""
    losses = replicas["imn"]["nce_losses"]
    assert len(losses) == 3 and np.isfinite(losses).all(), losses
    assert losses[-1] < losses[0], losses


def test_two_worker_cluster_trains_imn_through_training_train_as_one_process(tmp_path):
    """``training.train`` under MultiWorkerMirroredStrategy (two workers, no ps): each worker reads
    every window (an epoch is the split's windows, not rows / batch_size), two epochs with the
    memory reset between them and validation: both workers end with one process's memory,
    weights and logs."""
    out = tmp_path / "imn"
    script = os.path.join(HERE, "imn_workers.py")
    single = subprocess.run([sys.executable, script, str(out), "--single"], capture_output=True, text=True,
                            timeout=300, env={**os.environ, **ENV})
    assert single.returncode == 0, single.stderr[-4000:]
    log = io.StringIO()
    with cluster.LocalCluster([sys.executable, script, str(out)], workers=2, env=ENV, out=log, grace=5) as c:
        status = c.wait(timeout=300)
    assert status == 0, log.getvalue()[-4000:]
    expected = json.loads((out / "single0.json").read_text())
    assert expected["steps"] == 2 * expected["windows"]
    for index in (0, 1):
        worker = json.loads((out / f"worker{index}.json").read_text())
        assert worker["replicas"] == 2 and worker["steps"] == expected["steps"]
        for name, table in expected["tables"].items():
            np.testing.assert_allclose(worker["tables"][name], table, atol=1e-5, err_msg=name)
        for weight, single_weight in zip(worker["weights"], expected["weights"]):
            np.testing.assert_allclose(weight, single_weight, atol=1e-5)
        for key in ("loss", "val_loss", "val_mrr", "test_mrr"):
            np.testing.assert_allclose(worker["logs"][key], expected["logs"][key], rtol=1e-4, err_msg=key)


def test_parameter_server_counts_live_once_on_the_ps_and_count_every_trained_target(tmp_path):
    out = tmp_path / "ps"
    command = [sys.executable, os.path.join(HERE, "state_train.py"), str(out), "--rows", "512", "--batch", "64",
               "--epochs", "2"]
    log = io.StringIO()
    with cluster.LocalCluster(command, workers=2, ps=1, env=ENV, out=log, grace=5) as c:
        status = c.wait(timeout=300)
    assert status == 0, log.getvalue()[-4000:]
    result = json.loads((out / "result.json").read_text())
    assert "/job:ps/" in result["counts_on"]
    assert result["steps"] == 2 * (512 // 64)
    # both workers' steps added their batches' targets to the one copy: none lost, none twice
    assert result["counts_sum"] == result["steps"] * result["batch"]
    message = result["imn_error"]
    assert message and message.startswith("IMN-Net cannot train under ParameterServerStrategy"), message

