"""A local server that speaks TensorFlow Serving's REST API v1 (Starlette + uvicorn).

Production runs the real ``tensorflow_model_server`` on the same SavedModel directories;
this server answers the same URLs with the same JSON (tensorflow_serving/g3doc/api_rest.md,
tensorflow_serving/util/ JSON <-> tensor code, model_servers/http_rest_api_handler.cc)::

    GET  /v1/models/NAME[/versions/V | /labels/L]             model status
    GET  /v1/models/NAME[/versions/V | /labels/L]/metadata    signature defs
    POST /v1/models/NAME[/versions/V | /labels/L]:predict     row or columnar predict

Usage::

    tfrec serve --model-name NAME --model-base-path saved_models/NAME [--port 8501]
    python -m tfrec_pkg.serving.server --model-config-file models.json --version-label stable=1

Differences from TF Serving, on purpose:
* ``:classify`` and ``:regress`` answer 400 "not supported" (tf.Example signatures only).
* Request bodies over ``--max-body-bytes`` (default 16 MiB) answer 413; requests of more
  rows than ``--max-batch-rows`` (default 4096) answer 400, as TF Serving's batching does
  above ``max_batch_size``. Larger batches than ``--chunk-rows`` (default 256) are scored a
  chunk at a time (bounded memory per request), and stop when the client hangs up.
* Inputs of different batch sizes answer 400 naming them before the graph runs.
* Every error, including HTTP-level ones (unknown methods, bad Content-Length or chunking),
  has a JSON ``{"error": ...}`` body.
* Binds 127.0.0.1 by default (TF Serving binds all interfaces); REST port defaults to 8501.
* Only the latest version of each model is served (TF Serving's default version policy).
* Paths outside ``/v1/`` answer 404 with a JSON error body (TF Serving: a bare 404).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from uvicorn.protocols.http.h11_impl import H11Protocol

from tfrec_pkg import command_flags

from . import base_path
from .errors import InvalidArgument, ServingError
from .repository import ModelConfig, ModelRepository, load_model_config_file, valid_name
from .rest_request import batch_size, parse_json_body, parse_predict_request, signature_name_of
from .rest_response import json_dumps, predict_response_json

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_BATCH_ROWS = 4096
DEFAULT_CHUNK_ROWS = 256

# http_rest_api_util.cc kPredictionApiGegex / kModelStatusApiRegex (case-insensitive, matched
# against the raw, still percent-encoded path; the name and label are decoded afterwards).
_PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_API_RE = re.compile(r"/v1/.*", re.IGNORECASE)  # HttpRestApiHandler::kPathRegex
_JSON = "application/json"


def _error(err: ServingError) -> Response:
    # api_rest.md: "In case of error, all APIs will return a JSON object in the response body
    # with `error` as key and the error message as the value".
    return Response(json_dumps({"error": err.message}), status_code=err.status_code, media_type=_JSON)


class _PayloadTooLarge(ServingError):
    status_code = 413


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering requests it cannot parse (bad Content-Length,
    invalid chunking, malformed request lines) with our JSON error body, not plain text."""

    def send_400_response(self, msg: str) -> None:
        import h11

        body = json_dumps({"error": f"Malformed HTTP request: {msg}"}).encode()
        headers = [(b"content-type", _JSON.encode()), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            for event in (h11.Response(status_code=400, headers=headers), h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:  # a response already started: only closing is left
            pass
        self.transport.close()


class RestApi:
    """The ASGI application (every method and path reaches :meth:`handle`, so every answer
    has the JSON error body): routing, body and batch limits, dispatch to worker threads."""

    def __init__(self, repo: ModelRepository, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 num_threads: int | None = None, max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS):
        self.repo = repo
        self.max_body_bytes = max_body_bytes
        self.max_batch_rows = max_batch_rows
        self.chunk_rows = chunk_rows
        self.executor = ThreadPoolExecutor(
            max_workers=num_threads or min(32, (os.cpu_count() or 1) * 4), thread_name_prefix="tf-serving"
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":  # nothing to set up: models load before binding
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    # ------------------------------------------------------------------ HTTP layer
    async def handle(self, request: Request) -> Response:
        try:
            return await self._dispatch(request)
        except ServingError as e:
            return _error(e)
        except Exception as e:  # never let a request take the server down
            return _error(ServingError(f"Internal error: {type(e).__name__}: {e}", 500))

    async def _read_body(self, request: Request) -> bytes:
        limit = self.max_body_bytes
        too_large = _PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes (--max-body-bytes)")
        declared = request.headers.get("content-length")
        stream = request.stream()
        if declared is not None and declared.isdigit() and int(declared) > limit:
            # Drain (bounded) before answering, so the client reads our 413 rather than a reset.
            if int(declared) <= 4 * limit:
                async for _ in stream:
                    pass
            raise too_large
        chunks, size = [], 0
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                async for rest in stream:  # same bounded drain for chunked uploads
                    size += len(rest)
                    if size > 4 * limit:
                        break
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    async def _dispatch(self, request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        method = request.method
        if not _API_RE.fullmatch(path):
            raise ServingError(f"Not found: {method} {path}", 404)
        malformed = InvalidArgument(f"Malformed request: {method} {path}")
        body = await self._read_body(request)

        m = _PREDICT_RE.fullmatch(path) if method == "POST" else None
        if m:
            name, version, label, verb = self._parse_target(*m.groups())
            cancelled = threading.Event()
            watcher = asyncio.create_task(self._watch_disconnect(request, cancelled))
            try:
                return await self._in_thread(self._predict, name, version, label, verb.lower(), body, cancelled)
            finally:
                watcher.cancel()
        m = _STATUS_RE.fullmatch(path) if method == "GET" else None
        if m:
            if m.group(1) is None:
                raise InvalidArgument("Missing model name in request.")
            name, version, label, sub = self._parse_target(*m.groups())
            if sub:
                return await self._in_thread(self._metadata, name, version, label)
            return self._json(self.repo.status(name, version, label))
        # TF Serving answers a wrong HTTP method or unknown /v1/ path with INVALID_ARGUMENT
        # "Malformed request: GET /v1/models/foo:predict" -> HTTP 400, with the usual error body
        # (http_rest_api_handler.cc ProcessRequest; http_rest_api_handler_test UnsupportedApiCalls).
        raise malformed

    @staticmethod
    def _parse_target(name_raw, version_raw, label_raw, rest):
        name = unquote(name_raw)
        if not valid_name(name):
            raise InvalidArgument(f"Invalid model name: {name!r}: must match [A-Za-z0-9_.-]+")
        version = None
        if version_raw is not None:
            if len(version_raw) > 19 or int(version_raw) >= 2**63:
                raise InvalidArgument(f"Failed to convert version: {version_raw} to numeric.")
            version = int(version_raw)
        label = None
        if label_raw is not None:
            label = unquote(label_raw)
            if not valid_name(label):
                raise InvalidArgument(f"Invalid model version label: {label!r}")
        return name, version, label, rest

    @staticmethod
    async def _watch_disconnect(request: Request, cancelled: threading.Event) -> None:
        """Set ``cancelled`` when the client hangs up (the body is read: the next ASGI
        message is the disconnect)."""
        while (await request.receive())["type"] != "http.disconnect":
            pass
        cancelled.set()

    async def _in_thread(self, fn, *args) -> Response:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    @staticmethod
    def _json(obj) -> Response:
        return Response(json_dumps(obj), media_type=_JSON)

    # ------------------------------------------------------------------ API (worker threads)
    def _predict(self, name, version, label, verb, body: bytes, cancelled: threading.Event) -> Response:
        servable = self.repo.get(name, version, label)  # 404 before looking at the body
        if verb != "predict":
            raise InvalidArgument(
                f":{verb} is not supported by this server (tf.Example signatures); use :predict"
            )
        doc = parse_json_body(body)
        sig_name = signature_name_of(doc)
        signature = servable.signature(sig_name)
        arrays, fmt = parse_predict_request(doc, signature.inputs, sig_name)
        rows = batch_size(arrays, signature.inputs, sig_name)
        if rows is not None and rows > self.max_batch_rows:
            # the message of TF Serving's batch scheduler above max_batch_size
            raise InvalidArgument(f"Task size {rows} is larger than maximum input batch size "
                                  f"{self.max_batch_rows} (--max-batch-rows); split the request")
        outputs = servable.run(signature, arrays, rows, self.chunk_rows, cancelled)
        return Response(predict_response_json(outputs, fmt), media_type=_JSON)

    def _metadata(self, name, version, label) -> Response:
        return self._json(self.repo.get(name, version, label).metadata())


def create_app(repo: ModelRepository, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               num_threads: int | None = None, max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
               chunk_rows: int = DEFAULT_CHUNK_ROWS) -> RestApi:
    """The ASGI app for an already started :class:`ModelRepository` (tests, embedding)."""
    return RestApi(repo, max_body_bytes, num_threads, max_batch_rows, chunk_rows)


# --------------------------------------------------------------------------- CLI
def build_parser(prog: str = "tfrec serve") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Serve SavedModels over TensorFlow Serving's REST API v1 "
        "(the same URLs and JSON as tensorflow_model_server --rest_api_port).",
    )
    p.add_argument("--model-name", "--model_name", dest="model_name",
                   help="name of the single served model (default: 'default', like TF Serving)")
    p.add_argument("--model-base-path", "--model_base_path", dest="model_base_path",
                   help="directory holding integer version subdirectories <version>/saved_model.pb")
    p.add_argument("--model-config-file", "--model_config_file", dest="model_config_file",
                   help='several models: JSON {"models": [{"name": ..., "base_path": ..., '
                   '"version_labels": {"stable": 1}}]} or TF Serving\'s text format '
                   "model_config_list { config { name: 'x' base_path: '/p' } }")
    p.add_argument("--port", "--rest-api-port", "--rest_api_port", dest="port", type=int, default=8501,
                   help="REST port (default 8501; 0 picks a free port)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--poll-seconds", "--file-system-poll-wait-seconds", "--file_system_poll_wait_seconds",
                   dest="poll_seconds", type=float, default=2.0,
                   help="how often to look for new versions (default 2; 0 = only at start-up)")
    p.add_argument("--version-label", dest="version_labels", action="append", default=[],
                   metavar="[MODEL:]LABEL=VERSION",
                   help="map a label to a version for /labels/LABEL URLs (repeatable), e.g. stable=1")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                   help="reject larger request bodies with 413 (default 16 MiB)")
    p.add_argument("--max-batch-rows", type=_positive, default=DEFAULT_MAX_BATCH_ROWS,
                   help=f"reject requests of more rows with 400 (default {DEFAULT_MAX_BATCH_ROWS}, "
                   "like TF Serving's max_batch_size)")
    p.add_argument("--chunk-rows", type=_positive, default=DEFAULT_CHUNK_ROWS,
                   help=f"score larger batches this many rows at a time (default {DEFAULT_CHUNK_ROWS}): "
                   "bounds a request's memory")
    p.add_argument("--num-threads", type=int, default=None,
                   help="worker threads running TensorFlow (default 4 x CPUs, at most 32)")
    p.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug", "trace"],
                   help="uvicorn log level (default warning)")
    command_flags.add_verbose(p)
    return p


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _model_configs(args, parser) -> list[ModelConfig]:
    if args.model_config_file:
        if args.model_base_path:
            parser.error("use either --model-config-file or --model-base-path, not both")
        try:
            configs = load_model_config_file(args.model_config_file)
        except (OSError, ValueError) as e:
            parser.error(f"--model-config-file: {e}")
    elif args.model_base_path:
        try:
            configs = [ModelConfig(args.model_name or "default", args.model_base_path)]
        except ValueError as e:
            parser.error(str(e))
    else:
        parser.error("give --model-base-path (with --model-name) or --model-config-file")
    by_name = {c.name: c for c in configs}
    for spec in args.version_labels:
        m = re.fullmatch(r"(?:([^:=]+):)?([^:=]+)=(\d+)", spec)
        if not m:
            parser.error(f"--version-label {spec!r}: expected [MODEL:]LABEL=VERSION, e.g. stable=1")
        model, label, version = m.group(1), m.group(2), int(m.group(3))
        if model is None:
            if len(configs) != 1:
                parser.error(f"--version-label {spec!r}: several models are served; write MODEL:LABEL=VERSION")
            model = configs[0].name
        if model not in by_name:
            parser.error(f"--version-label {spec!r}: unknown model {model!r}")
        if not valid_name(label):
            parser.error(f"--version-label {spec!r}: invalid label")
        by_name[model].version_labels[label] = version
    return configs


def main(argv: list[str] | None = None, prog: str = "tfrec serve") -> int:
    """``tfrec serve``: load the models, bind, print one ready line per model, serve until SIGINT/SIGTERM."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    configs = _model_configs(args, parser)
    for c in configs:
        try:
            warning = base_path.check(c.name, c.base_path)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    command_flags.load_tensorflow(args)

    import uvicorn

    repo = ModelRepository(configs, poll_seconds=args.poll_seconds)
    repo.start()
    app = create_app(repo, args.max_body_bytes, args.num_threads, args.max_batch_rows, args.chunk_rows)

    warning = bind_warning(args.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # proto=IPPROTO_TCP matters: accepted sockets inherit it, and asyncio turns on TCP_NODELAY
    # only when it sees IPPROTO_TCP; without it every keep-alive request after the first waits
    # ~40 ms on the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        repo.stop()
        print(f"error: cannot bind {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    sock.listen(1024)  # connections queue from here on, so the ready line below is truthful
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    for name, version in repo.served_versions().items():
        shown = version if version is not None else "(none yet)"
        print(f"serving {name} version {shown} on http://{host}:{port}", flush=True)

    config = uvicorn.Config(app, log_level=args.log_level, access_log=False, lifespan="off",
                            timeout_keep_alive=30, http=JsonErrorH11Protocol)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        repo.stop()
    return 0


def bind_warning(host: str) -> str | None:
    """The warning printed when ``--host`` exposes the server beyond this machine."""
    if host in ("0.0.0.0", "::", ""):
        return (f"warning: --host {host or repr(host)} binds every network interface: other machines can send "
                "requests, and this server has no authentication (use 127.0.0.1 behind a proxy)")
    return None


if __name__ == "__main__":
    sys.exit(main(prog="python -m tfrec_pkg.serving.server"))
