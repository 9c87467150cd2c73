"""A seeded, bounded fuzz run against a running TF-Serving-compatible REST server.

Requests are built from what the server itself publishes: for every model and every
signature in its ``/metadata``, a valid columnar request is synthesised from the input
dtypes and shapes, then broken in one of the ways a hostile client or a careless one would
(:data:`KINDS`): malformed JSON, wrong dtypes and shapes, missing and extra inputs,
NaN/Infinity, lone surrogates and very long strings, huge integers, negative and oversized
ids and ``k``, unknown models and versions, path traversal, bad methods and raw HTTP.

The invariants checked on every answer (:class:`Report`): no 5xx; every 4xx has a JSON body
``{"error": <non-empty string>}``; every valid request answers 200 with JSON; the server
answers a health check after every ``health_every`` requests; its resident memory (RSS,
read from /proc for the server's pid) stays below a bound.

    report = fuzz.run(url, seed=0, requests=2000, pid=server.proc.pid)
    assert not report.failures, report.failures[:5]
"""
from __future__ import annotations

import dataclasses
import http.client
import json
import random
import socket
import time
from collections import Counter
from urllib.parse import urlsplit

KINDS = ("valid", "malformed_json", "wrong_dtype", "wrong_shape", "missing_input", "extra_input",
         "nan_infinity", "bad_string", "huge_integer", "extreme_id", "bad_signature", "bad_target",
         "path_traversal", "bad_method", "raw_http", "too_many_rows")
_HUGE_INTEGERS = ("9223372036854775808", "-9223372036854775809", "18446744073709551616",
                  "1" + "0" * 5000, "1e400", "-1e400")
_EXTREME_IDS = (-1, 0, -(2**63), 2**63 - 1, 2**31, 2**32 + 3, 2**62)
_BAD_STRINGS = ('"\\ud800"', '"\\udfff\\ud800"', '"' + "x" * 1_000_000 + '"', '"\\u0000"', '"caf\\u00e9"')
_RAW_HTTP = (
    b"FOO /v1/models/{m} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"POST /v1/models/{m}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    b"POST /v1/models/{m}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /v1/models/{m}:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"GET /v1/models/{m} HTTP/1.1\r\nBad Header Line\r\n\r\n",
    b"GET /v1/models/{m} HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    b"GET /v1/models/{m} HTTP/9.9\r\nHost: x\r\n\r\n",
)
# the client promises a body and hangs up without it: closing without an answer is right
_BODY_NEVER_COMES = b"POST /v1/models/{m}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"


@dataclasses.dataclass
class Request:
    kind: str
    method: str = "POST"
    path: str = ""
    body: bytes = b""
    raw: bytes | None = None  # bytes sent as they are on a fresh socket (clients refuse to send them)
    may_close: bool = False  # closing the connection without an answer is a right answer


@dataclasses.dataclass
class Report:
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter = dataclasses.field(default_factory=Counter)
    kinds: Counter = dataclasses.field(default_factory=Counter)
    failures: list = dataclasses.field(default_factory=list)
    health_checks: int = 0
    start_rss_mb: float = float("nan")
    peak_rss_mb: float = float("nan")

    def summary(self) -> str:
        return (f"{self.requests} requests in {self.seconds:.1f} s, statuses {dict(sorted(self.statuses.items()))}, "
                f"{len(self.failures)} failures, RSS {self.start_rss_mb:.0f} -> peak {self.peak_rss_mb:.0f} MB")


# --------------------------------------------------------------------------- requests
def signatures(url: str, models: list[str]) -> dict:
    """{model: {signature: {input: (dtype, [dims])}}} from each model's metadata."""
    out = {}
    for model in models:
        status, body = _http(url, "GET", f"/v1/models/{model}/metadata")
        if status != 200:
            raise RuntimeError(f"metadata of {model}: {status} {body[:200]!r}")
        defs = json.loads(body)["metadata"]["signature_def"]["signature_def"]
        out[model] = {name: {k: (v["dtype"], [int(d["size"]) for d in v["tensor_shape"]["dim"]])
                             for k, v in sdef["inputs"].items()}
                      for name, sdef in defs.items() if sdef["inputs"] and not name.startswith("__")}
    return out


def _value(rng: random.Random, name: str, dtype: str, indices: bool):
    if dtype == "DT_BOOL":
        return rng.random() < 0.5
    if dtype in ("DT_FLOAT", "DT_DOUBLE", "DT_HALF"):
        return round(rng.uniform(-1, 1), 3)
    if dtype == "DT_STRING":
        return str(rng.randrange(50))
    if indices:  # vocabulary indices: 0 and 1 (padding, OOV) are in every table
        return rng.randrange(2)
    return rng.randrange(1, 10) if name == "k" else rng.randrange(50)  # k >= 1: top-k signatures


def _tensor(rng, name, dtype, dims, rows, free, indices):
    def fill(level):
        if level == len(dims):
            return _value(rng, name, dtype, indices)
        size = rows if level == 0 else free if dims[level] < 0 else dims[level]
        return [fill(level + 1) for _ in range(size)]
    return fill(0)


def valid_inputs(rng: random.Random, inputs: dict, signature: str, rows: int | None = None) -> dict:
    """A columnar ``inputs`` object the signature should accept: ``rows`` rows (1-3), each
    other unknown dimension 1-4 wide; raw ids in [0, 50) (unknown ones are OOV), indices for
    the ``serving_indices`` signature 0 or 1."""
    rows = rows or rng.randrange(1, 4)
    free = rng.randrange(1, 5)
    indices = signature == "serving_indices"
    return {name: _tensor(rng, name, dtype, dims, rows, free, indices) for name, (dtype, dims) in inputs.items()}


def _body(inputs: dict, signature: str) -> bytes:
    return json.dumps({"signature_name": signature, "inputs": inputs}).encode()


def _replace_leaf(rng, inputs: dict, signature: str, token: str) -> bytes:
    """The request with one input's first leaf replaced by a raw JSON ``token``."""
    name = rng.choice(sorted(inputs))
    marker = "__FUZZ_LEAF__"
    target, value = inputs, inputs[name]
    key = name
    while isinstance(value, list) and value:
        target, key, value = value, 0, value[0]
    target[key] = marker
    return _body(inputs, signature).replace(f'"{marker}"'.encode(), token.encode())


def make_request(rng: random.Random, kind: str, sigs: dict, max_batch_rows: int) -> Request:
    model = rng.choice(sorted(sigs))
    signature = rng.choice(sorted(sigs[model]))
    inputs = sigs[model][signature]
    path = f"/v1/models/{model}:predict"
    good = valid_inputs(rng, inputs, signature)
    if kind == "valid":
        return Request(kind, path=path, body=_body(good, signature))
    if kind == "malformed_json":
        text = _body(good, signature)
        return Request(kind, path=path, body=rng.choice([
            text[:rng.randrange(len(text))], b"", b"\xff\xfe\x00{", b"[" * 100_000, b"{" * 50_000,
            b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}", bytes(rng.randrange(256) for _ in range(64)),
            b'{"inputs": {}}', b"null", b'"inputs"', b'{"instances": []}', b'{"instances": 3}']))
    if kind == "wrong_dtype":
        return Request(kind, path=path, body=_replace_leaf(rng, good, signature, rng.choice(
            ['"7"', "1.5", "true", "null", '{"a": 1}', '{"b64": "!!"}', '{"b64": "AAAA"}', "[]"])))
    if kind == "wrong_shape":
        name = rng.choice(sorted(good))
        change = rng.choice(["nest", "flatten", "ragged", "empty", "scalar"])
        v = good[name]
        good[name] = ([v] if change == "nest" else v[0] if change == "flatten" and isinstance(v, list) else
                      v + [[0]] if change == "ragged" else [] if change == "empty" else 3)
        return Request(kind, path=path, body=_body(good, signature))
    if kind == "missing_input":
        good.pop(rng.choice(sorted(good)))
        return Request(kind, path=path, body=_body(good, signature))
    if kind == "extra_input":
        good[rng.choice(["zzz", "__proto__", "", "k" * 300])] = [1]
        return Request(kind, path=path, body=_body(good, signature))
    if kind == "nan_infinity":
        return Request(kind, path=path, body=_replace_leaf(rng, good, signature, rng.choice(["NaN", "Infinity", "-Infinity"])))
    if kind == "bad_string":
        return Request(kind, path=path, body=_replace_leaf(rng, good, signature, rng.choice(_BAD_STRINGS)))
    if kind == "huge_integer":
        return Request(kind, path=path, body=_replace_leaf(rng, good, signature, rng.choice(_HUGE_INTEGERS)))
    if kind == "extreme_id":
        ints = [n for n, (dtype, _) in inputs.items() if dtype.startswith("DT_INT")]
        if ints:
            name = "k" if "k" in ints and rng.random() < 0.5 else rng.choice(ints)
            good[name] = _map_leaves(good[name], lambda _: rng.choice(_EXTREME_IDS))
        return Request(kind, path=path, body=_body(good, signature))
    if kind == "bad_signature":
        return Request(kind, path=path, body=rng.choice([
            json.dumps({"signature_name": "nope", "inputs": good}), json.dumps({"signature_name": 3, "inputs": good}),
            json.dumps({"signature_name": "__saved_model_init_op", "inputs": good}),
            json.dumps({"inputs": good, "instances": [good]})]).encode())
    if kind == "bad_target":
        return Request(kind, path=rng.choice([
            "/v1/models/nope:predict", f"/v1/models/{model}/versions/999:predict",
            f"/v1/models/{model}/versions/99999999999999999999999:predict",
            f"/v1/models/{model}/labels/nope:predict", f"/v1/models/{model}:classify",
            f"/v1/models/{model}/versions/-1:predict", "/v1/models/nope", "/v1/models/nope/metadata"]),
            method=rng.choice(["POST", "GET"]), body=_body(good, signature))
    if kind == "path_traversal":
        return Request(kind, method=rng.choice(["GET", "POST"]), body=_body(good, signature), path=rng.choice([
            "/v1/models/..:predict", "/v1/models/%2e%2e%2f%2e%2e%2fetc%2fpasswd:predict",
            f"/v1/models/{model}/../../etc/passwd", "/v1/models/%00:predict", "/v1/models/a%2Fb/metadata",
            f"/v1/models/{model}/versions/1/../2:predict", "/../../etc/passwd", "/v1/models/" + "a" * 5000]))
    if kind == "bad_method":
        return Request(kind, method=rng.choice(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "GET", "TRACE"]),
                       path=rng.choice([path, f"/v1/models/{model}", f"/v1/models/{model}/metadata"]))
    if kind == "raw_http":
        raw = rng.choice(_RAW_HTTP + (_BODY_NEVER_COMES,))
        return Request(kind, raw=raw.replace(b"{m}", model.encode()), may_close=raw == _BODY_NEVER_COMES)
    if kind == "too_many_rows":
        return Request(kind, path=path, body=_body(valid_inputs(rng, inputs, signature, rows=max_batch_rows + 1), signature))
    raise ValueError(f"unknown fuzz kind {kind!r}; expected one of {KINDS}")


def _map_leaves(value, fn):
    return [_map_leaves(v, fn) for v in value] if isinstance(value, list) else fn(value)


# --------------------------------------------------------------------------- transport
def _http(url: str, method: str, path: str, body: bytes = b"", timeout: float = 60) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def raw_http(url: str, data: bytes, timeout: float = 10) -> tuple[int, bytes]:
    """Send bytes as they are; (status, body), status 0 when the server closed without an
    answer (allowed: e.g. a request whose body never comes times out)."""
    parts = urlsplit(url)
    reply = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    if not reply:
        return 0, b""
    head, _, body = reply.partition(b"\r\n\r\n")
    lowered = head.lower()
    if b"transfer-encoding: chunked" in lowered:
        out = b""
        while body:
            size, _, body = body.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, body = out + body[:n], body[n + 2:]
        body = out
    return int(head.split()[1]), body


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def check(request: Request, status: int, body: bytes) -> str | None:
    """What is wrong with this answer, or None."""
    if status >= 500:
        return f"{status} answer: {body[:300]!r}"
    if request.kind == "valid" and status != 200:
        return f"valid request answered {status}: {body[:300]!r}"
    if status == 0 and not request.may_close:
        return "closed without an answer"
    if 400 <= status < 500 and request.method != "HEAD":
        try:
            payload = json.loads(body)
        except ValueError:
            return f"{status} without a JSON body: {body[:200]!r}"
        if not (isinstance(payload, dict) and set(payload) == {"error"} and isinstance(payload["error"], str)
                and payload["error"]):
            return f"{status} body is not {{'error': <message>}}: {body[:200]!r}"
    if status == 200 and request.method != "HEAD":
        try:
            json.loads(body)
        except ValueError:
            return f"200 without JSON: {body[:200]!r}"
    return None


def run(url: str, models: list[str], seed: int = 0, requests: int = 2000, pid: int | None = None,
        health_every: int = 100, max_batch_rows: int = 4096, max_rss_mb: float | None = None,
        log=None) -> Report:
    """Send ``requests`` fuzzed requests (kinds in turn, details drawn from ``seed``) and check
    every answer; ``pid`` is the server's, for RSS (checked against ``max_rss_mb`` at every
    health check)."""
    rng = random.Random(seed)
    sigs = signatures(url, models)
    report = Report()
    if pid is not None:
        report.start_rss_mb = report.peak_rss_mb = rss_mb(pid)
    start = time.perf_counter()
    for i in range(requests):
        kind = KINDS[i % len(KINDS)]
        request = make_request(rng, kind, sigs, max_batch_rows)
        try:
            status, body = (raw_http(url, request.raw) if request.raw is not None
                            else _http(url, request.method, request.path, request.body))
        except (OSError, http.client.HTTPException) as e:
            status, body = -1, repr(e).encode()
        problem = check(request, status, body) if status >= 0 else f"transport error: {body!r}"
        report.requests += 1
        report.statuses[status] += 1
        report.kinds[kind] += 1
        if problem:
            report.failures.append((i, kind, request.method, request.path, problem))
        if (i + 1) % health_every == 0:
            health, _ = _http(url, "GET", f"/v1/models/{models[0]}")
            report.health_checks += 1
            if health != 200:
                report.failures.append((i, "health", "GET", f"/v1/models/{models[0]}", f"health check answered {health}"))
            if pid is not None:
                report.peak_rss_mb = max(report.peak_rss_mb, rss_mb(pid))
                if max_rss_mb is not None and report.peak_rss_mb > max_rss_mb:
                    report.failures.append((i, "rss", "", "", f"server RSS {report.peak_rss_mb:.0f} MB > {max_rss_mb} MB"))
            if log:
                log(f"{i + 1} requests, {len(report.failures)} failures, RSS {report.peak_rss_mb:.0f} MB")
    report.seconds = time.perf_counter() - start
    return report
