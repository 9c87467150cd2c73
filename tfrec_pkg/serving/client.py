"""A small client for TensorFlow Serving's REST API v1 (the real server or ``tfrec serve``).

    client = TFServingClient("http://127.0.0.1:8501", "ranker")
    scores = client.predict(instances=df)                   # DataFrame -> row format
    out = client.predict(inputs={"user_id": ["u1", "u2"]})  # dict -> columnar format

``predict`` returns a numpy array when the signature has one output and a dict of numpy arrays
when it has several (api_rest.md "Response format"). Errors raise :class:`TFServingError`
with the HTTP status and the server's ``error`` text. Connection errors and 5xx answers are
retried with exponential backoff (``backoff * 2**attempt`` seconds, ``retries`` times, through
urllib3's ``Retry`` on the session); 4xx answers and read timeouts never are.
"""
from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import numpy as np
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

__all__ = ["TFServingClient", "TFServingError"]


class TFServingError(Exception):
    """A failed call: ``status_code`` is the HTTP status (None when no answer came back)."""

    def __init__(self, status_code: int | None, message: str):
        super().__init__(f"HTTP {status_code}: {message}" if status_code is not None else message)
        self.status_code = status_code
        self.message = message


def _jsonable(value: Any) -> Any:
    """numpy arrays/scalars -> lists/Python scalars; bytes -> {"b64": ...}; lists recursively."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSU":
            return [_jsonable(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "tolist"):  # pandas Series / Index and friends
        return _jsonable(np.asarray(value))
    return value


def _is_dataframe(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "to_dict")


def _rows(instances: Any) -> list:
    """Row-format ``instances``: a DataFrame (one object per row), a dict of equal-length
    columns (transposed to rows), or a list/array (sent as it is)."""
    if _is_dataframe(instances):
        columns = [str(c) for c in instances.columns]
        return [
            {c: _jsonable(v) for c, v in zip(columns, row)}
            for row in instances.itertuples(index=False, name=None)
        ]
    if isinstance(instances, dict):
        cols = {k: _jsonable(v) for k, v in instances.items()}
        lengths = {len(v) for v in cols.values() if isinstance(v, list)}
        if len(lengths) != 1 or not all(isinstance(v, list) for v in cols.values()):
            raise ValueError("instances given as a dict need equal-length list/array columns")
        n = lengths.pop()
        return [{k: v[i] for k, v in cols.items()} for i in range(n)]
    return _jsonable(instances)


def _to_numpy(value: Any) -> np.ndarray:
    value = _decode_b64(value)
    try:
        return np.asarray(value)
    except ValueError:  # ragged: keep the rows as objects
        arr = np.empty(len(value), dtype=object)
        arr[:] = value
        return arr


def _decode_b64(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str):
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    return value


def _is_named_row(value: Any) -> bool:
    return isinstance(value, dict) and not (len(value) == 1 and "b64" in value)


class _Retry(Retry):
    """urllib3's Retry with the client's policy: ``backoff * 2**attempt`` before every retry
    (urllib3 does not wait before the first), and read timeouts raised at once."""

    def get_backoff_time(self) -> float:
        attempt = len(self.history) - 1
        return self.backoff_factor * 2**attempt if attempt >= 0 else 0.0

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        # the model may still be working on it: a retry would only add load
        if isinstance(error, ReadTimeoutError):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _retry_policy(retries: int, backoff: float) -> Retry:
    return _Retry(
        total=retries,  # one budget for connection errors and 5xx answers together
        allowed_methods=frozenset({"GET", "POST"}),  # predict is a POST without side effects
        status_forcelist=range(500, 1000),  # every status >= 500
        backoff_factor=backoff,
        raise_on_status=False,  # the last 5xx comes back as a response, error text and all
        respect_retry_after_header=False,  # the backoff alone sets the waits
    )


class TFServingClient:
    """Client for one model (optionally pinned to a version or a label)."""

    def __init__(self, base_url: str, model_name: str, version: int | None = None,
                 label: str | None = None, timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.2, session: requests.Session | None = None):
        if version is not None and label is not None:
            raise ValueError("give a version or a label, not both")
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self.version = version
        self.label = label
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.session = session or requests.Session()
        # mounted for this server's URLs only, so a session passed in keeps its other adapters
        self.session.mount(self.base_url + "/", HTTPAdapter(max_retries=_retry_policy(self.retries, backoff)))

    # ------------------------------------------------------------------ URLs
    @property
    def model_url(self) -> str:
        url = f"{self.base_url}/v1/models/{quote(self.model_name, safe='')}"
        if self.version is not None:
            url += f"/versions/{int(self.version)}"
        elif self.label is not None:
            url += f"/labels/{quote(self.label, safe='')}"
        return url

    # ------------------------------------------------------------------ API
    def predict(self, instances: Any = None, inputs: Any = None,
                signature_name: str | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Row format with ``instances`` (DataFrame, dict of columns, list), columnar with
        ``inputs`` (dict of arrays/lists, or one array for a single-input signature)."""
        if (instances is None) == (inputs is None):
            raise ValueError("give exactly one of instances= (row format) or inputs= (columnar format)")
        body: dict[str, Any] = {}
        if signature_name:
            body["signature_name"] = signature_name
        if instances is not None:
            body["instances"] = _rows(instances)
        else:
            body["inputs"] = _jsonable(dict(inputs) if isinstance(inputs, dict) else inputs)
        answer = self._call("POST", self.model_url + ":predict", body)
        if "predictions" in answer:
            preds = answer["predictions"]
            if isinstance(preds, list) and preds and _is_named_row(preds[0]):
                return {k: _to_numpy([row[k] for row in preds]) for k in preds[0]}
            return _to_numpy(preds)
        if "outputs" in answer:
            outs = answer["outputs"]
            if _is_named_row(outs):
                return {k: _to_numpy(v) for k, v in outs.items()}
            return _to_numpy(outs)
        raise TFServingError(200, f"unexpected predict response: {str(answer)[:200]}")

    def status(self) -> dict:
        return self._call("GET", self.model_url)

    def metadata(self) -> dict:
        return self._call("GET", self.model_url + "/metadata")

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ transport
    def _call(self, method: str, url: str, body: dict | None = None) -> dict:
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            # allow_nan: TF Serving accepts NaN / Infinity tokens (api_rest.md "JSON conformance")
            data = json.dumps(body, allow_nan=True).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            resp = self.session.request(method, url, data=data, headers=headers, timeout=self.timeout)
        except requests.ConnectionError as e:  # includes ConnectTimeout; never ReadTimeout
            raise TFServingError(None, f"cannot reach {url}: {e}") from e
        except requests.Timeout as e:
            raise TFServingError(None, f"timed out after {self.timeout}s: {url}") from e
        if resp.status_code >= 400:
            raise TFServingError(resp.status_code, _error_text(resp))
        try:
            return resp.json()
        except ValueError as e:
            raise TFServingError(resp.status_code, f"response is not JSON: {resp.text[:200]}") from e


def _error_text(resp: requests.Response) -> str:
    try:
        payload = resp.json()
    except ValueError:
        return resp.text.strip() or resp.reason or ""
    if isinstance(payload, dict) and "error" in payload:
        return str(payload["error"])
    return resp.text.strip()
