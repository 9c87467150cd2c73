"""ONNX export of an exported SavedModel signature through tf2onnx, verified in onnxruntime.

Raw-id signatures (``serving_default``) carry int64->int64 / string->int64 hash tables;
tf2onnx converts only string<->int64 tables, so models with int64 raw ids do not convert
from ``serving_default``. Every model therefore also exports ``serving_indices``, the same
scoring graph on vocabulary indices (0 padding, 1 OOV, see ``data/vocab.py``); that one converts,
and the client maps raw ids with the ``assets.extra/vocab_<name>.txt`` files.

Nothing broken is ever written: the file appears (atomically) only after onnxruntime outputs
matched the SavedModel's within ``atol`` on sample inputs.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

DEFAULT_SIGNATURE = "serving_indices"


class OnnxExportError(RuntimeError):
    pass


def to_onnx(saved_model_dir: str, out_path: str, opset: int = 17, signature: str = DEFAULT_SIGNATURE,
            atol: float = 1e-4, timeout: int = 600) -> str:
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model_dir)
    if signature not in loaded.signatures:
        raise OnnxExportError(f"{saved_model_dir} has no signature {signature!r}; it has {sorted(loaded.signatures)}")
    out_dir = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=out_dir)
    os.close(fd)
    try:
        # tf2onnx's command line is its stable interface; run it in a child process so a
        # converter crash cannot take the caller down.
        cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", saved_model_dir,
               "--signature_def", signature, "--opset", str(opset), "--output", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
        log = proc.stdout + proc.stderr
        failed = sorted(set(re.findall(r"Failed to convert node '([^']+)'", log)))
        unsupported = sorted(set(re.findall(r"Unsupported ops: (.*)", log)))
        if proc.returncode != 0 or failed or unsupported or os.path.getsize(tmp) == 0:
            ops = sorted({n.rsplit("/", 1)[-1] for n in failed}) + unsupported
            reasons = sorted(set(re.findall(r"make_sure failure: (.*)", log)))
            hint = "" if signature == DEFAULT_SIGNATURE else f" Try signature={DEFAULT_SIGNATURE!r}."
            raise OnnxExportError(
                f"ONNX conversion of {saved_model_dir} signature {signature!r} failed: unsupported ops "
                f"{ops or 'unknown'}; {'; '.join(reasons) or log.strip().splitlines()[-1:]}.{hint}")
        _verify(loaded.signatures[signature], tmp, saved_model_dir, signature, atol)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out_path


def sample_inputs(fn, saved_model_dir: str, signature: str, batch: int = 8, seed: int = 0) -> dict:
    """Inputs for parity checks: the export's sample request for raw-id signatures, random
    valid indices (below each vocabulary's size) for ``serving_indices``, where every other
    row's id lists end in padding (index 0) from their middle on, so that the masks run too."""
    import tensorflow as tf

    extra = os.path.join(saved_model_dir, "assets.extra")
    with open(os.path.join(extra, "manifest.json")) as f:
        manifest = json.load(f)
    specs = {s["name"]: s for s in manifest["feature_spec"]}
    sample = {}
    if signature != DEFAULT_SIGNATURE:
        with open(os.path.join(extra, "sample_request_columnar.json")) as f:
            raw = json.load(f)["inputs"]
    rng = np.random.default_rng(seed)
    for spec in tf.nest.flatten(fn.structured_input_signature):
        shape = [batch] + [int(d) for d in spec.shape[1:]]
        feature = specs.get(spec.name, {})
        if signature != DEFAULT_SIGNATURE and spec.name in raw:
            sample[spec.name] = np.asarray(raw[spec.name], dtype=object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype)
        elif spec.dtype.is_integer:
            size = manifest["vocabularies"].get(feature.get("vocabulary") or "", {}).get("size", 2)
            ids = rng.integers(0, size, size=shape)
            if len(shape) > 1 and shape[1] > 1:
                ids[::2, shape[1] // 2:] = 0
            sample[spec.name] = ids.astype(spec.dtype.as_numpy_dtype)
        else:
            sample[spec.name] = rng.normal(size=shape).astype(spec.dtype.as_numpy_dtype)
    return sample


def _verify(fn, onnx_path, saved_model_dir, signature, atol):
    import onnxruntime as ort
    import tensorflow as tf

    sample = sample_inputs(fn, saved_model_dir, signature)
    expected = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in sample.items()}).items()}
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    feeds = {}
    for inp in session.get_inputs():
        name = inp.name.split(":")[0]
        if name not in sample:
            raise OnnxExportError(f"ONNX input {inp.name!r} matches no signature input {sorted(sample)}")
        feeds[inp.name] = sample[name]
    outputs = session.run(None, feeds)
    names = [o.name.split(":")[0] for o in session.get_outputs()]
    for name, got in zip(names, outputs):
        if name not in expected:
            continue
        err = float(np.max(np.abs(got.astype(np.float64) - expected[name].astype(np.float64))))
        if not err <= atol:
            raise OnnxExportError(f"ONNX output {name!r} differs from the SavedModel by {err:.3g} > {atol}")
    missing = set(expected) - set(names)
    if missing:
        raise OnnxExportError(f"ONNX model lacks outputs {sorted(missing)}")
