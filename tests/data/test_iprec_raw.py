"""IPRec raw-log reader (tfrec_pkg/data/datasets/iprec_raw.py) on small files in the public
format (tab-separated ``user_id, timestamp, article_id, click_label, media_id, subscribe_label,
friend_ids``), every derived column checked against values worked out by hand from the rules
in build_package_rows' docstring (IPRec Eqs. 9-16), bad rows included."""
import warnings

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401

from tfrec_pkg import specs
from tfrec_pkg.data.datasets.iprec_raw import read_iprec

B = -1  # padding
# User 1: ten impressions in time order (t, article, click, media, subscribe, friends).
USER1 = [
    (100, 11, 1, 21, 1, "31,32"),
    (200, 12, 0, 21, 1, "32"),
    (300, 13, 1, 22, 0, "33"),
    (400, 14, 1, 21, 0, ""),
    (500, 15, 0, 22, 0, "31,32,33"),
    (600, 16, 1, 23, 1, "32,34"),
    (700, 17, 0, 21, 1, "34"),
    (800, 18, 1, 22, 0, "31"),  # validation (position 7 of 10)
    (900, 19, 0, 21, 1, "32"),  # test
    (1000, 20, 1, 23, 0, "35"),  # test
]
# User 2: a timestamp tie at the 70 % cut; article 44 comes before 43 in the file.
USER2 = [
    (50, 41, 1, 51, 0, ""),
    (60, 42, 1, 51, 0, "61"),
    (70, 44, 1, 51, 0, "62"),
    (70, 43, 0, 52, 0, "61"),
    (80, 45, 0, 52, 0, ""),
]
USER3 = [(10 * k, 70 + k, int(k < 2), 71, 0, "") for k in range(5)]  # 2 clicks: dropped
USER4 = [(10 * k, 80 + k, 1, 81, 0, "") for k in range(3)]  # no non-click: dropped
USER5 = [(10 * k, 200 + k, int(k % 8 == 0), 91, 0, "") for k in range(23)]  # 3 clicks, 20 non-clicks
USER6 = [(10, 301, 1, 95, 0, ",".join(str(101 + j) for j in range(25))),  # 25 friends
         (20, 302, 1, 95, 0, "101"), (30, 303, 0, 96, 0, ""), (40, 304, 1, 96, 0, "")]


def lines():
    """The file's lines, users interleaved, with one blank line (line numbers count it)."""
    per_user = {u: [f"{u}\t{t}\t{a}\t{c}\t{m}\t{s}\t{f}" for t, a, c, m, s, f in rows]
                for u, rows in ((1, USER1), (2, USER2), (3, USER3), (4, USER4), (5, USER5), (6, USER6))}
    out = []
    while any(per_user.values()):
        for u in sorted(per_user):
            if per_user[u]:
                out.append(per_user[u].pop(0))
    out.insert(7, "")
    return out


def write(path, body, malformed=()):
    body = list(body)
    for k, (line, *_) in enumerate(malformed):
        body.insert(min(len(body), 2 + 5 * k), line)
    path.write_text("\n".join(body) + "\n")
    return body


def read(path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = read_iprec(path, **kw)
    return splits, [str(w.message) for w in caught]


def frame_of(splits):
    return pd.concat([s.frame.assign(split=s.name) for s in splits], ignore_index=True)


def row(frame, user, article):
    hit = frame[(frame["user_id"] == user) & (frame["article_id"] == article)]
    assert len(hit) == 1
    return hit.iloc[0]


# User 1's profile from its training clicks 11, 13, 14, 16 and subscriptions (21, 21, 23, 21).
SHARED1 = dict(hist_article_ids=[11, 13, 14, 16], hist_media_ids=[21, 22, 21, 23],
               hist_friend_ids=[31, 32, B, 33, B, B, B, B, B, 32, 34, B],
               user_article_ids=[11, 13, 14, 16], user_friend_ids=[31, 33, 32, 34], user_media_ids=[23, 21])
EXPECTED1 = {  # article -> (split, expected columns); worked out by hand, max_friends=3
    11: ("train", dict(hist_article_ids=[13, 14, 16], hist_media_ids=[22, 21, 23],
                       hist_friend_ids=[33, B, B, B, B, B, 32, 34, B], user_article_ids=[13, 14, 16],
                       user_friend_ids=[33, 32, 34], user_media_ids=[23, 21],
                       nb_article_ids=[17, 14, 12, 15, 16], nb_media_ids=[21, 21, 21, 22, 23],
                       nb_friend_ids=[34, B, B, B, B, B, 32, B, B, 31, 32, 33, 32, 34, B])),
    12: ("train", SHARED1 | dict(user_media_ids=[23, 21],  # its own subscription left out: same set
                                 nb_article_ids=[17, 14, 11, 16, 15], nb_media_ids=[21, 21, 21, 23, 22],
                                 nb_friend_ids=[34, B, B, B, B, B, 31, 32, B, 32, 34, B, 31, 32, 33])),
    13: ("train", dict(hist_article_ids=[11, 14, 16], hist_media_ids=[21, 21, 23],
                       hist_friend_ids=[31, 32, B, B, B, B, 32, 34, B], user_article_ids=[11, 14, 16],
                       user_friend_ids=[31, 32, 34], user_media_ids=[23, 21],
                       nb_article_ids=[15], nb_media_ids=[22], nb_friend_ids=[31, 32, 33])),
    14: ("train", dict(hist_article_ids=[11, 13, 16], hist_media_ids=[21, 22, 23],
                       hist_friend_ids=[31, 32, B, 33, B, B, 32, 34, B], user_article_ids=[11, 13, 16],
                       user_friend_ids=[31, 33, 32, 34], user_media_ids=[23, 21],
                       nb_article_ids=[17, 12, 11], nb_media_ids=[21, 21, 21],
                       nb_friend_ids=[34, B, B, 32, B, B, 31, 32, B])),
    # 15 shares 2 friends with 11 and 1 with 16 and 12: overlap first, then the most recent.
    15: ("train", SHARED1 | dict(nb_article_ids=[13, 11, 16, 12], nb_media_ids=[22, 21, 23, 21],
                                 nb_friend_ids=[33, B, B, 31, 32, B, 32, 34, B, 32, B, B])),
    16: ("train", dict(hist_article_ids=[11, 13, 14], hist_media_ids=[21, 22, 21],
                       hist_friend_ids=[31, 32, B, 33, B, B, B, B, B], user_article_ids=[11, 13, 14],
                       user_friend_ids=[31, 32, 33], user_media_ids=[21],
                       nb_article_ids=[17, 15, 12, 11], nb_media_ids=[21, 22, 21, 21],
                       nb_friend_ids=[34, B, B, 31, 32, 33, 32, B, B, 31, 32, B])),
    # without its own subscription, media 21 was last subscribed at t=200, media 23 at t=600
    17: ("train", SHARED1 | dict(user_media_ids=[21, 23], nb_article_ids=[14, 12, 11, 16],
                                 nb_media_ids=[21, 21, 21, 23],
                                 nb_friend_ids=[B, B, B, 32, B, B, 31, 32, B, 32, 34, B])),
    18: ("val", SHARED1 | dict(nb_article_ids=[15, 13, 11], nb_media_ids=[22, 22, 21],
                               nb_friend_ids=[31, 32, 33, 33, B, B, 31, 32, B])),
    19: ("test", SHARED1 | dict(nb_article_ids=[17, 14, 12, 11, 16, 15], nb_media_ids=[21, 21, 21, 21, 23, 22],
                                nb_friend_ids=[34, B, B, B, B, B, 32, B, B, 31, 32, B, 32, 34, B, 31, 32, 33])),
    20: ("test", SHARED1 | dict(nb_article_ids=[16], nb_media_ids=[23], nb_friend_ids=[32, 34, B])),
}
EXPECTED2 = {  # user 2: the tie at t=70 stays in training, so validation is empty
    41: ("train", None), 44: ("train", None),
    42: ("train", dict(hist_article_ids=[41, 44], hist_media_ids=[51, 51], hist_friend_ids=[B, B, B, 62, B, B],
                       user_article_ids=[41, 44], user_friend_ids=[62], user_media_ids=[],
                       nb_article_ids=[44, 41, 43], nb_media_ids=[51, 51, 52], nb_friend_ids=[62, B, B, B, B, B, 61, B, B])),
    43: ("train", dict(hist_article_ids=[41, 42, 44], hist_media_ids=[51, 51, 51],
                       hist_friend_ids=[B, B, B, 61, B, B, 62, B, B], user_article_ids=[41, 42, 44],
                       user_friend_ids=[61, 62], user_media_ids=[],
                       nb_article_ids=[42], nb_media_ids=[51], nb_friend_ids=[61, B, B])),
    45: ("test", dict(hist_article_ids=[41, 42, 44], hist_media_ids=[51, 51, 51],
                      hist_friend_ids=[B, B, B, 61, B, B, 62, B, B], user_article_ids=[41, 42, 44],
                      user_friend_ids=[61, 62], user_media_ids=[],
                      nb_article_ids=[43], nb_media_ids=[52], nb_friend_ids=[61, B, B])),
}


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "3day.csv"
    write(p, lines())
    return p


def check(frame, user, expected):
    for article, (split, cols) in expected.items():
        r = row(frame, user, article)
        assert r["split"] == split, (user, article)
        for col, value in (cols or {}).items():
            assert list(r[col]) == value, (user, article, col, list(r[col]), value)


def test_every_derived_column_by_hand(path):
    splits, msgs = read(path, max_friends=3)
    f = frame_of(splits)
    check(f, 1, EXPECTED1)
    check(f, 2, EXPECTED2)
    # The row's own package: friends as listed (empty allowed), media, label, subscription, line.
    r = row(f, 1, 15)
    assert list(r["friend_ids"]) == [31, 32, 33] and r["media_id"] == 22 and r["label"] == 0
    assert list(row(f, 1, 14)["friend_ids"]) == []
    assert row(f, 1, 11)["subscribe_label"] == 1 and row(f, 1, 13)["subscribe_label"] == 0
    # ``line`` is the 1-based line in the file, the blank line (line 8) counted.
    body = lines()
    assert body[7] == "" and (f["line"] > 8).any()
    for _, r in f.iterrows():
        fields = body[r["line"] - 1].split("\t")
        assert (int(fields[0]), int(fields[1]), int(fields[2])) == (r["user_id"], r["timestamp"], r["article_id"])
    # The only warning: user 6's 25 friends, truncated to the first 3.
    assert msgs == [f"{path}: truncated the friend lists of 1 impression(s) to their first 3 friends (longest: 25)"]
    assert list(row(f, 6, 301)["friend_ids"]) == [101, 102, 103]


def test_splits_are_temporal_and_features_come_from_training(path):
    train, val, test = read(path, max_friends=3)[0]
    assert (train.name, val.name, test.name) == ("train", "val", "test")
    f = frame_of((train, val, test))
    for _, g in f.groupby("user_id"):
        ts = {s: g.loc[g["split"] == s, "timestamp"] for s in ("train", "val", "test")}
        later = pd.concat([ts["val"], ts["test"]])
        assert later.empty or ts["train"].max() < later.min()
        assert ts["val"].empty or ts["test"].empty or ts["val"].max() <= ts["test"].min()
    # Rows by user, then time, then line; vocabularies fitted on training only.
    for s in (train, val, test):
        keys = list(zip(s.frame["user_id"], s.frame["timestamp"], s.frame["line"]))
        assert keys == sorted(keys)
    assert 18 not in train.vocab["article"].ids and 18 in val.frame["article_id"].tolist()
    assert set(train.vocab) == {"user", "article", "media"}
    # Friends are users: a friend who never acts as a user is still in the user vocabulary.
    assert 31 in train.vocab["user"].ids
    assert "true_prob" not in train.frame
    batch = next(iter(train.dataset(4)))
    assert batch["hist_friend_ids"].shape == (4, 50 * 3) and batch["nb_friend_ids"].shape == (4, 40 * 3)
    assert batch["article_id"].dtype.name == "int64"


def test_user_selection_and_negative_cap(path):
    f = frame_of(read(path, max_friends=3)[0])
    assert set(f["user_id"]) == {1, 2, 5, 6}  # 3: two clicks; 4: no non-click
    u5 = f[f["user_id"] == 5]
    assert (u5["label"] == 1).sum() == 3 and (u5["label"] == 0).sum() == 15  # 20 non-clicks capped at 5 x 3
    negatives = {a for _, a, c, *_ in USER5 if c == 0}
    kept = set(u5.loc[u5["label"] == 0, "article_id"])
    assert kept < negatives
    again = frame_of(read(path, max_friends=3)[0])
    assert set(again.loc[(again["user_id"] == 5) & (again["label"] == 0), "article_id"]) == kept
    other = frame_of(read(path, max_friends=3, seed=1)[0])
    assert set(other.loc[(other["user_id"] == 5) & (other["label"] == 0), "article_id"]) != kept
    capped = frame_of(read(path, max_friends=3, max_negative_ratio=None)[0])
    assert (capped["user_id"] == 5).sum() == 23
    assert set(frame_of(read(path, max_friends=3, min_clicks=2)[0])["user_id"]) == {1, 2, 3, 5, 6}


def test_friend_lists_truncated_to_20(path):
    (train, val, test), msgs = read(path)
    f = frame_of((train, val, test))
    assert list(row(f, 6, 301)["friend_ids"]) == list(range(101, 121))  # the first 20, in file order
    assert msgs == [f"{path}: truncated the friend lists of 1 impression(s) to their first 20 friends (longest: 25)"]
    assert train.specs == specs.package_click(20, 50, 20, 50)


def test_caps(path):
    f = frame_of(read(path, max_friends=3, max_history=2, max_neighbours=2, max_objects=2)[0])
    r = row(f, 1, 19)
    assert list(r["hist_article_ids"]) == [14, 16] and list(r["hist_friend_ids"]) == [B, B, B, 32, 34, B]
    assert list(r["user_article_ids"]) == [14, 16] and list(r["user_friend_ids"]) == [32, 34]
    assert list(r["user_media_ids"]) == [23, 21]
    # 2 same-media (most recent), then 2 friend-sharing not listed: 12 and 11 lost their media
    # slot to the cap and compete on friends, where 16 and 15 are more recent.
    assert list(r["nb_article_ids"]) == [17, 14, 16, 15]
    assert list(row(f, 1, 15)["nb_article_ids"]) == [13, 11, 16]


def test_random_split(path):
    a = frame_of(read(path, max_friends=3, split="random", seed=3)[0])
    b = frame_of(read(path, max_friends=3, split="random", seed=3)[0])
    c = frame_of(read(path, max_friends=3, split="random", seed=4)[0])
    pd.testing.assert_frame_equal(a[["user_id", "article_id", "split"]], b[["user_id", "article_id", "split"]])
    assert not a[["article_id", "split"]].equals(c[["article_id", "split"]])
    for _, g in a.groupby("user_id"):
        n = len(g)
        counts = g["split"].value_counts()
        assert counts.get("train", 0) == n * 7 // 10 and counts.get("val", 0) == n * 8 // 10 - n * 7 // 10
        train = g[g["split"] == "train"]
        clicks = set(train.loc[train["label"] == 1, "article_id"])
        seen = set(train["article_id"])
        for _, r in g.iterrows():  # training part only, the row itself left out
            own = {r["article_id"]} if r["split"] == "train" else set()
            assert set(r["hist_article_ids"]) == clicks - own
            assert set(r["nb_article_ids"]) <= seen - {r["article_id"]}
    # user 1 at random: evaluation rows have the profile of the (random) training part
    u1 = a[a["user_id"] == 1]
    t1 = u1[u1["split"] == "train"].sort_values("timestamp")
    ev = u1[u1["split"] != "train"]
    expect = t1.loc[t1["label"] == 1, "article_id"].tolist()
    assert all(list(h) == expect for h in ev["hist_article_ids"])


MALFORMED = [  # (line, reason, field)
    ("1\t100\t11\t1\t21\t1", "wrong field count", "(6 fields, expected 7)"),
    ("1\t100\t11\t1\t21\t1\t31\textra", "wrong field count", "(8 fields, expected 7)"),
    ("\t100\t11\t1\t21\t1\t31", "missing field", "user_id"),
    ("1\t100\t\t1\t21\t1\t31", "missing field", "article_id"),
    ("u1\t100\t11\t1\t21\t1\t31", "non-integer id", "user_id"),
    ("-1\t100\t11\t1\t21\t1\t31", "non-integer id", "user_id"),
    ("1\t100\t11\t1\tm21\t1\t31", "non-integer id", "media_id"),
    ("1\t100\t11.5\t1\t21\t1\t31", "non-integer id", "article_id"),
    ("1\t2020-06-23\t11\t1\t21\t1\t31", "bad timestamp", "timestamp"),
    ("1\t100\t11\t2\t21\t1\t31", "label not 0/1", "click_label"),
    ("1\t100\t11\t1\t21\tyes\t31", "label not 0/1", "subscribe_label"),
    ("1\t100\t11\t1\t21\t1\t31;32", "bad friend_ids", "friend_ids"),
    ("1\t100\t11\t1\t21\t1\t31,,32", "bad friend_ids", "friend_ids"),
    ("1\t100\t11\t1\t21\t1\t-5", "bad friend_ids", "friend_ids"),
]
DERIVED = ["user_id", "article_id", "media_id", "timestamp", "label", "subscribe_label", "friend_ids",
           "user_article_ids", "user_media_ids", "user_friend_ids", "hist_article_ids", "hist_media_ids",
           "hist_friend_ids", "nb_article_ids", "nb_media_ids", "nb_friend_ids", "split"]


def test_malformed_rows_are_skipped_and_counted(tmp_path):
    clean, dirty = tmp_path / "clean.csv", tmp_path / "dirty.csv"
    write(clean, lines())
    body = write(dirty, lines(), MALFORMED)
    expected, msgs = read(clean, max_friends=3)
    got, msgs = read(dirty, max_friends=3)
    skipped = [m for m in msgs if "skipped" in m]
    assert len(skipped) == 1
    print("\n" + skipped[0])
    n_rows = sum(1 for x in body if x.strip())
    assert skipped[0].startswith(f"{dirty}: skipped {len(MALFORMED)} malformed line(s) of {n_rows}: ")
    for reason in {r for _, r, _ in MALFORMED}:
        assert f"{reason}: {sum(r == reason for _, r, _ in MALFORMED)} " in skipped[0]
    # Examples name the line number and the field.
    for line, reason, field in MALFORMED[:3]:
        number = body.index(line) + 1
        assert f"line {number}: {field}=" in skipped[0]
    a, b = frame_of(expected), frame_of(got)
    for col in DERIVED:
        assert [np.asarray(x).tolist() for x in a[col]] == [np.asarray(x).tolist() for x in b[col]], col


def test_on_bad_rows_raise_names_file_line_and_field(tmp_path):
    p = tmp_path / "dirty.csv"
    body = write(p, lines(), [MALFORMED[9]])
    number = body.index(MALFORMED[9][0]) + 1
    with pytest.raises(ValueError, match=f"line {number}: label not 0/1: field click_label = '2'") as err:
        read_iprec(p, on_bad_rows="raise")
    assert str(p) in str(err.value) and "tab-separated" in str(err.value)


def test_mostly_malformed_or_empty_file_raises(tmp_path):
    p = tmp_path / "garbage.csv"
    p.write_text("user_id,timestamp,article_id\n1,2,3\nhello\n1\t100\t11\t1\t21\t1\t31\n")
    with pytest.raises(ValueError, match="does not look like an IPRec raw log: 3 of 4 line"):
        read_iprec(p)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="the file is empty"):
        read_iprec(empty)
    with pytest.raises(FileNotFoundError):
        read_iprec(tmp_path / "nope.csv")
    few = tmp_path / "few.csv"
    write(few, [f"1\t{t}\t{a}\t{c}\t{m}\t{s}\t{f}" for t, a, c, m, s, f in USER3])
    with pytest.raises(ValueError, match="no user has >= 3 clicks"):
        read_iprec(few)


def test_composite_article_ids_need_string_mode(tmp_path):
    """The public release writes articles as '<media>_<msgid>_<idx>'."""
    p = tmp_path / "public.csv"
    body = [x.split("\t") for x in lines() if x]
    for fields in body:
        fields[2] = f"{fields[4]}_22475_{fields[2]}"
    write(p, ["\t".join(x) for x in body])
    with pytest.raises(ValueError, match="article_dtype='string'"):
        read_iprec(p)
    splits, _ = read(p, article_dtype="string", max_friends=3)
    f = frame_of(splits)
    assert list(row(f, 1, "21_22475_19")["nb_article_ids"]) == [
        f"{m}_22475_{a}" for a, m in zip(EXPECTED1[19][1]["nb_article_ids"], EXPECTED1[19][1]["nb_media_ids"])]
    assert splits[0].vocab["article"].dtype == "string"
    batch = next(iter(splits[0].dataset(4)))
    assert batch["article_id"].dtype.name == "string" and batch["hist_article_ids"].shape == (4, 50)


def test_small_chunks_give_the_same_result(tmp_path):
    p = tmp_path / "dirty.csv"
    write(p, lines(), MALFORMED)
    one, msg_one = read(p, max_friends=3, chunk_rows=1_000_000)
    many, msg_many = read(p, max_friends=3, chunk_rows=4)
    assert msg_one == msg_many
    a, b = frame_of(one), frame_of(many)
    for col in DERIVED + ["line"]:
        assert [np.asarray(x).tolist() for x in a[col]] == [np.asarray(x).tolist() for x in b[col]], col
