"""IMN-Net's benchmark numbers (``tfrec bench imn_serving``; the registered model's ``bench`` hook
is :func:`imn_serving_bench`), each a ratio measured in the same run:

* training interactions/s with t-batches, on JODIE's anchor shape -- d = 128, 150k
  interactions, 1k users, 1k items (the planted ``resource_limited`` generator's default
  size) -- for IMN-Net and the ``jodie`` variant. The timed part is what a training epoch
  costs: the stream's index form (vocabularies, standardised deltas, windows), the t-batch
  construction and one epoch of ``fit`` over the training split (80 %); the data generation
  and the one-off graph tracing are not timed. The reference is the official JODIE code's
  ~113 interactions/s on a machine of this size (``*_over_jodie_code``); the target is 5x.
* ``update_state`` latency at batch 1 through the exported-signature code path (d = 128, raw
  time deltas standardised in the graph, as served)
  against one ``tf.keras.layers.GRUCell`` step of the same width.
* ``top_k`` latency at batch 1 (k = 10) by brute force over 10k and 100k items.
"""
from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from tfrec_pkg.bench.timing import p50_p99_ms, time_calls
from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.export.signatures import serving_signatures
from tfrec_pkg.models.imn import IMNConfig, IMNNet

JODIE_CODE_INTERACTIONS_PER_S = 113.0   # the official JODIE code on this machine size (the issue)
ANCHOR = dict(num_users=1000, num_items=1000, num_events=150_000)
DIM = 128
TOP_K_ITEMS = (10_000, 100_000)
QUICK_EVENTS = 15_000   # the stream length of a quick (smoke) run


def training_interactions_per_s(variant: str, raw_stream, seed: int = 0) -> tuple[float, int, float]:
    """(interactions/s, training interactions, seconds) of one epoch, t-batching included."""
    from tfrec_pkg.data.tbatch_windows import WindowedStream

    stream = WindowedStream.from_stream(raw_stream)
    tf.keras.utils.set_random_seed(seed)
    config = IMNConfig(variant=variant, hidden_dim=DIM, user_dim=DIM, item_dim=DIM)
    model = IMNNet(config, stream.vocab, num_features=stream.num_features, delta_stats=stream.delta_stats)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
    model.fit(stream.dataset("train"), steps_per_epoch=3, epochs=1, verbose=0)   # trace, untimed
    start = time.perf_counter()
    stream = WindowedStream.from_stream(raw_stream)
    data = stream.dataset("train")   # the t-batches are built here
    model.fit(data, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    n = int(np.sum(stream.split == "train"))
    return n / seconds, n, seconds


def _model(num_users: int, num_items: int, variant: str = "imn_net", num_features: int = 0) -> IMNNet:
    vocab = {"user": Vocabulary(range(1, num_users + 1), "int64"),
             "item": Vocabulary(range(1, num_items + 1), "int64")}
    return IMNNet(IMNConfig(variant=variant, hidden_dim=DIM, user_dim=DIM, item_dim=DIM), vocab,
                  num_features=num_features)


def update_state_latency(model: IMNNet, calls: int) -> tuple[float, float]:
    fn = serving_signatures(model)["update_state"]
    d = model.config.hidden_dim
    one = lambda dtype=tf.float32: tf.ones([1], dtype)  # noqa: E731
    inputs = dict(user_id=one(tf.int64), item_id=one(tf.int64), general_state=tf.zeros([1, d]),
                  limited_state=tf.zeros([1, d]), item_state=tf.zeros([1, d]), user_delta=one(),
                  item_delta=one(), user_since_purchase=one(), is_purchase=one())
    if model.num_features:
        inputs["features"] = tf.zeros([1, model.num_features])
    return p50_p99_ms(time_calls(lambda: fn(**inputs), calls))


def gru_step_latency(width: int, calls: int) -> tuple[float, float]:
    cell = tf.keras.layers.GRUCell(width)
    step = tf.function(lambda x, h: cell(x, [h])[0],
                       input_signature=[tf.TensorSpec([None, width]), tf.TensorSpec([None, width])])
    x, h = tf.zeros([1, width]), tf.zeros([1, width])
    return p50_p99_ms(time_calls(lambda: step(x, h), calls))


def top_k_latency(num_items: int, calls: int, k: int = 10) -> tuple[float, float]:
    model = _model(1000, num_items)
    fn = serving_signatures(model)["top_k"]
    d = model.config.hidden_dim
    inputs = dict(user_id=tf.ones([1], tf.int64), general_state=tf.random.normal([1, d]),
                  limited_state=tf.random.normal([1, d]), last_item_id=tf.ones([1], tf.int64),
                  last_item_state=tf.random.normal([1, d]), user_delta=tf.zeros([1]),
                  user_since_purchase=tf.zeros([1]), k=tf.constant([k], tf.int64))
    return p50_p99_ms(time_calls(lambda: fn(**inputs), calls))


def measure(quick: bool = False, num_events: int | None = None) -> dict:
    """The row (module docstring). ``quick``: ``QUICK_EVENTS`` interactions and fewer calls (a smoke run);
    ``num_events`` overrides the stream length (a shorter run under load)."""
    from tfrec_pkg.data.synthetic.resource_limited import resource_limited

    shape = ANCHOR | {"num_events": num_events or (QUICK_EVENTS if quick else ANCHOR["num_events"])}
    raw = resource_limited(**shape, seed=0)
    out = {"model": "imn_serving", "dim": DIM, "interactions": shape["num_events"],
           "users": shape["num_users"], "items": shape["num_items"]}
    for variant in ("imn_net", "jodie"):
        rate, n, seconds = training_interactions_per_s(variant, raw)
        out[f"{variant}_train_interactions"] = n
        out[f"{variant}_train_epoch_s"] = round(seconds, 1)
        out[f"{variant}_train_interactions_per_s"] = round(rate)
        out[f"{variant}_over_jodie_code"] = round(rate / JODIE_CODE_INTERACTIONS_PER_S, 1)
    calls = 50 if quick else 300
    model = _model(ANCHOR["num_users"], ANCHOR["num_items"], num_features=raw.num_features)
    p50, p99 = update_state_latency(model, calls)
    g50, g99 = gru_step_latency(DIM, calls)
    out |= {"update_state_b1_p50_ms": round(p50, 3), "update_state_b1_p99_ms": round(p99, 3),
            "gru_cell_b1_p50_ms": round(g50, 3), "gru_cell_b1_p99_ms": round(g99, 3),
            "update_state_over_gru_cell_b1_p50": round(p50 / g50, 2)}
    for items in TOP_K_ITEMS:
        p50, p99 = top_k_latency(items, calls // 3 if quick else calls)
        out[f"top10_{items // 1000}k_items_b1_p50_ms"] = round(p50, 3)
        out[f"top10_{items // 1000}k_items_b1_p99_ms"] = round(p99, 3)
    return out


def imn_serving_bench(model, quick: bool = False) -> dict:
    """The registered model's ``bench`` hook: the row of :func:`measure` (its models are built
    at the benchmark's own shape, so the registered model's planted size does not matter),
    without the columns ``report.measure`` writes itself."""
    row = measure(quick=quick)
    row.pop("model")
    return row
