"""What the cluster path costs per training step, on loopback: IPSRec-S on its planted data,
global batch 256, timed over the second epoch (the first traces and warms up):

* one process, batch 256 and batch 128 (a worker's share of the 2-worker step);
* two workers (``MultiWorkerMirroredStrategy``, 128 rows each): the all-reduce of the
  gradients every step; ``mw_overhead_ms_per_step`` = its step time minus one process's step
  on 128 rows -- the cost of communication and of two processes sharing the cores;
* parameter servers (chief + 2 workers + 1 ps, 256 rows per worker step): every step reads the
  variables from the ps and sends the gradients back; ``ps_overhead_ms_per_step`` = its step
  time, times the 2 workers that run steps at once, minus one process's step on 256 rows.

Each configuration runs in its own processes (``tfrec_pkg.cluster.LocalCluster``), each task
``python -m tfrec_pkg.bench.cluster_training MODEL BATCH OUT``. On a machine with fewer cores
than tasks the workers share them: the cluster cannot be faster there, and the row says what the
communication costs, not what a cluster of machines gains.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time

MODEL = "ipsrec"
BATCH = 256


def _task(model: str, batch: int, out: str) -> None:
    """One task: train two epochs, the chief writes the second epoch's seconds per step."""
    import tfrec_pkg  # noqa: F401
    import tensorflow as tf

    from tfrec_pkg import distributed, experiment, training

    strategy = distributed.strategy_from_env()
    train, _, _ = experiment.planted_splits(model, quick=True, seed=0)
    with strategy.scope():
        built = experiment.build(model, train.vocab, seed=0)
    steps = len(train.frame) // batch
    times = []
    timer = tf.keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: times.append(time.perf_counter()),
                                              on_epoch_end=lambda e, logs: times.append(time.perf_counter()))
    training.train(built, train, epochs=2, batch_size=batch, verbose=0, callbacks=[timer])
    if distributed.is_chief(strategy):
        with open(out, "w") as f:
            json.dump({"seconds_per_step": (times[3] - times[2]) / steps, "steps": steps}, f)


def _run(workers: int, ps: int, batch: int, directory: str) -> dict:
    from tfrec_pkg import cluster

    out = os.path.join(directory, f"w{workers}_ps{ps}_b{batch}.json")
    command = [sys.executable, "-m", "tfrec_pkg.bench.cluster_training", MODEL, str(batch), out]
    if workers == 0:
        subprocess.run(command, check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    else:
        log = io.StringIO()
        status = cluster.run(command, workers=workers, ps=ps, out=log, timeout=900,
                             env={"TF_CPP_MIN_LOG_LEVEL": "2"})
        if status != 0:
            raise RuntimeError(f"cluster run (workers={workers}, ps={ps}) failed:\n{log.getvalue()[-3000:]}")
    with open(out) as f:
        return json.load(f)


def measure(quick: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        one = _run(0, 0, BATCH, directory)["seconds_per_step"]
        half = _run(0, 0, BATCH // 2, directory)["seconds_per_step"]
        mw = _run(2, 0, BATCH, directory)["seconds_per_step"]
        ps = _run(2, 1, BATCH, directory)["seconds_per_step"]
    ms = lambda s: round(1000 * s, 1)  # noqa: E731
    return {"model": f"{MODEL} (cluster, loopback, global batch {BATCH})", "cores": os.cpu_count(),
            "one_process_ms_per_step": ms(one), "one_process_half_batch_ms_per_step": ms(half),
            "two_workers_ms_per_step": ms(mw), "mw_overhead_ms_per_step": ms(mw - half),
            "two_workers_over_one_process": round(mw / one, 2),
            "ps_2_workers_ms_per_step": ms(ps), "ps_overhead_ms_per_step": ms(2 * ps - one),
            "ps_over_one_process": round(ps / one, 2)}


if __name__ == "__main__":
    _task(sys.argv[1], int(sys.argv[2]), sys.argv[3])
