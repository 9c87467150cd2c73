"""End to end, as a user runs it: tools/export.py -> `tfrec serve` in a subprocess -> REST
client in row and columnar format -> the same scores as the model in this process.
Also runs the README's curl example against the server."""
import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from serving_test_utils import ROOT, ServerProcess
from tfrec_pkg import export
from tfrec_pkg.data.synthetic import ctr_with_history
from tfrec_pkg.models import registry
from tfrec_pkg.serving.client import TFServingClient

FEATURES = ["user_id", "item_id", "category_id", "hist_item_ids", "hist_category_ids"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    entry = registry.entry("base_model")
    config = entry.config_class(max_history=8)
    train, _, test = ctr_with_history(num_users=40, impressions_per_user=10, num_items=40,
                                      max_history=8, seed=3).splits()
    model = entry.model_class(config, train.vocab)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    model.fit(train.dataset(64), epochs=1, verbose=0)
    base = tmp_path_factory.mktemp("served") / "base_model"
    path = export.save(model, str(base))
    server = ServerProcess(["--model-name", "base_model", "--model-base-path", str(base)],
                           tmp_path_factory.mktemp("log") / "server.log")
    server.wait_ready("/v1/models/base_model")
    yield model, test, server, base, path
    server.stop()


def test_row_and_columnar_predict_equal_in_process_scores(served):
    model, test, server, _, _ = served
    frame = test.frame[FEATURES].head(16).copy()
    frame.loc[frame.index[0], "user_id"] = 99_999_999          # unknown user -> OOV, not an error
    from tfrec_pkg.data.pipelines import frame_to_arrays

    arrays = frame_to_arrays(frame, model.feature_spec, label=None)
    expected = model({k: tf.constant(v) for k, v in arrays.items()}).numpy()
    client = TFServingClient(server.url, "base_model")
    # row format from a DataFrame: list cells must be padded to the signature's length
    rows = pd.DataFrame({k: list(v) if v.ndim > 1 else v for k, v in arrays.items()})
    np.testing.assert_allclose(client.predict(instances=rows), expected, atol=1e-5)
    np.testing.assert_allclose(client.predict(inputs=arrays), expected, atol=1e-5)
    status = client.status()
    assert status["model_version_status"][0]["version"] == "1"
    sig = client.metadata()["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "serving_indices"} <= set(sig)


def test_readme_curl_example_works(served):
    """The README's curl line, with the port and export directory of this test."""
    _, _, server, base, path = served
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- curl-example -->\s*```\n(.*?)\n```", readme, re.S).group(1).strip()
    command = block.replace("http://127.0.0.1:8501", server.url).replace("saved_models/base_model", str(base))
    proc = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
    body = json.loads(proc.stdout)
    sample = json.loads((base / "1" / "assets.extra" / "sample_request.json").read_text())
    assert len(body["predictions"]) == len(sample["instances"])
    assert all(0.0 <= p <= 1.0 for p in body["predictions"])
