"""In-process unit tests: JSON <-> tensor rules, model config files, CLI argument checks."""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from tfrec_pkg.serving.errors import InvalidArgument
from tfrec_pkg.serving.repository import ModelConfig, load_model_config_file
from tfrec_pkg.serving.rest_request import COLUMNAR, ROW, InputSpec, parse_json_body, parse_predict_request
from tfrec_pkg.serving.rest_response import predict_response_json
from tfrec_pkg.serving.server import main

F = {"x": InputSpec("DT_FLOAT", (None, 2))}


def test_row_batches_instances():
    arrays, fmt = parse_predict_request({"instances": [[1, 2], [3, 4.5]]}, F)
    assert fmt == ROW and arrays["x"].dtype == np.float32 and arrays["x"].tolist() == [[1, 2], [3, 4.5]]


def test_columnar_scalar_and_types():
    specs = {"b": InputSpec("DT_BOOL", ()), "s": InputSpec("DT_STRING", None)}
    arrays, fmt = parse_predict_request({"inputs": {"b": True, "s": [[{"b64": "aGk"}]]}}, specs)
    assert fmt == COLUMNAR and arrays["b"].shape == () and arrays["s"].tolist() == [[b"hi"]]


@pytest.mark.parametrize("dtype, value", [
    ("DT_INT64", 1.0), ("DT_INT64", True), ("DT_INT32", 2**31), ("DT_FLOAT", "1"),
    ("DT_FLOAT", 2**24 + 1), ("DT_BOOL", 1), ("DT_STRING", 1), ("DT_STRING", {"a": 1}), ("DT_INT64", None),
])
def test_type_rules(dtype, value):
    # TF Serving's AddValueToTensor / IsLosslessDecimal
    with pytest.raises(InvalidArgument):
        parse_predict_request({"inputs": [value]}, {"v": InputSpec(dtype, (None,))})


def test_parse_json_body_errors():
    for body, fragment in [(b"", "document is empty"), (b"{", "JSON Parse error"), (b"1", "Is not object"),
                           (b"\xff", "JSON Parse error")]:
        with pytest.raises(InvalidArgument, match=fragment):
            parse_json_body(body)
    assert np.isnan(parse_json_body(b'{"a": NaN}')["a"])


def test_float_formatting_like_write_decimal():
    out = {"y": np.array([0.1, 1 / 3, 5, 1e6, 1.5e-7, np.nan, -np.inf], np.float32)}
    assert predict_response_json(out, COLUMNAR) == (
        '{"outputs": [0.1, 0.333333343, 5.0, 1e+06, 1.5e-07, NaN, -Infinity]}')
    assert predict_response_json({"y": np.array([0.1], np.float64)}, COLUMNAR) == '{"outputs": [0.1]}'


def test_row_response_batch_checks_and_bytes_suffix():
    with pytest.raises(InvalidArgument, match="inconsistent batch size"):
        predict_response_json({"a": np.zeros(2), "b": np.zeros(3)}, ROW)
    with pytest.raises(InvalidArgument, match="no shape information"):
        predict_response_json({"a": np.float32(1)}, ROW)
    body = predict_response_json({"img_bytes": np.array([b"\x00\x01"], dtype=object)}, ROW)
    assert json.loads(body) == {"predictions": [{"b64": "AAE="}]}


def test_json_and_text_model_config(tmp_path):
    j = tmp_path / "m.json"
    j.write_text(json.dumps({"models": [{"name": "a", "base_path": "/m/a", "version_labels": {"stable": 3}}]}))
    assert load_model_config_file(str(j)) == [ModelConfig("a", "/m/a", {"stable": 3})]
    t = tmp_path / "m.config"
    t.write_text("""# TF Serving text format
model_config_list {
  config { name: 'a' base_path: "/m/a" model_platform: 'tensorflow'
           version_labels { key: 'stable' value: 3 } version_labels { key: 'canary' value: 4 } }
  config: { name: "b", base_path: "/m/b" }
}
""")
    assert load_model_config_file(str(t)) == [ModelConfig("a", "/m/a", {"stable": 3, "canary": 4}),
                                              ModelConfig("b", "/m/b")]
    t.write_text("model_config_list < config < name: 'a\\x2e' base_path: '/m/a' > >")  # <> and C escapes
    assert load_model_config_file(str(t)) == [ModelConfig("a.", "/m/a")]


@pytest.mark.parametrize("text, fragment", [
    ("model_config_list { config { name: 'a' base_path: '/m' }", r"1:\d+ : Expected \"}\""),
    ("model_config_list { config { nmae: 'a' } }", 'no field named "nmae"'),
    ("model_config_list { config { name: 'a' base_path: '/m' version_labels { key: 's' value: x } } }",
     "Couldn't parse integer: x"),
    ("model_config_list { }\nmodel_config_list { }", 'multiple "model_config_list"'),
    ("", "expected one model_config_list"),
    ("model_config_list { }", "no models configured"),
    ("model_config_list { config { name: 'a' base_path: '/m' model_platform: 'onnx' } }",
     "model_platform 'onnx' is not supported"),
    ("model_config_list { config { name: 'a' base_path: '/m' } config { name: 'a' base_path: '/n' } }",
     "duplicate model names"),
])
def test_malformed_text_model_config(tmp_path, text, fragment):
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(ValueError, match=fragment) as e:
        load_model_config_file(str(path))
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_text_model_config_values_checked_like_json(tmp_path):
    path = tmp_path / "models.config"
    path.write_text("model_config_list { config { name: '../x' base_path: '/m' } }")
    with pytest.raises(ValueError, match="invalid model name"):
        load_model_config_file(str(path))
    path.write_text("model_config_list { config { name: 'a' base_path: '/m' "
                    "version_labels { key: 's' value: -1 } } }")
    with pytest.raises(ValueError, match="must map to a version number"):
        load_model_config_file(str(path))


def test_text_model_config_version_policy_warns(tmp_path, capsys):
    path = tmp_path / "models.config"
    path.write_text("model_config_list { config { name: 'a' base_path: '/m' "
                    "model_version_policy { specific { versions: 1 } } } }")
    assert load_model_config_file(str(path)) == [ModelConfig("a", "/m")]
    assert "model_version_policy is ignored" in capsys.readouterr().err


def test_bad_model_config_file_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "models.config"
    path.write_text("model_config_list { config { name: 'a' base_path: '/m' }\n")
    with pytest.raises(SystemExit) as e:
        main(["--model-config-file", str(path)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(rf'tfrec serve: error: --model-config-file: {re.escape(str(path))}: '
                        r'not a ModelServerConfig in text format: 1:\d+ : Expected "}"\.', err)


@pytest.mark.parametrize("name", ["..", ".", "a/b", "/abs", "", "a b"])
def test_bad_model_names_rejected(name):
    with pytest.raises(ValueError):
        ModelConfig(name, "/m")


@pytest.mark.parametrize("argv", [
    [],
    ["--model-base-path", "/m", "--model-config-file", "/c"],
    ["--model-base-path", "/m", "--model-name", "../x"],
    ["--model-base-path", "/m", "--version-label", "stable"],
    ["--model-base-path", "/m", "--version-label", "other:stable=1"],
])
def test_cli_rejects_bad_arguments(argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


def test_graph_errors_keep_the_ops_message():
    """A failed assertion inside a signature answers with its own message, not with TensorFlow's
    "Graph execution error:" header."""
    import tensorflow as tf

    from tfrec_pkg.serving.repository import error_message

    @tf.function
    def fn(k):
        tf.debugging.assert_positive(k, message="k must be >= 1")
        return k

    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        fn(tf.constant([-1, 2], tf.int64))
    message = error_message(caught.value)
    assert message.startswith("assertion failed: [k must be >= 1") and "[-1 2]" in message, message
    assert error_message(ValueError("single line\nsecond")) == "single line"


def test_graph_errors_name_what_was_wrong_and_where():
    """The message TensorFlow raises for an out-of-range index reaching a serving signature
    (copied from a real one): the op's message and its node, not the stack header."""
    from tfrec_pkg.serving.repository import error_message

    raised = ("Graph execution error:\n\nDetected at node gender_embedding/embedding_lookup defined at "
              "(most recent call last):\n<stack traces unavailable>\nindices[0] = 45 is not in [0, 4)\n"
              "\t [[{{node gender_embedding/embedding_lookup}}]] [Op:__inference_signature_wrapper_13573]")
    assert error_message(ValueError(raised)) == \
        "indices[0] = 45 is not in [0, 4) (node gender_embedding/embedding_lookup)"
    with_stack = ("Graph execution error:\n\nDetected at node a/b defined at (most recent call last):\n"
                  '  File "x.py", line 3, in f\n    return g()\nsomething broke [Op:MatMul]')
    assert error_message(ValueError(with_stack)) == "something broke"


def test_binding_every_interface_warns():
    from tfrec_pkg.serving.server import bind_warning

    for host in ("0.0.0.0", "::"):
        assert "binds every network interface" in bind_warning(host)
    assert bind_warning("127.0.0.1") is None and bind_warning("::1") is None


def test_repository_follows_the_disk(tmp_path):
    """A deleted served version falls back to the newest one left (and unloads when none is
    left); a version whose files are rewritten in place is reloaded."""
    import shutil
    import time

    from serving_test_utils import save_scaler, write_version
    from tfrec_pkg.serving.repository import ModelRepository

    base = tmp_path / "m"
    base.mkdir()
    write_version(base, 3, save_scaler, 3.0)
    write_version(base, 4, save_scaler, 4.0)
    repo = ModelRepository([ModelConfig("m", str(base))], poll_seconds=0, log=lambda *_: None)
    repo.start()

    def served():
        current = repo._models["m"].current
        return None if current is None else (current.version, current.run(current.signatures["serving_default"],
                                                                           {"x": np.array([1.0], np.float32)}))

    assert served()[0] == 4
    shutil.rmtree(base / "4")
    repo.poll_once()
    version, out = served()
    assert version == 3 and out["y"].tolist() == [3.0]
    shutil.rmtree(base / "3")
    save_scaler(base / "3", 5.0)                    # version 3 rewritten in place
    time.sleep(0.01)
    os.utime(base / "3" / "saved_model.pb")
    repo.poll_once()
    assert served()[1]["y"].tolist() == [5.0]
    shutil.rmtree(base / "3")
    repo.poll_once()
    assert served() is None and repo._models["m"].states[3].state == "END"
