"""REST round trip on the local TF-Serving-compatible server vs the in-process signature of
the same export, batch 1 and batch 100, measured in one run (ms)."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import tensorflow as tf

from tfrec_pkg import export
from tfrec_pkg.bench.timing import latency
from tfrec_pkg.serving.client import TFServingClient
from tfrec_pkg.serving.local import LocalServer


def rest_latency(model, sample_batch: dict, calls: int = 200) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = export.save(model, os.path.join(tmp, "m"))
        signature = tf.saved_model.load(path).signatures["serving_default"]
        with LocalServer(["--model-name", "m", "--model-base-path", os.path.join(tmp, "m")],
                         os.path.join(tmp, "server.log")) as server:
            server.wait_ready("/v1/models/m")
            client = TFServingClient(server.url, "m")
            for n in (1, 100):
                batch = {k: np.asarray(v)[:n] for k, v in sample_batch.items()}
                tensors = {k: tf.constant(v) for k, v in batch.items()}
                p50, p99 = latency(lambda b: signature(**b), tensors, calls)
                out[f"inproc_b{n}_p50_ms"], out[f"inproc_b{n}_p99_ms"] = round(p50, 3), round(p99, 3)
                columns = {k: v.tolist() for k, v in batch.items()}
                p50, p99 = latency(lambda b: client.predict(inputs=b), columns, calls)
                out[f"rest_b{n}_p50_ms"], out[f"rest_b{n}_p99_ms"] = round(p50, 3), round(p99, 3)
                out[f"rest_over_inproc_b{n}_p50"] = round(out[f"rest_b{n}_p50_ms"] / out[f"inproc_b{n}_p50_ms"], 1)
    return out
