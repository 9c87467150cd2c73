"""DataFrame / CSV / Parquet -> ``tf.data.Dataset`` of feature dicts, driven by FeatureSpecs.

Every element is a dict ``{feature name: tensor}``; the label (when asked for) is the
float32 entry ``"label"`` of the same dict, which is what ``tfrs.Model.compute_loss``
reads. Raw ids stay raw: models map them to indices in the graph.

Sequence columns: in DataFrames and Parquet, list-like cells; in CSV files, a string of
space-separated ids (RecBole's ``token_seq`` convention). Each sequence keeps its most recent
``L`` values and is left-aligned with padding at the end (see :mod:`tfrec_pkg.features`).

Input is checked against the specs (:func:`required_columns`) before any tensor is made: a
bad value raises one ``ValueError`` naming the column, the row (the file and line or row for
files), what was found and the expected type.
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm import tqdm  # plain text bars, also in notebooks (tqdm.auto's widget bar needs ipywidgets)

from tfrec_pkg.data import files, schema
from tfrec_pkg.data.sequences import pad_flat_sequences
from tfrec_pkg.features import FeatureSpec

LABEL = "label"


def without_autotune(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with tf.data's autotuning switched off. Why: with it on (TensorFlow 2.21, CPU),
    destroying an iterator can sleep until the autotuner's thread wakes -- seconds, growing with
    the time the iterator was used (8.4 s after 12 s of reading, 22 s after 60 s; not every
    time) -- and Keras destroys one at every epoch's end, after every validation pass and at
    every ``fit`` / ``evaluate`` / ``predict`` return. IPSRec's 5-epoch ``fit`` on 10k rows took
    35.8-39.6 s with sleeps of ~4 s between some epochs, 30.6 s without; a Toys epoch of SASRec
    (length buckets) took as long as before. Our pipelines only prefetch and map ids, which
    need no tuning. Every dataset the library makes goes through here, and so does every one
    a model's ``fit``, ``evaluate`` or ``predict`` reads (``RecModel``)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def required_columns(specs: Sequence[FeatureSpec], label: str | None) -> list:
    """The schema the specs ask of a frame (and of every chunk of a file)."""
    cols = [_column(s) for s in specs]
    if label is not None:
        cols.append(schema.Column(label, "label"))
    return cols


_SEQUENCE_KINDS = {"int64": "int_list", "string": "string_list", "float32": "float_list"}


def _column(spec: FeatureSpec) -> schema.Column:
    if spec.is_sequence:
        return schema.Column(spec.name, _SEQUENCE_KINDS[spec.dtype])
    if spec.dtype == "string":
        # "" is also what an empty CSV field reads as: refuse it rather than look a missing id up
        # as padding. An int64 id equal to its padding (-1) is written on purpose, e.g. for an
        # unknown profile field, and stays "read as padding" (tfrec_pkg.features).
        return schema.Column(spec.name, "id", padding=spec.padding if spec.vocabulary is not None else None)
    return schema.Column(spec.name, {"int64": "int", "float32": "float"}[spec.dtype])


def frame_to_arrays(frame: pd.DataFrame, specs: Sequence[FeatureSpec], label: str | None = LABEL,
                    validate: bool = True) -> dict[str, np.ndarray]:
    """Columns -> numpy arrays shaped as the specs say (sequences padded/truncated)."""
    if validate:
        schema.validate(frame, required_columns(specs, label))
    out = {}
    for s in specs:
        col = frame[s.name]
        if s.is_sequence:
            flat, lengths = schema.list_values(col)
            out[s.name], _ = pad_flat_sequences(_typed(flat, s), lengths, s.max_len, s.padding, s.np_dtype)
        elif s.dtype == "string":
            out[s.name] = col.astype(str).to_numpy(dtype=object)
        else:
            out[s.name] = col.to_numpy(dtype=s.np_dtype)
    if label is not None:
        out[LABEL] = frame[label].to_numpy(dtype=np.float32)
    return out


def _typed(flat: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """A sequence column's values in the spec's dtype, read by the same rules the schema checks."""
    if spec.dtype == "int64":
        return schema.as_int64(flat)[0]
    if spec.dtype == "float32":
        return pd.to_numeric(flat, errors="coerce").astype(np.float32)
    return flat


def from_frame(frame: pd.DataFrame, specs: Sequence[FeatureSpec], batch_size: int, *,
               label: str | None = LABEL, shuffle: bool = False, seed: int = 0,
               drop_remainder: bool = False, group_size: int = 1, length_buckets=(),
               shard: tuple[int, int] = (1, 0)) -> tf.data.Dataset:
    """In-memory DataFrame -> batched, (optionally) shuffled, prefetched dataset.

    ``group_size`` > 1 keeps runs of that many consecutive rows together (e.g. a positive and
    its sampled negatives, for a softmax over each group): groups are shuffled as units and
    every batch holds whole groups (``batch_size // group_size`` of them), still flat [B, ...].

    ``length_buckets`` (e.g. ``(10, 20)``): batches of rows of similar length, so that short
    histories are not padded to the longest (:func:`bucketed`).

    ``shard=(n, i)``: this reader's share of a multi-worker run, rows i, i + n, ... of the
    (seeded, so on every worker identical) shuffled order; ``batch_size`` is then this reader's
    batch. Batch k of the n readers together holds the rows of batch k of one reader with
    ``batch_size * n``: the cluster trains on the global batches one process would.
    """
    _check_batch(batch_size)
    num_shards, index = _check_shard(shard)
    arrays = frame_to_arrays(frame, specs, label)
    if length_buckets:
        if group_size > 1:
            raise ValueError("length_buckets and group_size > 1 cannot be combined (a group's rows differ in length)")
        return bucketed(arrays, specs, batch_size, length_buckets, shuffle=shuffle, seed=seed,
                        drop_remainder=drop_remainder, shard=shard)
    if group_size > 1:
        if len(frame) % group_size:
            raise ValueError(f"group_size={group_size} does not divide the {len(frame)} rows")
        arrays = {k: v.reshape((-1, group_size) + v.shape[1:]) for k, v in arrays.items()}
        batch_size = max(1, batch_size // group_size)
    ds = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle:
        ds = ds.shuffle(len(frame) // group_size, seed=seed, reshuffle_each_iteration=True)
    if num_shards > 1:
        ds = ds.shard(num_shards, index)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if group_size > 1:
        ds = ds.map(lambda d: {k: tf.reshape(v, tf.concat([[-1], tf.shape(v)[2:]], 0)) for k, v in d.items()})
    return without_autotune(ds.prefetch(tf.data.AUTOTUNE))


def bucketed(arrays: dict, specs: Sequence[FeatureSpec], batch_size: int, length_buckets, *,
             shuffle: bool = False, seed: int = 0, drop_remainder: bool = False,
             shard: tuple[int, int] = (1, 0)) -> tf.data.Dataset:
    """Batches of rows grouped by length: the sequence features of the longest length L are cut
    to the smallest width of ``length_buckets`` + (L,) that holds the row's real values (left
    alignment keeps them first), so a batch of short histories costs a short encoder pass. A few
    fixed widths keep the number of distinct batch shapes (and so of traced steps) small.
    Shuffled: rows within each width, then batches across widths in proportion to their number;
    not shuffled: width by width, rows in order within each. ``shard``: as in :func:`from_frame`,
    within each width (the widths are drawn in the same seeded order on every reader)."""
    num_shards, index = _check_shard(shard)
    longest = max((s.max_len for s in specs if s.is_sequence), default=0)
    cut = [s for s in specs if s.is_sequence and s.max_len == longest]
    if not cut:
        raise ValueError("length_buckets needs sequence features to cut")
    widths = sorted({int(w) for w in length_buckets if 0 < int(w) < longest} | {longest})
    length = np.max([(arrays[s.name] != s.padding).sum(axis=1) for s in cut], axis=0)
    width_of = np.searchsorted(widths, length)  # the first width >= the row's length
    parts, sizes = [], []
    for b, width in enumerate(widths):
        rows = np.flatnonzero(width_of == b)
        if len(rows) == 0:
            continue
        part = {k: (v[rows, :width] if k in {s.name for s in cut} else v[rows]) for k, v in arrays.items()}
        ds = tf.data.Dataset.from_tensor_slices(part)
        if shuffle:
            ds = ds.shuffle(len(rows), seed=seed + b, reshuffle_each_iteration=True)
        if num_shards > 1:
            ds = ds.shard(num_shards, index)
        parts.append(ds.batch(batch_size, drop_remainder=drop_remainder))
        sizes.append(len(rows))
    if shuffle and len(parts) > 1:
        ds = tf.data.Dataset.sample_from_datasets(parts, weights=np.asarray(sizes) / sum(sizes), seed=seed,
                                                  stop_on_empty_dataset=False)
    else:
        ds = parts[0]
        for part in parts[1:]:
            ds = ds.concatenate(part)
    return without_autotune(ds.prefetch(tf.data.AUTOTUNE))


def from_files(paths: str | Iterable[str], specs: Sequence[FeatureSpec], batch_size: int, *,
               label: str | None = LABEL, chunk_rows: int = 65_536, shuffle_buffer: int = 0,
               seed: int = 0, progress: bool = False, validate_first: bool = True,
               shard: tuple[int, int] = (1, 0)) -> tf.data.Dataset:
    """Stream CSV or Parquet files chunk by chunk (never the whole file in memory).

    Every chunk is validated as it is read (:mod:`tfrec_pkg.data.files`). ``validate_first``
    reads every file once before the dataset is returned, so bad input raises a ``ValueError``
    naming the file, line or row and column here, before training starts; with False that
    pass is skipped and the same error surfaces while iterating, wrapped by tf.data.
    ``shuffle_buffer`` > 0 shuffles examples within a window of that many rows.
    ``shard=(n, i)``: this reader's share of a multi-worker run, by file: files i, i + n, ...
    """
    _check_batch(batch_size)
    num_shards, index = _check_shard(shard)
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    paths = [str(p) for p in paths]
    if num_shards > 1:
        if len(paths) < num_shards:
            raise ValueError(f"{len(paths)} input file(s) for {num_shards} workers: a multi-worker run reads "
                             "whole files, one share per worker; split the data into at least as many files")
        paths = paths[index::num_shards]
    for p in paths:
        if not os.path.exists(p):
            raise FileNotFoundError(f"input file {p!r} does not exist")
    columns = required_columns(specs, label)
    if validate_first:
        for path in paths:
            for _ in files.read_chunks(path, columns, chunk_rows):
                pass
    element = {s.name: s.tensor_spec() for s in specs}
    if label is not None:
        element[LABEL] = tf.TensorSpec((None,), tf.float32, name=LABEL)

    def chunks():
        for path in paths:
            bar = tqdm(desc=os.path.basename(path), unit="rows", disable=not progress)
            for frame in files.read_chunks(path, columns, chunk_rows):
                bar.update(len(frame))
                yield frame_to_arrays(frame, specs, label, validate=False)  # read_chunks validated it
            bar.close()

    ds = tf.data.Dataset.from_generator(chunks, output_signature=element).unbatch()
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed)
    return without_autotune(ds.batch(batch_size).prefetch(tf.data.AUTOTUNE))


def _check_shard(shard) -> tuple[int, int]:
    num_shards, index = shard
    if not (isinstance(num_shards, (int, np.integer)) and num_shards >= 1 and 0 <= index < num_shards):
        raise ValueError(f"shard must be (number of shards >= 1, index in [0, number)), got {shard!r}")
    return int(num_shards), int(index)


def _check_batch(batch_size):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def write_csv(frame: pd.DataFrame, path: str, specs: Sequence[FeatureSpec]) -> None:
    """Write a frame in the CSV convention read by :func:`from_files` (sequences as
    space-separated ids)."""
    out = frame.copy()
    for s in specs:
        if s.is_sequence and s.name in out:
            out[s.name] = [" ".join(str(x) for x in v) for v in out[s.name]]
    out.to_csv(path, index=False)
