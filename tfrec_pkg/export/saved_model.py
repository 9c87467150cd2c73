"""Versioned, atomic SavedModel export in the layout TF Serving polls.

    tfrec_pkg.export.save(model, "saved_models/base_model")   # -> saved_models/base_model/1

* ``base_dir/<version>/`` with integer versions (next integer when ``version`` is None).
* Written to a hidden temporary directory beside it and renamed into place, so a crash never
  leaves a half-written version a server could load (TF Serving and our server only look at
  integer-named directories). An existing version is never overwritten unless ``overwrite=True``.
* Signatures come from ``model.serving_endpoints()`` (see :mod:`tfrec_pkg.export.signatures`) and take raw ids; the vocabulary
  tables are part of the graph, unknown ids map to OOV.
* ``assets.extra/`` carries the input contract: ``manifest.json`` (library version, model name
  and config, signatures, vocabulary sizes), ``sample_request.json`` and
  ``sample_request_columnar.json`` (ready-to-post REST bodies in the ``instances`` and
  ``inputs`` forms), ``vocab_<name>.txt`` and TF Serving's warm-up file
  ``tf_serving_warmup_requests``.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

import tfrec_pkg
from tfrec_pkg.atomic_files import atomic_write
from tfrec_pkg.export.signatures import serving_request, serving_signatures

WARMUP_FILE = "tf_serving_warmup_requests"


def versions(base_dir: str) -> list[int]:
    if not os.path.isdir(base_dir):
        return []
    return sorted(int(d) for d in os.listdir(base_dir)
                  if d.isdigit() and os.path.exists(os.path.join(base_dir, d, "saved_model.pb")))


def sample_features(model, batch: int = 2) -> dict[str, np.ndarray]:
    """A small, meaningful raw-id request: known ids from the vocabularies, sequences
    half filled then padded."""
    out = {}
    for spec in model.feature_spec:
        if spec.vocabulary:
            ids = model.vocab[spec.vocabulary].ids or [spec.padding]
            pick = [ids[i % len(ids)] for i in range(batch * (spec.max_len if spec.is_sequence else 1))]
            arr = np.array(pick, dtype=spec.np_dtype)
            if spec.is_sequence:
                arr = arr.reshape(batch, spec.max_len)
                arr[:, spec.max_len // 2:] = spec.padding
        else:
            arr = np.zeros((batch,) + spec.shape, dtype=spec.np_dtype)
        out[spec.name] = arr
    return serving_request(model, out)


def save(model, base_dir: str, version: int | None = None, overwrite: bool = False,
         sample: dict | None = None) -> str:
    """Export ``model`` to ``base_dir/<version>``; returns that path."""
    signatures = serving_signatures(model)
    if "serving_default" not in signatures:
        raise ValueError(f"{type(model).__name__}.serving_endpoints() has no 'serving_default'")
    os.makedirs(base_dir, exist_ok=True)
    existing = versions(base_dir)
    if version is None:  # never reuse a number: a server may still hold a deleted version's number
        version = max(existing[-1] if existing else 0, high_water_mark(base_dir)) + 1
    if not isinstance(version, (int, np.integer)) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    final = os.path.join(base_dir, str(version))
    if os.path.exists(final) and not overwrite:
        raise FileExistsError(f"{final} already exists; pass overwrite=True or another version")

    sample = sample or sample_features(model)
    remove_stale_temporaries(base_dir)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base_dir)
    try:
        model(model.example_batch())  # every variable exists before tracing
        tf.saved_model.save(model, tmp, signatures=signatures)
        _write_assets_extra(model, tmp, signatures, sample)
        _readable(tmp)
        if os.path.exists(final):  # overwrite=True: swap, then drop the old one
            old = tempfile.mkdtemp(prefix=f".old-{version}-", dir=base_dir)
            os.rename(final, os.path.join(old, "v"))
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_high_water_mark(base_dir, max(int(version), high_water_mark(base_dir)))
    return final


HIGH_WATER_FILE = ".version_high_water"  # the highest version number ever written here


def high_water_mark(base_dir: str) -> int:
    try:
        with open(os.path.join(base_dir, HIGH_WATER_FILE)) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _write_high_water_mark(base_dir: str, version: int) -> None:
    path = os.path.join(base_dir, HIGH_WATER_FILE)
    with atomic_write(path) as f:
        f.write(f"{version}\n")


STALE_SECONDS = 3600  # a temporary directory untouched this long is a killed export's leftover


def remove_stale_temporaries(base_dir: str, older_than: float = STALE_SECONDS) -> list[str]:
    """Delete the ``.tmp-*`` / ``.old-*`` directories that an interrupted export left in
    ``base_dir`` (untouched for ``older_than`` seconds, so a concurrent export's is kept);
    returns their names."""
    removed = []
    for name in os.listdir(base_dir):
        path = os.path.join(base_dir, name)
        if name.startswith((".tmp-", ".old-")) and os.path.isdir(path) and not os.path.islink(path):
            if time.time() - os.path.getmtime(path) > older_than:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
    return removed


def _readable(directory: str) -> None:
    """mkdtemp makes 0700 directories; a TF Serving process running as another user must read
    the version: give it the permissions of a normal directory under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(directory, 0o777 & ~umask)


def signature_summary(signatures) -> dict:
    """{name: {"inputs": {n: {"dtype", "shape"}}, "outputs": {...}}} for concrete functions."""
    out = {}
    for name, fn in signatures.items():
        inputs = {}
        for spec in tf.nest.flatten(fn.structured_input_signature):
            inputs[spec.name] = {"dtype": spec.dtype.name, "shape": _shape(spec.shape)}
        outputs = {k: {"dtype": v.dtype.name, "shape": _shape(v.shape)}
                   for k, v in fn.structured_outputs.items()}
        out[name] = {"inputs": inputs, "outputs": outputs}
    return out


def _shape(shape):
    return [-1 if d is None else int(d) for d in shape.as_list()]


def rest_bodies(sample: dict) -> dict:
    """The same request as TF Serving REST bodies: row (``instances``) and columnar (``inputs``)."""
    plain = {k: np.asarray(v).tolist() for k, v in sample.items()}
    n = len(next(iter(plain.values())))
    instances = [{k: v[i] for k, v in plain.items()} for i in range(n)]
    return {"instances": {"signature_name": "serving_default", "instances": instances},
            "inputs": {"signature_name": "serving_default", "inputs": plain}}


def _write_assets_extra(model, export_dir, signatures, sample):
    from tfrec_pkg.models import registry

    extra = os.path.join(export_dir, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    try:
        model_name = registry.name_of(type(model))
    except KeyError:
        model_name = type(model).__name__
    manifest = {
        "library": "tfrec_pkg", "library_version": tfrec_pkg.__version__,
        "tensorflow_version": tf.__version__, "model": model_name,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": model.config.to_dict(),
        "feature_spec": [s.to_dict() for s in model.feature_spec],
        "signatures": signature_summary(signatures),
        "vocabularies": {k: {"size": v.size, "dtype": v.dtype, "padding": v.padding,
                             "file": f"vocab_{k}.txt"} for k, v in model.vocab.items()},
    }
    with open(os.path.join(extra, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, default=str)
    bodies = rest_bodies(sample)
    for form, name in (("instances", "sample_request.json"), ("inputs", "sample_request_columnar.json")):
        with open(os.path.join(extra, name), "w") as f:
            json.dump(bodies[form], f, default=str)
    for name, vocab in model.vocab.items():
        with open(os.path.join(extra, f"vocab_{name}.txt"), "w") as f:
            f.write("\n".join(str(i) for i in vocab.ids) + ("\n" if vocab.ids else ""))
    write_warmup(os.path.join(extra, WARMUP_FILE), sample)


def write_warmup(path: str, sample: dict, signature_name: str = "serving_default", repeats: int = 1):
    """TF Serving warm-up records (PredictionLog protos in a TFRecord file), so the first real
    request does not pay for graph initialisation."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    with tf.io.TFRecordWriter(path) as writer:
        for _ in range(repeats):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(signature_name=signature_name))
            for name, value in sample.items():
                value = np.asarray(value)
                if value.dtype == object:
                    value = value.astype(bytes)
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
