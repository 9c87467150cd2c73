"""DataFrame / CSV / Parquet -> ``tf.data.Dataset`` of feature dicts, driven by FeatureSpecs.

Every element is a dict ``{feature name: tensor}``; the label (when asked for) is the
float32 entry ``"label"`` of the same dict, which is what ``tfrs.Model.compute_loss``
reads. Raw ids stay raw: models map them to indices in the graph.

Sequence columns: in DataFrames and Parquet, list-like cells; in CSV files, a string of
space-separated ids (RecBole's ``token_seq`` convention). Each sequence keeps its most recent
``L`` values and is left-aligned with padding at the end (see :mod:`tfrec_pkg.features`).
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

from tfrec_pkg.data import schema
from tfrec_pkg.data.sequences import pad_sequences
from tfrec_pkg.features import FeatureSpec

LABEL = "label"


def required_columns(specs: Sequence[FeatureSpec], label: str | None) -> list:
    cols = []
    for s in specs:
        if s.is_sequence:
            kind = "list"
        elif s.vocabulary is not None:
            kind = "id"
        else:
            kind = "float" if s.dtype == "float32" else "int"
        cols.append(schema.Column(s.name, kind))
    if label is not None:
        cols.append(schema.Column(label, "label"))
    return cols


def frame_to_arrays(frame: pd.DataFrame, specs: Sequence[FeatureSpec], label: str | None = LABEL,
                    validate: bool = True) -> dict[str, np.ndarray]:
    """Columns -> numpy arrays shaped as the specs say (sequences padded/truncated)."""
    if validate:
        schema.validate(frame, required_columns(specs, label))
    out = {}
    for s in specs:
        col = frame[s.name]
        if s.is_sequence:
            seqs = [_as_list(v, s) for v in col.to_numpy()]
            out[s.name], _ = pad_sequences(seqs, s.max_len, pad_value=s.padding, dtype=s.np_dtype)
        elif s.dtype == "string":
            out[s.name] = col.astype(str).to_numpy(dtype=object)
        else:
            out[s.name] = col.to_numpy(dtype=s.np_dtype)
    if label is not None:
        out[LABEL] = frame[label].to_numpy(dtype=np.float32)
    return out


def _as_list(value, spec: FeatureSpec):
    if isinstance(value, str):  # CSV token_seq cell
        parts = value.split()
        return [int(p) for p in parts] if spec.dtype == "int64" else parts
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return list(value)


def from_frame(frame: pd.DataFrame, specs: Sequence[FeatureSpec], batch_size: int, *,
               label: str | None = LABEL, shuffle: bool = False, seed: int = 0,
               drop_remainder: bool = False, group_size: int = 1) -> tf.data.Dataset:
    """In-memory DataFrame -> batched, (optionally) shuffled, prefetched dataset.

    ``group_size`` > 1 keeps runs of that many consecutive rows together (e.g. a positive and
    its sampled negatives, for a softmax over each group): groups are shuffled as units and
    every batch holds whole groups (``batch_size // group_size`` of them), still flat [B, ...].
    """
    _check_batch(batch_size)
    arrays = frame_to_arrays(frame, specs, label)
    if group_size > 1:
        if len(frame) % group_size:
            raise ValueError(f"group_size={group_size} does not divide the {len(frame)} rows")
        arrays = {k: v.reshape((-1, group_size) + v.shape[1:]) for k, v in arrays.items()}
        batch_size = max(1, batch_size // group_size)
    ds = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle:
        ds = ds.shuffle(len(frame) // group_size, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if group_size > 1:
        ds = ds.map(lambda d: {k: tf.reshape(v, tf.concat([[-1], tf.shape(v)[2:]], 0)) for k, v in d.items()})
    return ds.prefetch(tf.data.AUTOTUNE)


def from_files(paths: str | Iterable[str], specs: Sequence[FeatureSpec], batch_size: int, *,
               label: str | None = LABEL, chunk_rows: int = 65_536, shuffle_buffer: int = 0,
               seed: int = 0, progress: bool = False) -> tf.data.Dataset:
    """Stream CSV or Parquet files chunk by chunk (never the whole file in memory).

    ``shuffle_buffer`` > 0 shuffles examples within a window of that many rows.
    """
    _check_batch(batch_size)
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    for p in paths:
        if not os.path.exists(p):
            raise FileNotFoundError(f"input file {p!r} does not exist")
    names = [s.name for s in specs] + ([label] if label else [])
    element = {s.name: s.tensor_spec() for s in specs}
    if label is not None:
        element[LABEL] = tf.TensorSpec((None,), tf.float32, name=LABEL)

    def chunks():
        for path in paths:
            bar = tqdm(desc=os.path.basename(str(path)), unit="rows", disable=not progress)
            for frame in _read_chunks(str(path), names, specs, chunk_rows):
                bar.update(len(frame))
                yield frame_to_arrays(frame, specs, label)
            bar.close()

    ds = tf.data.Dataset.from_generator(chunks, output_signature=element).unbatch()
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _read_chunks(path: str, names, specs, chunk_rows: int):
    if path.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        missing = [n for n in names if n not in pf.schema_arrow.names]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}; found {pf.schema_arrow.names}")
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=names):
            yield batch.to_pandas()
    else:
        # Read string ids as strings, not numbers (ids like "007" must survive).
        dtypes = {s.name: str for s in specs if s.dtype == "string" or s.is_sequence}
        for frame in pd.read_csv(path, usecols=names, dtype=dtypes, chunksize=chunk_rows,
                                 keep_default_na=False, na_values={n: [""] for n in names if n not in dtypes}):
            # token_seq cells ("12 7 30") -> lists, so the frame passes the 'list' schema check.
            for s in specs:
                if s.is_sequence and s.name in frame.columns:
                    frame[s.name] = pd.Series([_as_list(v, s) for v in frame[s.name]],
                                              index=frame.index, dtype=object)
            yield frame


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
