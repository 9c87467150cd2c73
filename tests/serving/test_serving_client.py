"""TFServingClient against the real local server and against a counting stub (retry logic)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
import requests

from tfrec_pkg.serving.client import TFServingClient, TFServingError

pytestmark = pytest.mark.timeout(120)


# --------------------------------------------------------------------------- against the server
def test_dataframe_goes_as_row_format(server):
    client = TFServingClient(server.url, "ranker")
    df = pd.DataFrame({"user_id": ["ab", "xyz"], "item_count": np.array([4, 1], dtype=np.int64)})
    out = client.predict(instances=df)
    assert set(out) == {"score", "top_ids"}
    np.testing.assert_allclose(out["score"], [4.0, 3.5])
    assert out["top_ids"].shape == (2, 3)
    assert out["top_ids"][1].tolist() == ["xyz_a", "xyz_b", "xyz_c"]


def test_dict_goes_as_columnar_format(server):
    client = TFServingClient(server.url, "ranker")
    out = client.predict(inputs={"user_id": np.array(["ab", "c"]), "item_count": np.array([2, 0])})
    np.testing.assert_allclose(out["score"], [3.0, 1.0])
    single = TFServingClient(server.url, "scaler").predict(inputs={"x": np.array([0.5, 1.5], np.float32)})
    assert isinstance(single, np.ndarray)
    np.testing.assert_allclose(single, [1.0, 3.0])
    assert TFServingClient(server.url, "scaler").predict(instances=[1.0]).tolist() == [2.0]


def test_version_label_status_metadata(server):
    assert TFServingClient(server.url, "ranker", version=1).status()["model_version_status"][0]["state"] == "AVAILABLE"
    assert TFServingClient(server.url, "ranker", label="stable").metadata()["model_spec"]["version"] == "1"
    out = TFServingClient(server.url, "ranker", label="stable").predict(inputs={"item_count": [5]},
                                                                        signature_name="double")
    assert out.tolist() == [10]


def test_error_carries_status_and_server_text(server):
    with pytest.raises(TFServingError) as e:
        TFServingClient(server.url, "nope").predict(instances=[1.0])
    assert e.value.status_code == 404
    assert e.value.message == "Servable not found for request: Latest(nope)"
    with pytest.raises(TFServingError) as e:
        TFServingClient(server.url, "ranker").predict(inputs={"user_id": ["a"]})
    assert e.value.status_code == 400
    assert e.value.message == "Missing named input: item_count in 'inputs' object."


def test_client_argument_checks():
    with pytest.raises(ValueError):
        TFServingClient("http://127.0.0.1:1", "m", version=1, label="x")
    with pytest.raises(ValueError):
        TFServingClient("http://127.0.0.1:1", "m").predict()
    with pytest.raises(ValueError):
        TFServingClient("http://127.0.0.1:1", "m").predict(instances=[1], inputs=[1])


# --------------------------------------------------------------------------- counting stub
class _Stub:
    """A loopback HTTP server answering a scripted list of (status, body), counting hits.

    ("drop", None) closes the connection unanswered; ("slow", seconds) answers late."""

    def __init__(self, script):
        self.script = list(script)
        self.hits = 0
        self.bodies = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                stub.bodies.append(self.rfile.read(length) if length else b"")
                i = min(stub.hits, len(stub.script) - 1)
                stub.hits += 1
                status, body = stub.script[i]
                if status == "drop":  # close the connection without answering
                    self.close_connection = True
                    return
                if status == "slow":  # answer 200 after `body` seconds
                    time.sleep(body)
                    status, body = 200, {"predictions": [0]}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub_factory():
    stubs = []

    def make(script):
        stubs.append(_Stub(script))
        return stubs[-1]

    yield make
    for s in stubs:
        s.close()


def test_retries_503_then_succeeds(stub_factory):
    stub = stub_factory([(503, {"error": "busy"}), (503, {"error": "busy"}), (200, {"predictions": [1.5, 2.5]})])
    client = TFServingClient(stub.url, "m", retries=3, backoff=0.01)
    assert client.predict(instances=[1.0, 2.0]).tolist() == [1.5, 2.5]
    assert stub.hits == 3
    assert json.loads(stub.bodies[0]) == {"instances": [1.0, 2.0]}


def test_gives_up_after_retries(stub_factory):
    stub = stub_factory([(503, {"error": "still busy"})])
    client = TFServingClient(stub.url, "m", retries=2, backoff=0.01)
    with pytest.raises(TFServingError) as e:
        client.status()
    assert e.value.status_code == 503 and e.value.message == "still busy"
    assert stub.hits == 3  # first try + 2 retries


@pytest.mark.parametrize("status", [400, 404, 413])
def test_no_retry_on_4xx(stub_factory, status):
    stub = stub_factory([(status, {"error": "bad"}), (200, {"predictions": [1]})])
    client = TFServingClient(stub.url, "m", retries=3, backoff=0.01)
    with pytest.raises(TFServingError) as e:
        client.predict(instances=[1])
    assert e.value.status_code == status and e.value.message == "bad"
    assert stub.hits == 1


def test_no_retry_on_4xx_against_real_server(server):
    # a 400 from the real server comes back at once (retries would show as delay: 0.5+1+2 s)
    client = TFServingClient(server.url, "ranker", retries=3, backoff=0.5)
    start = time.monotonic()
    with pytest.raises(TFServingError):
        client.predict(instances=[{"user_id": "a"}])
    assert time.monotonic() - start < 0.5


def test_retries_connection_errors():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = TFServingClient(f"http://127.0.0.1:{port}", "m", retries=2, backoff=0.05, timeout=2)
    start = time.monotonic()
    with pytest.raises(TFServingError) as e:
        client.status()
    assert e.value.status_code is None
    assert time.monotonic() - start >= 0.05 + 0.1  # backoff 0.05, then 0.1


@pytest.mark.parametrize("call", ["status", "predict"])
def test_retries_dropped_connections(stub_factory, call):
    # GET and POST alike: a predict has no side effects, so repeating it is safe
    stub = stub_factory([("drop", None), ("drop", None), (200, {"predictions": [1.0]})])
    client = TFServingClient(stub.url, "m", retries=2, backoff=0.01)
    out = client.status() if call == "status" else client.predict(instances=[1.0])
    assert stub.hits == 3 and (call == "status" or out.tolist() == [1.0])
    stub = stub_factory([("drop", None)])
    with pytest.raises(TFServingError) as e:
        getattr(TFServingClient(stub.url, "m", retries=1, backoff=0.01), call)(
            *([] if call == "status" else [[1.0]]))
    assert e.value.status_code is None and e.value.message.startswith(f"cannot reach {stub.url}/v1/models/m")
    assert stub.hits == 2


def test_read_timeout_not_retried(stub_factory):
    # the model may still be working on the first request; don't pile more on it
    stub = stub_factory([("slow", 1.0)])
    client = TFServingClient(stub.url, "m", retries=3, backoff=0.01, timeout=0.2)
    with pytest.raises(TFServingError) as e:
        client.predict(instances=[1.0])
    assert e.value.status_code is None
    assert e.value.message == f"timed out after 0.2s: {stub.url}/v1/models/m:predict"
    assert stub.hits == 1


def test_backoff_doubles_from_the_first_retry(stub_factory):
    stub = stub_factory([(500, {"error": "x"})] * 3 + [(200, {"predictions": [1]})])
    client = TFServingClient(stub.url, "m", retries=3, backoff=0.1)
    start = time.monotonic()
    client.predict(instances=[1])
    assert stub.hits == 4 and 0.7 <= time.monotonic() - start < 2  # 0.1 + 0.2 + 0.4


def test_session_passed_in_gets_the_retry_policy(stub_factory):
    stub = stub_factory([(503, {"error": "busy"}), (200, {"predictions": [1]})])
    session = requests.Session()
    client = TFServingClient(stub.url, "m", retries=1, backoff=0, session=session)
    assert client.predict(instances=[1]).tolist() == [1] and stub.hits == 2
    assert session.get_adapter("http://elsewhere/").max_retries.total == 0  # other URLs: untouched


def test_dataframe_list_cells_stay_lists(stub_factory):
    stub = stub_factory([(200, {"predictions": [0.5, 0.25]})])
    df = pd.DataFrame({"hist": [np.array([1, 2]), [3, 4]], "uid": ["a", "b"], "w": np.float32([0.5, 1])})
    TFServingClient(stub.url, "m").predict(instances=df)
    assert json.loads(stub.bodies[0]) == {"instances": [{"hist": [1, 2], "uid": "a", "w": 0.5},
                                                        {"hist": [3, 4], "uid": "b", "w": 1.0}]}


def test_response_decoding_shapes(stub_factory):
    stub = stub_factory([
        (200, {"outputs": {"a": [[1, 2], [3, 4]], "b_bytes": [{"b64": "aGk="}]}}),
        (200, {"predictions": [{"s": 1.0, "t": ["x", "y"]}, {"s": 2.0, "t": ["z", "w"]}]}),
    ])
    client = TFServingClient(stub.url, "m", backoff=0)
    out = client.predict(inputs={"x": [1]})
    assert out["a"].shape == (2, 2) and out["b_bytes"].tolist() == [b"hi"]
    out = client.predict(instances=pd.DataFrame({"x": [1, 2]}))
    assert out["s"].tolist() == [1.0, 2.0] and out["t"].shape == (2, 2)
    assert json.loads(stub.bodies[1]) == {"instances": [{"x": 1}, {"x": 2}]}
