"""``tfrec train`` / ``tfrec evaluate`` / ``tfrec models`` (tfrec_pkg/runs.py): layered settings,
a run directory a user can export and continue, click models from labelled rows, stream models
from a JODIE-format file, IPRec and MuSENet from their papers' raw data, and the real
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


def _jodie_csv(path, events=1500, users=40, items=60, seed=0):
    """JODIE's public format: each user keeps to a few items, so the next one is learnable."""
    rng = np.random.default_rng(seed)
    lines = ["user_id,item_id,timestamp,state_label,comma_separated_list_of_features"]
    for t in range(events):
        u = int(rng.integers(users))
        lines.append(f"{u},{(u * 3 + int(rng.integers(4))) % items},{t * 7.5},0,{rng.random():.3f},{rng.random():.3f}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_stream_model_trains_from_a_jodie_csv_evaluates_and_continues(tmp_path):
    """IMN-Net (the ``stream`` protocol) from a file, as the next-item and click models train:
    the chronological 80/10/10 split, the stream's features and delta statistics in the model,
    the same test row from ``tfrec evaluate`` on the saved run, and a continued run."""
    data, out = _jodie_csv(tmp_path / "wikipedia.csv"), tmp_path / "run"
    sets = ["hidden_dim=8", "user_dim=6", "item_dim=6", "num_samples=8", "windows=20", "epochs=1"]
    row = runs.train_run("imn_net", data, str(out), sets=sets, verbose=0)
    assert row["protocol"] == "stream" and row["n"] == 150 and 0 <= row["recall@10"] <= row["recall@20"] <= 1
    model = load_trained(str(out))
    assert model.num_features == 2 and model.delta_stats()["user_delta"] != (0.0, 1.0)
    printed = _tfrec("evaluate", str(out)).stdout
    assert f"{row['recall@10']:.6f}" in printed and "stream" in printed
    runs.train_run("imn_net", data, str(out), sets=sets, verbose=0)
    assert len(json.loads((out / "history.json").read_text())) == 2
    refused = _tfrec("train", "--model", "imn_net", "--data", data, "--set", "split=by_user", "--out",
                     str(tmp_path / "other"), check=False)
    assert refused.returncode == 1 and "time order only" in refused.stderr


def _iprec_raw_log(path):
    """The reference's tab-separated impression lines: 30 users x 20 impressions of 39 articles,
    5 media and up to 3 of 30 friends (tests/data/test_iprec_raw.py checks the reader itself)."""
    rng = np.random.default_rng(0)
    lines = [f"{u}\t{1_600_000_000 + 60 * t}\t{int(rng.integers(1, 40))}\t{int(rng.random() < 0.4)}\t"
             f"{int(rng.integers(1, 6))}\t{int(rng.random() < 0.3)}\t{','.join(map(str, rng.choice(np.arange(1, 31), int(rng.integers(0, 4)), replace=False)))}"
             for t in range(20) for u in range(1, 31)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_iprec_trains_from_its_papers_raw_log(tmp_path):
    """``--format iprec_raw`` (the registry's raw formats): the paper's raw log, read at the
    config's input sizes and split 7:1:2 per user in time order by the reader."""
    path = _iprec_raw_log(tmp_path / "3day.csv")
    sets = ["item_dim=8", "max_friends=4", "max_history=5", "max_neighbours=3", "max_objects=6", "epochs=1"]
    row = runs.train_run("iprec", str(path), str(tmp_path / "run"), data_format="iprec_raw", sets=sets, verbose=0)
    assert row["protocol"] == "pointwise" and 0 < row["auc"] < 1
    model = load_trained(str(tmp_path / "run"))
    assert model.config.max_friends == 4 and model.vocab["article"].size > 30   # articles of the file
    printed = _tfrec("evaluate", str(tmp_path / "run")).stdout
    assert f"{row['auc']:.6f}"[:6] in printed
    refused = _tfrec("train", "--model", "iprec", "--data", str(path), "--format", "iprec_raw", "--set",
                     "split=by_user", "--out", str(tmp_path / "other"), check=False)
    assert refused.returncode == 1 and "splits 'temporal'" in refused.stderr


@pytest.mark.parametrize("name", ["mf", "deep_mf", "neumf", "diffnet"])
def test_iprecs_baselines_train_from_the_same_raw_log(tmp_path, name):
    """Table 2's baselines read the raw log as IPRec does (sizes their configs lack take IPRec's
    defaults), so each is tested on the same impressions: the reader's own test split."""
    from tfrec_pkg.data.datasets.iprec_raw import read_iprec

    path = _iprec_raw_log(tmp_path / "3day.csv")
    row = runs.train_run(name, str(path), str(tmp_path / "run"), data_format="iprec_raw",
                         sets=["item_dim=8", "epochs=1"], verbose=0)
    _, _, test = read_iprec(str(path))
    assert row["protocol"] == "pointwise" and 0 < row["auc"] < 1 and row["n"] == len(test.frame)
    assert load_trained(str(tmp_path / "run")).vocab["article"].size > 30   # articles of the file


def _alimama_directory(path, users=30, ads=20, impressions=600, seed=0):
    """The four public Alimama files (tests/data/test_alimama.py checks the reader on them)."""
    rng = np.random.default_rng(seed)
    path.mkdir()
    start = 1494000000
    raw = ["user,time_stamp,adgroup_id,pid,nonclk,clk"]
    for t in range(impressions):
        click = int(rng.random() < 0.3)
        raw.append(f"{int(rng.integers(1, users + 1))},{start + 60 * t},{int(rng.integers(1, ads + 1))},"
                   f"430548_1007,{1 - click},{click}")
    adverts = ["adgroup_id,cate_id,campaign_id,customer,brand,price"] + [
        f"{a},{a % 4},{a},{a},{100 + a % 7},{1.5 * a}" for a in range(1, ads + 1)]
    profiles = ["userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,occupation,"
                "new_user_class_level "] + [f"{u},0,{u % 5},{1 + u % 2},{u % 6},1,{1 + u % 3},0,2" for u in range(1, users + 1)]
    behaviour = ["user,time_stamp,btag,cate,brand"] + [
        f"{int(rng.integers(1, users + 1))},{start - 60 + 7 * t},pv,{int(rng.integers(4))},{100 + int(rng.integers(7))}"
        for t in range(2000)]
    for name, rows in (("raw_sample.csv", raw), ("ad_feature.csv", adverts), ("user_profile.csv", profiles),
                       ("behavior_log.csv", behaviour)):
        (path / name).write_text("\n".join(rows) + "\n")
    return str(path)


def test_musenet_trains_from_the_alimama_files(tmp_path):
    """``--format alimama``: the paper's public data set, a directory of four files, split in time
    by the reader; the config must name the rows' numeric context, and the error says how."""
    data = _alimama_directory(tmp_path / "alimama")
    refused = _tfrec("train", "--model", "musenet", "--data", data, "--format", "alimama", "--out",
                     str(tmp_path / "refused"), check=False)
    assert refused.returncode == 1 and "--set context_numeric=[price,hour]" in refused.stderr
    sets = ["context_numeric=[price,hour]", "max_history=5", "item_dim=8", "user_dim=4", "epochs=1"]
    row = runs.train_run("musenet", data, str(tmp_path / "run"), data_format="alimama", sets=sets, verbose=0)
    assert row["protocol"] == "pointwise" and 0 < row["auc"] < 1 and row["n"] == 85   # the last of 7 equal parts
    assert load_trained(str(tmp_path / "run")).config.context_numeric == ("price", "hour")


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
