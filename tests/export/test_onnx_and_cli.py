"""ONNX export (tfrec_pkg/export/onnx.py) and the tools/export.py entry point."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg import export
from tfrec_pkg.data.synthetic import ctr_with_history
from tfrec_pkg.export.onnx import OnnxExportError
from tfrec_pkg.models import BaseModel, BaseModelConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = BaseModelConfig(max_history=6)
    train, _, _ = ctr_with_history(num_users=40, impressions_per_user=8, num_items=30,
                                   max_history=6, seed=2).splits()
    model = BaseModel(cfg, train.vocab)
    directory = str(tmp_path_factory.mktemp("trained") / "base_model")
    model.save_trained(directory)
    path = export.save(model, str(tmp_path_factory.mktemp("sm") / "base_model"))
    return model, directory, path


def test_onnx_matches_saved_model(trained, tmp_path):
    import onnxruntime as ort

    model, _, path = trained
    out = export.to_onnx(path, str(tmp_path / "m.onnx"))
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds, tf_inputs = {}, {}
    for spec in model.index_spec:
        size = model.vocab[{"user_id": "user", "item_id": "item", "hist_item_ids": "item"}.get(
            spec.name, "category")].size
        value = rng.integers(0, size, size=(5,) + spec.shape).astype(np.int64)
        tf_inputs[spec.name] = tf.constant(value)
        name = next(i.name for i in session.get_inputs() if i.name.split(":")[0] == spec.name)
        feeds[name] = value
    got = session.run(None, feeds)[0]
    expected = model.call_indexed(tf_inputs).numpy()
    np.testing.assert_allclose(got.reshape(-1), expected, atol=1e-4)


def test_onnx_refuses_hash_table_signature_and_writes_nothing(trained, tmp_path):
    _, _, path = trained
    with pytest.raises(OnnxExportError, match="LookupTableFindV2"):
        export.to_onnx(path, str(tmp_path / "bad.onnx"), signature="serving_default")
    assert os.listdir(tmp_path) == []


def _reason(proc) -> str:
    """The one-line failure reason (TensorFlow's own start-up log lines may precede it)."""
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.startswith("export failed:")]
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


def _export_cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export.py"), *args],
                          capture_output=True, text=True)


def test_export_tool_from_weights(trained, tmp_path):
    _, directory, _ = trained
    out = str(tmp_path / "saved" / "base_model")
    proc = _export_cli("--model", "base_model", "--weights", directory, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"exported base_model to {out}/1" in proc.stdout
    assert "signature serving_default" in proc.stdout and '"instances"' in proc.stdout and '"inputs"' in proc.stdout
    assert json.load(open(f"{out}/1/assets.extra/manifest.json"))["model"] == "base_model"
    # a non-empty target version is refused with a one-line reason
    proc = _export_cli("--model", "base_model", "--weights", directory, "--out", out, "--version", "1")
    assert proc.returncode == 1 and _reason(proc).endswith("exists and is not empty")


@pytest.mark.parametrize("args, reason", [
    (["--model", "base_model", "--weights", "/does/not/exist"], "does not exist"),
])
def test_export_tool_failures(tmp_path, args, reason):
    proc = _export_cli(*args, "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and reason in _reason(proc)
