"""The local TF Serving REST server, exercised over HTTP in a subprocess.

Doc references are to tensorflow/serving tensorflow_serving/g3doc/api_rest.md ("api_rest.md")
and to the server sources it describes (util/ JSON <-> tensor code, model_servers/http_rest_api_*.cc).
"""
from __future__ import annotations

import http.client
import json
import time

import pytest
import requests

from serving_test_utils import HOST, save_scaler, write_version
from tfrec_pkg.serving.fuzz import raw_http

pytestmark = pytest.mark.timeout(180)


def post(server, path, body, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(server.url + path, data=data, timeout=30, **kw)


def raw_request(server, method, path, body=b"", headers=None):
    """Send a path exactly as written (requests/urllib3 would normalise ``..`` away)."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def assert_error(resp_or_pair, status):
    code, body = (resp_or_pair.status_code, resp_or_pair.content) if hasattr(resp_or_pair, "status_code") \
        else resp_or_pair
    assert code == status, (code, body)
    payload = json.loads(body)
    assert set(payload) == {"error"} and isinstance(payload["error"], str) and payload["error"]
    return payload["error"]


# --------------------------------------------------------------------------- predict: shapes
def test_row_format_named_inputs_multiple_outputs(server):
    # api_rest.md "Specifying input tensors in row format": one object per instance with every
    # named input; "Response format": with several outputs, "predictions" is a list of objects.
    r = post(server, "/v1/models/ranker:predict",
             {"instances": [{"user_id": "ab", "item_count": 4}, {"user_id": "xyz", "item_count": 1}]})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"predictions": [
        {"score": 4.0, "top_ids": ["ab_a", "ab_b", "ab_c"]},
        {"score": 3.5, "top_ids": ["xyz_a", "xyz_b", "xyz_c"]},
    ]}


def test_row_format_unnamed_single_input_single_output(server):
    # api_rest.md row format: "When there is only one named input, specify the value of
    # instances key to be the value of the input"; response: "If the output of the model contains
    # only one named tensor, we omit the name and predictions key maps to a list of scalar or list values".
    r = post(server, "/v1/models/scaler:predict", {"instances": [1.0, 2.5, -3]})
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [2.0, 5.0, -6.0]}
    # named form of the same single input is accepted too
    r = post(server, "/v1/models/scaler:predict", {"instances": [{"x": 1.5}]})
    assert r.json() == {"predictions": [3.0]}


def test_columnar_format_multiple_outputs(server):
    # api_rest.md "Specifying input tensors in column format" + "Response format": columnar
    # requests get "outputs", an object keyed by output name when there are several outputs.
    r = post(server, "/v1/models/ranker:predict", {"inputs": {"user_id": ["ab", "c"], "item_count": [2, 0]}})
    assert r.status_code == 200, r.text
    assert r.json() == {"outputs": {"score": [3.0, 1.0],
                                    "top_ids": [["ab_a", "ab_b", "ab_c"], ["c_a", "c_b", "c_c"]]}}


def test_columnar_format_single_output_is_bare(server):
    # api_rest.md "Response format": "If the output of the model contains only one named tensor,
    # we omit the name and outputs key maps to a list of scalar or list values."
    r = post(server, "/v1/models/scaler:predict", {"inputs": [0.5, 4.0]})
    assert r.json() == {"outputs": [1.0, 8.0]}
    r = post(server, "/v1/models/scaler:predict", {"inputs": {"x": [0.25]}})
    assert r.json() == {"outputs": [0.5]}


def test_signature_name_selects_signature(server):
    # api_rest.md "Request format": "signature_name" (optional, default serving signature).
    r = post(server, "/v1/models/ranker:predict", {"signature_name": "double", "instances": [1, 7]})
    assert r.json() == {"predictions": [2, 14]}
    r = post(server, "/v1/models/ranker:predict", {"signature_name": "double", "inputs": {"item_count": [3]}})
    assert r.json() == {"outputs": [6]}


def test_base64_string_input(server):
    # api_rest.md "Encoding binary values": {"b64": ...} objects for DT_STRING values.
    r = post(server, "/v1/models/ranker:predict",
             {"instances": [{"user_id": {"b64": "YWI="}, "item_count": 0}]})
    assert r.json() == {"predictions": [{"score": 2.0, "top_ids": ["ab_a", "ab_b", "ab_c"]}]}


def test_nan_and_infinity_tokens(server):
    # api_rest.md "JSON conformance": NaN, Infinity and -Infinity are accepted and written as
    # bare tokens; TF Serving's WriteDecimal writes whole floats with a trailing ".0".
    r = post(server, "/v1/models/scaler:predict", '{"instances": [NaN, Infinity, -Infinity, 1]}')
    assert r.status_code == 200, r.text
    assert r.text.replace(" ", "") == '{"predictions":[NaN,Infinity,-Infinity,2.0]}'
    # float32 printed with the shortest digits that round-trip (0.2 stays 0.2, not 0.200000003)
    r = post(server, "/v1/models/scaler:predict", {"instances": [0.1, 1e7]})
    assert r.text.replace(" ", "") == '{"predictions":[0.2,2e+07]}'


# --------------------------------------------------------------------------- versions / labels
def test_versions_and_labels_paths(server):
    # api_rest.md "Predict API" URL: /v1/models/${MODEL_NAME}[/versions/${MODEL_VERSION}]:predict;
    # /labels/${LABEL} as in http_rest_api_util.cc kPredictionApiGegex.
    body = {"instances": [{"user_id": "a", "item_count": 2}]}
    expected = {"predictions": [{"score": 2.0, "top_ids": ["a_a", "a_b", "a_c"]}]}
    assert post(server, "/v1/models/ranker/versions/1:predict", body).json() == expected
    assert post(server, "/v1/models/ranker/labels/stable:predict", body).json() == expected
    st = requests.get(server.url + "/v1/models/ranker/labels/stable", timeout=10)
    assert st.json()["model_version_status"][0]["version"] == "1"


def test_label_from_cli_flag(small_server):
    r = post(small_server, "/v1/models/scaler/labels/stable:predict", {"instances": [1.0]})
    assert r.json() == {"predictions": [2.0]}


def test_unknown_version_and_label(server):
    # unknown version: NOT_FOUND "Servable not found for request: Specific(...)" -> 404.
    assert_error(post(server, "/v1/models/ranker/versions/7:predict", {"instances": [1]}), 404)
    assert_error(requests.get(server.url + "/v1/models/ranker/versions/7", timeout=10), 404)
    assert_error(requests.get(server.url + "/v1/models/ranker/versions/7/metadata", timeout=10), 404)
    # unknown label: TF Serving answers INVALID_ARGUMENT "Unrecognized servable version label"
    # -> 400 (server_core.cc GetModelVersionForLabel; http_rest_api_handler_test PredictRequestErrors).
    msg = assert_error(post(server, "/v1/models/ranker/labels/nope:predict", {"instances": [1]}), 400)
    assert "Unrecognized servable version label: nope" in msg


# --------------------------------------------------------------------------- status / metadata
def test_status_body(server):
    # api_rest.md "Model status API" / "Example": GetModelStatusResponse as JSON.
    expected = {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert requests.get(server.url + "/v1/models/ranker", timeout=10).json() == expected
    assert requests.get(server.url + "/v1/models/ranker/versions/1", timeout=10).json() == expected


def test_status_ignores_incomplete_foreign_and_escaping_dirs(server):
    # scaler/ also holds "not-a-version", "99" without saved_model.pb and "50" -> symlink outside.
    st = requests.get(server.url + "/v1/models/scaler", timeout=10).json()
    assert [v["version"] for v in st["model_version_status"]] == ["1"]
    r = post(server, "/v1/models/scaler:predict", {"instances": [1.0]})
    assert r.json() == {"predictions": [2.0]}  # not the factor-100 model behind the symlink


def test_metadata_body(server):
    # Shape of GetModelMetadataResponse as TF Serving prints it (http_rest_api_util.cc
    # ToJsonString; testdata/saved_model_half_plus_two_2_versions_metadata.json).
    md = requests.get(server.url + "/v1/models/ranker/metadata", timeout=10).json()
    assert md["model_spec"] == {"name": "ranker", "signature_name": "", "version": "1"}
    sigs = md["metadata"]["signature_def"]["signature_def"]
    sd = sigs["serving_default"]
    assert sd["method_name"] == "tensorflow/serving/predict"
    assert set(sd["inputs"]) == {"user_id", "item_count"}
    assert sd["inputs"]["item_count"]["dtype"] == "DT_INT64"
    assert sd["inputs"]["item_count"]["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}],
                                                         "unknown_rank": False}
    assert sd["inputs"]["user_id"]["dtype"] == "DT_STRING"
    assert sd["inputs"]["user_id"]["name"].endswith(":0")
    assert sd["outputs"]["score"]["dtype"] == "DT_FLOAT"
    assert sd["outputs"]["top_ids"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""},
                                                              {"size": "3", "name": ""}]
    assert "double" in sigs
    md1 = requests.get(server.url + "/v1/models/ranker/versions/1/metadata", timeout=10).json()
    assert md1 == md


# --------------------------------------------------------------------------- hot reload
def test_new_version_is_picked_up(server, model_dirs):
    write_version(model_dirs / "hot", 2, save_scaler, 3.0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st = requests.get(server.url + "/v1/models/hot", timeout=10).json()
        if st["model_version_status"][0] == {"version": "2", "state": "AVAILABLE",
                                             "status": {"error_code": "OK", "error_message": ""}}:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"version 2 never became AVAILABLE: {st}\n{server.output()}")
    # the old version is unloaded (latest policy), reported as END like TF Serving's monitor does
    assert st["model_version_status"][1]["version"] == "1"
    assert st["model_version_status"][1]["state"] == "END"
    assert post(server, "/v1/models/hot:predict", {"instances": [1.0]}).json() == {"predictions": [3.0]}
    assert post(server, "/v1/models/hot/versions/2:predict", {"instances": [1.0]}).status_code == 200
    assert_error(post(server, "/v1/models/hot/versions/1:predict", {"instances": [1.0]}), 404)


# --------------------------------------------------------------------------- errors
GOOD = {"instances": [{"user_id": "a", "item_count": 1}]}


@pytest.mark.parametrize("body, status, fragment", [
    (b"{not json", 400, "JSON Parse error"),
    (b"", 400, "The document is empty"),
    (b"[1, 2]", 400, "Is not object"),
    ({"instances": [{"user_id": "a", "item_count": 1}], "inputs": {"user_id": ["a"], "item_count": [1]}},
     400, "expecting only one of 'inputs' or 'instances'"),
    ({"signature_name": "serving_default"}, 400, "Missing 'inputs' or 'instances' key"),
    ({"instances": []}, 400, "No values in 'instances' array"),
    ({"instances": {"user_id": "a"}}, 400, "to be an list/array"),
    ({"signature_name": "nope", **GOOD}, 400, 'Serving signature name: "nope" not found'),
    ({"signature_name": 5, **GOOD}, 400, "'signature_name' key must be a string value"),
    ({"inputs": {"user_id": ["a"]}}, 400, "Missing named input: item_count in 'inputs' object."),
    ({"instances": [{"user_id": "a"}]}, 400, "keys must be equal to: item_count,user_id"),
    ({"instances": [{"user_id": "a", "item_count": 1, "extra": 2}]}, 400, "does not have named input: extra"),
    ({"inputs": {"user_id": [["a", "b"], ["c"]], "item_count": [1, 2]}}, 400, "unexpected size"),
    ({"inputs": {"user_id": ["a", ["b"]], "item_count": [1, 2]}}, 400, "unexpected level"),
    ({"instances": [{"user_id": "a", "item_count": 1.5}]}, 400, "is not of expected type: int64"),
    ({"instances": [{"user_id": 3, "item_count": 1}]}, 400, "is not of expected type: string"),
    ({"instances": [{"user_id": "a", "item_count": "1"}]}, 400, "is not of expected type: int64"),
    ({"instances": [{"user_id": {"b64": "!!"}, "item_count": 1}]}, 400, "base64"),
    ({"instances": [1, 2]}, 400, "instances is a plain list"),
    ({"inputs": {"user_id": [["a"]], "item_count": [1]}}, 400, "not compatible with the shape [-1]"),
    # lone UTF-16 surrogates and huge integer literals were 500s (a JSON 400 now)
    (b'{"instances": [{"user_id": "\\ud800", "item_count": 1}]}', 400, "unpaired UTF-16 surrogate"),
    (b'{"instances": [{"user_id": "a", "item_count": "\\ud800"}]}', 400, "is not of expected type: int64"),
    (b'{"instances": [{"user_id": "a", "item_count": ' + b"7" * 5000 + b"}]}", 400, "JSON Parse error"),
])
def test_bad_predict_requests(server, body, status, fragment):
    r = post(server, "/v1/models/ranker:predict", body)
    assert fragment in assert_error(r, status)


def test_ragged_instances_single_input(server):
    assert "Expecting tensor size" in assert_error(
        post(server, "/v1/models/ranker:predict", {"signature_name": "double", "instances": [[1, 2], [3]]}),
        400)


def test_unknown_model_is_404(server):
    # api_rest.md "Example": unknown model -> 404 {"error": "Servable not found for request: Latest(half)"}
    msg = assert_error(post(server, "/v1/models/half:predict", {"instances": [1.0]}), 404)
    assert msg == "Servable not found for request: Latest(half)"
    msg = assert_error(requests.get(server.url + "/v1/models/half", timeout=10), 404)
    assert msg == "Could not find any versions of model half"
    assert_error(requests.get(server.url + "/v1/models/half/metadata", timeout=10), 404)


def test_bad_paths_and_methods(server):
    # TF Serving answers anything under /v1/ it cannot route, including a wrong HTTP method,
    # with INVALID_ARGUMENT "Malformed request: ..." -> 400 (http_rest_api_handler_test
    # UnsupportedApiCalls).
    assert "Malformed request" in assert_error(requests.get(server.url + "/v1/models/ranker:predict", timeout=10), 400)
    assert "Malformed request" in assert_error(requests.put(server.url + "/v1/models/ranker:predict", timeout=10), 400)
    assert "Malformed request" in assert_error(post(server, "/v1/models/ranker:explode", GOOD), 400)
    assert "Malformed request" in assert_error(post(server, "/v1/models/ranker/versions/x:predict", GOOD), 400)
    assert "Malformed request" in assert_error(requests.post(server.url + "/v1/models/ranker", timeout=10), 400)
    assert "Missing model name" in assert_error(requests.get(server.url + "/v1/models", timeout=10), 400)
    assert_error(requests.get(server.url + "/index.html", timeout=10), 404)
    # :classify / :regress are documented as unsupported here
    assert "not supported" in assert_error(post(server, "/v1/models/ranker:classify", {"examples": []}), 400)
    assert "not supported" in assert_error(post(server, "/v1/models/ranker:regress", {"examples": []}), 400)


@pytest.mark.parametrize("method, path", [
    ("POST", "/v1/models/..:predict"),
    ("POST", "/v1/models/%2e%2e:predict"),
    ("POST", "/v1/models/..%2F..%2Fetc:predict"),
    ("POST", "/v1/models/%2Fetc%2Fpasswd:predict"),
    ("GET", "/v1/models/../../etc/passwd"),
    ("GET", "/v1/models/ranker/labels/..%2F..:predict"),
    ("GET", "/v1/models/%2e%2e%2fscaler"),
    ("GET", "/v1/models/ranker/../scaler/metadata"),
])
def test_path_escape_attempts(server, method, path):
    code, body = raw_request(server, method, path, body=json.dumps({"instances": [1.0]}).encode())
    assert code in (400, 404), (code, body)
    assert_error((code, body), code)


def test_oversized_body_is_413(small_server):
    big = json.dumps({"instances": [1.0] * 1000})  # > 2000 bytes
    assert "exceeds the limit" in assert_error(post(small_server, "/v1/models/scaler:predict", big), 413)
    # chunked upload without Content-Length is counted as it streams
    chunks = (big[i:i + 500].encode() for i in range(0, len(big), 500))
    r = requests.post(small_server.url + "/v1/models/scaler:predict", data=chunks, timeout=30)
    assert_error(r, 413)
    # just under the limit is fine
    assert post(small_server, "/v1/models/scaler:predict", {"instances": [1.0] * 100}).status_code == 200


def test_rows_above_the_cap_are_400_and_large_batches_run_in_chunks(small_server):
    # --max-batch-rows 120 --chunk-rows 7: 100 rows run as 15 chunks, concatenated in order
    xs = [float(i) for i in range(100)]
    r = post(small_server, "/v1/models/scaler:predict", {"inputs": {"x": xs}})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == [2 * x for x in xs]
    msg = assert_error(post(small_server, "/v1/models/scaler:predict", {"instances": [1.0] * 121}), 400)
    assert "Task size 121 is larger than maximum input batch size 120" in msg


def test_inputs_of_different_batch_sizes_are_named_before_the_graph_runs(server):
    body = {"inputs": {"user_id": ["a", "b", "c"], "item_count": [1, 2]}}
    msg = assert_error(post(server, "/v1/models/ranker:predict", body), 400)
    assert msg == ("Inputs of signature 'serving_default' must have the same batch size (first dimension): "
                   "item_count has 2, user_id has 3")


@pytest.mark.parametrize("request_bytes", [
    b"FOO /v1/models/ranker HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",              # unknown method
    b"POST /v1/models/ranker:predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",     # bad length
    b"POST /v1/models/ranker:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /v1/models/ranker:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"GET /v1/models/ranker HTTP/1.1\r\nBad Header Line\r\n\r\n",                                    # no colon
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",                                 # TLS hello
], ids=["unknown-method", "bad-content-length", "two-content-lengths", "bad-chunk-size", "bad-header", "tls"])
def test_http_level_errors_have_a_json_body(server, request_bytes):
    status, body = raw_http(server.url, request_bytes)
    assert 400 <= status < 500
    assert_error((status, body), status)


def test_server_survives_everything(server, small_server):
    for srv, path in ((server, "/v1/models/ranker:predict"), (small_server, "/v1/models/scaler:predict")):
        body = GOOD if srv is server else {"instances": [1.0]}
        r = post(srv, path, body)
        assert r.status_code == 200, r.text
        assert srv.proc.poll() is None
