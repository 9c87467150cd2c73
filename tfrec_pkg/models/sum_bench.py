"""SUM's incremental-update benchmark (Sec. 4.6: "on the same level with GRU"): latency of
one ``update_state`` call at batch 1 and events/s at batch 1024, for SUM and the GRU user
encoder in the same run, through the exported-signature code path."""
from __future__ import annotations

import time

import numpy as np
import tensorflow as tf


def _time_updates(fn, batch: int, calls: int, item_ids, category_ids, k: int, d: int):
    memory = tf.zeros([batch, k, d])
    last = tf.zeros([batch, d])
    items = tf.constant(np.resize(item_ids, batch).astype(np.int64))
    cats = tf.constant(np.resize(category_ids, batch).astype(np.int64))
    for _ in range(5):
        fn(memory=memory, last_input=last, item_id=items, category_id=cats)
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        out = fn(memory=memory, last_input=last, item_id=items, category_id=cats)
        out["memory"].numpy()
        times.append(time.perf_counter() - t)
    return np.array(times)


def update_state_bench(model, quick: bool = False) -> dict:
    from tfrec_pkg.export.signatures import serving_signatures
    from tfrec_pkg.models.sum import SUM

    gru = SUM(model.config.replace(user_encoder="gru"), model.vocab)
    calls = 50 if quick else 300
    items = np.array(model.vocab["item"].ids[:1024] or [0])
    cats = np.array(model.vocab["category"].ids[:1] or [0])
    out = {}
    for name, m in (("sum", model), ("gru", gru)):
        m(m.example_batch())
        fn = serving_signatures(m)["update_state"]
        k, d = m.cell.state_size[0].as_list()
        t1 = _time_updates(fn, 1, calls, items, cats, k, d) * 1e3
        t1024 = _time_updates(fn, 1024, max(10, calls // 10), items, cats, k, d)
        out[f"{name}_update_b1_p50_ms"] = round(float(np.percentile(t1, 50)), 3)
        out[f"{name}_update_b1_p99_ms"] = round(float(np.percentile(t1, 99)), 3)
        out[f"{name}_update_b1024_events_per_s"] = round(1024 / float(np.median(t1024)))
    out["sum_over_gru_update_b1_p50"] = round(out["sum_update_b1_p50_ms"] / out["gru_update_b1_p50_ms"], 2)
    out["sum_over_gru_events_per_s"] = round(out["sum_update_b1024_events_per_s"] / out["gru_update_b1024_events_per_s"], 2)
    return out
