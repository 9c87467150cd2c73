"""FeatureSpec: one description of an input feature drives the tf.data pipelines, the
model's inputs and the export signatures (one source of truth).

Conventions
-----------
* Raw ids travel as they appear in logs: ``int64`` or ``string``. Models map them to
  contiguous indices inside the graph (see :mod:`tfrec_pkg.data.vocab`).
* Sequence features have a fixed maximum length ``shape=(L,)``. They are left-aligned:
  the real values sit at positions ``[0, n)`` (oldest first, the most recent last) and
  the padding value fills ``[n, L)``. Longer histories keep their most recent ``L`` values.
* Padding values: ``-1`` for int64 ids, ``""`` for string ids, ``0.0`` for floats. A raw id
  equal to the padding value is read as padding, never as an item. A scalar string id may not
  be ``""``: that is also how an empty CSV field reads, so the pipelines refuse it.
* Reserved indices of every vocabulary feature: ``PAD_INDEX`` (0) for padding, ``OOV_INDEX``
  (1) for ids not seen in training; known ids start at ``NUM_RESERVED`` (2).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

_DTYPES = ("int64", "string", "float32")
DEFAULT_PADDING = {"int64": -1, "string": "", "float32": 0.0}

PAD_INDEX = 0
OOV_INDEX = 1
NUM_RESERVED = 2


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """One model input.

    name: column name in DataFrames/files and input name in signatures.
    dtype: "int64" | "string" | "float32".
    shape: per-example shape without batch: () for scalars, (L,) for sequences.
    vocabulary: name of the vocabulary that maps this raw id feature to indices
        (several features may share one, e.g. target item and history items), or None.
    padding: padding value of sequence features (defaults per dtype, see module doc).
    """

    name: str
    dtype: str
    shape: tuple = ()
    vocabulary: str | None = None
    padding: Any = None

    def __post_init__(self):
        if self.dtype not in _DTYPES:
            raise ValueError(f"FeatureSpec {self.name!r}: dtype {self.dtype!r} is not one of {_DTYPES}")
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if len(self.shape) > 1:
            raise ValueError(f"FeatureSpec {self.name!r}: shape {self.shape} has more than one dimension")
        if self.padding is None:
            object.__setattr__(self, "padding", DEFAULT_PADDING[self.dtype])

    @property
    def is_sequence(self) -> bool:
        return len(self.shape) == 1

    @property
    def max_len(self) -> int:
        if not self.is_sequence:
            raise ValueError(f"feature {self.name!r} is a scalar, it has no max length")
        return self.shape[0]

    @property
    def tf_dtype(self):
        import tensorflow as tf

        return {"int64": tf.int64, "string": tf.string, "float32": tf.float32}[self.dtype]

    @property
    def np_dtype(self):
        return {"int64": np.int64, "string": object, "float32": np.float32}[self.dtype]

    def tensor_spec(self, batch: int | None = None):
        """tf.TensorSpec with a leading batch dimension (None = any batch size)."""
        import tensorflow as tf

        return tf.TensorSpec((batch,) + self.shape, self.tf_dtype, name=self.name)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"shape": list(self.shape)}


def signature(specs: Sequence[FeatureSpec]) -> dict:
    """{name: tf.TensorSpec} for a list of specs (tf.data element spec / serving signature)."""
    return {s.name: s.tensor_spec() for s in specs}


def by_name(specs: Sequence[FeatureSpec]) -> dict[str, FeatureSpec]:
    return {s.name: s for s in specs}
