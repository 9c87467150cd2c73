"""Declarative column checks for interaction frames.

A schema is a list of :class:`Column` (name + kind). :func:`validate` checks a pandas
DataFrame against it and raises one ``ValueError`` that lists *every* problem, one per
line, so a user can fix the whole file in one go instead of one error per run.

Kinds and what they accept:

==============  ==========================================================================
``id``          integer or string/object dtype (raw ids as they appear in logs); no NaN/None
``int``         integer dtype (bool is not an integer here)
``float``       float dtype; integer dtypes are accepted too (they convert losslessly)
``label``       numeric or bool dtype; integer/bool values in {0, 1}, float values in [0, 1]
``timestamp``   integer (e.g. epoch seconds), float or datetime64 (tz-aware included)
``string``      string or object dtype
``list``        object dtype whose values are list / tuple / numpy array, or a pyarrow list dtype
==============  ==========================================================================
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

KINDS: dict[str, str] = {
    "id": "integer or string/object dtype",
    "int": "integer dtype",
    "float": "float or integer dtype",
    "label": "numeric or bool dtype with values in {0, 1} (floats in [0, 1])",
    "timestamp": "integer, float or datetime64 dtype",
    "string": "string or object dtype",
    "list": "object dtype holding lists/arrays, or a pyarrow list dtype",
}

# How many offending values to quote in a message: enough to recognise the pattern.
_EXAMPLES = 3


@dataclass(frozen=True)
class Column:
    """One expected column: its ``name`` and its ``kind`` (a key of :data:`KINDS`)."""

    name: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"Column {self.name!r}: unknown kind {self.kind!r}; expected one of {sorted(KINDS)}"
            )


def _is_int(dtype) -> bool:
    return ptypes.is_integer_dtype(dtype) and not ptypes.is_bool_dtype(dtype)


def _is_text(dtype) -> bool:
    return ptypes.is_string_dtype(dtype) or ptypes.is_object_dtype(dtype)


def _is_list_dtype(dtype) -> bool:
    # pyarrow-backed list columns, e.g. read with dtype_backend="pyarrow".
    return isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype).startswith(
        ("list<", "large_list<", "fixed_size_list<")
    )


def _dtype_ok(kind: str, dtype) -> bool:
    if kind == "id":
        return _is_int(dtype) or _is_text(dtype)
    if kind == "int":
        return _is_int(dtype)
    if kind == "float":
        return ptypes.is_float_dtype(dtype) or _is_int(dtype)
    if kind == "label":
        return ptypes.is_numeric_dtype(dtype)  # includes bool
    if kind == "timestamp":
        return _is_int(dtype) or ptypes.is_float_dtype(dtype) or ptypes.is_datetime64_any_dtype(dtype)
    if kind == "string":
        return _is_text(dtype)
    if kind == "list":
        return ptypes.is_object_dtype(dtype) or _is_list_dtype(dtype)
    raise AssertionError(kind)  # Column.__post_init__ already rejects unknown kinds


def _bad_rows(series: pd.Series, bad: np.ndarray) -> str:
    """'N row(s), first at index X, e.g. [v1, v2]' for a boolean mask of offending rows."""
    positions = np.flatnonzero(bad)
    examples = series.iloc[positions[:_EXAMPLES]].tolist()
    first = series.index[positions[0]]
    first = first.item() if isinstance(first, np.generic) else first  # 101, not np.int64(101)
    return f"{len(positions)} row(s), first at index {first!r}, e.g. {examples}"


def _value_problems(col: Column, series: pd.Series) -> list[str]:
    """Problems in the values of a column whose dtype is already acceptable."""
    problems = []
    if col.kind == "id":
        missing = series.isna().to_numpy()
        if missing.any():
            problems.append(
                f"column {col.name!r} (kind 'id'): found NaN/None in {_bad_rows(series, missing)}; "
                "expected every row to have an id"
            )
    elif col.kind == "label":
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if _is_int(series.dtype) or ptypes.is_bool_dtype(series.dtype):
            ok, expected = np.isin(values, (0.0, 1.0)), "values in {0, 1}"
        else:
            ok, expected = (values >= 0.0) & (values <= 1.0), "values in [0, 1] and no NaN"
        if not ok.all():
            problems.append(
                f"column {col.name!r} (kind 'label'): found labels outside the allowed range in "
                f"{_bad_rows(series, ~ok)}; expected {expected}"
            )
    elif col.kind == "list" and ptypes.is_object_dtype(series.dtype):
        ok = np.fromiter(
            (isinstance(v, (list, tuple, np.ndarray)) for v in series), dtype=bool, count=len(series)
        )
        if not ok.all():
            problems.append(
                f"column {col.name!r} (kind 'list'): found non-list values in {_bad_rows(series, ~ok)}; "
                "expected every value to be a list, tuple or numpy array"
            )
    return problems


def validate(frame: pd.DataFrame, columns: Sequence[Column], *, name: str = "frame") -> None:
    """Check ``frame`` against ``columns``; raise one ``ValueError`` listing every problem.

    ``name`` is how the frame is called in messages (e.g. ``"train"``). Extra columns in the
    frame are allowed. Raises ``TypeError`` if ``frame`` is not a DataFrame or a schema entry
    is not a :class:`Column`.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, found {type(frame).__name__}")
    for col in columns:
        if not isinstance(col, Column):
            raise TypeError(f"schema entries must be Column objects, found {col!r}")

    problems: list[str] = []
    if len(frame) == 0:
        problems.append(f"{name} is empty: expected at least one row")

    expected_names = [c.name for c in columns]
    for col in columns:
        if col.name not in frame.columns:
            problems.append(
                f"missing column {col.name!r} (kind {col.kind!r}): found columns "
                f"{list(frame.columns)}; expected columns {expected_names}"
            )
            continue
        series = frame[col.name]
        if isinstance(series, pd.DataFrame):  # duplicated column label
            problems.append(
                f"column {col.name!r} appears {series.shape[1]} times: expected exactly once"
            )
            continue
        if not _dtype_ok(col.kind, series.dtype):
            problems.append(
                f"column {col.name!r}: found dtype {series.dtype}, expected kind {col.kind!r} "
                f"({KINDS[col.kind]})"
            )
            # Still report missing ids: float ids usually mean NaNs turned ints into floats.
            if col.kind == "id":
                problems.extend(_value_problems(col, series))
            continue
        problems.extend(_value_problems(col, series))

    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ValueError(f"{name} failed validation ({len(problems)} problem(s)):\n{lines}")
