"""One benchmark row per model: training examples/s, in-process serving latency p50/p99
(batch 1 and 256), REST round-trip latency on the local server vs the in-process signature
(batch 1 and 100), peak RSS, the machine's float32 matmul FLOP/s measured in the same run (so
speed can be read as a ratio to what this machine can do at all), and the model's own extra
numbers (its registered ``bench`` hook). For a stream model (IMN-Net) a training step is a time
window: ``batch`` is then the split's mean interactions per window (``rows_per_batch``) and the
serving requests carry raw inputs (``feature_rows``). Prints the row; appends it to the file named by
``--out`` (BENCHMARKS.md for a recorded run).

Every row ends with ``bench_minutes``, the run's own time. Before it starts, a run prints the
minutes of the newest row of the same bench (``--quick`` or not) that records them, in the file
named by ``--out`` or else ./BENCHMARKS.md, with that row's date and machine (:func:`estimate`).
"""
from __future__ import annotations

import datetime
import os
import time

import tensorflow as tf

from tfrec_pkg import experiment, export
from tfrec_pkg.bench.rest import rest_latency
from tfrec_pkg.bench.timing import latency, machine, matmul_flops, peak_rss_mb
from tfrec_pkg.durations import readable
from tfrec_pkg.models import registry

MINUTES = "bench_minutes"  # the last column of every row: how long the run took


def measure(name: str, quick: bool = False, train_steps: int = 100) -> dict:
    entry = registry.entry(name)
    train_split = experiment.planted_splits(name, quick=True, seed=0)[0]
    model = experiment.build(name, train_split.vocab, seed=None, compile=True,  # fit by steps below
                             options=getattr(train_split, "model_options", None))
    batch_size = getattr(model.config, "batch_size", 256)
    # examples per training step: a stream split's step is a time window, not a batch
    step_rows = getattr(train_split, "rows_per_batch", batch_size)
    steps = 20 if quick else train_steps
    ds = train_split.dataset(batch_size).repeat()
    model.fit(ds, steps_per_epoch=5, epochs=1, verbose=0)  # trace + warm up
    t = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    train_eps = steps * step_rows / (time.perf_counter() - t)

    serve = export.serving_signatures(model)["serving_default"]
    if hasattr(train_split, "feature_rows"):   # a stream split: raw inputs, not the training windows
        rows = train_split.feature_rows(256)
    else:
        examples = next(iter(train_split.dataset(256, shuffle=False)))
        rows = {s.name: examples[s.name].numpy() for s in model.feature_spec}
    request = export.serving_request(model, {s.name: rows[s.name] for s in model.feature_spec})
    b256 = {k: tf.constant(v) for k, v in request.items()}
    b1 = {k: v[:1] for k, v in b256.items()}
    calls = 50 if quick else 300
    p50_1, p99_1 = latency(lambda b: serve(**b), b1, calls)
    p50_256, p99_256 = latency(lambda b: serve(**b), b256, calls)
    extra = entry.hook("bench")(model, quick) if entry.bench else {}
    rest = rest_latency(model, request, 50 if quick else 200)
    flops = matmul_flops()
    return {"model": name, "train_examples_per_s": round(train_eps), "batch": round(step_rows),
            "serve_b1_p50_ms": round(p50_1, 3), "serve_b1_p99_ms": round(p99_1, 3),
            "serve_b256_p50_ms": round(p50_256, 3), "serve_b256_p99_ms": round(p99_256, 3),
            "matmul_gflops": round(flops / 1e9, 1),
            "train_examples_per_s_per_matmul_gflops": round(train_eps / (flops / 1e9), 2),
            "peak_rss_mb": round(peak_rss_mb()), **rest, **extra}


def append_markdown(row: dict, path: str, command: str) -> None:
    header = "| date | command | machine | " + " | ".join(row) + " |"
    line = (f"| {datetime.date.today().isoformat()} | `{command}` | {machine()} | "
            + " | ".join(str(v) for v in row.values()) + " |")
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write("# Benchmarks\n\nRows appended by `tfrec bench NAME --out BENCHMARKS.md`. "
                    "Speeds are noisy on shared machines: compare ratios taken in one run "
                    "(e.g. examples/s per measured matmul GFLOP/s).\n")
        f.write(f"\n{header}\n|" + "---|" * (3 + len(row)) + f"\n{line}\n")


# benchmarks of the serving stack or the training stack rather than of one model:
# name -> "module:function(quick)"
SERVING_BENCHES = {"serving_fuzz": "tfrec_pkg.bench.serving_fuzz:measure",
                   # IMN-Net's own numbers, built from its models directly (also its registered bench hook)
                   "imn_serving": "tfrec_pkg.bench.imn_serving:measure",
                   "cluster_training": "tfrec_pkg.bench.cluster_training:measure",
                   "compiled_steps": "tfrec_pkg.bench.next_item:compiled_steps",
                   "onednn": "tfrec_pkg.bench.onednn:measure"}


def estimate(name: str, quick: bool, path: str) -> str:
    """What ``tfrec bench NAME`` prints before it starts: the minutes of the newest row in the
    markdown file ``path`` whose command ran this bench, ``--quick`` as asked, with its date and
    machine (benches take from a minute to a quarter of an hour and more)."""
    timed = [row for row in timed_rows(path)
             if name in row["command"].strip("`").split() and ("--quick" in row["command"]) == quick]
    flag = " --quick" if quick else ""
    if not timed:
        return f"bench {name}{flag}: no timed run in {path} to go by; this run's time ends its row ({MINUTES})"
    last = timed[-1]
    return (f"bench {name}{flag}: about {readable(60 * float(last[MINUTES]))} "
            f"(its last timed run in {path}: {last['date']}, {last['machine']})")


def timed_rows(path: str) -> list[dict[str, str]]:
    """The rows of the markdown tables in ``path`` (as :func:`append_markdown` writes them) that
    have a ``bench_minutes`` column, each as {column: cell}, in file order."""
    if not os.path.exists(path):
        return []
    rows, columns = [], []
    with open(path) as f:
        for line in f:
            if not line.startswith("|"):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] == "date":
                columns = cells
            elif MINUTES in columns and len(cells) == len(columns) and not cells[0].startswith("-"):
                rows.append(dict(zip(columns, cells)))
    return rows


def main(name: str, out: str | None = None, quick: bool = False, command: str = "") -> dict:
    print(estimate(name, quick, out or "BENCHMARKS.md"), flush=True)
    start = time.perf_counter()
    if name in SERVING_BENCHES:
        import importlib

        module, function = SERVING_BENCHES[name].split(":")
        row = getattr(importlib.import_module(module), function)(quick=quick)
    else:
        row = measure(name, quick=quick)
    row[MINUTES] = round((time.perf_counter() - start) / 60, 1)
    for k, v in row.items():
        print(f"{k:>42}: {v}")
    if out:
        append_markdown(row, out, command or f"tfrec bench {name} --out {out}")
        print(f"appended to {out}")
    return row
