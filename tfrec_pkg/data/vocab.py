"""Raw id -> contiguous index vocabularies, fitted on training data only.

Index layout (the same in numpy and in the exported graph):
    0              padding (the feature's padding value: -1 for int64 ids, "" for strings)
    1              out-of-vocabulary: any id not seen in training (never an error)
    2 .. size-1    known ids, most frequent first (ties broken by id, so fitting is deterministic)

The vocabulary travels with the model: ``Vocabulary.to_dict`` goes into the model's
config, and ``Vocabulary.layer`` builds the Keras lookup layer (an in-graph hash table that
the SavedModel carries), so serving signatures take raw ids.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from tfrec_pkg.features import NUM_RESERVED, OOV_INDEX, PAD_INDEX


class Vocabulary:
    def __init__(self, ids: Iterable, dtype: str, padding=None):
        if dtype not in ("int64", "string"):
            raise ValueError(f"vocabulary dtype must be 'int64' or 'string', got {dtype!r}")
        self.dtype = dtype
        self.padding = padding if padding is not None else (-1 if dtype == "int64" else "")
        ids = [int(i) for i in ids] if dtype == "int64" else [str(i) for i in ids]
        if self.padding in ids:
            raise ValueError(f"vocabulary contains the padding value {self.padding!r}")
        if len(set(ids)) != len(ids):
            raise ValueError("vocabulary ids must be unique")
        self.ids = ids
        self._index = pd.Index(ids)

    @classmethod
    def fit(cls, values, dtype: str | None = None, min_count: int = 1, padding=None) -> "Vocabulary":
        """Fit on raw ids (a Series/array; nested sequences are flattened). Padding values
        are ignored. Ids seen fewer than ``min_count`` times map to OOV."""
        flat = pd.Series(_flatten(values))
        if dtype is None:
            dtype = "int64" if pd.api.types.is_integer_dtype(flat.dtype) else "string"
        flat = flat.astype(np.int64) if dtype == "int64" else flat.astype(str)
        pad = padding if padding is not None else (-1 if dtype == "int64" else "")
        flat = flat[flat != pad]
        counts = flat.value_counts()
        counts = counts[counts >= min_count]
        frame = pd.DataFrame({"id": counts.index, "n": counts.values})
        frame = frame.sort_values(["n", "id"], ascending=[False, True], kind="stable")
        return cls(frame["id"].tolist(), dtype, pad)

    @property
    def size(self) -> int:
        """Number of indices including padding and OOV (the embedding table's row count)."""
        return len(self.ids) + NUM_RESERVED

    def lookup(self, values) -> np.ndarray:
        """Map raw ids (any shape) to indices in numpy, same result as the in-graph layer."""
        arr = np.asarray(values, dtype=np.int64 if self.dtype == "int64" else object)
        flat = arr.reshape(-1)
        if self.dtype == "string":
            flat = flat.astype(str)
        pos = self._index.get_indexer(flat)
        out = np.where(pos >= 0, pos + NUM_RESERVED, OOV_INDEX)
        out = np.where(flat == self.padding, PAD_INDEX, out)
        return out.reshape(arr.shape).astype(np.int64)

    def layer(self, name: str | None = None):
        """The in-graph twin of :meth:`lookup`: a Keras lookup layer giving the same int64
        indices (padding as the mask token -> 0, one OOV index -> 1, then the ids in order)."""
        import tensorflow as tf

        if not self.ids:
            # Keras lookup layers refuse an empty vocabulary; 2 hash bins with the padding as
            # mask give the same layout: padding -> 0, every other id -> 1.
            return tf.keras.layers.Hashing(num_bins=NUM_RESERVED, mask_value=self.padding, name=name)
        if self.dtype == "int64":
            # IntegerLookup's default oov_token is -1, our default padding. The lookup never
            # reads the OOV token (only get_vocabulary() and invert=True do), but it must not
            # be mistaken for the padding there: int64 min, or max if that is the padding.
            oov = np.iinfo(np.int64).min
            oov = np.iinfo(np.int64).max if self.padding == oov else oov
            return tf.keras.layers.IntegerLookup(vocabulary=self.ids, mask_token=self.padding,
                                                 num_oov_indices=1, oov_token=int(oov), name=name)
        oov = "[UNK]" if self.padding != "[UNK]" else "[OOV]"  # same reason as for int64
        return tf.keras.layers.StringLookup(vocabulary=self.ids, mask_token=self.padding,
                                            num_oov_indices=1, oov_token=oov, name=name)

    def to_dict(self) -> dict:
        return {"ids": list(self.ids), "dtype": self.dtype, "padding": self.padding}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        return cls(d["ids"], d["dtype"], d.get("padding"))

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"Vocabulary(dtype={self.dtype!r}, known={len(self.ids)}, size={self.size})"


def _flatten(values):
    values = list(values) if not isinstance(values, (pd.Series, np.ndarray)) else values
    if len(values) and isinstance(values[0], (list, tuple, np.ndarray)):
        return np.concatenate([np.asarray(v) for v in values]) if len(values) else np.array([])
    return values


def fit_vocabularies(frame: pd.DataFrame, specs) -> dict[str, Vocabulary]:
    """Fit one vocabulary per ``FeatureSpec.vocabulary`` name over all the columns that share
    it (e.g. target item and history items share the "item" vocabulary)."""
    groups: dict[str, list] = {}
    for spec in specs:
        if spec.vocabulary is None:
            continue
        if spec.name not in frame.columns:
            raise ValueError(f"cannot fit vocabulary {spec.vocabulary!r}: column {spec.name!r} is missing")
        groups.setdefault(spec.vocabulary, []).append((spec, frame[spec.name]))
    vocabs = {}
    for name, cols in groups.items():
        spec = cols[0][0]
        parts = [pd.Series(_flatten(col)) for _, col in cols]
        vocabs[name] = Vocabulary.fit(pd.concat(parts, ignore_index=True), spec.dtype, padding=spec.padding)
    return vocabs
