import numpy as np
import pandas as pd
import pytest

from tfrec_pkg.data.sequences import (
    PAD,
    history_before_each_event,
    leave_one_out_split,
    pad_sequences,
    split_by_user,
    temporal_split,
    user_histories,
)


def events() -> pd.DataFrame:
    """Hand-made log, deliberately not in time order. Items encode (user, step) as u*10+step."""
    return pd.DataFrame(
        {
            "user": ["a", "b", "a", "c", "a", "b", "a", "b", "d", "d", "d"],
            "item": [13, 12, 11, 31, 14, 11, 12, 13, 41, 42, 43],
            "ts": [30, 20, 10, 5, 40, 10, 20, 30, 1, 2, 3],
        }
    )


def random_log(n=3000, n_users=60, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user": rng.integers(0, n_users, n),
            "item": rng.integers(1, 500, n),
            "ts": rng.integers(0, 200, n),  # many ties on purpose
        }
    )


# ------------------------------------------------------------------ pad_sequences


def test_pad_truncates_to_most_recent_and_pads_at_end():
    padded, lengths = pad_sequences([[1, 2, 3, 4, 5], [7, 8], []], max_len=3)
    assert PAD == -1  # the int64 padding of FeatureSpec, which the models map to their padding index
    np.testing.assert_array_equal(padded, [[3, 4, 5], [7, 8, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(lengths, [3, 2, 0])
    assert padded.dtype == np.int64 and lengths.dtype == np.int64


def test_pad_accepts_arrays_custom_pad_and_dtype():
    seqs = [np.array([5, 6]), np.array([9, 8, 7, 6])]
    padded, lengths = pad_sequences(seqs, max_len=3, pad_value=0, dtype=np.int32)
    np.testing.assert_array_equal(padded, [[5, 6, 0], [8, 7, 6]])
    np.testing.assert_array_equal(lengths, [2, 3])
    assert padded.dtype == np.int32


def test_pad_real_items_occupy_prefix_only():
    rng = np.random.default_rng(1)
    seqs = [rng.integers(1, 100, rng.integers(0, 12)).tolist() for _ in range(200)]
    padded, lengths = pad_sequences(seqs, max_len=8)
    for seq, row, n in zip(seqs, padded, lengths):
        assert n == min(len(seq), 8)
        assert row[:n].tolist() == seq[len(seq) - n :]
        assert (row[n:] == PAD).all()


def test_pad_empty_input_and_bad_max_len():
    padded, lengths = pad_sequences([], max_len=4)
    assert padded.shape == (0, 4) and lengths.shape == (0,)
    for bad in (0, -2, 2.5):
        with pytest.raises(ValueError, match="max_len must be a positive integer"):
            pad_sequences([[1]], max_len=bad)


# ------------------------------------------------------------------ user_histories


def test_user_histories_are_chronological_one_row_per_user():
    frame = events().assign(rating=np.arange(11))
    hist = user_histories(frame, "user", "item", "ts", extra_cols=["rating"])
    assert hist["user"].tolist() == ["a", "b", "c", "d"]
    assert hist.columns.tolist() == ["user", "item", "ts", "rating"]
    a = hist.set_index("user").loc["a"]
    assert a["item"] == [11, 12, 13, 14]
    assert a["ts"] == [10, 20, 30, 40]
    assert a["rating"] == [2, 6, 0, 4]  # extra columns follow the same order


def test_user_histories_ties_keep_file_order():
    frame = pd.DataFrame({"user": [1, 1, 1, 1], "item": [5, 6, 7, 8], "ts": [2, 1, 2, 1]})
    hist = user_histories(frame, "user", "item", "ts")
    assert hist["item"].iloc[0] == [6, 8, 5, 7]


def test_user_histories_missing_extra_column():
    with pytest.raises(ValueError, match=r"missing column\(s\) \['nope'\]"):
        user_histories(events(), "user", "item", "ts", extra_cols=["nope"])


# ------------------------------------------------------------------ history_before_each_event


def test_history_before_each_event_on_hand_made_frame():
    frame = events()
    hist, lengths = history_before_each_event(frame, "user", "item", "ts", max_len=2)
    got = {
        (user, item): (row, n)
        for user, item, row, n in zip(frame["user"], frame["item"], hist.tolist(), lengths.tolist())
    }
    assert got["a", 11] == ([-1, -1], 0)  # user a's first event: all padding, length 0
    assert got["a", 12] == ([11, -1], 1)  # left-aligned, padded at the end
    assert got["a", 13] == ([11, 12], 2)
    assert got["a", 14] == ([12, 13], 2)  # truncated to the 2 most recent
    assert got["b", 13] == ([11, 12], 2)  # other users' items never leak in
    assert got["c", 31] == ([-1, -1], 0)  # user c has a single event


def test_history_item_zero_is_an_item_and_pad_value_follows_the_spec():
    # 0 is a real raw id (the models' vocabularies only treat the spec's padding as padding)
    frame = events().assign(item=lambda f: f["item"] - 11)
    hist, _ = history_before_each_event(frame, "user", "item", "ts", max_len=2)
    assert hist[frame.index[(frame["user"] == "a") & (frame["ts"] == 20)][0]].tolist() == [0, -1]
    hist, _ = history_before_each_event(events(), "user", "item", "ts", max_len=2, pad_value=0)
    assert hist[frame.index[(frame["user"] == "a") & (frame["ts"] == 20)][0]].tolist() == [11, 0]


def test_history_never_leaks_the_event_or_the_future():
    frame = random_log()
    hist, lengths = history_before_each_event(frame, "user", "item", "ts", max_len=5)
    # Brute force reference: stable chronological order, take the rows strictly before.
    order = frame.sort_values("ts", kind="stable")
    for row in range(0, len(frame), 37):
        user = frame["user"].iat[row]
        seq = order[order["user"] == user]
        pos = seq.index.get_loc(frame.index[row])
        expected = seq["item"].to_numpy()[:pos][-5:]
        n = lengths[row]
        assert n == len(expected)
        np.testing.assert_array_equal(hist[row, :n], expected)
        assert (hist[row, n:] == PAD).all()
        # Every history item came from an event no later than this one.
        earlier = seq.iloc[:pos]
        assert (earlier["ts"] <= frame["ts"].iat[row]).all()


def test_history_target_mask_selects_rows_in_frame_order():
    frame = events()
    mask = frame["user"].eq("a").to_numpy()
    full, full_len = history_before_each_event(frame, "user", "item", "ts", max_len=3)
    sub, sub_len = history_before_each_event(frame, "user", "item", "ts", max_len=3, target_mask=mask)
    np.testing.assert_array_equal(sub, full[mask])
    np.testing.assert_array_equal(sub_len, full_len[mask])
    assert sub.shape == (4, 3)


def test_history_bad_arguments():
    frame = events()
    with pytest.raises(ValueError, match=r"column 'item' \(kind 'int'\): found the padding value -1 in 2 row\(s\), first at index 2"):
        history_before_each_event(frame.assign(item=frame["item"] - 12), "user", "item", "ts", 3)
    with pytest.raises(ValueError, match="target_mask: .* expected a boolean array of shape"):
        history_before_each_event(frame, "user", "item", "ts", 3, target_mask=[1, 0])
    with pytest.raises(ValueError, match="max_len must be a positive integer"):
        history_before_each_event(frame, "user", "item", "ts", 0)
    with pytest.raises(ValueError, match="missing column 'when'"):
        history_before_each_event(frame, "user", "item", "when", 3)


# ------------------------------------------------------------------ splits


def test_temporal_split_sizes_and_no_future_leakage():
    frame = random_log(n=5000)
    train, val, test = temporal_split(frame, "ts", ratios=(0.7, 0.1, 0.2))
    assert len(train) + len(val) + len(test) == len(frame)
    assert sorted(train.index.tolist() + val.index.tolist() + test.index.tolist()) == frame.index.tolist()
    # No training event is later than any validation event, nor validation than test;
    # tie groups are never cut, so the inequalities are strict.
    assert train["ts"].max() < val["ts"].min()
    assert val["ts"].max() < test["ts"].min()
    # Roughly the requested ratios (200 distinct timestamps, so ties shift cuts a little).
    assert abs(len(train) / len(frame) - 0.7) < 0.02
    assert abs(len(test) / len(frame) - 0.2) < 0.02


def test_temporal_split_without_ties_is_exact():
    frame = pd.DataFrame({"ts": np.arange(10)[::-1], "x": np.arange(10)})
    train, val, test = temporal_split(frame, "ts", ratios=(0.6, 0.2, 0.2))
    assert sorted(train["ts"]) == [0, 1, 2, 3, 4, 5]
    assert sorted(val["ts"]) == [6, 7]
    assert sorted(test["ts"]) == [8, 9]
    assert train.index.is_monotonic_increasing  # original order and index kept


def test_temporal_split_bad_ratios():
    for ratios in [(0.5, 0.2, 0.2), (0.7, 0.3), (1.2, -0.1, -0.1)]:
        with pytest.raises(ValueError, match="sum to 1"):
            temporal_split(random_log(), "ts", ratios=ratios)


def test_leave_one_out_on_hand_made_frame():
    train, val, test = leave_one_out_split(events(), "user", "ts")
    assert sorted(zip(test["user"], test["item"])) == [("a", 14), ("b", 13), ("d", 43)]
    assert sorted(zip(val["user"], val["item"])) == [("a", 13), ("b", 12), ("d", 42)]
    assert sorted(zip(train["user"], train["item"])) == [
        ("a", 11), ("a", 12), ("b", 11), ("c", 31), ("d", 41)
    ]  # c has 1 event (< 3): stays in train


def test_leave_one_out_short_users_stay_in_train_and_ties_use_file_order():
    frame = pd.DataFrame({"user": [1, 1, 2, 2, 2], "item": [1, 2, 3, 4, 5], "ts": [5, 6, 7, 7, 7]})
    train, val, test = leave_one_out_split(frame, "user", "ts")
    assert train["item"].tolist() == [1, 2, 3]
    assert val["item"].tolist() == [4]
    assert test["item"].tolist() == [5]


def test_split_by_user_disjoint_complete_and_deterministic():
    frame = random_log(n=4000, n_users=200)
    train, val, test = split_by_user(frame, "user", ratios=(0.7, 0.15, 0.15), seed=3)
    users = [set(part["user"]) for part in (train, val, test)]
    assert not (users[0] & users[1]) and not (users[0] & users[2]) and not (users[1] & users[2])
    assert users[0] | users[1] | users[2] == set(frame["user"])
    assert len(train) + len(val) + len(test) == len(frame)
    assert [len(u) for u in users] == [140, 30, 30]

    again = split_by_user(frame, "user", ratios=(0.7, 0.15, 0.15), seed=3)
    assert all(a.index.equals(b.index) for a, b in zip((train, val, test), again))
    other = split_by_user(frame, "user", ratios=(0.7, 0.15, 0.15), seed=4)
    assert set(other[2]["user"]) != users[2]

    # Depends on the set of users, not on row order.
    shuffled = split_by_user(frame.sample(frac=1.0, random_state=0), "user", ratios=(0.7, 0.15, 0.15), seed=3)
    assert set(shuffled[2]["user"]) == users[2]


def test_split_by_user_bad_args():
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_user(random_log(), "user", ratios=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="missing column 'uid'"):
        split_by_user(random_log(), "uid")
    with pytest.raises(ValueError, match="found 1 missing value"):
        leave_one_out_split(events().assign(ts=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, np.nan]), "user", "ts")
