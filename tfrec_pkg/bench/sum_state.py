"""SUM's incremental-update benchmark (Sec. 4.6: "on the same level with GRU"): latency of
one ``update_state`` call at batch 1 and events/s at batch 1024, for SUM and the GRU user
encoder measured interleaved, through the exported-signature code path; and their training
rows/s with the grouped softmax loss, also interleaved (:func:`train_time_bench`)."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrec_pkg.bench.timing import p50_p99_ms, time_calls
from tfrec_pkg.export.signatures import serving_signatures
from tfrec_pkg.models.sum import SUM


def _time_updates(fn, batch: int, calls: int, item_ids, category_ids, k: int, d: int):
    inputs = dict(memory=tf.zeros([batch, k, d]), last_input=tf.zeros([batch, d]),
                  item_id=tf.constant(np.resize(item_ids, batch).astype(np.int64)),
                  category_id=tf.constant(np.resize(category_ids, batch).astype(np.int64)))
    return time_calls(lambda: fn(**inputs), calls)


def update_state_bench(model, quick: bool = False, repeats: int | None = None) -> dict:
    """``update_state`` latency (batch 1) and events/s (batch 1024) of SUM and of the GRU
    encoder, interleaved: ``repeats`` rounds, each timing both; p50/p99 and events/s are over
    all rounds, ``sum_over_gru_update_b1_p50`` is the median over the rounds of SUM's p50 over
    GRU's (one round's two timings share the machine's state)."""
    gru = SUM(model.config.replace(user_encoder="gru"), model.vocab)
    calls = 50 if quick else 300
    repeats = repeats or (3 if quick else 7)
    items = np.array(model.vocab["item"].ids[:1024] or [0])
    cats = np.array(model.vocab["category"].ids[:1] or [0])
    fns = {}
    for name, m in (("sum", model), ("gru", gru)):
        m(m.example_batch())
        k, d = m.cell.state_size[0].as_list()
        fns[name] = (serving_signatures(m)["update_state"], k, d)
    b1 = {name: [] for name in fns}
    b1024 = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (fn, k, d) in fns.items():
            b1[name].append(_time_updates(fn, 1, calls, items, cats, k, d))
            b1024[name].append(_time_updates(fn, 1024, max(10, calls // 10), items, cats, k, d))
    out = {}
    for name in fns:
        p50, p99 = p50_p99_ms(np.concatenate(b1[name]))
        out[f"{name}_update_b1_p50_ms"] = round(p50, 3)
        out[f"{name}_update_b1_p99_ms"] = round(p99, 3)
        out[f"{name}_update_b1024_events_per_s"] = round(1024 / float(np.median(np.concatenate(b1024[name]))))
    per_round = [np.median(s) / np.median(g) for s, g in zip(b1["sum"], b1["gru"])]
    out["sum_over_gru_update_b1_p50"] = round(float(np.median(per_round)), 2)
    out["sum_over_gru_events_per_s"] = round(out["sum_update_b1024_events_per_s"] / out["gru_update_b1024_events_per_s"], 2)
    # training with the grouped softmax loss (each history encoded once per group), interleaved
    out.update(train_time_bench(model.config, quick=quick))
    return out


def _train_function(model, batches):
    """``model``'s compiled Keras train step over ``batches`` (cycled), one call per step; with
    ``jit_compile`` the ids are mapped beforehand, as ``fit``'s input pipeline would."""
    model(model.example_batch())
    model.compile(optimizer=tf.keras.optimizers.Adam(model.config.learning_rate))
    data = tf.data.Dataset.from_tensor_slices(batches)
    if model.config.jit_compile:
        data = data.map(model.map_ids).cache()
    iterator = iter(data.repeat())
    step = model.make_train_function()
    return lambda: step(iterator)


def train_time_bench(config, splits=None, quick: bool = False, repeats: int | None = None,
                     steps: int | None = None, encoders=("sum", "gru", "sum_xla", "gru_xla")) -> dict:
    """Training rows/s of the SUM and GRU user encoders (same config otherwise) with the grouped
    softmax loss (1 positive + ``negatives`` rows per history), on batches of the planted data,
    measured interleaved: ``repeats`` rounds, each timing ``steps`` train steps of every encoder
    ("_xla": with ``jit_compile``); ``sum_over_gru_train_time`` (and ``..._xla``) is the median
    over the rounds of SUM's step time over GRU's."""
    from tfrec_pkg.models.sum import planted_data

    config = config.replace(loss="softmax")
    splits = splits or planted_data(config, quick=True).splits()
    train = splits[0]
    g = 1 + config.negatives
    ds = train.dataset(config.batch_size, shuffle=False, group_size=g)
    stacked = [b for _, b in zip(range(8), ds)]
    batches = {k: tf.stack([b[k] for b in stacked]) for k in stacked[0]}
    rows = int(batches["label"].shape[1])
    repeats = repeats or (3 if quick else 15)  # the ratio's round-to-round spread is ~0.1
    steps = steps or (5 if quick else 15)
    fns = {}
    for name in encoders:
        tf.keras.utils.set_random_seed(0)
        encoder, _, xla = name.partition("_")
        fns[name] = _train_function(SUM(config.replace(user_encoder=encoder, jit_compile=bool(xla)), train.vocab),
                                    batches)
    times = {name: [] for name in encoders}
    for _ in range(repeats):
        for name in encoders:
            times[name].append(float(np.median(time_calls(fns[name], steps, warmup=2))))
    out = {f"{name}_train_rows_per_s": round(rows / float(np.median(times[name]))) for name in encoders}
    for suffix in ("", "_xla"):
        if f"sum{suffix}" in times and f"gru{suffix}" in times:
            ratio = np.array(times[f"sum{suffix}"]) / np.array(times[f"gru{suffix}"])
            out[f"sum_over_gru_train_time{suffix}"] = round(float(np.median(ratio)), 2)
    return out
