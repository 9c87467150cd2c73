"""The interaction stream (tfrec_pkg/data/interactions.py): validation and the stable time sort
(features follow their rows), the actions' spellings, the chronological 80/10/10 split that never
cuts a tie, per-entity time deltas against a plain-Python loop, and standardisation with
training statistics only."""
import numpy as np
import pandas as pd
import pytest

from tfrec_pkg.data.interactions import DELTAS, InteractionStream, seconds, standardise, time_deltas


def frame(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"user_id": rng.integers(1, 4, size=n), "item_id": rng.integers(10, 14, size=n),
                         "timestamp": rng.integers(0, 6, size=n), "action": (rng.random(n) < 0.3).astype(int)})


def test_sorts_by_time_stably_and_features_follow():
    f = frame()
    feats = np.arange(len(f) * 2, dtype=float).reshape(-1, 2)
    s = InteractionStream.from_frame(f.assign(extra=np.arange(len(f))), feats)
    order = np.argsort(f["timestamp"].to_numpy(), kind="stable")
    np.testing.assert_array_equal(s.frame["extra"], order)  # ties keep input order
    np.testing.assert_array_equal(s.features, feats[order])
    assert s.features.dtype == np.float32 and s.num_features == 2 and len(s) == len(f)
    assert list(s.frame.index) == list(range(len(f)))
    assert InteractionStream.from_frame(f).features.shape == (len(f), 0)


def test_action_spellings():
    f = frame(4)
    for actions in (["click", "Purchase", "click", "purchase"], [0, 1, 0, 1], [False, True, False, True],
                    ["0", "1", "0", "1"], [0.0, 1.0, 0.0, 1.0]):
        s = InteractionStream.from_frame(f.assign(timestamp=range(4), action=actions))
        assert s.frame["action"].tolist() == [0, 1, 0, 1] and s.frame["action"].dtype == np.int64


@pytest.mark.parametrize("change, match", [
    (dict(action=["click", "buy", 1, 0.5]), r"column 'action': found 2 value\(s\) that are not an action, first at index 1, e.g. \['buy', 0.5\]"),
    (dict(user_id=[1, None, 2, 3]), r"column 'user_id' \(kind 'id'\): found NaN/None in 1 row\(s\), first at index 1"),
    (dict(timestamp=["a", "b", "c", "d"]), "column 'timestamp'"),
])
def test_bad_columns_name_column_and_row(change, match):
    with pytest.raises(ValueError, match=match):
        InteractionStream.from_frame(frame(4).assign(**change), name="interactions")


def test_missing_column_and_bad_features():
    with pytest.raises(ValueError, match="missing column 'action'"):
        InteractionStream.from_frame(frame(4).drop(columns="action"))
    with pytest.raises(ValueError, match=r"features: found shape \(3, 2\); expected \(4, F\)"):
        InteractionStream.from_frame(frame(4), np.zeros((3, 2)))
    bad = np.zeros((4, 3))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="first at row 2, feature 1"):
        InteractionStream.from_frame(frame(4), bad)


def test_chronological_split_80_10_10_never_cuts_a_tie():
    f = frame(100).assign(timestamp=np.arange(100)[::-1])  # distinct times, given in reverse
    split = InteractionStream.from_frame(f).split_of()
    assert list(split) == ["train"] * 80 + ["val"] * 10 + ["test"] * 10
    ties = InteractionStream.from_frame(frame(100).assign(timestamp=np.arange(100) // 7))
    split, t = ties.split_of(), ties.frame["timestamp"].to_numpy()
    for a, b in (("train", "val"), ("val", "test")):
        assert t[split == a].max() < t[split == b].min()


def reference_deltas(f):
    """Plain Python: time since the entity's previous interaction / the user's previous purchase,
    counted from the first timestamp when there is none."""
    t0 = f["timestamp"].iloc[0]
    last_user, last_item, last_buy, rows = {}, {}, {}, []
    for u, i, t, a in f[["user_id", "item_id", "timestamp", "action"]].itertuples(index=False):
        rows.append((t - last_user.get(u, t0), t - last_item.get(i, t0), t - last_buy.get(u, t0)))
        last_user[u], last_item[i] = t, t
        if a == 1:
            last_buy[u] = t
    return np.asarray(rows, dtype=float)


@pytest.mark.parametrize("seed", range(4))
def test_time_deltas_match_a_loop(seed):
    s = InteractionStream.from_frame(frame(200, seed).assign(timestamp=lambda d: d["timestamp"] * 3.5 + seed))
    got = time_deltas(s)
    assert list(got.columns) == list(DELTAS)
    np.testing.assert_allclose(got.to_numpy(), reference_deltas(s.frame))
    assert (got.to_numpy() >= 0).all()


def test_time_deltas_of_datetimes_are_seconds():
    f = frame(30)
    s = InteractionStream.from_frame(f.assign(timestamp=pd.Timestamp("2015-07-01", tz="UTC")
                                               + pd.to_timedelta(f["timestamp"], unit="h")))
    seconds = s.frame.assign(timestamp=(s.frame["timestamp"] - s.frame["timestamp"].min()).dt.total_seconds())
    np.testing.assert_allclose(time_deltas(s).to_numpy(), reference_deltas(seconds))


def test_seconds_are_posix_for_datetimes_and_numbers_as_they_are():
    naive = pd.Series(pd.to_datetime(["1970-01-01 00:01:00.00", "2026-12-03 06:00:00.25"]))
    aware = naive.dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai")   # the same instants
    want = [60.0, pd.Timestamp("2026-12-03 06:00:00.25", tz="UTC").timestamp()]
    assert seconds(naive).tolist() == seconds(aware).tolist() == want and seconds(naive).dtype == np.float64
    assert seconds(pd.Series([3, 1_764_000_000])).tolist() == [3.0, 1_764_000_000.0]


def test_standardise_uses_training_rows_only():
    s = InteractionStream.from_frame(frame(200).assign(timestamp=np.arange(200) ** 1.5))
    raw, train = time_deltas(s), s.split_of() == "train"
    z, stats = standardise(raw, train)
    np.testing.assert_allclose(z[train].mean(), 0.0, atol=1e-9)
    np.testing.assert_allclose(z[train].std(ddof=0), 1.0)
    shifted = raw.copy()
    shifted.loc[~train] += 1e6  # test values do not move the statistics
    z2, stats2 = standardise(shifted, train)
    assert stats2 == stats
    np.testing.assert_allclose(z2[train], z[train])
    const, stats = standardise(pd.DataFrame({"c": np.full(5, 3.0)}), np.ones(5, bool))
    assert stats == {"c": (3.0, 1.0)} and (const["c"] == 0).all()
    with pytest.raises(ValueError, match="fit_rows"):
        standardise(raw, np.zeros(len(raw), bool))
