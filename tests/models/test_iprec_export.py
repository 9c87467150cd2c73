"""IPRec served: the SavedModel's ``serving_default`` takes raw ids and returns the score and
gamma (Eq. (8), the explanation beside a recommendation); parity in a fresh process that never
imports tfrec_pkg; ``serving_indices`` through ONNX (to_onnx checks onnxruntime against the
SavedModel before the file appears); the local REST server answers in row and columnar form."""
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg import export
from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.synthetic import packages
from tfrec_pkg.models.iprec import PLANTED_SIZES, IPRec, IPRecConfig
from tfrec_pkg.serving.client import TFServingClient

from tests.serving.serving_test_utils import ServerProcess


@pytest.fixture(scope="module")
def trained():
    """An IPRec with seeded random weights (parity needs no training; tests/models/test_iprec.py trains)."""
    splits = packages(num_users=200, num_articles=200, num_media=20, seed=4, **PLANTED_SIZES).splits()
    tf.keras.utils.set_random_seed(0)
    model = IPRec(IPRecConfig(**PLANTED_SIZES, item_dim=8, num_spaces=2, ranker_units=(16, 8)), splits[0].vocab)
    model(model.example_batch())
    return model, splits[2]


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    model, _ = trained
    base = tmp_path_factory.mktemp("export") / "iprec"
    return base, export.save(model, str(base))


def _arrays(model, test, n=12):
    frame = test.frame.head(n).copy()
    frame.at[frame.index[0], "user_id"] = 99_999_999                  # unknown user -> OOV
    frame.at[frame.index[1], "friend_ids"] = np.zeros(0, np.int64)    # a friendless package
    return frame_to_arrays(frame, model.feature_spec, label=None)


def test_serving_default_returns_score_and_gamma_in_a_fresh_process(trained, exported, tmp_path):
    model, test = trained
    _, path = exported
    arrays = _arrays(model, test)
    np.savez(tmp_path / "in.npz", **arrays)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(path)!r})
        x = np.load({str(tmp_path / 'in.npz')!r})
        out = m.signatures["serving_default"](**{{k: tf.constant(x[k]) for k in x.files}})
        np.savez({str(tmp_path / 'out.npz')!r}, **{{k: v.numpy() for k, v in out.items()}})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    out = np.load(tmp_path / "out.npz")
    assert sorted(out.files) == ["gamma", "score"]
    want = model.explain({k: tf.constant(v) for k, v in arrays.items()})
    np.testing.assert_allclose(out["score"], want["score"].numpy(), atol=1e-6)
    np.testing.assert_allclose(out["gamma"], want["gamma"].numpy(), atol=1e-6)
    assert out["gamma"].shape == (12, 7)
    np.testing.assert_allclose(out["gamma"].sum(1), 1.0, atol=1e-5)
    assert (out["gamma"][1, [2, 4, 5, 6]] == 0).all()   # no friends: no friend combinations


def test_serving_indices_converts_to_onnx_with_parity(exported, tmp_path):
    _, path = exported
    out = export.to_onnx(path, str(tmp_path / "iprec.onnx"))   # raises OnnxExportError on a mismatch
    import onnxruntime as ort

    names = sorted(o.name.split(":")[0] for o in ort.InferenceSession(out).get_outputs())
    assert names == ["gamma", "score"]


def test_rest_server_answers_rows_and_columns(trained, exported, tmp_path):
    model, test = trained
    base, _ = exported
    arrays = _arrays(model, test, n=6)
    want = model.explain({k: tf.constant(v) for k, v in arrays.items()})
    server = ServerProcess(["--model-name", "iprec", "--model-base-path", str(base)], tmp_path / "server.log")
    try:
        server.wait_ready("/v1/models/iprec")
        client = TFServingClient(server.url, "iprec")
        rows = pd.DataFrame({k: list(v) if v.ndim > 1 else v for k, v in arrays.items()})
        for answer in (client.predict(instances=rows), client.predict(inputs=arrays)):
            np.testing.assert_allclose(answer["score"], want["score"].numpy(), atol=1e-5)
            np.testing.assert_allclose(answer["gamma"], want["gamma"].numpy(), atol=1e-5)
    finally:
        server.stop()
