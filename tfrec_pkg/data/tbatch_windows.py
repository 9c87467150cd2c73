"""An interaction stream as the tf.data pipeline IMN-Net (and JODIE) train and evaluate on:
one element per time window, its interactions grouped into steps that can run in parallel.

* Windows: JODIE's (:func:`tfrec_pkg.data.tbatch.jodie_windows`, time span / 500 over the
  whole stream); the training step accumulates the losses of a window and takes one optimiser
  step, so a window is one Keras step.
* Training steps are t-batches (:func:`tfrec_pkg.data.tbatch.tbatches`, restarted per window):
  no user or item twice in a step, every entity's interactions in time order.
* Evaluation steps (``order="time"``) are runs of *consecutive* interactions in which no user
  or item repeats (at most ``max_step`` rows). t-batches would rank an interaction against
  item states that later interactions (in an earlier t-batch) already moved: a leak from the
  future. Consecutive runs only ever rank against states as of the run's start.

An element is a dict of flat per-interaction tensors in processing order -- ``user``, ``item``
(vocabulary indices), the standardised deltas :data:`~tfrec_pkg.data.interactions.DELTAS`,
``is_purchase`` (float 0/1), ``timestamp`` (float64, :func:`~tfrec_pkg.data.interactions.seconds`:
the model keeps each entity's last time for serving), ``features`` ``[n, F]`` -- and ``row_splits`` ``[steps + 1]``: step
s is rows ``row_splits[s]:row_splits[s + 1]`` (a ragged batch without padding).

Ids: one vocabulary per entity over the *whole* stream (JODIE's memory has a row per user and
item that ever appears): a user or item first seen after training still gets its own dynamic
state from its interactions. Only ids are read from later splits, never their order or labels.
Deltas are standardised with training statistics only (:func:`~tfrec_pkg.data.interactions.standardise`);
the statistics (``delta_stats``) go to the model (``StreamSplit.model_options``), whose serving
inputs take raw deltas and standardise them in the graph.

Splits (:meth:`WindowedStream.splits` -> three :class:`StreamSplit`): what the library's shared
training and evaluation (``training.train``, ``evaluation.evaluate(..., "stream")``,
``experiment.run``) take for a split. A stream split knows its name, so it serves the windows
in the order its part of the stream needs (t-batches in training, consecutive runs otherwise),
and the splits before it, over which the memory is rebuilt before it is ranked.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec_pkg.data.interactions import DELTAS, PURCHASE, SPLIT, InteractionStream, seconds, standardise, time_deltas
from tfrec_pkg.data.pipelines import without_autotune
from tfrec_pkg.data.tbatch import JODIE_WINDOWS, jodie_windows, tbatches
from tfrec_pkg.data.vocab import Vocabulary

ORDERS = ("tbatch", "time")
SPLIT_NAMES = ("train", "val", "test")  # in time order (interactions.SPLIT)
EVAL_STEP = 256  # rows per evaluation step at most (bounds the [step, items] score block)


@dataclasses.dataclass
class WindowedStream:
    """The stream in index space (module docstring). Build it with :meth:`from_stream`."""

    columns: dict          # name -> numpy array, one entry per interaction, in time order
    split: np.ndarray      # "train" | "val" | "test" per interaction
    windows: np.ndarray    # JODIE window id per interaction
    vocab: dict            # {"user": Vocabulary, "item": Vocabulary}
    delta_stats: dict      # {delta: (mean, std)} of the training rows
    source: object = None  # the InteractionStream it was built from (its planted references)

    @classmethod
    def from_stream(cls, stream: InteractionStream, ratios=SPLIT, parts: int = JODIE_WINDOWS):
        frame = stream.frame
        split = stream.split_of(ratios)
        vocab = {"user": Vocabulary.fit(frame["user_id"], "int64"), "item": Vocabulary.fit(frame["item_id"], "int64")}
        deltas, stats = standardise(time_deltas(stream), split == "train")
        times = seconds(frame["timestamp"])
        columns = {"user": vocab["user"].lookup(frame["user_id"].to_numpy()),
                   "item": vocab["item"].lookup(frame["item_id"].to_numpy()),
                   **{name: deltas[name].to_numpy(np.float32) for name in DELTAS},
                   "is_purchase": (frame["action"].to_numpy() == PURCHASE).astype(np.float32),
                   "timestamp": times, "features": stream.features.astype(np.float32)}
        windows = jodie_windows(times - times[0] if len(times) else times, parts)
        return cls(columns, split, windows, vocab, stats, stream)

    @property
    def num_features(self) -> int:
        return self.columns["features"].shape[1]

    @property
    def time_origin(self) -> float:
        """The stream's first time (:func:`~tfrec_pkg.data.interactions.seconds`): where an
        entity's clock starts before its first interaction (or a user's before its first
        purchase), as :func:`~tfrec_pkg.data.interactions.time_deltas` counts."""
        return float(self.columns["timestamp"][0]) if len(self.columns["timestamp"]) else 0.0

    def splits(self) -> tuple[StreamSplit, StreamSplit, StreamSplit]:
        """(train, val, test) views of this stream for ``training.train`` and ``evaluate``."""
        return tuple(StreamSplit(name, self) for name in SPLIT_NAMES)

    def window_steps(self, splits=("train",), order: str = "tbatch", max_step: int = EVAL_STEP):
        """[(rows in processing order, row_splits)] per window of the rows in ``splits``."""
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        rows = np.flatnonzero(np.isin(self.split, splits))
        if len(rows) == 0:
            return []
        users, items, windows = self.columns["user"][rows], self.columns["item"][rows], self.windows[rows]
        if order == "tbatch":
            local = list(tbatches(users, items, windows))
            steps = [rows[s] for s in local]
            step_window = [windows[s[0]] for s in local]
        else:
            bounds = consecutive_runs(users, items, windows, max_step)
            steps = [rows[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
            step_window = windows[bounds[:-1]].tolist()
        out, current = [], []
        for k, step in enumerate(steps):
            current.append(step)
            if k + 1 == len(steps) or step_window[k + 1] != step_window[k]:
                sizes = np.array([len(s) for s in current])
                out.append((np.concatenate(current), np.r_[0, np.cumsum(sizes)].astype(np.int64)))
                current = []
        return out

    def dataset(self, splits=("train",), order: str = "tbatch", max_step: int = EVAL_STEP) -> tf.data.Dataset:
        """One element per window (module docstring); its cardinality is known, so Keras
        progress bars show it."""
        if isinstance(splits, str):
            splits = (splits,)
        windows = self.window_steps(splits, order, max_step)
        names = ("user", "item", *DELTAS, "is_purchase", "timestamp")

        def elements():
            for rows, row_splits in windows:
                element = {name: self.columns[name][rows] for name in names}
                yield element | {"features": self.columns["features"][rows], "row_splits": row_splits}

        spec = {name: tf.TensorSpec([None], tf.float32) for name in names}
        spec |= {"user": tf.TensorSpec([None], tf.int64), "item": tf.TensorSpec([None], tf.int64),
                 "timestamp": tf.TensorSpec([None], tf.float64),
                 "features": tf.TensorSpec([None, self.num_features], tf.float32),
                 "row_splits": tf.TensorSpec([None], tf.int64)}
        data = tf.data.Dataset.from_generator(elements, output_signature=spec)
        return without_autotune(data.apply(tf.data.experimental.assert_cardinality(len(windows))).prefetch(2))


@dataclasses.dataclass
class StreamSplit:
    """One part of a :class:`WindowedStream` behind the split interface of the library
    (``.name``, ``.vocab``, ``.dataset(...)``, ``len``), for models that carry a memory through
    the stream (IMN-Net, JODIE). The whole stream stays reachable (``.stream``): a memory model
    is evaluated on a split after a pass over the splits before it (``.warm_up``)."""

    name: str
    stream: WindowedStream
    # ``training.train`` on a cluster: every replica reads every window (:meth:`replica_dataset`,
    # no shard per worker) and an epoch is :attr:`steps` windows, not rows / batch_size
    read_by_every_replica = True

    def __post_init__(self):
        if self.name not in SPLIT_NAMES:
            raise ValueError(f"split name must be one of {SPLIT_NAMES}, got {self.name!r}")

    @property
    def vocab(self) -> dict:
        return self.stream.vocab

    @property
    def model_options(self) -> dict:
        """Constructor arguments a stream model needs beside config and vocab (``experiment.build``):
        the number of interaction features, the training rows' delta statistics (the model
        standardises raw deltas with them) and the stream's time origin (its clocks' start)."""
        return {"num_features": self.stream.num_features, "delta_stats": dict(self.stream.delta_stats),
                "time_origin": self.stream.time_origin}

    @property
    def rows_per_batch(self) -> float:
        """Interactions per element of :meth:`dataset` (one time window), on average."""
        windows = np.unique(self.stream.windows[self.stream.split == self.name])
        return len(self) / max(len(windows), 1)

    @property
    def steps(self) -> int:
        """Elements of :meth:`dataset`: this split's windows."""
        return len(np.unique(self.stream.windows[self.stream.split == self.name]))

    def replica_dataset(self, context: tf.distribute.InputContext) -> tf.data.Dataset:
        """:meth:`dataset` for ``distribute_datasets_from_function``: every window for every
        replica (:func:`every_replica`), not a shard."""
        return every_replica(self.dataset(), context)

    def feature_rows(self, n: int) -> dict:
        """This split's first ``n`` interactions as a model's raw inputs (``feature_spec``):
        raw ``user_id`` / ``item_id`` and the RAW deltas (:func:`~tfrec_pkg.data.interactions.time_deltas`,
        not standardised). Needs the raw-id stream the windows were built from (``stream.source``)."""
        source = self.stream.source
        if source is None:
            raise ValueError("feature_rows needs the raw-id stream the windows were built from (stream.source)")
        rows = np.flatnonzero(self.stream.split == self.name)[:n]
        raw = time_deltas(source)
        return {"user_id": source.frame["user_id"].to_numpy()[rows], "item_id": source.frame["item_id"].to_numpy()[rows],
                **{name: raw[name].to_numpy(np.float32)[rows] for name in DELTAS}}

    @property
    def warm_up(self) -> tuple[str, ...]:
        """The splits before this one in time: the memory's history when this one is ranked."""
        return SPLIT_NAMES[:SPLIT_NAMES.index(self.name)]

    def dataset(self, batch_size: int | None = None, shuffle: bool | None = None, seed: int = 0,
                group_size: int = 1) -> tf.data.Dataset:
        """This split's windows, always in time order: t-batches for ``train``, consecutive runs
        (``order="time"``, never ranked against states from its future) for ``val`` and ``test``.
        ``batch_size``, ``shuffle``, ``seed`` and ``group_size`` belong to the split interface
        (``training.train`` passes them) and change nothing here: time fixes a window's size,
        and shuffling would feed each window a memory written by its future."""
        return self.stream.dataset(self.name, order="tbatch" if self.name == "train" else "time")

    def __len__(self) -> int:
        return int(np.sum(self.stream.split == self.name))

    def bayes_optimal(self, k: int = 10) -> dict[str, float]:
        """Recall@k, NDCG@k and MRR of the planted stream's true ranks on this split (column
        ``true_rank`` of the source stream; ``blind_*`` from ``blind_rank`` when it has one):
        the best any model can reach in expectation."""
        frame = getattr(self.stream.source, "frame", None)
        if frame is None or "true_rank" not in frame:
            raise ValueError(f"split {self.name!r}: the stream has no planted ranks (column 'true_rank')")
        out, rows = {}, self.stream.split == self.name
        for prefix, column in (("", "true_rank"), ("blind_", "blind_rank")):
            if column in frame:
                rank = frame[column].to_numpy(np.float64)[rows]
                out[f"{prefix}recall@{k}"] = float(np.mean(rank <= k))
                out[f"{prefix}ndcg@{k}"] = float(np.mean(np.where(rank <= k, 1.0 / np.log2(1.0 + rank), 0.0)))
                out[f"{prefix}mrr"] = float(np.mean(1.0 / rank))
        return out


def every_replica(dataset: tf.data.Dataset, context: tf.distribute.InputContext) -> tf.data.Dataset:
    """A window dataset for ``distribute_datasets_from_function``: every replica reads every
    window, in order (each worker's pipeline yields each window once per local replica; the
    pipeline hands consecutive elements to its local replicas). No sharding: the replicas share
    each window's rows out among themselves (:mod:`tfrec_pkg.models.imn`, "Replicas")."""
    local = context.num_replicas_in_sync // context.num_input_pipelines
    if local == 1:
        return dataset
    return dataset.flat_map(lambda window: tf.data.Dataset.from_tensors(window).repeat(local))


def next_item_data(stream: WindowedStream, max_history: int):
    """The same stream as next-item rows for sequence models (SASRec, GRU4Rec: ``specs.next_item``
    without providers): one row per interaction, its target the item, its history the user's
    ``max_history`` items before it (:func:`~tfrec_pkg.data.sequences.history_before_each_event`,
    earlier splits included), each row in the stream's own split. Training rows without a
    history (a user's first interaction) are left out: there is nothing to encode. Every val
    and test interaction stays a row, so a full-ranking evaluation ranks the interactions the
    stream protocol ranks; the catalogue (``items``) is every item of the stream. Needs the
    raw-id stream the windows were built from (``stream.source``)."""
    from tfrec_pkg import specs
    from tfrec_pkg.data.sequences import history_before_each_event
    from tfrec_pkg.data.synthetic.base import SyntheticData

    frame = getattr(stream.source, "frame", None)
    if frame is None:
        raise ValueError("next_item_data needs the raw-id stream the windows were built from (stream.source)")
    history, lengths = history_before_each_event(frame, "user_id", "item_id", "timestamp", max_history)
    keep = (lengths > 0) | (stream.split != "train")
    rows = pd.DataFrame({"user_id": frame["user_id"].to_numpy(), "hist_item_ids": list(history),
                         "item_id": frame["item_id"].to_numpy(), "timestamp": frame["timestamp"].to_numpy(),
                         "label": np.ones(len(frame), np.int64)})[keep].reset_index(drop=True)
    columns = ("user_id", "hist_item_ids", "item_id")
    items = pd.DataFrame({"item_id": np.sort(frame["item_id"].unique())})
    return SyntheticData(rows, stream.split[keep], [s for s in specs.next_item(max_history) if s.name in columns],
                         items=items)


def consecutive_runs(users, items, segments, max_step: int) -> np.ndarray:
    """Boundaries ``[0, ..., n]`` of runs of consecutive rows that hold no user or item twice,
    stay inside one segment and have at most ``max_step`` rows (greedy, in time order)."""
    bounds, seen_users, seen_items, start = [0], set(), set(), 0
    for j, (u, i) in enumerate(zip(users.tolist(), items.tolist())):
        if (u in seen_users or i in seen_items or j - start >= max_step or segments[j] != segments[start]):
            bounds.append(j)
            seen_users, seen_items, start = set(), set(), j
        seen_users.add(u)
        seen_items.add(i)
    bounds.append(len(users))
    return np.asarray(bounds if len(users) else [0], dtype=np.int64)
