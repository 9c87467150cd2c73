"""The pure parts of tools/sum_side_by_side.py (Microsoft Recommenders itself is not installed
here): the data file and vocabularies it writes in their sequential format, and the same file
read as our SUM's training groups."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import tool_modules


@pytest.fixture(scope="module")
def tool():
    return tool_modules.load("sum_side_by_side")


def test_their_file_and_vocabularies(tool, tmp_path):
    path = tool.write_data(str(tmp_path), histories=30, items=100, categories=7)
    lines = [line.rstrip("\n").split("\t") for line in open(path)]
    vocab = {n: pickle.load(open(tmp_path / f"{n}_vocab.pkl", "rb")) for n in ("user", "item", "category")}
    # their data preparation's dictionaries: a default entry at 0, then every id (tables of len(vocab) rows)
    assert vocab["user"]["default_uid"] == 0 and vocab["item"]["default_mid"] == 0 and vocab["category"]["default_cat"] == 0
    for name, size in (("user", 30), ("item", 100), ("category", 7)):
        assert sorted(vocab[name].values()) == list(range(size + 1))
    assert len(lines) == 30
    category = {}
    for w in lines:
        assert len(w) == 8 and w[0] == "1" and w[1] in vocab["user"] and w[2] in vocab["item"]
        items, cats, times = w[5].split(","), w[6].split(","), [float(t) for t in w[7].split(",")]
        assert len(items) == len(cats) == len(times) == tool.L
        assert all(i in vocab["item"] for i in items) and all(c in vocab["category"] for c in cats)
        assert np.all(np.diff(times) > 0) and float(w[4]) > times[-1]   # time order, the target last
        for i, c in [(w[2], w[3]), *zip(items, cats)]:
            assert category.setdefault(i, c) == c                       # an item keeps its category


def test_the_same_file_as_our_training_groups(tool, tmp_path):
    path = tool.write_data(str(tmp_path), histories=12, items=50, categories=5)
    lines = [line.rstrip("\n").split("\t") for line in open(path)]
    frame = tool.read_groups(path, negatives=4)
    g = 5
    assert len(frame) == 12 * g
    for k, w in enumerate(lines):
        group = frame.iloc[k * g:(k + 1) * g]
        assert group["label"].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
        assert group["item_id"].iloc[0] == int(w[2][1:]) and group["category_id"].iloc[0] == int(w[3][1:])
        assert all(h == [int(t[1:]) for t in w[5].split(",")] for h in group["hist_item_ids"])
        assert all(h == [int(t[1:]) for t in w[6].split(",")] for h in group["hist_category_ids"])
        targets = {(int(o[2][1:]), int(o[3][1:])) for j, o in enumerate(lines) if j != k}
        assert set(zip(group["item_id"].iloc[1:], group["category_id"].iloc[1:])) <= targets  # other lines' targets
        assert group["user_id"].nunique() == 1
