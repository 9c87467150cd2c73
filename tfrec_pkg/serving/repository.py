"""Model versions on disk -> loaded SavedModels, with TF Serving's default version policy.

Layout (the same one ``tensorflow_model_server`` reads)::

    <base_path>/<version>/saved_model.pb      # version: a non-negative integer
    <base_path>/<version>/variables/...

* Only the highest version is served (TF Serving's default ``latest { num_versions: 1 }``).
* The base path is polled every ``poll_seconds`` (``--file_system_poll_wait_seconds``);
  a new, higher version is loaded in the background and swapped in atomically; the old one
  is unloaded (its status becomes ``END``, as TF Serving's ServableStateMonitor reports it).
  ``poll_seconds <= 0`` polls once at start-up only, like TF Serving's ``0``.
* Directories whose name is not an integer, that have no ``saved_model.pb`` yet (exports are
  written to a temporary directory and renamed, so a complete version appears at once), or
  that resolve (through symlinks) to somewhere outside the base path are ignored.
* A version that fails to load is reported as ``END`` with the error and not retried until
  its ``saved_model.pb`` changes; the previously served version stays up.

Model configuration (``--model_config_file``): either JSON::

    {"models": [{"name": "ranker", "base_path": "/srv/models/ranker",
                 "version_labels": {"stable": 1}}]}

or TF Serving's ``ModelServerConfig`` in protobuf text format (only ``model_config_list``;
unknown fields are an error, as in TF Serving)::

    model_config_list {
      config { name: 'ranker' base_path: '/srv/models/ranker' model_platform: 'tensorflow'
               version_labels { key: 'stable' value: 1 } }
    }

Relative base paths are resolved against the current directory, as TF Serving does.
"""
from __future__ import annotations

import json
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ClientClosedRequest, InvalidArgument, NotFound
from .rest_request import InputSpec

MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_VERSION_DIR_RE = re.compile(r"^\d+$")


def valid_name(name: str) -> bool:
    """Model names and labels: ``^[A-Za-z0-9_.-]+$`` and not ``.`` / ``..``."""
    return bool(MODEL_NAME_RE.match(name)) and name not in (".", "..")


# --------------------------------------------------------------------------- configuration
@dataclass
class ModelConfig:
    name: str
    base_path: str
    version_labels: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not valid_name(self.name):
            raise ValueError(f"invalid model name {self.name!r}: must match {MODEL_NAME_RE.pattern}")
        if not isinstance(self.base_path, str) or not self.base_path:
            raise ValueError(f"model {self.name!r}: base_path must be a non-empty string")
        for label, version in self.version_labels.items():
            if not valid_name(label):
                raise ValueError(f"model {self.name!r}: invalid version label {label!r}")
            if type(version) is not int or version < 0:
                raise ValueError(f"model {self.name!r}: label {label!r} must map to a version number")


def _parse_text_config(path: str, text: str) -> list[ModelConfig]:
    """TF Serving's ModelServerConfig in protobuf text format (what it reads for --model_config_file)."""
    from google.protobuf import text_format
    from tensorflow_serving.config.model_server_config_pb2 import ModelServerConfig

    try:
        root = text_format.Parse(text, ModelServerConfig())
    except text_format.ParseError as e:
        raise ValueError(f"{path}: not a ModelServerConfig in text format: {e}") from None
    if not root.HasField("model_config_list"):
        raise ValueError(f"{path}: expected one model_config_list {{ config {{ ... }} }}")
    configs = []
    for c in root.model_config_list.config:
        platform = c.model_platform or "tensorflow"
        if platform != "tensorflow":
            raise ValueError(f"{path}: model_platform {platform!r} is not supported")
        if c.HasField("model_version_policy"):
            print(f"warning: {path}: model_version_policy is ignored; serving the latest version",
                  file=sys.stderr)
        configs.append(ModelConfig(c.name, c.base_path, dict(c.version_labels)))
    return configs


def load_model_config_file(path: str) -> list[ModelConfig]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        entries = data.get("models") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{path}: expected {{\"models\": [{{\"name\": ..., \"base_path\": ...}}]}}")
        configs = []
        for e in entries:
            if not isinstance(e, dict):
                raise ValueError(f"{path}: each entry of 'models' must be an object")
            platform = e.get("model_platform", "tensorflow")
            if platform != "tensorflow":
                raise ValueError(f"{path}: model_platform {platform!r} is not supported")
            configs.append(
                ModelConfig(e.get("name"), e.get("base_path"), dict(e.get("version_labels") or {}))
            )
    else:
        configs = _parse_text_config(path, text)
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate model names in {names}")
    if not configs:
        raise ValueError(f"{path}: no models configured")
    return configs


# --------------------------------------------------------------------------- loaded versions
@dataclass
class Signature:
    name: str
    inputs: dict[str, InputSpec]
    fn: Any  # the concrete function from loaded.signatures, or None (e.g. __saved_model_init_op)


class Servable:
    """One loaded version of one model."""

    def __init__(self, model_name: str, version: int, path: str):
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        self.model_name, self.version, self.path = model_name, version, path
        self.mtime = _mtime(os.path.join(path, "saved_model.pb"))  # the loaded files' time stamp
        self._loaded = tf.saved_model.load(path)
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            proto.ParseFromString(f.read())
        metas = [m for m in proto.meta_graphs if "serve" in m.meta_info_def.tags] or list(proto.meta_graphs)
        self._signature_defs = metas[0].signature_def
        self.signatures: dict[str, Signature] = {}
        for name, sdef in self._signature_defs.items():
            fn = self._loaded.signatures.get(name) if hasattr(self._loaded, "signatures") else None
            self.signatures[name] = Signature(name, {k: _input_spec(v) for k, v in sdef.inputs.items()}, fn)

    def signature(self, name: str) -> Signature:
        sig = self.signatures.get(name)
        if sig is None or sig.fn is None:
            raise InvalidArgument(f'Serving signature name: "{name}" not found in signature def')
        return sig

    def run(self, signature: Signature, arrays: dict, rows: int | None = None, chunk_rows: int | None = None,
            cancelled: threading.Event | None = None) -> dict:
        """The signature's outputs for ``arrays``. A batch of ``rows`` > ``chunk_rows`` is run
        ``chunk_rows`` rows at a time and the outputs concatenated, so a request's peak memory
        is that of one chunk; between chunks, a set ``cancelled`` (the client went away) stops
        the work. Outputs whose non-batch dimensions differ between chunks (e.g. top-k with a
        per-row k) are computed again on the whole batch, so results never depend on chunking."""
        if not chunk_rows or rows is None or rows <= chunk_rows:
            return self._call(signature, arrays)
        batched = {name for name, spec in signature.inputs.items() if spec.shape and spec.shape[0] is None}
        parts = []
        for start in range(0, rows, chunk_rows):
            if cancelled is not None and cancelled.is_set():
                raise ClientClosedRequest("The client closed the connection; the request was not finished")
            parts.append(self._call(signature, {name: arr[start:start + chunk_rows] if name in batched else arr
                                                for name, arr in arrays.items()}))
        if any(len({p[k].shape[1:] for p in parts}) > 1 for k in parts[0]):
            return self._call(signature, arrays)
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _call(self, signature: Signature, arrays: dict) -> dict:
        import tensorflow as tf

        tensors = {
            name: tf.constant(arr, dtype=tf.as_dtype(_enum(signature.inputs[name].dtype)))
            for name, arr in arrays.items()
        }
        try:
            outputs = signature.fn(**tensors)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError, ValueError, TypeError) as e:
            raise InvalidArgument(error_message(e)) from None
        return {k: v.numpy() for k, v in outputs.items()}

    def metadata(self) -> dict:
        """GetModelMetadataResponse as TF Serving prints it (http_rest_api_util.cc ToJsonString)."""
        return {
            "model_spec": {"name": self.model_name, "signature_name": "", "version": str(self.version)},
            "metadata": {
                "signature_def": {
                    "signature_def": {
                        name: {
                            "inputs": {k: _tensor_info_json(v) for k, v in sdef.inputs.items()},
                            "outputs": {k: _tensor_info_json(v) for k, v in sdef.outputs.items()},
                            "method_name": sdef.method_name,
                            "defaults": {},
                        }
                        for name, sdef in self._signature_defs.items()
                    }
                }
            },
        }


def _enum(dtype_name: str) -> int:
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Value(dtype_name)


def _input_spec(tensor_info) -> InputSpec:
    from tensorflow.core.framework import types_pb2

    shape = tensor_info.tensor_shape
    dims = None if shape.unknown_rank else tuple(None if d.size < 0 else d.size for d in shape.dim)
    return InputSpec(types_pb2.DataType.Name(tensor_info.dtype), dims)


def _tensor_info_json(tensor_info) -> dict:
    from google.protobuf import json_format
    from tensorflow.core.framework import types_pb2

    out = {
        "dtype": types_pb2.DataType.Name(tensor_info.dtype),
        "tensor_shape": {
            "dim": [{"size": str(d.size), "name": d.name} for d in tensor_info.tensor_shape.dim],
            "unknown_rank": tensor_info.tensor_shape.unknown_rank,
        },
    }
    encoding = tensor_info.WhichOneof("encoding")
    if encoding == "name" or encoding is None:
        out["name"] = tensor_info.name
    else:  # sparse / composite tensors: let protobuf print the encoding
        out[encoding] = json_format.MessageToDict(
            getattr(tensor_info, encoding), preserving_proto_field_name=True
        )
    return out


# --------------------------------------------------------------------------- repository
@dataclass
class _VersionState:
    state: str  # LOADING / AVAILABLE / END
    error_code: str = "OK"
    error_message: str = ""


class _Model:
    def __init__(self, config: ModelConfig):
        self.name = config.name
        self.base_path = os.path.realpath(config.base_path)
        self.labels = dict(config.version_labels)
        self.current: Servable | None = None
        self.states: dict[int, _VersionState] = {}
        self.failed: dict[int, float] = {}  # version -> mtime of the saved_model.pb that failed


class ModelRepository:
    """Serves the latest version of each configured model, picking up new versions by polling."""

    def __init__(self, configs: list[ModelConfig], poll_seconds: float = 2.0, log=None):
        if not configs:
            raise ValueError("no models configured")
        self.poll_seconds = poll_seconds
        self._models = {c.name: _Model(c) for c in configs}
        self._lock = threading.Lock()  # guards .current / .states swaps
        self._poll_lock = threading.Lock()  # one scan at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))

    # ------------------------------------------------------------------ discovery
    @property
    def model_names(self) -> list[str]:
        return list(self._models)

    def _candidates(self, model: _Model) -> list[tuple[int, str]]:
        """Complete version directories inside the base path, highest first."""
        try:
            entries = os.listdir(model.base_path)
        except OSError:
            return []
        found = {}
        for entry in entries:
            if not _VERSION_DIR_RE.match(entry):
                continue
            path = os.path.join(model.base_path, entry)
            real = os.path.realpath(path)
            if os.path.commonpath([real, model.base_path]) != model.base_path or real == model.base_path:
                continue  # a symlink pointing outside the base path
            pb = os.path.join(real, "saved_model.pb")
            if not os.path.isfile(pb) or os.path.commonpath([os.path.realpath(pb), real]) != real:
                continue  # still being written, or not a SavedModel
            found.setdefault(int(entry), real)
        return sorted(found.items(), reverse=True)

    def poll_once(self) -> list[tuple[str, int]]:
        """Scan every base path and follow the disk: load a newer version; when the served
        version's directory disappears or its files are rewritten, serve the newest version
        left (unloading it when none is). Returns the (model, version)s loaded."""
        loaded = []
        with self._poll_lock:
            for model in self._models.values():
                candidates = self._candidates(model)
                served = model.current
                stale = served is not None and (dict(candidates).get(served.version) is None
                                                or _mtime(os.path.join(served.path, "saved_model.pb")) != served.mtime)
                floor = -1 if stale or served is None else served.version
                for version, path in candidates:
                    if version <= floor:
                        break
                    mtime = _mtime(os.path.join(path, "saved_model.pb"))
                    if model.failed.get(version) == mtime:
                        continue  # already failed with these very files
                    if self._load(model, version, path, mtime):
                        loaded.append((model.name, version))
                        break
                if stale and model.current is served and served.version not in dict(candidates):
                    self._unload(model, served)
        return loaded

    def _unload(self, model: _Model, servable) -> None:
        with self._lock:
            model.current = None
            model.states[servable.version] = _VersionState("END")
        self._log(f"{model.name}: version {servable.version} left {model.base_path}; unloaded, no version to serve")

    def _load(self, model: _Model, version: int, path: str, mtime: float) -> bool:
        with self._lock:
            model.states[version] = _VersionState("LOADING")
        try:
            servable = Servable(model.name, version, path)
        except Exception as e:  # a broken export must not take the server down
            model.failed[version] = mtime
            with self._lock:
                model.states[version] = _VersionState("END", "UNKNOWN", f"{type(e).__name__}: {e}"[:2000])
            self._log(f"failed to load {model.name} version {version} from {path}: {e}")
            return False
        servable.mtime = mtime
        with self._lock:
            old, model.current = model.current, servable
            if old is not None and old.version != version:
                model.states[old.version] = _VersionState("END")
            model.states[version] = _VersionState("AVAILABLE")
        if old is not None:
            what = "reloaded its rewritten files" if old.version == version else f"unloaded version {old.version}"
            self._log(f"{model.name}: now serving version {version} ({what})")
        return True

    # ------------------------------------------------------------------ polling thread
    def start(self) -> None:
        """Initial scan (synchronous), then poll in a daemon thread if ``poll_seconds > 0``."""
        self.poll_once()
        for model in self._models.values():
            if model.current is None:
                self._log(f"warning: no loadable version of {model.name} under {model.base_path} yet")
        if self.poll_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="model-version-poller", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll_once()
            except Exception as e:  # keep polling whatever happens
                self._log(f"version poll failed: {e}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # ------------------------------------------------------------------ lookups
    def _model(self, name: str) -> _Model:
        model = self._models.get(name)
        if model is None:
            raise NotFound(f"Servable not found for request: Latest({name})")
        return model

    def resolve_label(self, name: str, label: str) -> int:
        model = self._model(name)
        if label not in model.labels:
            # server_core.cc GetModelVersionForLabel -> INVALID_ARGUMENT (HTTP 400)
            raise InvalidArgument(f"Unrecognized servable version label: {label}")
        return model.labels[label]

    def get(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable for a request (ServerCore::GetServableHandle semantics)."""
        model = self._models.get(name)
        if label is not None:
            if model is None:
                raise NotFound(f"Servable not found for request: Specific({name}, label {label})")
            version = self.resolve_label(name, label)
        with self._lock:
            current = model.current if model else None
        if version is None:
            if current is None:
                raise NotFound(f"Servable not found for request: Latest({name})")
            return current
        if current is None or current.version != version:
            raise NotFound(f"Servable not found for request: Specific({name}, {version})")
        return current

    def status(self, name: str, version: int | None = None, label: str | None = None) -> dict:
        """GetModelStatusResponse (get_model_status_impl.cc)."""
        model = self._models.get(name)
        if label is not None:
            if model is None:
                raise NotFound(f"Could not find any versions of model {name}")
            version = self.resolve_label(name, label)
        with self._lock:
            states = dict(model.states) if model else {}
        if version is not None:
            if version not in states:
                raise NotFound(f"Could not find version {version} of model {name}")
            states = {version: states[version]}
        if not states:
            raise NotFound(f"Could not find any versions of model {name}")
        return {
            "model_version_status": [
                {
                    "version": str(v),
                    "state": s.state,
                    "status": {"error_code": s.error_code, "error_message": s.error_message},
                }
                for v, s in sorted(states.items(), reverse=True)
            ]
        }

    def served_versions(self) -> dict[str, int | None]:
        with self._lock:
            return {n: (m.current.version if m.current else None) for n, m in self._models.items()}


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -1.0


_TF_NOISE = re.compile(r"^(Graph execution error:|Detected at node .* defined at|<stack traces unavailable>|\s)")


def error_message(error: Exception) -> str:
    """What a TensorFlow error says was wrong, as TF Serving returns it. An eager graph error
    reads "Graph execution error:", "Detected at node ... defined at", a stack (indented, or
    "<stack traces unavailable>"), then the op's own message (e.g. "indices[0] = 45 is not in
    [0, 4)") and the node it failed in: the message, with that node, is the answer."""
    msg = (getattr(error, "message", None) or str(error)).strip()
    lines = [line for line in msg.splitlines() if line.strip() and not _TF_NOISE.match(line)]
    if not lines:
        return type(error).__name__
    text = re.sub(r"\s*\[Op:[^\]]*\]$", "", lines[0])
    node = re.search(r"\{\{node ([^}]+)\}\}", msg)
    return f"{text} (node {node.group(1)})" if node and node.group(1) not in text else text
