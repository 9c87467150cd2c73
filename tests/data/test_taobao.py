"""Taobao UserBehavior.csv reader (tfrec_pkg/data/datasets/taobao.py), prepared as in SUM
Appendix A.1, checked against a plain-Python reference on a small file in the public format."""
import warnings

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401

from tfrec_pkg.data.datasets.taobao import read_taobao

T0 = 1_511_544_000
MALFORMED = [  # (line, reason)
    "7,1005,1100,pv,1511544010,3", "wrong field count",
    "7,1005,1100,pv", "wrong field count",
    "abc,1005,1100,pv,1511544010", "non-integer id",
    "7,1005.5,1100,pv,1511544010", "non-integer id",
    "7,1005,1100,click,1511544010", "unknown behavior_type",
    "7,1005,1100,pv,2017-11-25", "bad timestamp",
    "7,1005,1100,pv,1.5e9", "bad timestamp",
]
MALFORMED = list(zip(MALFORMED[::2], MALFORMED[1::2]))


def category(item: int) -> int:
    return 100 + item // 10


def make_events(seed: int = 0) -> list[tuple]:
    """~30 users: (user, item, category, behavior, timestamp) in file order.

    Users 1-6 have at most 20 page views (dropped). Timestamps sit in a 40-second window, so
    page views tie with purchases all the time: the tie rule (file order) matters.
    """
    rng = np.random.default_rng(seed)
    events = []
    for user in range(1, 31):
        n_pv = [5, 12, 19, 20, 20, 3][user - 1] if user <= 6 else int(rng.integers(21, 160))
        for _ in range(n_pv):
            item = int(rng.integers(1000, 1400))
            events.append((user, item, category(item), "pv", T0 + int(rng.integers(40))))
        for _ in range(int(rng.integers(1, 4))):  # purchases: viewed items or never-viewed ones
            item = int(rng.integers(1000, 1400)) if rng.random() < 0.5 else int(rng.integers(5000, 5050))
            events.append((user, item, category(item), "buy", T0 + int(rng.integers(40))))
        for behavior in ("cart", "fav"):  # valid but unused: items 9000+ never show up
            item = int(rng.integers(9000, 9100))
            events.append((user, item, category(item), behavior, T0 + int(rng.integers(40))))
    order = rng.permutation(len(events))  # file order != time order
    return [events[i] for i in order]


def write(path, events, malformed=()) -> None:
    lines = [",".join(map(str, e)) for e in events]
    for k, (line, _) in enumerate(malformed):  # spread through the file
        lines.insert(min(len(lines), 1 + 37 * k), line)
    path.write_text("\n".join(lines) + "\n")


def reference(events, max_history: int):
    """Plain-Python SUM Appendix A.1: [(user, item, timestamp, history items)] per purchase,
    users sorted, then by (timestamp, file order)."""
    by_user = {}
    for pos, (user, item, _, behavior, ts) in enumerate(events):
        by_user.setdefault(user, []).append((ts, pos, behavior, item))
    out = []
    for user in sorted(by_user):
        evs = sorted(by_user[user])
        if sum(b == "pv" for _, _, b, _ in evs) <= 20:
            continue
        for k, (ts, _, behavior, item) in enumerate(evs):
            if behavior == "buy":
                views = [i for _, _, b, i in evs[:k] if b == "pv"]
                out.append((user, item, ts, views[-max_history:]))
    return out


def read(path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_taobao(path, progress=False, **kw)
    return data, [str(w.message) for w in caught]


@pytest.fixture
def events():
    return make_events()


def test_purchases_are_targets_with_page_view_histories(tmp_path, events):
    path = tmp_path / "UserBehavior.csv"
    write(path, events)
    for max_history in (100, 10):
        data, _ = read(path, max_history=max_history)
        pos = data.frame[data.frame["label"] == 1]
        got = [(u, i, t, list(h)) for u, i, t, h in
               zip(pos["user_id"], pos["item_id"], pos["timestamp"], pos["hist_item_ids"])]
        expected = reference(events, max_history)
        assert got == expected
        assert max(len(h) for *_, h in got) == max_history  # truncation happened
        # Histories only hold page views: never cart/fav items (9000+) nor never-viewed buys (5000+).
        assert all(1000 <= i < 1400 for *_, h in got for i in h)
        for h, c in zip(data.frame["hist_item_ids"], data.frame["hist_category_ids"]):
            assert [category(i) for i in h] == list(c)
        assert data.specs[3].shape == (max_history,)


def test_users_with_at_most_20_page_views_are_dropped(tmp_path, events):
    path = tmp_path / "UserBehavior.csv"
    write(path, events)
    data, _ = read(path)
    users = set(data.frame["user_id"])
    assert users == set(range(7, 31))
    assert not users & {1, 2, 3, 4, 5, 6}
    data, _ = read(path, min_page_views=20)  # the threshold is a parameter
    assert {4, 5} <= set(data.frame["user_id"])


def test_negatives(tmp_path, events):
    path = tmp_path / "UserBehavior.csv"
    write(path, events)
    data, _ = read(path, negatives=4)
    f = data.frame
    assert (f.groupby(np.arange(len(f)) // 5)["label"].agg(list).map(tuple) == (1, 0, 0, 0, 0)).all()
    positive = np.repeat(f["item_id"].to_numpy()[::5], 5)
    neg = f["label"].to_numpy() == 0
    assert (f["item_id"].to_numpy()[neg] != positive[neg]).all()
    viewed = {i for _, i, _, b, _ in events if b == "pv"}
    assert set(f.loc[neg, "item_id"]) <= viewed  # sampled by page-view popularity
    assert (f["category_id"] == f["item_id"].map(category)).all()  # own category, not the positive's
    # Rows of one purchase share user, timestamp and history.
    for col in ("user_id", "timestamp"):
        assert (f[col].to_numpy().reshape(-1, 5) == f[col].to_numpy()[::5, None]).all()
    hist = f["hist_item_ids"].to_numpy()
    assert all(np.array_equal(hist[k], hist[k - k % 5]) for k in range(len(f)))
    cat = dict(zip(data.items["item_id"], data.items["category_id"]))
    assert all(cat[i] == category(i) for i in cat)


def test_split_by_user(tmp_path, events):
    path = tmp_path / "UserBehavior.csv"
    write(path, events)
    data, _ = read(path)
    train, val, test = data.splits()
    users = [set(s.frame["user_id"]) for s in (train, val, test)]
    assert [len(u) for u in users] == [17, 3, 4]  # 24 users: cuts at round(0.7*24), round(0.85*24)
    assert not users[0] & users[1] and not users[0] & users[2] and not users[1] & users[2]
    assert sum(len(s) for s in (train, val, test)) == len(data.frame)
    assert "true_prob" not in data.frame
    with pytest.raises(ValueError, match="no true probabilities"):
        test.true_probabilities
    batch = next(iter(train.dataset(4)))
    assert batch["hist_item_ids"].shape == (4, 100) and batch["hist_item_ids"].dtype.name == "int64"
    assert batch["category_id"].dtype.name == "int64"


def test_malformed_rows_are_skipped_and_counted(tmp_path, events):
    clean, dirty = tmp_path / "clean.csv", tmp_path / "dirty.csv"
    write(clean, events)
    write(dirty, events, MALFORMED)
    expected, msgs = read(clean)
    assert msgs == []
    data, msgs = read(dirty)
    assert len(msgs) == 1
    print("\n" + msgs[0])
    assert f"skipped {len(MALFORMED)} malformed line(s) of {len(events) + len(MALFORMED)}" in msgs[0]
    for reason in ("wrong field count", "non-integer id", "unknown behavior_type", "bad timestamp"):
        n = sum(r == reason for _, r in MALFORMED)
        assert f"{reason}: {n} " in msgs[0]
    pd.testing.assert_frame_equal(data.frame.drop(columns=["hist_item_ids", "hist_category_ids"]),
                                  expected.frame.drop(columns=["hist_item_ids", "hist_category_ids"]))


def test_garbage_file_raises(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(b"hello world\nthis is, not, a taobao file\n\x00\xff\xfe binary\n"
                     + b"1,2,3,pv,1511544000\n" + b"<html><body>404</body></html>\n")
    with pytest.raises(ValueError, match="does not look like Taobao UserBehavior.csv") as err:
        read_taobao(path, progress=False)
    assert "user_id,item_id,category_id,behavior_type,timestamp" in str(err.value)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="does not look like"):
        read_taobao(empty, progress=False)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_taobao(tmp_path / "nope.csv", progress=False)


def test_small_chunks_give_the_same_result(tmp_path, events):
    path = tmp_path / "UserBehavior.csv"
    write(path, events, MALFORMED)
    one, msg_one = read(path, chunk_rows=1_000_000)
    many, msg_many = read(path, chunk_rows=97)
    assert len(events) > 10 * 97
    assert msg_one == msg_many
    scalars = ["user_id", "item_id", "category_id", "timestamp", "label"]
    pd.testing.assert_frame_equal(one.frame[scalars], many.frame[scalars])
    for col in ("hist_item_ids", "hist_category_ids"):
        assert all(np.array_equal(a, b) for a, b in zip(one.frame[col], many.frame[col]))
    np.testing.assert_array_equal(one.split_of, many.split_of)
    pd.testing.assert_frame_equal(one.items, many.items)
