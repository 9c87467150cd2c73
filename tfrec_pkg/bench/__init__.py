"""Benchmarks: ``tfrec bench NAME`` prints a row; ``--out BENCHMARKS.md`` appends it there.

* :mod:`~tfrec_pkg.bench.report`: the row every registered model gets (training, serving,
  REST, memory, matmul FLOP/s of this machine) plus the model's ``bench`` hook;
* :mod:`~tfrec_pkg.bench.timing`: the one timing loop and the machine facts;
* :mod:`~tfrec_pkg.bench.child`: a measurement in a fresh process (its own RSS and TensorFlow settings);
* :mod:`~tfrec_pkg.bench.rest`: REST vs in-process latency of one export;
* :mod:`~tfrec_pkg.bench.onednn`: every paper model's training epoch with and without oneDNN;
* one module per model-specific benchmark (``sum_state``, ``next_item``, ``imn_serving``), named
  by the model's ``register(..., bench="tfrec_pkg.bench.<module>:<function>")``.
"""
from tfrec_pkg.bench.report import append_markdown, main, measure  # noqa: F401
