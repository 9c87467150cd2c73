"""Training on a cluster: the ``tf.distribute`` strategy a process should use, read from
``TF_CONFIG`` as every cluster manager sets it (Kubeflow's TFJob, Vertex AI, SageMaker, and
``tfrec cluster`` on one machine)::

    strategy = distributed.strategy_from_env()   # ps tasks (and the workers of parameter-server
    with strategy.scope():                       # training) serve here and never return
        model = SASRec(config, vocab)
    training.train(model, train, val, checkpoint_dir="/shared/run")

* no ``TF_CONFIG``: the default strategy (one process, every local device);
* a cluster of ``worker`` tasks (and optionally one ``chief``): ``MultiWorkerMirroredStrategy``
  -- synchronous data parallelism, variables mirrored on every worker, gradients all-reduced;
* a cluster with ``ps`` tasks: ``ParameterServerStrategy`` -- the ``chief`` coordinates, the
  workers run the steps it schedules, and variables live on the parameter servers; tables of at
  least :data:`SHARD_MIN_BYTES` are split over all of them (``MinSizePartitioner``), so an item
  table larger than one machine's memory still trains. The ``ps`` and ``worker`` processes only
  start a ``tf.distribute.Server`` and serve until they are stopped.

The config's ``batch_size`` is the global batch: each of the R replicas gets ``batch_size / R``
rows per step (:func:`per_replica_batch`), and each worker reads its own shard of the data
(``training.train``).

State a training step writes outside the gradient (the sampled-softmax ``target_counts``,
MuSENet's prototypes) is aggregated explicitly where it is created; IMN-Net's time-ordered memory
is kept whole on every mirrored replica (each reads every window) and refuses parameter servers. The list, and how each is kept correct: tfrec_pkg/README.md, "State
written outside the gradient, on a cluster".
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile

import tensorflow as tf

SHARD_MIN_BYTES = 256 << 20  # shard variables from 256 MiB (a [1M, 64] float32 table) up
TASK_TYPES = ("chief", "worker", "ps", "evaluator")


def cluster_config(environ=None) -> dict | None:
    """``TF_CONFIG`` parsed and checked, or None when it is unset or empty. A malformed value is
    a ``ValueError`` naming the field and what was expected."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e.msg} at character {e.pos}); expected e.g. "
                         '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}') from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object, got {type(config).__name__}")
    cluster = config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError('TF_CONFIG["cluster"] must map task types to lists of "host:port" addresses, '
                         f"got {cluster!r}")
    for kind, addresses in cluster.items():
        if kind not in TASK_TYPES:
            raise ValueError(f'TF_CONFIG["cluster"] has an unknown task type {kind!r}; expected some of {TASK_TYPES}')
        if not isinstance(addresses, list) or not addresses or not all(_is_address(a) for a in addresses):
            raise ValueError(f'TF_CONFIG["cluster"]["{kind}"] must be a non-empty list of "host:port" strings, '
                             f"got {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise ValueError(f'TF_CONFIG["cluster"]["chief"] must hold one address, got {cluster["chief"]!r}')
    if "worker" not in cluster and "chief" not in cluster:
        raise ValueError('TF_CONFIG["cluster"] needs "worker" (or "chief") tasks')
    if "ps" in cluster and "chief" not in cluster:
        raise ValueError('TF_CONFIG["cluster"] has "ps" tasks but no "chief": parameter-server training '
                         "needs a chief task to coordinate the workers")
    task = config.get("task")
    if not isinstance(task, dict):
        raise ValueError(f'TF_CONFIG["task"] must be an object like {{"type": "worker", "index": 0}}, got {task!r}')
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in cluster:
        raise ValueError(f'TF_CONFIG["task"]["type"] = {kind!r} is not a task type of the cluster '
                         f"({sorted(cluster)})")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise ValueError(f'TF_CONFIG["task"]["index"] = {index!r}; expected an integer in '
                         f'[0, {len(cluster[kind])}) for the {len(cluster[kind])} "{kind}" task(s)')
    return config


def _is_address(value) -> bool:
    host, sep, port = str(value).rpartition(":") if isinstance(value, str) else ("", "", "")
    return bool(host and sep and port.isdigit())


@functools.lru_cache(maxsize=None)
def _strategy_for(text: str, min_shard_bytes: int):
    # A process can set up cluster communication once: the same TF_CONFIG gives the same strategy.
    config = cluster_config({"TF_CONFIG": text})
    if config is None:
        return tf.distribute.get_strategy()
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if "ps" not in config["cluster"]:
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    task = config["task"]
    if task["type"] in ("worker", "ps"):
        serve(resolver, task)
    partitioner = tf.distribute.experimental.partitioners.MinSizePartitioner(
        min_shard_bytes=min_shard_bytes, max_shards=len(config["cluster"]["ps"]))
    return tf.distribute.experimental.ParameterServerStrategy(resolver, variable_partitioner=partitioner)


def serve(resolver, task) -> None:
    """A parameter server's or a parameter-server worker's life: serve the chief until stopped."""
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=task["type"], task_index=task["index"],
                                  protocol=resolver.rpc_layer or "grpc", start=True)
    server.join()


def strategy_from_env(min_shard_bytes: int = SHARD_MIN_BYTES):
    """The strategy ``TF_CONFIG`` asks for (module docstring). On the ``ps`` and ``worker`` tasks
    of parameter-server training this call serves and does not return. ``min_shard_bytes``:
    with parameter servers, variables of at least this size are split over them."""
    return _strategy_for(os.environ.get("TF_CONFIG", "").strip(), int(min_shard_bytes))


def is_multi_worker(strategy) -> bool:
    """True for strategies whose replicas span processes (each process reads its own data)."""
    return is_parameter_server(strategy) or (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                                             and strategy.extended._in_multi_worker_mode())


def is_parameter_server(strategy) -> bool:
    return isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy)


def is_chief(strategy=None) -> bool:
    """Whether this process writes the run's files: the chief task, or worker 0 of a cluster
    without one, or any single process."""
    strategy = strategy or tf.distribute.get_strategy()
    if not is_multi_worker(strategy) or is_parameter_server(strategy):
        return True  # the parameter-server chief is the only process that runs this code
    resolver = strategy.cluster_resolver
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict())


def per_replica_batch(global_batch: int, strategy) -> int:
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(f"batch_size={global_batch} (the global batch) must be a multiple of the "
                         f"{replicas} replicas of the cluster, so that each gets the same share")
    return global_batch // replicas


class write_dir:
    """``with write_dir(path, strategy) as d``: the directory this process writes the run's
    files to -- ``path`` on the chief; on the other workers of a multi-worker run, which must make
    the same (collective) save calls, a temporary directory removed afterwards."""

    def __init__(self, path: str, strategy=None):
        self.path, self.chief = path, is_chief(strategy)
        self._tmp = None

    def __enter__(self) -> str:
        if self.chief:
            return self.path
        self._tmp = tempfile.mkdtemp(prefix="tfrec-worker-")
        return self._tmp

    def __exit__(self, *exc):
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
        return False
