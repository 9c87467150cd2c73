"""Readers of the public IPSRec data sets (tfrec_pkg/data/datasets/providers_public.py): small
files in each exact public format (with malformed lines), checked against plain Python."""
import warnings

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401

from tfrec_pkg.data.datasets.providers_public import (COLUMNS, read_tmall_ijcai16, read_twitch,
                                                      read_wechat, read_with_mapping, to_sequences)
from tfrec_pkg import specs

TMALL_HEADER = "use_ID,sel_ID,ite_ID,cat_ID,act_ID,time"
ACTION_HEADER = ("userid,feedid,date_,device,read_comment,comment,like,play,stay,click_avatar,"
                 "forward,follow,favorite")
FEED_HEADER = ("feedid,authorid,videoplayseconds,description,ocr,asr,bgm_song_id,bgm_singer_id,"
               "manual_keyword_list,machine_keyword_list,manual_tag_list,machine_tag_list,"
               "description_char,ocr_char,asr_char")


def seller(item: int) -> int:
    return 7000 + item % 13


def call(fn, *args, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kw)
    return out, [str(w.message) for w in caught]


def write(path, header, lines, malformed=()):
    lines = list(lines)
    for k, line in enumerate(malformed):  # spread through the file
        lines.insert(min(len(lines), 1 + 11 * k), line)
    path.write_text("\n".join(([header] if header else []) + lines) + "\n")


def reference(rows):
    """Plain Python: [(user, item, provider, time)] sorted by user, time, file order."""
    keyed = sorted(enumerate(rows), key=lambda kv: (kv[1][0], kv[1][3], kv[0]))
    return pd.DataFrame([r for _, r in keyed], columns=COLUMNS).astype(np.int64)


# ----------------------------------------------------------------------------- Tmall


def tmall_rows(seed=0):
    """(user, seller, item, category, act, yyyymmdd) in file order; dates tie often."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(120):
        item = int(rng.integers(100, 160))
        rows.append((int(rng.integers(1, 9)), seller(item), item, 50 + item % 4,
                     int(rng.random() < 0.6), 20150701 + int(rng.integers(0, 5))))
    return rows


TMALL_BAD = ["1,7001,101,50,1", "x,7001,101,50,1,20150701", "1,7001,,50,1,20150701",
             "1,7001,101,50,2,20150701", "1,7001,101,50,1,2015-07-01"]


def test_tmall_purchases_and_sellers(tmp_path):
    rows = tmall_rows()
    path = tmp_path / "ijcai2016_taobao.csv"
    write(path, TMALL_HEADER, [",".join(map(str, r)) for r in rows], TMALL_BAD)
    frame, msgs = call(read_tmall_ijcai16, path)
    assert list(frame.columns) == COLUMNS and all(frame[c].dtype == np.int64 for c in COLUMNS)
    expected = reference([(u, i, s, t) for u, s, i, _, a, t in rows if a == 1])
    pd.testing.assert_frame_equal(frame, expected)
    assert (frame["provider_id"] == frame["item_id"].map(seller)).all()  # seller = provider
    assert len(msgs) == 1 and f"skipped {len(TMALL_BAD)} malformed line(s) of {len(rows) + 5}" in msgs[0]
    for reason, n in (("wrong field count", 1), ("non-integer value", 2), ("missing field", 1),
                      ("unknown value", 1)):
        assert f"{reason}: {n} " in msgs[0]
    clicks_too, _ = call(read_tmall_ijcai16, path, purchases_only=False)
    pd.testing.assert_frame_equal(clicks_too, reference([(u, i, s, t) for u, s, i, _, _, t in rows]))


def test_tmall_chunking_invariance(tmp_path):
    rows = tmall_rows(1)
    path = tmp_path / "ijcai2016_taobao.csv"
    write(path, TMALL_HEADER, [",".join(map(str, r)) for r in rows], TMALL_BAD)
    one, m1 = call(read_tmall_ijcai16, path, purchases_only=False)
    many, m2 = call(read_tmall_ijcai16, path, purchases_only=False, chunk_rows=7)
    pd.testing.assert_frame_equal(one, many)
    assert m1 == m2


def test_tmall_wrong_file(tmp_path):
    path = tmp_path / "x.csv"
    write(path, TMALL_HEADER, ["a,b,c,d,e,f", "1,2,3", "1,2,3,4,1,20150701"])
    with pytest.raises(ValueError, match="does not look like IJCAI-16 Tmall") as err:
        read_tmall_ijcai16(path)
    assert "use_ID,sel_ID,ite_ID,cat_ID,act_ID,time" in str(err.value)
    write(path, "user_id,item_id,timestamp", ["1,2,3"])  # other header
    with pytest.raises(ValueError, match="lacks column"):
        read_tmall_ijcai16(path)
    with pytest.raises(FileNotFoundError):
        read_tmall_ijcai16(tmp_path / "missing.csv")


# ----------------------------------------------------------------------------- Twitch


def twitch_rows(seed=0):
    rng = np.random.default_rng(seed)
    names = ["grimnax", "zeldafan", "alpha_1", "bob"]
    rows = []
    for _ in range(80):
        start = int(rng.integers(5000, 5010))
        rows.append((int(rng.integers(1, 7)), 34347669000 + int(rng.integers(0, 20)),
                     names[int(rng.integers(4))], start, start + int(rng.integers(1, 5))))
    return rows


def test_twitch(tmp_path):
    rows = twitch_rows()
    bad = ["1,34347669376,grimnax,5415", "1,34347669376,,5415,5419", "1,3434x,grimnax,5415,5419",
           "1,34347669376,grimnax,5415.5,5419"]
    path = tmp_path / "100k_a.csv"
    write(path, None, [",".join(map(str, r)) for r in rows], bad)
    frame, msgs = call(read_twitch, path)
    names = frame.attrs["provider_names"]
    assert names == sorted({r[2] for r in rows})  # stable: sorted names -> 0, 1, ...
    code = {n: k for k, n in enumerate(names)}
    pd.testing.assert_frame_equal(frame, reference([(u, s, code[n], t0) for u, s, n, t0, _ in rows]))
    assert len(msgs) == 1 and "skipped 4 malformed line(s)" in msgs[0]
    assert "missing field: 1 " in msgs[0] and "non-integer value: 2 " in msgs[0]
    many, _ = call(read_twitch, path, chunk_rows=5)
    pd.testing.assert_frame_equal(frame, many)
    assert many.attrs["provider_names"] == names


# ----------------------------------------------------------------------------- WeChat


def test_wechat(tmp_path):
    rng = np.random.default_rng(2)
    feeds = {f: 900 + f % 5 for f in range(70000, 70012)}
    feed_lines = [f"{f},{a},{int(rng.integers(5, 60))},12 33 4,5 6,,{'' if f % 2 else 17},"
                  f"{'' if f % 3 else 8},1;2,3;4,5,6;7,12 33 4,5 6,"
                  for f, a in feeds.items()]
    feed_lines.insert(3, "70000,999,10,,,,,,,,,,,,")  # duplicate feed: the first author wins
    actions = []
    for _ in range(90):
        actions.append((int(rng.integers(1, 6)), int(rng.integers(70000, 70013)),  # 70012: unknown
                        int(rng.integers(1, 4))))
    action_lines = [f"{u},{f},{d},{1 + u % 2},0,0,1,500,900,0,0,0,0" for u, f, d in actions]
    bad = ["1,70001,1,1,0,0,1", "1,abc,1,1,0,0,1,500,900,0,0,0,0"]
    user_action, feed_info = tmp_path / "user_action.csv", tmp_path / "feed_info.csv"
    write(user_action, ACTION_HEADER, action_lines, bad)
    write(feed_info, FEED_HEADER, feed_lines)
    frame, msgs = call(read_wechat, user_action, feed_info)
    known = [(u, f, feeds.get(f, specs.UNKNOWN_PROVIDER), d) for u, f, d in actions]
    pd.testing.assert_frame_equal(frame, reference(known))
    unknown = sum(f not in feeds for _, f, _ in actions)
    assert unknown > 0
    assert len(msgs) == 2  # user_action's malformed lines and unknown feeds; feed_info is clean
    assert any("skipped 2 malformed line(s)" in m for m in msgs)
    assert any(f"1 feed(s) missing from feed_info.csv (e.g. [70012]) get the unknown provider -2: "
               f"{unknown} of {len(actions)} interaction(s)" in m for m in msgs)
    many, _ = call(read_wechat, user_action, feed_info, chunk_rows=4)
    pd.testing.assert_frame_equal(frame, many)


# ----------------------------------------------------------------------------- generic


def test_with_mapping_and_sequences(tmp_path):
    rng = np.random.default_rng(3)
    brand = {i: 40 + i % 3 for i in range(10, 30)}  # items 30, 31 are unmapped
    inter = [(int(rng.integers(1, 6)), int(rng.integers(10, 32)), int(rng.integers(0, 8)))
             for _ in range(70)]
    inter_path, map_path = tmp_path / "inter.csv", tmp_path / "brand.csv"
    write(inter_path, "user_id,item_id,timestamp", [f"{u},{i},{t}" for u, i, t in inter], ["1,2"])
    write(map_path, "item_id,provider_id", [f"{i},{b}" for i, b in brand.items()])
    frame, msgs = call(read_with_mapping, inter_path, map_path)
    mapped = [(u, i, brand.get(i, specs.UNKNOWN_PROVIDER), t) for u, i, t in inter]
    pd.testing.assert_frame_equal(frame, reference(mapped))
    unmapped = sum(i not in brand for _, i, _ in inter)
    assert unmapped > 0
    n_items = len({i for _, i, _ in inter} - set(brand))
    assert any(f"{n_items} item(s) without a provider in the mapping" in m
               and f"unknown provider -2: {unmapped} of {len(inter)}" in m for m in msgs)

    # to_sequences: one row per event after a user's first, leave-one-out by position.
    data = to_sequences(frame, max_history=4)
    assert data.specs == specs.next_item(4)
    f = data.frame
    expected_rows, split = [], []
    for user, events in frame.groupby("user_id", sort=True):
        ev = events.to_numpy()
        n = len(ev)
        for k in range(1, n):
            expected_rows.append((user, list(ev[max(0, k - 4):k, 1]), list(ev[max(0, k - 4):k, 2]),
                                  ev[k, 1], ev[k, 2], ev[k, 3]))
            split.append("train" if n < 4 or k < n - 2 else ("val" if k == n - 2 else "test"))
    assert len(f) == len(expected_rows)
    for row, exp in zip(f.itertuples(index=False), expected_rows):
        assert (row.user_id, list(row.hist_item_ids), list(row.hist_provider_ids), row.item_id,
                row.provider_id, row.timestamp) == exp
    assert list(data.split_of) == split
    assert (f["label"] == 1).all()
    provider_of = dict(zip(data.items["item_id"], data.items["provider_id"]))
    assert provider_of == {i: brand.get(i, specs.UNKNOWN_PROVIDER) for i in set(frame["item_id"])}
    for part in data.splits():
        batch = next(iter(part.dataset(8)))
        assert batch["hist_provider_ids"].shape[1] == 4
    with pytest.raises(ValueError, match="missing column 'provider_id'"):
        to_sequences(frame.drop(columns="provider_id"), 4)
    counts = frame["user_id"].value_counts()
    k = int(counts.median()) + 1
    kept = set(to_sequences(frame, 4, min_events=k).frame["user_id"])
    assert kept == set(counts.index[counts >= k]) and len(kept) < len(counts)


def test_mostly_malformed_and_missing(tmp_path):
    inter_path, map_path = tmp_path / "inter.csv", tmp_path / "brand.csv"
    write(inter_path, "user_id,item_id,timestamp", ["1,2,3", "1,x,3", "1,2", "4,5,"])
    write(map_path, "item_id,provider_id", ["2,1"])
    with pytest.raises(ValueError, match="does not look like interactions CSV") as err:
        read_with_mapping(inter_path, map_path)
    assert "user_id,item_id,timestamp" in str(err.value)
    with pytest.raises(FileNotFoundError):
        read_with_mapping(inter_path, tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError):
        read_wechat(tmp_path / "missing.csv", map_path)
    with pytest.raises(FileNotFoundError):
        read_twitch(tmp_path / "missing.csv")
