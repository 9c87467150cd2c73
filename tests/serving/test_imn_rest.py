"""The local REST server answers an exported IMN-Net's signatures (tfrec_pkg/models/imn.py):
``top_k``, ``update_state``, ``score_state``, ``serving_default`` over :predict give what the
signatures give in this process, and a bad ``k`` is a 400 naming it, after which the server
keeps serving."""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from serving_test_utils import ServerProcess
from tfrec_pkg import export
from tfrec_pkg.data.synthetic.resource_limited import resource_limited
from tfrec_pkg.data.tbatch_windows import WindowedStream
from tfrec_pkg.models.imn import IMNConfig, IMNNet
from tfrec_pkg.serving.client import TFServingClient, TFServingError

D = 4


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    stream = WindowedStream.from_stream(resource_limited(num_users=12, num_items=20, num_events=300, seed=2),
                                        parts=20)
    tf.keras.utils.set_random_seed(1)
    model = IMNNet(IMNConfig(hidden_dim=D, user_dim=3, item_dim=3, num_samples=4), stream.vocab,
                   num_features=stream.num_features)
    rng = np.random.default_rng(0)
    for table in (model.user_state, model.limited_state, model.item_state):   # a snapshot that is not all zeros
        table.assign(rng.normal(size=table.shape).astype(np.float32))
    base = tmp_path_factory.mktemp("served") / "imn"
    export.save(model, str(base))
    server = ServerProcess(["--model-name", "imn", "--model-base-path", str(base)],
                           tmp_path_factory.mktemp("log") / "server.log")
    server.wait_ready("/v1/models/imn")
    yield stream, model, server
    server.stop()


def requests_for(stream, n=3):
    rng = np.random.default_rng(1)
    users = np.asarray(stream.vocab["user"].ids[:n])
    items = np.asarray(stream.vocab["item"].ids)
    state = lambda: rng.normal(size=(n, D)).astype(np.float32)  # noqa: E731
    deltas = lambda: rng.uniform(0, 1e5, size=n).astype(np.float32)  # noqa: E731  (raw times, >= 0)
    user = {"user_id": users, "general_state": state(), "limited_state": state(), "last_item_id": items[:n],
            "last_item_state": state(), "user_delta": deltas(), "user_since_purchase": deltas()}
    return {
        "top_k": user | {"k": np.array([1, 2, 5])},
        "serving_default": user | {"item_ids": items[rng.integers(0, len(items), (n, 4))]},
        "score_state": user | {"item_ids": items[:2 * n].reshape(n, 2),
                               "item_states": rng.normal(size=(n, 2, D)).astype(np.float32)},
        "update_state": {"user_id": users, "item_id": items[:n], "general_state": state(), "limited_state": state(),
                         "item_state": state(), "user_delta": deltas(), "item_delta": deltas(),
                         "user_since_purchase": deltas(), "is_purchase": np.array([1.0, 0.0, 1.0], np.float32),
                         "features": rng.normal(size=(n, stream.num_features)).astype(np.float32)},
    }


def test_rest_answers_every_imn_signature(served):
    stream, model, server = served
    client = TFServingClient(server.url, "imn")
    signatures = export.serving_signatures(model)
    sig_defs = client.metadata()["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "top_k", "update_state", "score_state", "initial_state",
            "initial_item_state"} <= set(sig_defs)
    for name, inputs in requests_for(stream).items():
        want = signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
        got = client.predict(inputs=inputs, signature_name=name)
        got = got if isinstance(got, dict) else {next(iter(want)): got}
        assert set(got) == set(want), name
        for key, value in want.items():
            np.testing.assert_allclose(np.asarray(got[key], np.float64), value.numpy().astype(np.float64),
                                       atol=1e-5, err_msg=f"{name}/{key}")


def test_a_bad_k_is_a_400_and_the_server_keeps_serving(served):
    stream, _, server = served
    client = TFServingClient(server.url, "imn")
    request = requests_for(stream)["top_k"]
    with pytest.raises(TFServingError, match="k must be >= 1") as err:
        client.predict(inputs=request | {"k": np.array([1, 0, 2])}, signature_name="top_k")
    assert err.value.status_code == 400
    assert client.predict(inputs=request, signature_name="top_k")["item_ids"].shape == (3, 5)
