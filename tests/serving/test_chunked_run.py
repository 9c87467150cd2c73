"""Servable.run scores large batches a chunk at a time: the same outputs as one call, even
when an output's width depends on the batch (top-k with a per-row k), and a hung-up client
stops the work between chunks."""
import threading

import numpy as np
import pytest

from serving_test_utils import save_scaler
from tfrec_pkg.serving.errors import ClientClosedRequest
from tfrec_pkg.serving.repository import Servable


def save_top_k(path):
    """Per row, the k largest of ``x`` [B, 6], padded with -1 to the batch's largest k."""
    import tensorflow as tf

    class TopK(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="x"),
                                      tf.TensorSpec([None], tf.int64, name="k")])
        def serve(self, x, k):
            width = tf.cast(tf.reduce_max(k), tf.int32)
            values = tf.math.top_k(x, width).values
            beyond = tf.range(width)[None, :] >= tf.cast(k, tf.int32)[:, None]
            return {"top": tf.where(beyond, -1.0, values)}

    m = TopK()
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.serve})


@pytest.fixture(scope="module")
def servables(tmp_path_factory):
    root = tmp_path_factory.mktemp("chunked")
    save_scaler(root / "scaler", 3.0)
    save_top_k(root / "top_k")
    return Servable("scaler", 1, str(root / "scaler")), Servable("top_k", 1, str(root / "top_k"))


def test_chunks_concatenate_to_the_whole_batch(servables):
    scaler, _ = servables
    sig = scaler.signature("serving_default")
    x = np.arange(23, dtype=np.float32)
    whole = scaler.run(sig, {"x": x})["y"]
    chunked = scaler.run(sig, {"x": x}, rows=23, chunk_rows=5)["y"]
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_array_equal(whole, 3 * x)


def test_outputs_whose_width_differs_between_chunks_are_computed_whole(servables):
    _, top_k = servables
    sig = top_k.signature("serving_default")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 6)).astype(np.float32)
    k = np.array([1, 1, 1, 1, 1, 2, 2, 2, 2, 5], np.int64)  # chunks of 4: widths 1, 2, 5
    whole = top_k.run(sig, {"x": x, "k": k})["top"]
    chunked = top_k.run(sig, {"x": x, "k": k}, rows=10, chunk_rows=4)["top"]
    assert whole.shape == (10, 5)
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_array_equal(whole[9], np.sort(x[9])[::-1][:5])


def test_a_hung_up_client_stops_the_work(servables):
    scaler, _ = servables
    sig = scaler.signature("serving_default")
    gone = threading.Event()
    gone.set()
    with pytest.raises(ClientClosedRequest):
        scaler.run(sig, {"x": np.zeros(10, np.float32)}, rows=10, chunk_rows=3, cancelled=gone)
    # a batch that fits one chunk has nothing to interrupt: it just runs
    assert scaler.run(sig, {"x": np.ones(2, np.float32)}, rows=2, chunk_rows=3, cancelled=gone)["y"].tolist() == [3, 3]


def test_the_server_stops_a_request_whose_client_hung_up(tmp_path):
    """One worker thread, one row per chunk: a small request sent after an abandoned large one
    answers at once instead of waiting for the large one to finish."""
    import json
    import time

    import requests

    from serving_test_utils import ServerProcess, write_version

    write_version(tmp_path, 1, save_scaler, 2.0)
    server = ServerProcess(["--model-name", "s", "--model-base-path", str(tmp_path), "--num-threads", "1",
                            "--chunk-rows", "1", "--max-batch-rows", "100000"], tmp_path / "server.log")
    try:
        server.wait_ready("/v1/models/s")
        url, large = server.url + "/v1/models/s:predict", json.dumps({"inputs": {"x": [1.0] * 5000}})
        start = time.perf_counter()
        assert requests.post(url, data=large, timeout=120).status_code == 200
        whole = time.perf_counter() - start
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(url, data=large, timeout=whole / 10)
        start = time.perf_counter()
        assert requests.post(url, json={"inputs": {"x": [1.0]}}, timeout=120).json() == {"outputs": [2.0]}
        assert time.perf_counter() - start < whole / 2, (time.perf_counter() - start, whole)
    finally:
        server.stop()
