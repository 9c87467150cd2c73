"""strategy_from_env's reading of TF_CONFIG (every malformed field named), the strategies it
picks, and the per-worker input shares (rows of a frame, whole files)."""
import json

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401  (the Keras 2 API before TensorFlow)
import tensorflow as tf

from tfrec_pkg import distributed
from tfrec_pkg.data import pipelines
from tfrec_pkg.features import FeatureSpec

WORKERS = {"worker": ["localhost:2222", "localhost:2223"]}


def _config(value):
    return distributed.cluster_config({"TF_CONFIG": value if isinstance(value, str) else json.dumps(value)})


def test_no_tf_config_is_one_process():
    assert distributed.cluster_config({}) is None
    assert distributed.cluster_config({"TF_CONFIG": "  "}) is None
    strategy = distributed.strategy_from_env()
    assert strategy is tf.distribute.get_strategy()
    assert not distributed.is_multi_worker(strategy) and distributed.is_chief(strategy)


def test_a_well_formed_config_is_returned():
    config = _config({"cluster": {**WORKERS, "chief": ["localhost:2221"], "ps": ["localhost:2224"]},
                      "task": {"type": "ps", "index": 0}})
    assert config["task"] == {"type": "ps", "index": 0}


@pytest.mark.parametrize("value, named", [
    ("{not json", "not valid JSON"),
    ([1, 2], "must be a JSON object"),
    ({"task": {"type": "worker", "index": 0}}, 'TF_CONFIG["cluster"]'),
    ({"cluster": {"workers": ["localhost:1"]}, "task": {"type": "worker"}}, "unknown task type 'workers'"),
    ({"cluster": {"worker": "localhost:1"}, "task": {"type": "worker"}}, 'TF_CONFIG["cluster"]["worker"]'),
    ({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker"}}, '"host:port"'),
    ({"cluster": {"worker": ["localhost:x1"]}, "task": {"type": "worker"}}, '"host:port"'),
    ({"cluster": {"ps": ["localhost:1"], "worker": ["localhost:2"]}, "task": {"type": "worker"}}, 'no "chief"'),
    ({"cluster": {"chief": ["localhost:1", "localhost:2"]}, "task": {"type": "chief"}}, "one address"),
    ({"cluster": WORKERS}, 'TF_CONFIG["task"]'),
    ({"cluster": WORKERS, "task": {"type": "chief", "index": 0}}, 'TF_CONFIG["task"]["type"]'),
    ({"cluster": WORKERS, "task": {"type": "worker", "index": 2}}, 'TF_CONFIG["task"]["index"] = 2'),
    ({"cluster": WORKERS, "task": {"type": "worker", "index": "1"}}, 'TF_CONFIG["task"]["index"]'),
])
def test_a_malformed_config_names_the_field(value, named):
    with pytest.raises(ValueError) as info:
        _config(value)
    assert named in str(info.value)


def test_per_replica_batch_divides_the_global_batch():
    strategy = tf.distribute.get_strategy()
    assert distributed.per_replica_batch(64, strategy) == 64

    class Two:
        num_replicas_in_sync = 2

    assert distributed.per_replica_batch(64, Two()) == 32
    with pytest.raises(ValueError, match="multiple of the 2 replicas"):
        distributed.per_replica_batch(63, Two())


SPECS = [FeatureSpec("item_id", dtype="int64")]


def _ids(ds):
    return np.concatenate([b["item_id"].numpy() for b in ds])


def test_frame_shares_partition_the_shuffled_rows_into_the_global_batches():
    frame = pd.DataFrame({"item_id": np.arange(40), "label": np.zeros(40)})
    whole = list(pipelines.from_frame(frame, SPECS, 8, shuffle=True, seed=3))
    shares = [list(pipelines.from_frame(frame, SPECS, 4, shuffle=True, seed=3, shard=(2, i))) for i in range(2)]
    assert [len(s) for s in shares] == [5, 5]
    for k, batch in enumerate(whole):  # global batch k = batch k of each share, together
        together = np.concatenate([shares[0][k]["item_id"].numpy(), shares[1][k]["item_id"].numpy()])
        assert sorted(together) == sorted(batch["item_id"].numpy())
    assert sorted(np.concatenate([_ids(s) for s in shares])) == list(range(40))


def test_bucketed_shares_cover_every_row_once():
    hist = [[1, 2, 3, 0, 0, 0]] * 10 + [[1, 2, 3, 4, 5, 6]] * 10
    frame = pd.DataFrame({"hist_item_ids": hist, "item_id": np.arange(20), "label": np.zeros(20)})
    specs = [FeatureSpec("hist_item_ids", dtype="int64", shape=(6,), padding=0), *SPECS]
    rows = [_ids(pipelines.from_frame(frame, specs, 2, shuffle=True, seed=0, length_buckets=(3,), shard=(2, i)))
            for i in range(2)]
    assert sorted(np.concatenate(rows)) == list(range(20)) and not set(rows[0]) & set(rows[1])


def test_file_shares_are_whole_files(tmp_path):
    paths = []
    for f in range(3):
        path = tmp_path / f"part{f}.csv"
        pd.DataFrame({"item_id": np.arange(f * 10, f * 10 + 10), "label": np.zeros(10)}).to_csv(path, index=False)
        paths.append(str(path))
    first = _ids(pipelines.from_files(paths, SPECS, 4, shard=(2, 0)))
    second = _ids(pipelines.from_files(paths, SPECS, 4, shard=(2, 1)))
    assert sorted(first) == list(range(10)) + list(range(20, 30)) and sorted(second) == list(range(10, 20))
    with pytest.raises(ValueError, match="3 input file.* for 4 workers"):
        pipelines.from_files(paths, SPECS, 4, shard=(4, 0))
    with pytest.raises(ValueError, match="shard must be"):
        pipelines.from_files(paths, SPECS, 4, shard=(2, 2))
