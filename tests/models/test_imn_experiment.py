"""IMN-Net in the library's shared recipe: the planted stream's splits
(tfrec_pkg/data/tbatch_windows.py StreamSplit), the ``stream`` protocol of ``evaluate``,
``experiment.run`` and ``tfrec demo`` on the registered ``imn_net``."""
import dataclasses

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg import demo, experiment
from tfrec_pkg.data.synthetic import ctr_with_history
from tfrec_pkg.data.synthetic.resource_limited import resource_limited
from tfrec_pkg.data.tbatch_windows import StreamSplit, WindowedStream
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.models import registry
from tfrec_pkg.models.imn import IMNConfig, IMNNet, evaluate_stream
from tfrec_pkg.training import train

TINY = dict(hidden_dim=6, user_dim=5, item_dim=4, num_samples=6, windows=40, epochs=1)
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "mrr")


@pytest.fixture(scope="module")
def data():
    return resource_limited(num_users=15, num_items=30, num_events=800, seed=1)


@pytest.fixture(scope="module")
def stream(data):
    return WindowedStream.from_stream(data, parts=40)


@pytest.fixture(scope="module")
def trained(stream):
    """A tiny IMN-Net trained one epoch through training.train on the stream splits."""
    splits = stream.splits()
    tf.keras.utils.set_random_seed(0)
    model = IMNNet(IMNConfig(**TINY), splits[0].vocab, **splits[0].model_options)
    train(model, splits[0], splits[1], verbose=0)
    return model, splits


def as_lists(dataset):
    return [{k: v.tolist() for k, v in w.items()} for w in dataset.as_numpy_iterator()]


def test_stream_splits_cover_the_stream_in_time_order(stream):
    train_split, val, test = stream.splits()
    assert [s.name for s in (train_split, val, test)] == ["train", "val", "test"]
    assert [len(s) for s in (train_split, val, test)] == [int(np.sum(stream.split == n)) for n in ("train", "val", "test")]
    assert len(train_split) + len(val) + len(test) == len(stream.split)
    assert (train_split.warm_up, val.warm_up, test.warm_up) == ((), ("train",), ("train", "val"))
    assert train_split.vocab is stream.vocab
    assert train_split.model_options == {"num_features": stream.num_features, "delta_stats": stream.delta_stats,
                                         "time_origin": stream.source.frame["timestamp"].min()}
    assert train_split.rows_per_batch == len(train_split) / len(stream.window_steps(("train",), order="time"))
    # training.train asks for a shuffled training set: the windows stay in time order
    assert as_lists(train_split.dataset(256, shuffle=True, seed=3)) == as_lists(stream.dataset("train"))
    assert as_lists(test.dataset(1024, shuffle=False)) == as_lists(stream.dataset("test", order="time"))
    with pytest.raises(ValueError, match="split name"):
        StreamSplit("validation", stream)


def test_split_bayes_reference_is_the_planted_streams(data, stream):
    test = stream.splits()[2]
    want = data.bayes_optimal("test")
    got = test.bayes_optimal()
    assert got["recall@10"] == pytest.approx(want["hr@10"]) and got["blind_recall@10"] == pytest.approx(want["blind_hr@10"])
    assert got["ndcg@10"] == pytest.approx(want["ndcg@10"]) and got["mrr"] == pytest.approx(want["mrr"])
    bare = dataclasses.replace(stream, source=None)
    with pytest.raises(ValueError, match="true_rank"):
        bare.splits()[2].bayes_optimal()


def test_the_stream_protocol_is_evaluate_stream_with_the_splits_before_as_warm_up(trained):
    model, (_, val, test) = trained
    row = evaluate(model, test, "stream", name="imn").iloc[0]
    want = evaluate_stream(model, test.stream, "test", warm_up=("train", "val"))
    assert row["protocol"] == "stream" and row["model"] == "imn" and row["n"] == len(test) == want["n"]
    for metric in METRICS:
        assert row[metric] == pytest.approx(want[metric])
    val_row = evaluate(model, val, "stream").iloc[0]
    val_want = evaluate_stream(model, val.stream, "val", warm_up=("train",))
    assert [val_row[m] for m in METRICS] == pytest.approx([val_want[m] for m in METRICS])
    # the validation split is not its own warm-up: evaluating it after a pass over itself differs
    leaked = evaluate_stream(model, val.stream, "val", warm_up=("train", "val"))
    assert [val_row[m] for m in METRICS] != pytest.approx([leaked[m] for m in METRICS])


def test_every_rank_metric_is_reset_so_evaluations_repeat(trained):
    model, (_, _, test) = trained
    assert {m.name for m in model.rank_metrics} <= {m.name for m in model.metrics}
    first, second = (evaluate_stream(model, test.stream, "test") for _ in range(2))
    assert first == second


def test_the_stream_protocol_refuses_other_splits_models_and_cut_offs(trained):
    model, (_, _, test) = trained
    pointwise_split = ctr_with_history(num_users=20, max_history=5, seed=0).splits()[2]
    with pytest.raises(ValueError, match="stream split"):
        evaluate(model, pointwise_split, "stream")
    with pytest.raises(ValueError, match="has no"):
        evaluate(object(), test, "stream")
    with pytest.raises(ValueError, match=r"ks \[5\]"):
        evaluate(model, test, "stream", ks=(5, 10))


def test_experiment_run_trains_and_evaluates_the_registered_stream_model():
    result = experiment.run(("imn_net", TINY), quick=True, seed=0, verbose=0)
    assert result.row["protocol"] == "stream" and result.row["model"] == "imn_net"
    assert all(0.0 <= result.row[m] <= 1.0 for m in METRICS)
    assert result.row["recall@10"] <= result.row["recall@20"] and result.row["n"] == len(result.splits[2])
    assert result.model.num_features == result.splits[0].stream.num_features > 0
    assert "val_mrr" in result.history.history  # early stopping monitors it


def test_imn_net_is_registered_for_demo_and_claims_with_variants_as_configs():
    entry = registry.entry("imn_net")
    assert entry.protocol == "stream" and entry.in_demo and entry.claims == "tfrec_pkg.claims.imn_checks:checks"
    assert callable(entry.hook("claims"))
    _, config = experiment.resolve(("imn_net", {"variant": "jodie"}))
    assert config.variant == "jodie" and not config.use_resource and not config.use_nce
    with pytest.raises(ValueError, match="variant"):
        experiment.resolve(("imn_net", {"variant": "jodie++"}))


def test_demo_row_has_the_stream_metrics_and_the_bayes_reference(monkeypatch):
    entry = registry.entry("imn_net")
    monkeypatch.setitem(registry._REGISTRY, "imn_net", dataclasses.replace(entry, planted={**entry.planted, **TINY}))
    tables = demo.run(["imn_net"], quick=True, verbose=0)
    assert list(tables) == ["stream"]   # one table per protocol
    row = tables["stream"].iloc[0]
    assert row["model"] == "imn_net"
    for metric in ("recall@10", "ndcg@10", "mrr"):
        assert 0.0 <= row[metric] <= 1.0 and 0.0 < row[f"bayes_{metric}"] <= 1.0
    assert row["train_examples"] == len(experiment.planted_splits("imn_net", quick=True)[0])


def test_registered_bench_hook_reports_training_update_and_top_k(monkeypatch):
    """``tfrec bench imn_net`` adds the hook's numbers (tfrec_pkg/bench/imn_serving.py): training
    interactions/s with t-batches, update_state latency at batch 1, top_k latency by catalogue
    size; here at its smallest size (a short stream, one catalogue)."""
    from tfrec_pkg.bench import imn_serving

    hook = registry.entry("imn_net").hook("bench")
    assert hook is imn_serving.imn_serving_bench
    monkeypatch.setattr(imn_serving, "QUICK_EVENTS", 1_500)
    monkeypatch.setattr(imn_serving, "TOP_K_ITEMS", (10_000,))
    row = hook(None, quick=True)
    assert "model" not in row and row["interactions"] == 1_500
    for variant in ("imn_net", "jodie"):
        assert row[f"{variant}_train_interactions"] > 0 and row[f"{variant}_train_interactions_per_s"] > 0
    for key in ("update_state_b1_p50_ms", "update_state_b1_p99_ms", "top10_10k_items_b1_p50_ms",
                "top10_10k_items_b1_p99_ms"):
        assert 0 < row[key] < 10_000, key
    assert row["update_state_b1_p50_ms"] <= row["update_state_b1_p99_ms"]
