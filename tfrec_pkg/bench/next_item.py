"""Next-item benchmarks (IPSRec issue): in one run,

* training sequences/s of IPSRec-S, IPSRec-C and SASRec at L=50, d=64 with 10k and 100k
  items (full softmax), and their achieved FLOP/s as a fraction of the machine's measured
  float32 matmul FLOP/s (FLOPs counted analytically, see :func:`train_flops_per_sequence`);
* top-10 latency (batch 1 and 256) over 100k items with history exclusion;
* sampled-softmax mode at 1M items: sequences/s and peak memory, next to full softmax at 1M;
* the embedding tables' optimizer in sampled-softmax mode at 1M and 10M items (10M: not with
  ``quick``): today's Adam (``ipsrec_s_*_sampled_*``) against ``embedding_optimizer="lazy_adam"``
  (``ipsrec_s_*_sampled_lazy_adam_*``), sequences/s and peak RSS, and the speed ratio.

:func:`compiled_steps` (``tfrec bench compiled_steps``) compares XLA-compiled steps
(``jit_compile``), bfloat16 compute (``precision="mixed_bfloat16"``) and Keras' dropout masks
with the float32 default for SASRec and IPSRec-S at 10k items.

Each configuration runs in a fresh subprocess on random full-length histories (speed does not
depend on the data), so its peak RSS is its own.
"""
from __future__ import annotations

import json
import statistics
import sys
import time

from tfrec_pkg.bench import child
from tfrec_pkg.bench.timing import matmul_flops, p50_p99_ms, peak_rss_mb, time_calls


def measure_one(items: int, config: dict, steps: int, latency: int = 0, batch: int = 256, max_history: int = 50,
                keras_dropout: bool = False) -> dict:
    """Training sequences/s of one IPSRec config on random histories (and, with ``latency``
    calls, top-10 latency at batch 1 and 256); runs in the calling process. ``keras_dropout``:
    the baseline for the library's dropout, every dropout drawing its mask as
    ``tf.keras.layers.Dropout`` does (its parent class's ``call``)."""
    import numpy as np
    import tensorflow as tf

    from tfrec_pkg.layers import dropout
    if keras_dropout:
        dropout.Dropout.call = tf.keras.layers.Dropout.call

    from tfrec_pkg.data.vocab import Vocabulary
    from tfrec_pkg.export.signatures import serving_signatures
    from tfrec_pkg.models.ipsrec import IPSRec, IPSRecConfig
    from tfrec_pkg.models.optimizers import make_optimizer

    vocab = {"item": Vocabulary(np.arange(items), "int64"), "provider": Vocabulary(np.arange(1000), "int64")}
    model = IPSRec(IPSRecConfig(max_history=max_history, **config), vocab)
    model.compile(optimizer=make_optimizer(model, 1e-3))  # Adam unless config names embedding_optimizer
    rng = np.random.default_rng(0)
    n = batch * 8
    data = {"hist_item_ids": rng.integers(0, items, (n, max_history)),
            "hist_provider_ids": rng.integers(0, 1000, (n, max_history)),
            "item_id": rng.integers(0, items, n), "provider_id": rng.integers(0, 1000, n)}
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch, drop_remainder=True).repeat().prefetch(2)
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # trace + warm up
    cpu = time.process_time()
    seconds = time_calls(lambda: model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0), 1, warmup=0)[0]
    out = {"seqs_per_s": steps * batch / seconds, "seqs_per_cpu_s": steps * batch / (time.process_time() - cpu)}
    if latency:
        sig = serving_signatures(model)["serving_default"]
        for b in (1, 256):
            req = {"hist_item_ids": tf.constant(data["hist_item_ids"][:b]),
                   "hist_provider_ids": tf.constant(data["hist_provider_ids"][:b])}
            k, ex = tf.fill([b], tf.constant(10, tf.int64)), tf.fill([b], True)
            out[f"top10_b{b}_p50_ms"], out[f"top10_b{b}_p99_ms"] = p50_p99_ms(
                time_calls(lambda: sig(req, k, ex), latency))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


VARIANTS = {"ipsrec_s": {}, "ipsrec_c": {"stream": "cross"}, "sasrec": {"use_provider": False}}


def train_flops_per_sequence(variant: str, items: int, L: int = 50, d: int = 64, inner: int = 256,
                             layers: int = 2, sampled_batch: int | None = None) -> float:
    """Multiply-add FLOPs (2 per MAC) of one training sequence, forward + backward (x3):
    per Transformer layer over T tokens: Q, K, V, O projections 8 T d^2, attention scores and
    mixing 4 T^2 d, FFN 4 T d inner; scoring 2 d V against the item table (V = the batch size
    in sampled mode). IPSRec-S runs T = 2L; IPSRec-C two encoders of T = L plus one
    co-attention layer per stream; SASRec one encoder of T = L. Elementwise ops, LayerNorm
    and softmax are left out (a few % at these sizes)."""
    def layer(T):
        return 8 * T * d * d + 4 * T * T * d + 4 * T * d * inner

    encoder = {"ipsrec_s": layers * layer(2 * L), "sasrec": layers * layer(L),
               "ipsrec_c": 2 * layers * layer(L) + 2 * layer(L)}[variant]
    scoring = 2 * d * (sampled_batch or items)
    return 3.0 * (encoder + scoring)


def _run(items: int, config: dict, steps: int, latency: int = 0, batch: int = 256, max_history: int = 50,
         keras_dropout: bool = False) -> dict:
    """:func:`measure_one` in a fresh process, so that its peak RSS is its own."""
    args = json.dumps({"items": items, "config": config, "steps": steps, "latency": latency,
                       "batch": batch, "max_history": max_history, "keras_dropout": keras_dropout})
    return child.run([sys.executable, "-m", __name__, args])


def next_item_bench(model=None, quick: bool = False) -> dict:
    """The numbers listed in the module docstring (``model`` is unused: every configuration
    is built in its own process)."""
    steps = 5 if quick else 20
    gflops = matmul_flops() / 1e9
    out = {"bench_matmul_gflops": round(gflops, 1)}
    for items in (10_000, 100_000):
        for name, change in VARIANTS.items():
            r = _run(items, change, steps, latency=(20 if quick else 100) if (items == 100_000 and name == "ipsrec_s") else 0)
            tag = f"{name}_{items // 1000}k"
            out[f"{tag}_seqs_per_s"] = round(r["seqs_per_s"])
            achieved = r["seqs_per_s"] * train_flops_per_sequence(name, items) / 1e9
            out[f"{tag}_gflops"] = round(achieved, 1)
            out[f"{tag}_flop_fraction"] = round(achieved / gflops, 3)
            for key in ("top10_b1_p50_ms", "top10_b1_p99_ms", "top10_b256_p50_ms", "top10_b256_p99_ms"):
                if key in r:
                    out[f"ipsrec_s_100k_{key}"] = round(r[key], 2)
    for loss in ("sampled_softmax", "full_softmax"):
        r = _run(1_000_000, {"item_loss": loss}, max(2, steps // (1 if loss == "sampled_softmax" else 4)))
        tag = f"ipsrec_s_1m_{loss.split('_')[0]}"
        out[f"{tag}_seqs_per_s"] = round(r["seqs_per_s"])
        out[f"{tag}_peak_rss_mb"] = round(r["peak_rss_mb"])
    out["ipsrec_s_1m_sampled_over_full_seqs_per_s"] = round(
        out["ipsrec_s_1m_sampled_seqs_per_s"] / out["ipsrec_s_1m_full_seqs_per_s"], 1)
    # the tables' optimizer: at 1M, Adam is the sampled run above; at 10M (2.5 GB per copy of
    # the table, Adam's two slots included ~7.5 GB) both are measured here, one after the other
    for items in (1_000_000,) if quick else (1_000_000, 10_000_000):
        tag = f"ipsrec_s_{items // 1_000_000}m_sampled"
        for choice in ("adam", "lazy_adam") if items > 1_000_000 else ("lazy_adam",):
            r = _run(items, {"item_loss": "sampled_softmax", "embedding_optimizer": choice}, max(2, steps))
            name = tag if choice == "adam" else f"{tag}_{choice}"
            out[f"{name}_seqs_per_s"] = round(r["seqs_per_s"])
            out[f"{name}_peak_rss_mb"] = round(r["peak_rss_mb"])
        out[f"ipsrec_s_{items // 1_000_000}m_lazy_adam_over_adam_seqs_per_s"] = round(
            out[f"{tag}_lazy_adam_seqs_per_s"] / out[f"{tag}_seqs_per_s"], 1)
    return out


# name -> (config change, keras_dropout); float32 is the library's default step
STEP_OPTIONS = {"float32": ({}, False), "jit": ({"jit_compile": True}, False),
                "bf16": ({"precision": "mixed_bfloat16"}, False), "keras_dropout": ({}, True)}


def compiled_steps(quick: bool = False) -> dict:
    """SASRec and IPSRec-S at 10k items (L 50, d 64, batch 256, full softmax): float32, XLA-
    compiled steps, bfloat16 compute, and float32 with Keras' own dropout masks (the baseline for
    the library's cheaper dropout), one after the other for ``rounds`` rounds; medians of
    sequences/s and of sequences per CPU-second, and the options' ratios to float32 on both.
    The CPU-time ratio is the one to read on a shared machine, where wall-clock speed can fall
    on plateaus that have nothing to do with the code. ``*_flop_fraction``: the analytic training
    FLOP/s (:func:`train_flops_per_sequence`) over the matmul FLOP/s measured in the same run;
    ``*_flop_fraction_cpu``: the same per CPU-second, training FLOPs per CPU-second over the
    matmul's FLOPs per CPU-second."""
    steps, rounds = (5, 1) if quick else (20, 3)
    gflops = matmul_flops() / 1e9
    gflops_cpu = matmul_flops(per_cpu_second=True) / 1e9
    out = {"bench_matmul_gflops": round(gflops, 1), "bench_matmul_gflops_per_cpu_s": round(gflops_cpu, 1)}
    for name in ("sasrec", "ipsrec_s"):
        runs = {tag: [] for tag in STEP_OPTIONS}
        for _ in range(rounds):
            for tag, (change, keras_dropout) in STEP_OPTIONS.items():
                runs[tag].append(_run(10_000, {**VARIANTS[name], **change}, steps, keras_dropout=keras_dropout))
        for tag, got in runs.items():
            for unit in ("seqs_per_s", "seqs_per_cpu_s"):
                out[f"{name}_{tag}_{unit}"] = round(statistics.median(r[unit] for r in got))
            flops = train_flops_per_sequence(name, 10_000) / 1e9
            out[f"{name}_{tag}_flop_fraction"] = round(out[f"{name}_{tag}_seqs_per_s"] * flops / gflops, 3)
            out[f"{name}_{tag}_flop_fraction_cpu"] = round(out[f"{name}_{tag}_seqs_per_cpu_s"] * flops / gflops_cpu, 3)
        for tag in ("jit", "bf16", "keras_dropout"):
            for unit, suffix in (("seqs_per_s", "wall"), ("seqs_per_cpu_s", "cpu")):
                out[f"{name}_{tag}_over_float32_{suffix}"] = round(out[f"{name}_{tag}_{unit}"]
                                                                   / out[f"{name}_float32_{unit}"], 2)
    return out


if __name__ == "__main__":
    import tfrec_pkg  # noqa: F401  (the Keras-2 environment before TensorFlow loads)

    child.report(measure_one(**json.loads(sys.argv[1])))
