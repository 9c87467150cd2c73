"""Helpers for the serving tests: tiny SavedModels and real server subprocesses on loopback."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


# --------------------------------------------------------------------------- models
def save_ranker(path: Path) -> None:
    """Two inputs (user_id string, item_count int64), two outputs (score, top_ids)."""
    import tensorflow as tf

    class Ranker(tf.Module):
        @tf.function(input_signature=[
            tf.TensorSpec([None], tf.string, name="user_id"),
            tf.TensorSpec([None], tf.int64, name="item_count"),
        ])
        def serve(self, user_id, item_count):
            length = tf.cast(tf.strings.length(user_id), tf.float32)
            score = tf.cast(item_count, tf.float32) * 0.5 + length
            top_ids = tf.stack([user_id + "_a", user_id + "_b", user_id + "_c"], axis=1)
            return {"score": score, "top_ids": top_ids}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="item_count")])
        def double(self, item_count):
            return {"doubled": item_count * 2}

    m = Ranker()
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.serve, "double": m.double})


def save_scaler(path: Path, factor: float) -> None:
    """One float input ``x`` [-1], one output ``y = x * factor``."""
    import tensorflow as tf

    class Scaler(tf.Module):
        def __init__(self):
            super().__init__()
            self.factor = tf.Variable(factor, dtype=tf.float32)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x * self.factor}

    m = Scaler()
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.serve})


def write_version(base: Path, version: int, saver, *args) -> Path:
    """Write a version the way exporters do: into a temp dir, then an atomic rename."""
    tmp = base / f".tmp-{version}-{os.getpid()}"
    saver(tmp, *args)
    final = base / str(version)
    os.rename(tmp, final)
    return final


# --------------------------------------------------------------------------- servers
from tfrec_pkg.serving.local import LocalServer  # noqa: E402


class ServerProcess(LocalServer):
    """The package's LocalServer, started from the repository root."""

    def __init__(self, args: list[str], log_path: Path):
        super().__init__(args, log_path, cwd=str(ROOT))
