"""The one timing loop every benchmark uses, and the machine facts each row records."""
from __future__ import annotations

import os
import platform
import resource
import time

import numpy as np
import tensorflow as tf


def time_calls(call, calls: int, warmup: int = 5, clock=time.perf_counter) -> np.ndarray:
    """Seconds per ``call()`` after ``warmup`` untimed calls (``clock``: wall-clock by default,
    ``time.process_time`` for this process's CPU time). Every tensor ``call`` returns is
    read back inside the timed region, so asynchronous work is counted; other outputs (a REST
    response) are already plain values."""
    for _ in range(warmup):
        call()
    times = np.empty(calls)
    for i in range(calls):
        t = clock()
        for value in tf.nest.flatten(call()):
            if tf.is_tensor(value):
                value.numpy()
        times[i] = clock() - t
    return times


def train_examples_per_s(model, split, steps: int) -> float:
    """Training examples/s of ``model`` (compiled here with its config's optimizer: Adam at its
    learning rate unless ``embedding_optimizer`` says otherwise) on ``split``, after 3 untimed
    steps that trace and warm up."""
    from tfrec_pkg.models.optimizers import make_optimizer

    model.compile(optimizer=make_optimizer(model, model.config.learning_rate))
    ds = split.dataset(model.config.batch_size).repeat()
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * model.config.batch_size / (time.perf_counter() - start)


def p50_p99_ms(times: np.ndarray) -> tuple[float, float]:
    ms = np.asarray(times) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def latency(fn, batch: dict, calls: int = 200) -> tuple[float, float]:
    """p50/p99 latency in ms of ``fn(batch)``."""
    return p50_p99_ms(time_calls(lambda: fn(batch), calls))


def matmul_flops(n: int = 1024, repeats: int = 20, per_cpu_second: bool = False) -> float:
    """Measured float32 matmul FLOP/s (2 n^3 per product), best of ``repeats``; with
    ``per_cpu_second``, FLOPs per second of this process's CPU time instead of wall-clock time
    (on a shared machine the cores a run gets vary, the work per CPU-second much less)."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    clock = time.process_time if per_cpu_second else time.perf_counter
    return 2 * n ** 3 / float(time_calls(lambda: mm(a, b), repeats, warmup=1, clock=clock).min())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, TF {tf.__version__}{', oneDNN' if onednn_on() else ''}"


def onednn_on() -> bool:
    """Whether TensorFlow runs its oneDNN kernels (other speeds, other round-off): on where
    ``TF_ENABLE_ONEDNN_OPTS=1`` or the CPU (AVX512_VNNI and newer) turned them on."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())
