"""``tfrec train`` / ``tfrec evaluate`` / ``tfrec models`` (tfrec_pkg/runs.py): layered settings,
a run directory a user can export and continue, click models from labelled rows, and the real
Amazon Toys files: loaders + a short training + the full-ranking protocol checked against an
independent numpy computation on a 2,000-user slice."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg import runs
from tfrec_pkg.data.pipelines import write_csv
from tfrec_pkg.models import load_trained, registry

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TFREC_SHARED_DATA", ROOT.parent / "shared" / "data"))
TOYS = SHARED / "amazon_toys" / "Toys_and_Games.txt"
SMALL = ["max_history=10", "item_dim=16", "ffn_dim=32", "num_layers=1", "epochs=2", "batch_size=64"]


def _tfrec(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "tfrec_pkg.cli", *args], capture_output=True, text=True,
                            cwd=ROOT, timeout=600)
    if check and result.returncode:
        raise AssertionError(f"tfrec {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _sequences_file(path, users=120, seed=0):
    """S3-Rec lines: each user walks a short chain of items, so the next item is learnable."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for u in range(1, users + 1):
            start, n = int(rng.integers(1, 40)), int(rng.integers(5, 14))
            f.write(" ".join(map(str, [u, *((start + np.arange(n)) % 40 + 1)])) + "\n")
    return str(path)


def test_settings_are_layered_and_checked(tmp_path):
    entry = registry.entry("sasrec")
    config_file = tmp_path / "sasrec.yaml"
    config_file.write_text("dropout: 0.3\nitem_dim: 32\nsplit: temporal\n")
    config, run = runs.resolve(entry, runs.settings(str(config_file), ["dropout=0.1", "learning_rate=1e-3"]))
    assert (config.dropout, config.item_dim, config.learning_rate, config.max_history) == (0.1, 32, 1e-3, 50)
    assert run["split"] == "temporal" and run["seed"] == 0
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['dropuot'\].*valid keys: .*'dropout'"):
        runs.resolve(entry, runs.settings(sets=["dropuot=0.1"]))
    with pytest.raises(ValueError, match="item_dim = 'big' is a str; expected a int"):
        runs.resolve(entry, runs.settings(sets=["item_dim=big"]))
    with pytest.raises(ValueError, match="training_positions"):
        runs.resolve(entry, runs.settings(sets=["training_positions=every"]))
    with pytest.raises(ValueError, match="expected key=value"):
        runs.settings(sets=["dropout"])


def test_train_evaluate_continue_and_export(tmp_path):
    data = _sequences_file(tmp_path / "chains.txt")
    out = tmp_path / "run"
    sets = [a for s in [*SMALL, "training_positions=all"] for a in ("--set", s)]
    _tfrec("train", "--model", "sasrec", "--data", data, "--out", str(out), *sets)
    for name in ("config.json", "model.json", "history.json", "results.json", "logs"):
        assert (out / name).exists(), name
    resolved = json.loads((out / "config.json").read_text())
    assert resolved["config"]["training_positions"] == "all" and resolved["split"] is None
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 2 and history[-1]["val_mrr_at_10"] > 0 and history[0]["rows_per_second"] > 0
    printed = _tfrec("evaluate", str(out)).stdout
    assert "hr@10" in printed and "ndcg@20" in printed
    model = load_trained(str(out))
    assert model.config.training_positions == "all"
    steps = int(load_trained(str(out), with_optimizer=True).optimizer.iterations)
    _tfrec("train", "--model", "sasrec", "--data", data, "--out", str(out), *sets, "--set", "epochs=1")
    assert len(json.loads((out / "history.json").read_text())) == 3
    assert int(load_trained(str(out), with_optimizer=True).optimizer.iterations) > steps  # Adam went on
    refused = _tfrec("train", "--model", "sasrec", "--data", data, "--out", str(out), *sets, "--set", "dropout=0.1",
                     check=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "dropout" in refused.stderr
    exported = subprocess.run([sys.executable, "tools/export.py", "--model", "sasrec", "--weights", str(out),
                               "--out", str(tmp_path / "saved")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert exported.returncode == 0, exported.stderr
    assert list((tmp_path / "saved").iterdir())


def test_bad_data_is_one_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 10 11 12\n2 10 x 12\n")
    result = _tfrec("train", "--model", "sasrec", "--data", str(bad), "--format", "sequences", "--out",
                    str(tmp_path / "run"), check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "bad.txt" in result.stderr and "line 2" in result.stderr and "column 3" in result.stderr


def test_models_lists_every_registered_model():
    printed = _tfrec("models").stdout
    for name in registry.names():
        assert f"\n{name} (" in "\n" + printed
    assert "sasrec (full_ranking)" in printed and "inputs: hist_item_ids item_id" in printed


def test_click_model_trains_from_labelled_rows(tmp_path):
    from tfrec_pkg import experiment

    frame = experiment.planted_splits("base_model", quick=True)[0].frame.head(3000)
    path = tmp_path / "clicks.csv"
    inputs = runs.inputs_of(registry.entry("base_model"), registry.entry("base_model").config_class())
    write_csv(frame[[s.name for s in inputs] + ["label"]], str(path), inputs)
    row = runs.train_run("base_model", str(path), str(tmp_path / "run"), sets=["epochs=1"], verbose=0)
    assert 0 < row["auc"] <= 1 and row["protocol"] == "pointwise"


@pytest.mark.skipif(not TOYS.exists(), reason=f"real data absent: {TOYS} (../shared/data) not found")
def test_toys_slice_full_ranking_matches_an_independent_computation(tmp_path):
    lines = TOYS.read_text().splitlines()[:2000]
    path = tmp_path / "toys_2000.txt"
    path.write_text("\n".join(lines) + "\n")
    sets = ["max_history=20", "item_dim=32", "ffn_dim=64", "epochs=2", "training_positions=all"]
    row = runs.train_run("sasrec", str(path), str(tmp_path / "run"), sets=sets, verbose=0)
    model = load_trained(str(tmp_path / "run"))
    # the protocol, from the raw lines: last item = test target, history = the items before it
    seqs = [list(map(int, line.split()))[1:] for line in lines]
    hist = np.full((len(seqs), 20), -1, np.int64)
    for r, s in enumerate(seqs):
        h = s[:-1][-20:]
        hist[r, :len(h)] = h
    target = np.array([s[-1] for s in seqs])
    u, _ = model.user_vectors(model.map_ids({"hist_item_ids": tf.constant(hist)}))
    table = model.item_embedding.embeddings.numpy()[2:]           # known items only
    index = {int(i): k for k, i in enumerate(model.vocab["item"].ids)}
    scores = u.numpy() @ table.T
    hr, ndcg = {k: 0.0 for k in (5, 10, 20)}, {k: 0.0 for k in (5, 10, 20)}
    for r, t in enumerate(target):
        if t not in index:   # never seen in training: a miss
            continue
        rank = int((scores[r] >= scores[r, index[t]]).sum())   # ties against the target
        for k in hr:
            hr[k] += rank <= k
            ndcg[k] += (rank <= k) / np.log2(rank + 1)
    for k in hr:
        assert row[f"hr@{k}"] == pytest.approx(hr[k] / len(seqs), abs=1e-9)
        assert row[f"ndcg@{k}"] == pytest.approx(ndcg[k] / len(seqs), rel=1e-5)
    assert row["n"] == 2000 and row["hr@20"] > 0.01   # above a random ranking's 20 / 11,924
