"""Declarative column checks for interaction frames.

A schema is a list of :class:`Column` (name + kind). :func:`validate` checks a pandas
DataFrame against it and raises one ``ValueError`` that lists *every* problem, one per
line, so a user can fix the whole file in one go instead of one error per run. Each
problem names the column, what was found (with the first offending row and examples) and
what was expected.

Kinds and what they accept:

===============  =========================================================================
``id``           integer dtype, or string/object dtype holding str or int values; no NaN/None
``int``          integer dtype (bool is not an integer here) with values that fit int64
``float``        float dtype; integer dtypes are accepted too (they convert losslessly)
``label``        numeric or bool dtype; integer/bool values in {0, 1}, float values in [0, 1]
``timestamp``    integer (e.g. epoch seconds), float or datetime64 (tz-aware included)
``string``       string or object dtype
``list``         object dtype whose values are list / tuple / numpy array, or a pyarrow list dtype
``int_list``     a ``list`` column whose elements are exact int64 integers (see :func:`as_int64`)
``float_list``   a ``list`` column whose elements are numbers (NaN/None allowed, as in ``float``)
``string_list``  a ``list`` column whose elements are str
===============  =========================================================================

A :class:`Column` may name its ``padding`` value: a scalar equal to it is rejected, because
the models would read it as "no value" rather than as an id.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

KINDS: dict[str, str] = {
    "id": "integer dtype, or string/object dtype holding str or int values",
    "int": "integer dtype with values that fit int64",
    "float": "float or integer dtype",
    "label": "numeric or bool dtype with values in {0, 1} (floats in [0, 1])",
    "timestamp": "integer, float or datetime64 dtype",
    "string": "string or object dtype",
    "list": "object dtype holding lists/arrays, or a pyarrow list dtype",
    "int_list": "lists/arrays of integers that fit int64",
    "float_list": "lists/arrays of numbers",
    "string_list": "lists/arrays of str",
}
# Kinds whose values are lists (their elements are checked per kind).
LIST_KINDS = ("list", "int_list", "float_list", "string_list")

# How many offending values to quote in a message: enough to recognise the pattern.
_EXAMPLES = 3
_INT64_MAX = np.iinfo(np.int64).max
# float64 holds every integer up to 2**53 exactly; a larger float id may already be rounded.
_EXACT_FLOAT_INT = 2.0**53


@dataclass(frozen=True)
class Column:
    """One expected column: its ``name``, its ``kind`` (a key of :data:`KINDS`) and, for id
    columns, the ``padding`` value that must not appear as an id (None: no such value)."""

    name: str
    kind: str
    padding: Any = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"Column {self.name!r}: unknown kind {self.kind!r}; expected one of {sorted(KINDS)}"
            )


def as_int64(values) -> tuple[np.ndarray, np.ndarray]:
    """1-D ``values`` -> ``(int64 array, ok mask)``; the rule every int64 id is read by.

    A value is ok when it is exactly an int64 integer: an integer that fits int64, an
    integral float up to 2**53, or text that pandas reads as one of these ("12", as in CSV
    sequence cells). NaN/None, bools, non-integral floats and other text ("12abc") are not;
    their slots in the int64 array hold 0.
    """
    arr = np.asarray(values)
    nums = arr if arr.dtype.kind in "iuf" else np.asarray(pd.to_numeric(arr.astype(object), errors="coerce"))
    if nums.dtype.kind in "iu":
        ok = nums <= _INT64_MAX if nums.dtype.kind == "u" else np.ones(len(nums), bool)
    elif nums.dtype.kind == "f":
        ok = (np.abs(nums) <= _EXACT_FLOAT_INT) & (np.floor(nums) == nums)  # False for NaN
    else:  # bools, or objects to_numeric could not read
        ok = np.zeros(len(nums), bool)
    out = np.where(ok, nums, 0).astype(np.int64)
    if nums.dtype.kind == "f":
        # pandas gives floats when the values mix types, rounded past 2**53: read those one by one.
        for i in np.flatnonzero(np.abs(nums) > _EXACT_FLOAT_INT):
            exact = _exact_int(arr[i])
            if exact is not None:
                out[i], ok[i] = exact, True
    if arr.dtype.kind == "O" and ptypes.infer_dtype(arr) not in _NO_BOOLS:
        ok &= ~np.fromiter((isinstance(v, (bool, np.bool_)) for v in arr), dtype=bool, count=len(arr))
        out[~ok] = 0
    return out, ok


# pandas' inferred types of object arrays that hold no bool (to_numeric reads True as 1).
_NO_BOOLS = ("integer", "floating", "mixed-integer-float", "string", "empty")


def _exact_int(value) -> int | None:
    """``value`` when it is an integer (or integer text) that fits int64, else None."""
    if isinstance(value, (bool, np.bool_, float, np.floating)):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if -_INT64_MAX - 1 <= number <= _INT64_MAX else None


def list_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column of lists/arrays -> ``(every element in row order, each row's length)``."""
    cells = series.to_numpy(dtype=object)
    lengths = np.fromiter(map(len, cells), dtype=np.int64, count=len(cells))
    if len(cells) and all(isinstance(c, np.ndarray) for c in cells) and len({c.dtype for c in cells}) == 1:
        return np.concatenate([c.ravel() for c in cells]), lengths  # e.g. Parquet: typed, no copy per value
    return np.fromiter(chain.from_iterable(cells), dtype=object, count=int(lengths.sum())), lengths


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
    if kind in LIST_KINDS:
        return ptypes.is_object_dtype(dtype) or _is_list_dtype(dtype)
    raise AssertionError(kind)  # Column.__post_init__ already rejects unknown kinds


def _not_instances(values: np.ndarray, types: tuple, fast: tuple[str, ...]) -> np.ndarray:
    """Mask of values that are not instances of ``types`` (bool never counts as int);
    ``fast``: pandas' inferred types that need no per-value look."""
    if ptypes.infer_dtype(values, skipna=False) in fast + ("empty",):
        return np.zeros(len(values), bool)
    return np.fromiter(
        (isinstance(v, bool) or not isinstance(v, types) for v in values), dtype=bool, count=len(values)
    )


def _not_numbers(values: np.ndarray) -> np.ndarray:
    """Mask of values that are neither numbers nor missing (NaN/None stay allowed, as in floats)."""
    if np.asarray(values).dtype.kind in "iuf":
        return np.zeros(len(values), bool)
    objects = np.asarray(values, dtype=object)
    return pd.isna(pd.to_numeric(objects, errors="coerce")) & ~pd.isna(objects)


# What a list kind's elements must be: the mask of elements that are not.
_BAD_ELEMENTS = {
    "int_list": lambda flat: ~as_int64(flat)[1],
    "float_list": _not_numbers,
    "string_list": lambda flat: _not_instances(np.asarray(flat, dtype=object), (str,), ("string",)),
}


def _bad_rows(series: pd.Series, bad: np.ndarray, where: str, examples=None) -> str:
    """'N row(s), first at <where> X, e.g. [v1, v2]' for a boolean mask of offending rows.

    ``where`` names what the index counts ("index", or "line" for a CSV file); ``examples``
    default to the offending rows' values."""
    positions = np.flatnonzero(bad)
    if examples is None:
        examples = series.iloc[positions[:_EXAMPLES]]
    examples = [v.item() if isinstance(v, np.generic) else v for v in list(examples)[:_EXAMPLES]]
    first = series.index[positions[0]]
    first = first.item() if isinstance(first, np.generic) else first  # 101, not np.int64(101)
    return f"{len(positions)} row(s), first at {where} {first!r}, e.g. {examples}"


def _int_problems(col: Column, series: pd.Series, where: str) -> list[str]:
    problems = []
    missing = series.isna().to_numpy()
    if missing.any():
        problems.append(
            f"column {col.name!r} (kind 'int'): found NaN/None in {_bad_rows(series, missing, where)}; "
            "expected an integer in every row"
        )
    wrong = np.zeros(len(series), bool)
    # Only the present values: a nullable Int64 column with NA would otherwise come out as floats.
    wrong[~missing] = ~as_int64(series[~missing].to_numpy())[1]
    if wrong.any():
        problems.append(
            f"column {col.name!r} (kind 'int'): found values that are not int64 integers in "
            f"{_bad_rows(series, wrong, where)}; expected integers that fit int64"
        )
    return problems


def _list_problems(col: Column, series: pd.Series, where: str) -> list[str]:
    cells = series.to_numpy(dtype=object)
    ok = np.fromiter(
        (isinstance(v, (list, tuple, np.ndarray)) for v in cells), dtype=bool, count=len(cells)
    )
    if not ok.all():
        return [
            f"column {col.name!r} (kind {col.kind!r}): found non-list values in "
            f"{_bad_rows(series, ~ok, where)}; "
            "expected every value to be a list, tuple or numpy array"
        ]
    if col.kind == "list":
        return []
    flat, lengths = list_values(series)
    bad = _BAD_ELEMENTS[col.kind](flat)
    if not bad.any():
        return []
    rows = np.zeros(len(series), bool)
    rows[np.repeat(np.arange(len(series)), lengths)[bad]] = True
    return [
        f"column {col.name!r} (kind {col.kind!r}): found invalid elements in "
        f"{_bad_rows(series, rows, where, flat[bad])}; expected {KINDS[col.kind]}"
    ]


def _value_problems(col: Column, series: pd.Series, where: str) -> list[str]:
    """Problems in the values of a column, naming the offending rows.

    Called for every column whose dtype is acceptable, and for ``id``/``int``/``float``
    columns whose dtype is not, to point at the rows that made it so (e.g. a NaN that turned
    an int column into floats, or "12abc" in a CSV id column)."""
    problems = []
    if col.kind == "id":
        missing = series.isna().to_numpy()
        if missing.any():
            problems.append(
                f"column {col.name!r} (kind 'id'): found NaN/None in {_bad_rows(series, missing, where)}; "
                "expected every row to have an id"
            )
        if ptypes.is_object_dtype(series.dtype):
            ids = (str, int, np.integer)
            other = _not_instances(series.to_numpy(), ids, ("string", "integer")) & ~missing
            if other.any():
                problems.append(
                    f"column {col.name!r} (kind 'id'): found values that are neither str nor int in "
                    f"{_bad_rows(series, other, where)}; expected str or integer ids"
                )
    elif col.kind == "int":
        problems.extend(_int_problems(col, series, where))
    elif col.kind == "float" and not ptypes.is_numeric_dtype(series.dtype):
        other = _not_numbers(series.to_numpy())
        if other.any():
            problems.append(
                f"column {col.name!r} (kind 'float'): found non-numeric values in "
                f"{_bad_rows(series, other, where)}; expected numbers"
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
                f"{_bad_rows(series, ~ok, where)}; expected {expected}"
            )
    elif col.kind in LIST_KINDS and ptypes.is_object_dtype(series.dtype):
        problems.extend(_list_problems(col, series, where))
    if col.padding is not None:
        padded = (series == col.padding).to_numpy(dtype=bool)
        if padded.any():
            problems.append(
                f"column {col.name!r} (kind {col.kind!r}): found the padding value {col.padding!r} in "
                f"{_bad_rows(series, padded, where)}; expected real ids (the padding value means 'no value')"
            )
    return problems


def raise_problems(name: str, problems: Sequence[str]) -> NoReturn:
    """The one error format: ``'<name> failed validation (N problem(s)):'`` then a line per problem."""
    lines = "\n".join(f"  - {p}" for p in problems)
    raise ValueError(f"{name} failed validation ({len(problems)} problem(s)):\n{lines}")


def validate(frame: pd.DataFrame, columns: Sequence[Column], *, name: str = "frame",
             where: str = "index") -> None:
    """Check ``frame`` against ``columns``; raise one ``ValueError`` listing every problem.

    ``name`` is how the frame is called in messages (e.g. ``"train"``, or a file's path), and
    ``where`` what its index counts (e.g. ``"line"`` when the index holds a CSV file's line
    numbers). Extra columns in the frame are allowed. Raises ``TypeError`` if ``frame`` is not
    a DataFrame or a schema entry is not a :class:`Column`.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, found {type(frame).__name__}")
    for col in columns:
        if not isinstance(col, Column):
            raise TypeError(f"schema entries must be Column objects, found {col!r}")

    problems: list[str] = []
    empty = len(frame) == 0
    if empty:
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
        if empty:
            continue  # an empty column's dtype says nothing (e.g. a CSV file with a header only)
        if not _dtype_ok(col.kind, series.dtype):
            problems.append(
                f"column {col.name!r}: found dtype {series.dtype}, expected kind {col.kind!r} "
                f"({KINDS[col.kind]})"
            )
            # Still point at the offending rows: float ids usually mean NaNs turned ints into floats.
            if col.kind in ("id", "int", "float"):
                problems.extend(_value_problems(col, series, where))
            continue
        problems.extend(_value_problems(col, series, where))

    if problems:
        raise_problems(name, problems)
