"""TF Serving REST API v1 responses: output arrays -> JSON text, byte for byte like TF Serving.

This mirrors TF Serving's ``MakeJsonFromTensors`` (tensorflow_serving/util/):

* ``{"predictions": ...}`` for row-format requests (every output batched to the same size),
  ``{"outputs": ...}`` for columnar ones;
* floats are written the way ``WriteDecimal`` does: ``%g`` (six significant digits)
  when that round-trips to the same float32/float64, otherwise ``%.9g`` / ``%.17g``,
  with ``.0`` appended to whole numbers (``3.0``, not ``3``); ``NaN``, ``Infinity`` and
  ``-Infinity`` as bare tokens (api_rest.md "JSON conformance");
* DT_STRING outputs whose name ends in ``_bytes`` are written as ``{"b64": ...}``
  (api_rest.md "Output of binary values").
"""
from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

from .errors import InvalidArgument
from .rest_request import COLUMNAR

__all__ = ["tensor_to_json", "predict_response_json", "json_dumps"]


def _fmt_decimal(val: float, is_float32: bool) -> str:  # WriteDecimal
    if math.isnan(val):
        return "NaN"
    if math.isinf(val):
        return "-Infinity" if val < 0 else "Infinity"
    s = "%g" % val
    roundtrip = float(np.float32(float(s))) if is_float32 else float(s)
    if roundtrip != val:
        s = ("%.9g" if is_float32 else "%.17g") % val
    if "." not in s and "e" not in s:
        s += ".0"
    return s


def _leaf_formatter(arr: np.ndarray, as_b64: bool):
    kind = arr.dtype.kind
    if kind == "f":
        is32 = arr.dtype.itemsize <= 4
        return lambda v: _fmt_decimal(float(v), is32)
    if kind == "b":
        return lambda v: "true" if v else "false"
    if kind in "iu":
        return lambda v: str(int(v))
    if kind in "OSU":
        if as_b64:
            return lambda v: '{"b64": "%s"}' % base64.b64encode(_as_bytes(v)).decode("ascii")
        return lambda v: json.dumps(_as_bytes(v).decode("utf-8", errors="replace"), ensure_ascii=False)
    raise InvalidArgument(f"Failed to write JSON value for tensor type: {arr.dtype}")


def _as_bytes(v: Any) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def _nest(tokens: list[str], shape: tuple[int, ...]) -> str:
    """Wrap a flat (C-order) list of JSON tokens into nested JSON lists of ``shape``."""
    if not shape:
        return tokens[0]
    if 0 in shape:
        return _nest_empty(shape)
    for dim in reversed(shape):
        tokens = ["[" + ", ".join(tokens[i : i + dim]) + "]" for i in range(0, len(tokens), dim)]
    return tokens[0]


def _nest_empty(shape: tuple[int, ...]) -> str:
    if shape[0] == 0:
        return "[]"
    inner = _nest_empty(shape[1:])
    return "[" + ", ".join([inner] * shape[0]) + "]"


def tensor_to_json(name: str, arr: np.ndarray) -> str:
    """AddTensorValues for a whole tensor (columnar format)."""
    fmt = _leaf_formatter(arr, name.endswith("_bytes"))
    return _nest([fmt(v) for v in arr.reshape(-1)], arr.shape)


def predict_response_json(outputs: dict[str, np.ndarray], fmt: str) -> str:
    """MakeJsonFromTensors: ``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar)."""
    if not outputs:
        raise InvalidArgument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    if fmt == COLUMNAR:
        if len(names) == 1:
            return '{"outputs": ' + tensor_to_json(names[0], outputs[names[0]]) + "}"
        body = ", ".join(f"{json.dumps(n)}: {tensor_to_json(n, outputs[n])}" for n in names)
        return '{"outputs": {' + body + "}}"

    # MakeRowFormatJsonFromTensors: every output must be batched to the same size.
    batch = -1
    for n in names:
        arr = outputs[n]
        if arr.ndim == 0:
            raise InvalidArgument(f"Tensor name: {n} has no shape information ")
        if batch >= 0 and arr.shape[0] != batch:
            raise InvalidArgument(
                f"Tensor name: {n} has inconsistent batch size: {arr.shape[0]} expecting: {batch}"
            )
        batch = arr.shape[0]
    rows_per_output = {}
    for n in names:
        arr = outputs[n]
        fmt_leaf = _leaf_formatter(arr, n.endswith("_bytes"))
        inner = arr.shape[1:]
        flat = [fmt_leaf(v) for v in arr.reshape(-1)]
        per = int(np.prod(inner)) if inner else 1
        rows_per_output[n] = [
            _nest(flat[i * per : (i + 1) * per], inner) if per else _nest_empty(inner)
            for i in range(batch)
        ]
    if len(names) == 1:
        return '{"predictions": [' + ", ".join(rows_per_output[names[0]]) + "]}"
    keys = [json.dumps(n) for n in names]
    rows = [
        "{" + ", ".join(f"{k}: {rows_per_output[n][i]}" for k, n in zip(keys, names)) + "}"
        for i in range(batch)
    ]
    return '{"predictions": [' + ", ".join(rows) + "]}"


def json_dumps(obj: Any) -> str:
    """Plain JSON for status/metadata/error bodies (NaN/Infinity as bare tokens, like TF Serving)."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=True)
