"""MuSENet end to end on small planted scenario data: training through the library's trainer
with every loss term shown, the prototypes moving, the Table 3 ablations as configs, raw-id
serving without the repeat label (OOV ids, no Gumbel noise at inference), persistence and a
SavedModel in a fresh process. The equations and the wiring are pinned by
tests/models/test_musenet_reference.py and tests/layers/test_scenario.py."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg import export
from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.synthetic import scenarios
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.models import registry
from tfrec_pkg.models.musenet import MuSENet, MuSENetConfig, planted_data
from tfrec_pkg.training import train

L = 8


@pytest.fixture(scope="module")
def splits():
    return scenarios(num_users=150, num_items=120, num_categories=8, impressions_per_user=20, max_history=L,
                     seed=2).splits()


def _config(**changes):
    return MuSENetConfig(max_history=L, user_dim=4, item_dim=6, category_dim=4, profile_dim=2, attention_units=(8, 4),
                         head_units=(8,), epochs=2, batch_size=128, learning_rate=3e-3).replace(**changes)


def _serving_batch(model, split, n=6):
    spec = [s for s in model.feature_spec if s.name != "repeat_label"]
    arrays = {k: np.array(v) for k, v in frame_to_arrays(split.frame.head(n), spec, label=None).items()}
    arrays["user_id"][0], arrays["item_id"][1] = 987654321, 123   # unknown ids -> OOV
    return {k: tf.constant(v) for k, v in arrays.items()}


def test_trains_with_every_loss_term_and_moves_the_prototypes(splits):
    train_split, val, test = splits
    tf.keras.utils.set_random_seed(0)
    model = MuSENet(_config(), train_split.vocab)
    model(model.example_batch())
    before = model.scenario.prototypes.numpy().copy()
    history = train(model, train_split, val, verbose=0)
    for key in ("bce", "kl", "repeat", "clustering", "auc", "val_auc", "val_bce"):
        assert key in history.history, key
    # the click loss falls; the total need not on 2 epochs (the prototypes move under Eq. (14),
    # and the KL term rises while the assignments first sharpen)
    assert history.history["bce"][-1] < history.history["bce"][0]
    assert not np.allclose(model.scenario.prototypes.numpy(), before)
    assert all(v is not model.scenario.prototypes for v in model.trainable_variables)
    row = evaluate(model, test, "pointwise", name="musenet").iloc[0]
    assert 0.5 < row["auc"] <= 1.0


@pytest.mark.parametrize("changes", [
    {"learn_scenarios": False, "use_repeat": False, "num_scenarios": 1},   # w/o M1&M2
    {"learn_scenarios": False, "num_scenarios": 3},                        # on predefined scenarios
    {"version": "hard", "use_repeat": False, "straight_through": False}])  # hard w/o M2, on Eq. (7)'s
    # relaxed sample (soft and straight-through hard with M2 train in the test above and in
    # test_musenet_reference.py)
def test_table3_rows_fit(splits, changes):
    tf.keras.utils.set_random_seed(0)
    model = MuSENet(_config(epochs=1, **changes), splits[0].vocab)
    history = train(model, splits[0], verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    if not model.config.use_repeat:
        assert history.history["repeat"] == [0.0] and "intention_0_0" not in str(model.trainable_variables)
    if not model.config.learn_scenarios:
        assert history.history["kl"] == [0.0]


def test_serving_without_repeat_label_and_no_noise_at_inference(splits):
    model = MuSENet(_config(version="hard"), splits[0].vocab)
    batch = _serving_batch(model, splits[2])
    first, second = model.explain(batch), model.explain(batch)
    for key in ("score", "scenario_probs", "repeat_prob"):
        np.testing.assert_array_equal(first[key].numpy(), second[key].numpy())   # deterministic
    assert np.isfinite(first["score"].numpy()).all() and first["scenario_probs"].shape == (6, 4)
    sig = export.serving_signatures(model)["serving_default"]
    assert "repeat_label" not in sig.structured_input_signature[1]


@pytest.mark.parametrize("version", ["soft", "hard"])
def test_saved_model_parity_in_a_fresh_process(splits, tmp_path, version):
    model = MuSENet(_config(version=version), splits[0].vocab)   # untrained: parity needs no training
    batch = _serving_batch(model, splits[2])
    path = export.save(model, str(tmp_path / "musenet"))
    np.savez(tmp_path / "in.npz", **{k: v.numpy() for k, v in batch.items()})
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(path)!r})
        x = np.load({str(tmp_path / 'in.npz')!r})
        out = m.signatures["serving_default"](**{{k: tf.constant(x[k]) for k in x.files}})
        np.savez({str(tmp_path / 'out.npz')!r}, **{{k: v.numpy() for k, v in out.items()}})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    out, want = np.load(tmp_path / "out.npz"), model.explain(batch)
    assert sorted(out.files) == ["repeat_prob", "scenario_probs", "score"]
    for key in out.files:
        np.testing.assert_allclose(out[key], want[key].numpy(), atol=1e-5)


def test_registered_with_its_claim_checks():
    entry = registry.entry("musenet")
    assert entry.model_class is MuSENet and entry.data is planted_data and callable(entry.hook("claims"))


def test_save_trained_round_trip_keeps_the_prototypes(splits, tmp_path):
    model = MuSENet(_config(), splits[0].vocab)
    model(model.example_batch())
    model.scenario.prototypes.assign(np.random.default_rng(0).normal(size=model.scenario.prototypes.shape))
    loaded = MuSENet.load_trained(model.save_trained(str(tmp_path / "m")))
    np.testing.assert_allclose(loaded.scenario.prototypes.numpy(), model.scenario.prototypes.numpy())
    batch = _serving_batch(model, splits[2])
    np.testing.assert_allclose(loaded(batch).numpy(), model(batch).numpy(), atol=1e-6)


def test_config_checks():
    with pytest.raises(ValueError, match="version"):
        MuSENetConfig(version="medium")
    with pytest.raises(ValueError, match="num_scenarios"):
        MuSENetConfig(num_scenarios=0)


def test_reads_the_alimama_rows(tmp_path):
    from tests.data.test_alimama import write
    from tfrec_pkg.data.datasets.alimama import CONTEXT_NUMERIC, read_alimama

    data = read_alimama(write(tmp_path), max_history=L, validation=False)
    train_split, _, test = data.splits()
    model = MuSENet(_config(context_numeric=CONTEXT_NUMERIC, num_scenarios=3), train_split.vocab)
    assert [s.name for s in model.feature_spec] == [s.name for s in data.specs]
    batch = next(iter(train_split.dataset(8, shuffle=False)))
    terms = model.loss_terms(batch, training=True)
    assert all(np.isfinite(tf.reduce_mean(v).numpy()) for v in terms.values())
    assert np.isfinite(model.explain({k: v for k, v in batch.items() if k not in ("label", "repeat_label")})["score"]).all()


def test_onnx_and_rest_serve_the_same_outputs(splits, tmp_path):
    """serving_indices through ONNX (to_onnx checks onnxruntime against the SavedModel before the
    file appears); the local REST server answers serving_default in row and columnar form."""
    import onnxruntime as ort
    import pandas as pd

    from tfrec_pkg.serving.client import TFServingClient
    from tests.serving.serving_test_utils import ServerProcess

    model = MuSENet(_config(), splits[0].vocab)
    base = tmp_path / "musenet"
    path = export.save(model, str(base))
    onnx_path = export.to_onnx(path, str(tmp_path / "musenet.onnx"))
    assert sorted(o.name.split(":")[0] for o in ort.InferenceSession(onnx_path).get_outputs()) == [
        "repeat_prob", "scenario_probs", "score"]
    batch = _serving_batch(model, splits[2], n=4)
    want = model.explain(batch)
    arrays = {k: v.numpy() for k, v in batch.items()}
    server = ServerProcess(["--model-name", "musenet", "--model-base-path", str(base)], tmp_path / "server.log")
    try:
        server.wait_ready("/v1/models/musenet")
        client = TFServingClient(server.url, "musenet")
        rows = pd.DataFrame({k: list(v) if v.ndim > 1 else v for k, v in arrays.items()})
        for answer in (client.predict(instances=rows), client.predict(inputs=arrays)):
            for key in ("score", "scenario_probs", "repeat_prob"):
                np.testing.assert_allclose(answer[key], want[key].numpy(), atol=1e-5)
    finally:
        server.stop()


def test_registered_bench_hook_reports_training_and_scoring_against_its_rivals():
    """``tfrec bench musenet`` adds the hook's numbers (tfrec_pkg/bench/musenet_scoring.py):
    training examples/s and the latency of scoring 100 candidates for MuSENet, BaseModel and
    DCN-V2 in one run, and MuSENet's ratios to each."""
    from tfrec_pkg.bench import musenet_scoring

    entry = registry.entry("musenet")
    hook = entry.hook("bench")
    assert hook is musenet_scoring.scoring_bench
    config = entry.planted_config()
    model = MuSENet(config, entry.data(config, quick=True, seed=0).splits()[0].vocab)
    row = hook(model, quick=True)
    for name in ("musenet",) + musenet_scoring.RIVALS:
        assert row[f"{name}_train_examples_per_s"] > 0
        assert 0 < row[f"{name}_score_100_p50_ms"] <= row[f"{name}_score_100_p99_ms"] < 10_000
    for rival in musenet_scoring.RIVALS:
        assert row[f"musenet_over_{rival}_train_examples_per_s"] == pytest.approx(
            row["musenet_train_examples_per_s"] / row[f"{rival}_train_examples_per_s"], abs=1e-3)
        assert row[f"musenet_over_{rival}_score_100_p50"] == pytest.approx(
            row["musenet_score_100_p50_ms"] / row[f"{rival}_score_100_p50_ms"], abs=0.01)
