"""load_interactions and Interactions.splits (tfrec_pkg/data/loading.py): formats behind one entry
point, the three splits and both training forms checked by hand on a tiny log, and the real
S3-Rec Amazon Toys files when present."""
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfrec_pkg import specs
from tfrec_pkg.data import Interactions, load_interactions
from tfrec_pkg.data.loading import infer_format
from tfrec_pkg.data.sequences import split_by_user

U = specs.UNKNOWN_PROVIDER
#            user item  time provider
EVENTS = [(1, 10, 1, 100), (1, 11, 2, 101), (1, 12, 3, U), (1, 13, 4, 100),
          (2, 11, 2, 101), (2, 12, 5, U),
          (3, 12, 6, U), (3, 13, 7, 100), (3, 14, 8, 102)]
LOG = pd.DataFrame(EVENTS, columns=["user_id", "item_id", "timestamp", "provider_id"])


def rows(split, *cols):
    return [tuple(list(v) if isinstance(v, np.ndarray) else v for v in r)
            for r in split.frame[list(cols)].itertuples(index=False)]


def test_load_frame_and_items():
    data = load_interactions(LOG.sample(frac=1, random_state=0), columns={"provider_id": "provider_id"})
    assert isinstance(data, Interactions)
    assert (data.num_users, data.num_items, len(data.frame)) == (3, 5, 9)
    assert data.items.values.tolist() == [[10, 100], [11, 101], [12, U], [13, 100], [14, 102]]
    assert "9 interactions, 3 users, 5 items, 3 providers + unknown for 1 items" in repr(data)


def test_leave_one_out():
    train, val, test = load_interactions(LOG).splits("leave_one_out", max_history=2)
    cols = ("user_id", "hist_item_ids", "hist_provider_ids", "item_id", "provider_id", "timestamp")
    assert rows(train, *cols) == [(1, [10], [100], 11, 101, 2), (2, [11], [101], 12, U, 5)]  # user 2: < 3 events
    assert rows(val, *cols) == [(1, [10, 11], [100, 101], 12, U, 3), (3, [12], [U], 13, 100, 7)]
    assert rows(test, *cols) == [(1, [11, 12], [101, U], 13, 100, 4), (3, [12, 13], [U, 100], 14, 102, 8)]
    assert train.specs == specs.next_item(2) and test.specs == specs.next_item(2)
    assert (train.frame["label"] == 1).all()
    assert set(train.vocab["item"].ids) == {10, 11, 12}  # fitted on the training rows only
    assert set(train.vocab["provider"].ids) == {100, 101, U}
    assert test.items.values.tolist() == [[10, 100], [11, 101], [12, U], [13, 100], [14, 102]]
    assert val.vocab is train.vocab


def test_temporal():
    train, val, test = load_interactions(LOG).splits("temporal", max_history=2, ratios=(0.5, 0.25, 0.25))
    # cut at the 4th and 7th sorted times (4 and 7): train t < 4, val 4 <= t < 7, test t >= 7
    assert rows(train, "user_id", "hist_item_ids", "item_id") == [(1, [10], 11), (1, [10, 11], 12)]
    assert rows(val, "user_id", "hist_item_ids", "item_id") == [(1, [11, 12], 13), (2, [11], 12)]  # user 3's first: no row
    assert rows(test, "user_id", "hist_item_ids", "item_id") == [(3, [12], 13), (3, [12, 13], 14)]


def test_by_user():
    data = load_interactions(LOG)
    parts = data.splits("by_user", max_history=3, ratios=(0.34, 0.33, 0.33), seed=1)
    expected = split_by_user(LOG, "user_id", (0.34, 0.33, 0.33), seed=1)
    for split, events in zip(parts, expected):
        users = set(events["user_id"])
        assert set(split.frame["user_id"]) <= users
        assert len(split) == sum(len(events[events.user_id == u]) - 1 for u in users)
    assert sum(len(s) for s in parts) == 6


def test_all_positions():
    log = pd.concat([LOG, pd.DataFrame({"user_id": 5, "item_id": range(50, 56), "timestamp": range(1, 7),
                                        "provider_id": range(500, 506)})], ignore_index=True)
    train, val, test = load_interactions(log).splits(max_history=2, training_positions="all")
    assert train.specs == specs.next_item_all_positions(2) and val.specs == specs.next_item(2)
    got = rows(train, "user_id", "hist_item_ids", "target_item_ids", "hist_provider_ids", "target_provider_ids")
    assert got == [(1, [10], [11], [100], [101]),
                   (2, [11], [12], [101], [U]),  # user 3 has one training event: no row
                   (5, [50], [51], [500], [501]),  # user 5 trains on 50..53: windows cut from the end
                   (5, [51, 52], [52, 53], [501, 502], [502, 503])]
    targets = [t for r in got if r[0] == 5 for t in r[2]]
    assert targets == [51, 52, 53]  # every training target once
    assert rows(test, "user_id", "hist_item_ids", "item_id")[-1] == (5, [53, 54], 55)
    assert set(train.vocab["item"].ids) == {10, 11, 12, 50, 51, 52, 53}
    assert set(train.vocab["provider"].ids) == {100, 101, U, 500, 501, 502, 503}
    from tfrec_pkg.data.pipelines import frame_to_arrays  # padded, left-aligned
    arrays = frame_to_arrays(train.frame, train.specs, "label")
    assert arrays["hist_item_ids"].tolist() == [[10, -1], [11, -1], [50, -1], [51, 52]]
    assert arrays["target_provider_ids"].tolist() == [[101, -1], [U, -1], [501, -1], [502, 503]]
    arrays = frame_to_arrays(test.frame, test.specs, "label")
    assert arrays["hist_item_ids"].tolist()[0] == [11, 12]


def test_formats_and_inference(tmp_path):
    seq = tmp_path / "seq.txt"
    seq.write_text("1 10 11 12\n2 11 13\n")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1 10\n1 11\n2 11\n")
    LOG.to_csv(tmp_path / "log.csv", index=False)
    (tmp_path / "rb").mkdir()
    (tmp_path / "rb" / "rb.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    assert [infer_format(p) for p in (LOG, seq, pairs, tmp_path / "log.csv", tmp_path / "rb",
                                      tmp_path / "rb" / "rb.inter")] == \
        ["log", "sequences", "pairs", "log", "recbole", "recbole"]
    assert load_interactions(seq).num_items == 4 and load_interactions(pairs).num_users == 2
    assert len(load_interactions(tmp_path / "log.csv").frame) == 9
    for bad in ((seq, pairs), tmp_path / "x.json", tmp_path):
        with pytest.raises(ValueError, match="pass format="):
            infer_format(bad)
    with pytest.raises(ValueError, match="expected one of"):
        load_interactions(seq, format="csv")
    # a public reader behind the same entry point, two files as a tuple; unmapped -> unknown
    inter, mapping = tmp_path / "inter.csv", tmp_path / "map.csv"
    inter.write_text("user_id,item_id,timestamp\n1,10,1\n1,11,2\n2,10,3\n")
    mapping.write_text("item_id,provider_id\n10,7\n")
    with pytest.warns(UserWarning, match="1 item\\(s\\) without a provider in the mapping .* 1 of 3"):
        data = load_interactions((inter, mapping), format="with_mapping")
    assert data.items.values.tolist() == [[10, 7], [11, U]]
    with pytest.raises(ValueError, match="two files"):
        load_interactions(inter, format="with_mapping")


def shared_data() -> Path | None:
    here = Path(__file__).resolve().parents[2]
    options = [os.environ.get("TFREC_SHARED_DATA"), here / ".." / "shared" / "data", "/work/shared/data"]
    for folder in options:
        if folder and (Path(folder) / "amazon_toys" / "Toys_and_Games.txt").is_file():
            return Path(folder) / "amazon_toys"
    return None


def test_amazon_toys_real_files():
    folder = shared_data()
    if folder is None:
        pytest.skip("Amazon Toys files absent: set TFREC_SHARED_DATA to the folder holding amazon_toys/")
    data = load_interactions(folder / "Toys_and_Games.txt",
                             item_attributes=folder / "Toys_and_Games_item2attributes.json")
    assert (data.num_users, data.num_items, len(data.frame)) == (19_412, 11_924, 167_597)
    providers = data.items["provider_id"]
    assert providers[providers != U].nunique() == 658 and (providers == U).sum() == 1
    train, val, test = data.splits("leave_one_out", max_history=50)
    assert len(test) == len(val) == 19_412
    assert len(train) == 167_597 - 3 * 19_412  # every user has >= 5 items
