"""t-batches (tfrec_pkg/data/tbatch.py): the vectorised ids equal JODIE's loop exactly on random
streams (shapes from one dominant entity to many, several block sizes, with and without windows),
the two properties a t-batch exists for (no user or item twice in one; every entity's
interactions in time order across them), JODIE's time windows, and edge cases."""
import numpy as np
import pytest

from tfrec_pkg.data.tbatch import jodie_windows, reference_tbatch_ids, tbatch_ids, tbatches


def stream(seed, n=None):
    """A random stream whose shape varies with the seed: few or many users and items, skewed or not."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000)) if n is None else n
    num_users, num_items = (int(rng.integers(1, k)) for k in (60, 60))
    if seed % 3 == 0:  # one entity dominates
        users = np.minimum(rng.zipf(1.5, size=n), num_users)
    else:
        users = rng.integers(num_users, size=n)
    return users, rng.integers(num_items, size=n)


def jodie_loop(users, items, timestamps, parts):
    """JODIE's training loop (jodie.py), reduced to the t-batch bookkeeping: the t-batches of
    each closed window, then those of the last one."""
    span = (timestamps[-1] - timestamps[0]) / parts
    last_user, last_item, current, windows, start = {}, {}, {}, [], None
    for j, (u, i, t) in enumerate(zip(users, items, timestamps)):
        k = max(last_user.get(u, -1), last_item.get(i, -1)) + 1
        last_user[u] = last_item[i] = k
        current.setdefault(k, []).append(j)
        start = t if start is None else start
        if t - start > span:
            start = t
            windows.extend(current[k] for k in sorted(current))
            last_user, last_item, current = {}, {}, {}
    return windows + [current[k] for k in sorted(current)]


@pytest.mark.parametrize("seed", range(12))
def test_equals_the_reference_loop(seed):
    users, items = stream(seed)
    want = reference_tbatch_ids(users, items)
    for block in (1, 7, 256, 4096):
        np.testing.assert_array_equal(tbatch_ids(users, items, block=block), want)
    segments = np.sort(np.random.default_rng(seed).integers(0, 6, size=len(users)))
    np.testing.assert_array_equal(tbatch_ids(users, items, segments, block=64),
                                  reference_tbatch_ids(users, items, segments))


@pytest.mark.parametrize("seed", range(6))
def test_each_entity_once_per_tbatch_and_in_time_order(seed):
    users, items = stream(seed)
    batches = list(tbatches(users, items))
    rows = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(rows), np.arange(len(users)))  # every row exactly once
    where = np.empty(len(users), np.int64)
    for k, batch in enumerate(batches):
        assert len(set(users[batch])) == len(batch) and len(set(items[batch])) == len(batch)
        assert np.all(np.diff(batch) > 0)  # rows of a t-batch in time order
        where[batch] = k
    for ids in (users, items):
        for entity in np.unique(ids):
            assert np.all(np.diff(where[ids == entity]) > 0)  # strictly later t-batch each time


def test_tbatches_restart_per_window_and_match_jodie():
    rng = np.random.default_rng(0)
    n = 2000
    users, items = rng.integers(30, size=n), rng.integers(20, size=n)
    timestamps = np.sort(rng.exponential(10.0, size=n)).cumsum()
    windows = jodie_windows(timestamps, parts=50)
    got = [b.tolist() for b in tbatches(users, items, windows)]
    assert got == jodie_loop(users.tolist(), items.tolist(), timestamps.tolist(), 50)
    assert windows[0] == 0 and np.all(np.diff(windows) >= 0) and 40 <= windows[-1] <= 60


def test_jodie_windows_by_hand():
    # span = 10 / 5 = 2: window 0 starts at t=0 and closes at 3 (> 0 + 2), which it keeps;
    # window 1 starts at 3 and closes at 5.5; window 2 starts at 5.5, 7.5 is not > 7.5, so it
    # closes at 10 (and keeps it); window 3 holds the rest.
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.5, 6.0, 7.5, 10.0, 11.0, 12.0])
    np.testing.assert_array_equal(jodie_windows(t, parts=6), [0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
    np.testing.assert_array_equal(jodie_windows(np.zeros(4)), [0, 0, 0, 0])  # no time span: one window
    assert len(jodie_windows([])) == 0
    with pytest.raises(ValueError, match="time"):
        jodie_windows([2.0, 1.0])


def test_edge_cases():
    assert tbatch_ids([], []).shape == (0,) and list(tbatches([], [])) == []
    np.testing.assert_array_equal(tbatch_ids([5], [9]), [0])
    np.testing.assert_array_equal(tbatch_ids(np.zeros(5), np.arange(5)), np.arange(5))   # one user: a chain
    np.testing.assert_array_equal(tbatch_ids(np.arange(5), np.ones(5)), np.arange(5))    # one item: a chain
    np.testing.assert_array_equal(tbatch_ids(np.arange(5), np.arange(5)), np.zeros(5))   # all distinct: one t-batch
    # string ids, and the same id used for a user and an item means nothing
    np.testing.assert_array_equal(tbatch_ids(["a", "b", "a", "c"], ["x", "x", "y", "a"]), [0, 1, 1, 0])


@pytest.mark.parametrize("args, match", [(([1, 2], [1]), "same length"), (([1, None], [1, 2]), "users: found missing"),
                                         (([1, 2], [1, 2], [1, 0]), "non-decreasing")])
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        tbatch_ids(*args)
