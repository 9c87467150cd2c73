"""TF Serving REST API v1 predict requests: JSON body -> numpy arrays per signature input.

This mirrors TF Serving's ``FillPredictRequestFromJson`` (tensorflow_serving/util/) closely,
including its error messages, so that a client written against this server behaves the same
against the real ``tensorflow_model_server``:

* row format (``"instances"``) and columnar format (``"inputs"``), see api_rest.md
  "Specifying input tensors in row format" / "... in column format";
* dense tensors only: every list at one nesting level must have the same length,
  leaves must all sit at the same depth ("Encountered list at unexpected size ...");
* strict JSON-type -> dtype rules (``AddValueToTensor``): an int64 input accepts only
  JSON integers (``1.0`` is rejected), a float input accepts any JSON number that fits
  without loss of precision, a string input accepts a JSON string or ``{"b64": ...}``;
* ``NaN``, ``Infinity`` and ``-Infinity`` are accepted as bare tokens (api_rest.md
  "JSON conformance").

Nothing here imports TensorFlow: dtypes are described by their ``DataType`` enum name
(``"DT_FLOAT"``), so this module is cheap to unit-test.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidArgument, Unimplemented

__all__ = [
    "ROW",
    "COLUMNAR",
    "InputSpec",
    "dtype_string",
    "parse_json_body",
    "signature_name_of",
    "parse_predict_request",
    "batch_size",
]

# the request's format, which the response is written in
ROW = "row"
COLUMNAR = "columnar"


# --------------------------------------------------------------------------- dtypes
# DataType enum name -> (numpy dtype, DataTypeString() as TF prints it in errors)
_DTYPES: dict[str, tuple[Any, str]] = {
    "DT_FLOAT": (np.float32, "float"),
    "DT_DOUBLE": (np.float64, "double"),
    "DT_INT8": (np.int8, "int8"),
    "DT_INT16": (np.int16, "int16"),
    "DT_INT32": (np.int32, "int32"),
    "DT_INT64": (np.int64, "int64"),
    "DT_UINT8": (np.uint8, "uint8"),
    "DT_UINT16": (np.uint16, "uint16"),
    "DT_UINT32": (np.uint32, "uint32"),
    "DT_UINT64": (np.uint64, "uint64"),
    "DT_BOOL": (np.bool_, "bool"),
    "DT_STRING": (object, "string"),
    "DT_HALF": (np.float16, "half"),
}
_INT_RANGES = {
    "DT_INT8": (-(2**7), 2**7 - 1),
    "DT_INT16": (-(2**15), 2**15 - 1),
    "DT_INT32": (-(2**31), 2**31 - 1),
    "DT_UINT8": (0, 2**8 - 1),
    "DT_UINT32": (0, 2**32 - 1),
    "DT_INT64": (-(2**63), 2**63 - 1),
    "DT_UINT64": (0, 2**64 - 1),
}
_FLOAT_MAX_INT = {"DT_FLOAT": 2**24 - 1, "DT_DOUBLE": 2**53 - 1}
_FLOAT_MAX = {"DT_FLOAT": float(np.finfo(np.float32).max), "DT_DOUBLE": float(np.finfo(np.float64).max)}


def dtype_string(dtype: str) -> str:
    """TF's DataTypeString(): ``DT_FLOAT`` -> ``float``."""
    return _DTYPES.get(dtype, (None, dtype.removeprefix("DT_").lower()))[1]


@dataclass(frozen=True)
class InputSpec:
    """One named input of a signature: its DataType enum name and static shape."""

    dtype: str  # e.g. "DT_INT64"
    shape: tuple[int | None, ...] | None = None  # None = unknown rank; None dims = -1

    def compatible(self, shape: tuple[int, ...]) -> bool:
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(
            want is None or want == got for want, got in zip(self.shape, shape)
        )

    def shape_str(self) -> str:
        if self.shape is None:
            return "[?]"
        return "[" + ",".join("-1" if d is None else str(d) for d in self.shape) + "]"


# --------------------------------------------------------------------------- JSON -> values
def _json_type(val: Any) -> str:  # JsonTypeString
    if val is None:
        return "Null"
    if val is True:
        return "True"
    if val is False:
        return "False"
    if isinstance(val, dict):
        return "Object"
    if isinstance(val, list):
        return "Array"
    if isinstance(val, str):
        return "String"
    return "Number"


def _to_str(val: Any, limit: int = 200) -> str:  # JsonValueToString, truncated
    try:
        s = json.dumps(val, ensure_ascii=False)
    except (TypeError, ValueError):
        s = repr(val)
    s = s if len(s) <= limit else s[:limit] + "...(truncated)"
    # a lone UTF-16 surrogate ("\ud800") cannot be encoded: escape it so the error body can be sent
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _type_error(val: Any, dtype: str) -> InvalidArgument:
    return InvalidArgument(
        f"JSON Value: {_to_str(val)} Type: {_json_type(val)} is not of expected type: "
        f"{dtype_string(dtype)}"
    )


def _is_b64_object(val: Any) -> bool:  # IsValBase64Object
    return isinstance(val, dict) and len(val) == 1 and isinstance(val.get("b64"), str)


def _decode_b64(val: Any) -> bytes:  # JsonDecodeBase64Object
    if not _is_b64_object(val):
        raise InvalidArgument(f"JSON Value: {_to_str(val)} not formatted correctly for base64 data")
    s = val["b64"]
    s += "=" * (-len(s) % 4)  # absl::Base64Unescape accepts unpadded input
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("Unable to base64 decode") from None


def _is_number(val: Any) -> bool:
    return type(val) in (int, float)


def _converter(dtype: str):
    """Return a function mapping one JSON leaf to a Python value of ``dtype`` (AddValueToTensor)."""
    if dtype in ("DT_FLOAT", "DT_DOUBLE"):
        max_int, max_val = _FLOAT_MAX_INT[dtype], _FLOAT_MAX[dtype]
        target = "float" if dtype == "DT_FLOAT" else "double"

        def conv_float(val):
            if not _is_number(val):
                raise _type_error(val, dtype)
            lossy = (
                abs(val) > max_int
                if type(val) is int
                else math.isfinite(val) and abs(val) > max_val
            )
            if lossy:
                raise InvalidArgument(
                    f"Cannot convert JSON value: {_to_str(val)} to {target} without loss of precision."
                )
            return val

        return conv_float
    if dtype in _INT_RANGES:
        lo, hi = _INT_RANGES[dtype]

        def conv_int(val):
            if type(val) is not int or not lo <= val <= hi:
                raise _type_error(val, dtype)
            return val

        return conv_int
    if dtype == "DT_BOOL":

        def conv_bool(val):
            if type(val) is not bool:
                raise _type_error(val, dtype)
            return val

        return conv_bool
    if dtype == "DT_STRING":

        def conv_str(val):
            if isinstance(val, str):
                try:
                    return val.encode("utf-8")
                except UnicodeEncodeError:  # a lone surrogate such as "\ud800"
                    raise InvalidArgument(f"JSON Value: {_to_str(val)} is not a valid UTF-8 string "
                                          "(it holds an unpaired UTF-16 surrogate)") from None
            if isinstance(val, dict):
                return _decode_b64(val)
            raise _type_error(val, dtype)

        return conv_str

    def unsupported(val):
        raise Unimplemented(f"Conversion of JSON Value: {_to_str(val)} to type: {dtype_string(dtype)}")

    return unsupported


def _dense_shape(val: Any) -> list[int]:  # GetDenseTensorShape: follows the first elements
    shape = []
    while isinstance(val, list):
        shape.append(len(val))
        if not val:
            break
        val = val[0]
    return shape


def _fill(val: Any, level: int, shape: list[int], dtype: str, conv, out: list) -> None:
    """FillTensorProto: leaves must all sit at depth len(shape), lists must match ``shape``."""
    rank = len(shape)
    if not isinstance(val, list):
        if level != rank:
            raise InvalidArgument(
                f"JSON Value: {_to_str(val)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {rank}"
            )
        if isinstance(val, dict) and dtype != "DT_STRING":  # objects only as {"b64": ...}
            raise _type_error(val, dtype)
        out.append(conv(val))
        return
    if level >= rank:
        raise InvalidArgument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(val) != shape[level]:
        raise InvalidArgument(
            f"Encountered list at unexpected size: {len(val)} at level: {level} expected size: "
            f"{shape[level]}"
        )
    for v in val:
        _fill(v, level + 1, shape, dtype, conv, out)


@dataclass
class _Tensor:
    dtype: str
    values: list = field(default_factory=list)
    shape: list[int] = field(default_factory=list)


def _value_to_tensor(val: Any, dtype: str) -> _Tensor:
    shape = _dense_shape(val)
    values: list = []
    _fill(val, 0, shape, dtype, _converter(dtype), values)
    return _Tensor(dtype, values, shape)


def _to_array(t: _Tensor) -> np.ndarray:
    np_dtype = _DTYPES.get(t.dtype, (object,))[0]
    if np_dtype is object:
        arr = np.empty(len(t.values), dtype=object)
        arr[:] = t.values
    else:
        arr = np.asarray(t.values, dtype=np_dtype)
    return arr.reshape(t.shape)


def _parse_instances(instances: Any, doc: dict, specs: dict[str, InputSpec]) -> dict[str, np.ndarray]:
    # FillTensorMapFromInstancesList
    if not isinstance(instances, list):
        raise InvalidArgument(f"JSON Value: {_to_str(doc)} Excepting 'instances' to be an list/array")
    if not instances:
        raise InvalidArgument(f"JSON Value: {_to_str(doc)} No values in 'instances' array")
    if not isinstance(instances[0], dict) and len(specs) > 1:
        raise InvalidArgument(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map"
        )

    def is_element_object(v):
        return isinstance(v, dict) and not _is_b64_object(v)

    elements_are_objects = is_element_object(instances[0])
    input_names = sorted(specs)
    values: dict[str, list] = {}
    shapes: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}

    def add_item(item, name):  # AddInstanceItem
        if name not in specs:
            raise InvalidArgument(f"JSON object: does not have named input: {name}")
        t = _value_to_tensor(item, specs[name].dtype)
        if name not in sizes:
            sizes[name], shapes[name] = len(t.values), t.shape
            values[name] = t.values
            return
        if sizes[name] != len(t.values):
            raise InvalidArgument(f"Expecting tensor size: {sizes[name]} but got: {len(t.values)}")
        if shapes[name] != t.shape:
            raise InvalidArgument(
                f"Expecting shape [{','.join(map(str, shapes[name]))}] but got: "
                f"[{','.join(map(str, t.shape))}]"
            )
        values[name].extend(t.values)

    for i, elem in enumerate(instances):
        if elements_are_objects:
            if not is_element_object(elem):
                raise InvalidArgument(f"Expecting object but got list at item {i} of input list")
            for name, item in elem.items():
                try:
                    add_item(item, name)
                except InvalidArgument as e:
                    raise InvalidArgument(
                        f"Failed to process element: {i} key: {name} of 'instances' list. "
                        f"Error: INVALID_ARGUMENT: {e.message}"
                    ) from None
            if sorted(elem) != input_names:
                raise InvalidArgument(
                    f"Failed to process element: {i} of 'instances' list. JSON object: "
                    f"{_to_str(elem)} keys must be equal to: {','.join(input_names)}"
                )
        else:
            if is_element_object(elem):
                raise InvalidArgument(f"Expecting value/list but got object at item {i} of input list")
            try:
                add_item(elem, input_names[0])
            except InvalidArgument as e:
                raise InvalidArgument(
                    f"Failed to process element: {i} of 'instances' list. "
                    f"Error: INVALID_ARGUMENT: {e.message}"
                ) from None

    n = len(instances)
    return {
        name: _to_array(_Tensor(specs[name].dtype, values[name], [n, *shapes[name]]))
        for name in values
    }


def _parse_inputs(inputs: Any, specs: dict[str, InputSpec]) -> dict[str, np.ndarray]:
    # FillTensorMapFromInputsMap
    if not isinstance(inputs, dict) or _is_b64_object(inputs):
        if len(specs) > 1:
            raise InvalidArgument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                "required as per tensorinfo_map"
            )
        (name, spec), = specs.items()
        return {name: _to_array(_value_to_tensor(inputs, spec.dtype))}
    out = {}
    for name in sorted(specs):
        if name not in inputs:
            raise InvalidArgument(f"Missing named input: {name} in 'inputs' object.")
        out[name] = _to_array(_value_to_tensor(inputs[name], specs[name].dtype))
    return out


def parse_json_body(body: bytes) -> dict:
    """ParseJson: non-empty, valid JSON (NaN/Infinity tokens allowed), top level an object."""
    if not body:
        raise InvalidArgument("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body)
    except UnicodeDecodeError as e:
        raise InvalidArgument(f"JSON Parse error: Invalid encoding in string at offset: {e.start}") from None
    except json.JSONDecodeError as e:
        raise InvalidArgument(f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
    except RecursionError:
        raise InvalidArgument("JSON Parse error: document nested too deeply") from None
    except ValueError as e:  # e.g. an integer literal past Python's 4300-digit conversion limit
        raise InvalidArgument(f"JSON Parse error: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"JSON Value: {_to_str(doc)} Is not object")
    return doc


def signature_name_of(doc: dict) -> str:
    """FillSignature: optional string ``signature_name``; empty means serving_default."""
    sig = doc.get("signature_name", "")
    if not isinstance(sig, str):
        raise InvalidArgument(
            f"JSON Value: {_to_str(doc)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return sig or "serving_default"


def parse_predict_request(
    doc: dict, specs: dict[str, InputSpec], signature_name: str = "serving_default"
) -> tuple[dict[str, np.ndarray], str]:
    """FillPredictRequestFromJson: returns ({input name: array}, ROW or COLUMNAR).

    Also checks each array against the signature's static shape, which the real server does
    when it feeds the tensors to the session (an INVALID_ARGUMENT, so 400 either way).
    """
    if not specs:
        raise InvalidArgument(f"Failed to get input map for signature: {signature_name}")
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise InvalidArgument(
            f"JSON Value: {_to_str(doc)} Not formatted correctly expecting only one of 'inputs' or "
            "'instances' keys to exist "
        )
    if has_instances:
        arrays, fmt = _parse_instances(doc["instances"], doc, specs), ROW
    elif has_inputs:
        arrays, fmt = _parse_inputs(doc["inputs"], specs), COLUMNAR
    else:
        raise InvalidArgument("Missing 'inputs' or 'instances' key")
    for name, arr in arrays.items():
        spec = specs[name]
        if not spec.compatible(arr.shape):
            raise InvalidArgument(
                f"Input '{name}' has shape [{','.join(map(str, arr.shape))}], which is not compatible "
                f"with the shape {spec.shape_str()} the signature '{signature_name}' expects"
            )
    return arrays, fmt


def batch_size(arrays: dict[str, np.ndarray], specs: dict[str, InputSpec], signature_name: str) -> int | None:
    """The common first dimension of the inputs whose signature shape starts with -1 (the
    batch), or None when no input has one. Columnar requests can give inputs different
    lengths; TF would fail deep inside the graph, so the mismatch is named here instead."""
    sizes = {name: arr.shape[0] for name, arr in arrays.items()
             if arr.ndim and specs[name].shape and specs[name].shape[0] is None}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{name} has {n}" for name, n in sorted(sizes.items()))
        raise InvalidArgument(f"Inputs of signature '{signature_name}' must have the same batch size "
                              f"(first dimension): {listed}")
    return next(iter(sizes.values()), None)
