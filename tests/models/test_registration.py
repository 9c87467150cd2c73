"""A new model is one module that registers itself: a throwaway model, written to a temporary
directory and announced as an installed distribution's entry point (the way a user's own
package would), is picked up by ``tfrec demo``, ``tfrec claims``, ``tfrec bench`` and
``tools/export.py`` with no edit to the library."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TOY_MODULE = '''
"""A dot-product click model: sigmoid(e_user . e_item)."""
import dataclasses

import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec_pkg import specs
from tfrec_pkg.claims import Claim
from tfrec_pkg.config import Config
from tfrec_pkg.models import registry
from tfrec_pkg.models.recmodel import RecModel

__all__ = ["ToyModel", "ToyConfig"]


@dataclasses.dataclass
class ToyConfig(Config):
    max_history: int = 4
    dim: int = 8
    learning_rate: float = 1e-2
    batch_size: int = 128
    epochs: int = 4


class ToyModel(RecModel):
    config_class = ToyConfig
    loss_names = ("bce",)

    def __init__(self, config=None, vocab=None, name=None):
        super().__init__(config or ToyConfig(), vocab or {}, name=name or "toy")
        self.users = tf.keras.layers.Embedding(self.vocab["user"].size, self.config.dim)
        self.items = tf.keras.layers.Embedding(self.vocab["item"].size, self.config.dim)
        self.task = tfrs.tasks.Ranking(loss=tf.keras.losses.BinaryCrossentropy(
            from_logits=True, reduction=tf.keras.losses.Reduction.NONE))

    @property
    def feature_spec(self):
        return specs.click_history(self.config.max_history, category_dtype="string")

    def logits(self, idx):
        return tf.reduce_sum(self.users(idx["user_id"]) * self.items(idx["item_id"]), -1)

    def call_indexed(self, features, training=False):
        return tf.sigmoid(self.logits(features))

    def loss_terms(self, features, training=False):
        logits = self.logits(self.map_ids(features))
        return {"bce": self.task(labels=features["label"][:, None], predictions=logits[:, None])}


def planted_data(config, quick=False, seed=0):
    from tfrec_pkg.data.synthetic import ctr_with_history

    return ctr_with_history(num_users=80, num_items=60, impressions_per_user=20,
                            max_history=config.max_history, seed=seed)


def checks(quick=False, seed=0):
    from tfrec_pkg.evaluation import evaluate
    from tfrec_pkg.training import train

    entry = registry.entry("toy")
    train_split, val_split, test_split = entry.data(entry.planted_config(), quick, seed).splits()
    tf.keras.utils.set_random_seed(seed)
    model = ToyModel(entry.planted_config(), train_split.vocab)
    train(model, train_split, val_split, verbose=0, seed=seed)
    auc = float(evaluate(model, test_split, "pointwise")["auc"].iloc[0])
    return [Claim("toy", "test AUC above chance", auc > 0.5, {"auc": auc})]


def bench(model, quick=False):
    return {"toy_parameters": int(sum(v.shape.num_elements() for v in model.trainable_variables))}


registry.register("toy", ToyModel, ToyConfig, planted_data, protocol="pointwise",
                  description="throwaway test model", claims="toy_plugin:checks", bench="toy_plugin:bench")
'''

DRIVER = '''
import sys
import tfrec_pkg
from tfrec_pkg.cli import main

out = sys.argv[1]
assert main(["demo", "--models", "toy", "--quick"]) == 0
assert main(["claims", "toy", "--quick"]) == 0
main(["bench", "toy", "--quick", "--out", out + "/BENCH.md"])
assert main(["export", "--model", "toy", "--train-synthetic", "--epochs", "1", "--out", out + "/toy"]) == 0
'''


def test_plugin_model_is_found_by_demo_claims_bench_and_export(tmp_path):
    (tmp_path / "toy_plugin.py").write_text(TOY_MODULE)
    dist = tmp_path / "toy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tfrec_pkg.models]\ntoy = toy_plugin\n")
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), REPO]), TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "toy: 1 epoch(s) on " in run.stdout                          # demo (one line per model)
    assert "test AUC above chance" in run.stdout              # claims
    bench = (tmp_path / "BENCH.md").read_text()
    assert "tfrec bench toy" in bench and "toy_parameters" in bench    # bench, with the model's hook
    assert (tmp_path / "toy" / "1" / "saved_model.pb").exists()         # tools/export.py
    assert '"model": "toy"' in (tmp_path / "toy" / "1" / "assets.extra" / "manifest.json").read_text()


def test_registered_models_come_from_their_own_modules():
    import tfrec_pkg.models as models

    for name in models.names():
        entry = models.entry(name)
        assert entry.data.__module__.startswith("tfrec_pkg.models."), name
        assert getattr(models, entry.model_class.__name__) is entry.model_class
        assert getattr(models, entry.config_class.__name__) is entry.config_class
    from tfrec_pkg import claims

    assert claims.names() == ["base_model", "imn_net", "iprec", "ipsrec", "musenet", "sum"]
    assert all(callable(models.entry(n).hook("claims")) for n in claims.names())
