"""SavedModel export (tfrec_pkg/export/saved_model.py): TF Serving layout, raw-id signatures,
parity in a fresh process that never imports tfrec_pkg, atomic versioned writes."""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg import export
from tfrec_pkg.data.synthetic import ctr_with_history
from tfrec_pkg.export import saved_model
from tfrec_pkg.export.saved_model import sample_features
from tfrec_pkg.models import BaseModel, BaseModelConfig

VENV_BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def model():
    cfg = BaseModelConfig(max_history=6, epochs=1)
    train, _, _ = ctr_with_history(num_users=40, impressions_per_user=8, num_items=30,
                                   max_history=6, seed=1).splits()
    m = BaseModel(cfg, train.vocab)
    m.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    m.fit(train.dataset(64), epochs=1, verbose=0)
    return m


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    base = tmp_path_factory.mktemp("export") / "base_model"
    return str(base), export.save(model, str(base))


def _requests(model):
    """Known ids plus ids never seen in training (must go to OOV, not fail)."""
    raw = sample_features(model, batch=3)
    raw["user_id"][2] = 987654321
    raw["item_id"][2] = 123
    raw["category_id"][2] = "never-seen"
    return raw


def test_layout_and_assets(exported):
    base, path = exported
    assert path == os.path.join(base, "1")
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    extra = os.path.join(path, "assets.extra")
    manifest = json.load(open(os.path.join(extra, "manifest.json")))
    assert manifest["model"] == "base_model" and manifest["library"] == "tfrec_pkg"
    assert set(manifest["signatures"]) == {"serving_default", "serving_indices"}
    assert manifest["signatures"]["serving_default"]["outputs"]["score"]["dtype"] == "float32"
    assert manifest["vocabularies"]["item"]["size"] > 2
    rows = json.load(open(os.path.join(extra, "sample_request.json")))
    columns = json.load(open(os.path.join(extra, "sample_request_columnar.json")))
    assert len(rows["instances"]) == len(columns["inputs"]["user_id"]) > 0
    assert rows["instances"][0]["user_id"] == columns["inputs"]["user_id"][0]
    vocab_lines = open(os.path.join(extra, "vocab_item.txt")).read().split()
    assert len(vocab_lines) == manifest["vocabularies"]["item"]["size"] - 2


def test_warmup_file_holds_predict_requests(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    _, path = exported
    records = list(tf.data.TFRecordDataset(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")))
    assert records
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    assert log.predict_log.request.model_spec.signature_name == "serving_default"
    assert set(log.predict_log.request.inputs) == {"user_id", "item_id", "category_id",
                                                   "hist_item_ids", "hist_category_ids"}


def test_fresh_process_parity_without_tfrec_pkg(model, exported, tmp_path):
    _, path = exported
    raw = _requests(model)
    indexed = {k: v.numpy() for k, v in model.map_ids({k: tf.constant(v) for k, v in raw.items()}).items()}
    np.savez(tmp_path / "raw.npz", **{k: v.astype(bytes) if v.dtype == object else v for k, v in raw.items()})
    np.savez(tmp_path / "idx.npz", **indexed)
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        assert "tfrec_pkg" not in sys.modules
        loaded = tf.saved_model.load({path!r})
        out = {{}}
        for sig, f in [("serving_default", "raw.npz"), ("serving_indices", "idx.npz")]:
            data = np.load({str(tmp_path)!r} + "/" + f)
            res = loaded.signatures[sig](**{{k: tf.constant(data[k]) for k in data.files}})
            out[sig] = res["score"].numpy()
        assert "tfrec_pkg" not in sys.modules
        np.savez({str(tmp_path / "out.npz")!r}, **out)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=str(tmp_path))
    out = np.load(tmp_path / "out.npz")
    expected = model({k: tf.constant(v) for k, v in raw.items()}).numpy()
    assert np.isfinite(expected).all() and ((expected >= 0) & (expected <= 1)).all()
    np.testing.assert_allclose(out["serving_default"], expected, atol=1e-5)
    np.testing.assert_allclose(out["serving_indices"], expected, atol=1e-5)


def test_saved_model_cli_lists_signatures(exported):
    _, path = exported
    text = subprocess.run([os.path.join(VENV_BIN, "saved_model_cli"), "show", "--dir", path, "--all"],
                          check=True, capture_output=True, text=True).stdout
    blocks = dict(re.findall(r"signature_def\['(\w+)'\]:(.*?)(?=signature_def\[|\Z)", text, re.S))
    assert {"serving_default", "serving_indices"} <= set(blocks)

    def inputs(block):
        found = re.findall(r"inputs\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: \(([^)]*)\)", block)
        return {name: (dtype, shape.replace(" ", "")) for name, dtype, shape in found}

    default = inputs(blocks["serving_default"])
    assert default["user_id"] == ("DT_INT64", "-1")
    assert default["category_id"] == ("DT_STRING", "-1")
    assert default["hist_item_ids"] == ("DT_INT64", "-1,6")
    assert default["hist_category_ids"] == ("DT_STRING", "-1,6")
    assert inputs(blocks["serving_indices"])["category_id"] == ("DT_INT64", "-1")
    assert re.search(r"outputs\['score'\] tensor_info:\s+dtype: DT_FLOAT\s+shape: \(-1\)",
                     blocks["serving_default"])


def test_reexport_creates_next_version_and_keeps_the_old(model, tmp_path):
    base = str(tmp_path / "m")
    first = export.save(model, base)
    before = {f: os.path.getmtime(os.path.join(first, f)) for f in ("saved_model.pb", "assets.extra/manifest.json")}
    second = export.save(model, base)
    assert os.path.basename(second) == "2" and export.versions(base) == [1, 2]
    assert before == {f: os.path.getmtime(os.path.join(first, f)) for f in before}
    with pytest.raises(FileExistsError, match="already exists"):
        export.save(model, base, version=1)
    assert export.save(model, base, version=1, overwrite=True) == first
    assert export.versions(base) == [1, 2]


def test_crash_mid_export_leaves_no_visible_version(model, tmp_path):
    """A process killed while writing leaves only a hidden temporary directory, which neither
    TF Serving nor export.versions() treats as a version."""
    base = str(tmp_path / "m")
    trained = str(tmp_path / "trained")
    model.save_trained(trained)
    script = textwrap.dedent(f"""
        import os, tfrec_pkg
        from tfrec_pkg.export import saved_model
        from tfrec_pkg.models.recmodel import RecModel
        model = RecModel.load_trained({trained!r})
        def crash(*a, **k):
            os._exit(3)   # killed after the graph was written, before the rename
        saved_model._write_assets_extra = crash
        saved_model.save(model, {base!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr[-2000:]
    entries = os.listdir(base)
    assert entries and all(e.startswith(".tmp-") for e in entries), entries
    assert export.versions(base) == []
    assert export.save(model, base) == os.path.join(base, "1")


def test_next_export_removes_stale_temporaries_and_versions_are_readable(model, tmp_path):
    """A killed export's .tmp-* directory is removed by the next export once it is stale (a
    concurrent export's fresh one is kept), and version directories are not 0700."""
    base = tmp_path / "m"
    stale, fresh = base / ".tmp-3-dead", base / ".tmp-4-live"
    for d in (stale, fresh):
        (d / "variables").mkdir(parents=True)
    old = time.time() - 2 * saved_model.STALE_SECONDS
    os.utime(stale, (old, old))
    path = export.save(model, str(base))
    assert not stale.exists() and fresh.exists()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o777 & ~umask


def test_a_deleted_version_number_is_never_reused(model, tmp_path):
    base = tmp_path / "m"
    export.save(model, str(base))
    second = export.save(model, str(base))
    shutil.rmtree(second)
    assert export.versions(str(base)) == [1]
    assert os.path.basename(export.save(model, str(base))) == "3"
