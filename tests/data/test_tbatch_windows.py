"""The windowed t-batch pipeline (tfrec_pkg/data/tbatch_windows.py): every row of the asked
splits once, t-batches and evaluation runs without a repeated user or item, runs in time order."""
import numpy as np

import tfrec_pkg  # noqa: F401

from tfrec_pkg.data.synthetic.resource_limited import resource_limited
from tfrec_pkg.data.tbatch_windows import WindowedStream, consecutive_runs


def test_windows_cover_each_row_once_without_repeats_inside_a_step():
    stream = WindowedStream.from_stream(resource_limited(num_users=10, num_items=20, num_events=500, seed=3), parts=20)
    for splits, order in ((("train",), "tbatch"), (("val", "test"), "time")):
        seen = []
        for rows, bounds in stream.window_steps(splits, order, max_step=7):
            assert len(set(stream.windows[rows].tolist())) == 1            # a window per element
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                step = rows[lo:hi]
                assert 0 < len(step) <= (7 if order == "time" else len(step))
                assert len(set(stream.columns["user"][step])) == len(step)
                assert len(set(stream.columns["item"][step])) == len(step)
            seen.append(rows)
        seen = np.concatenate(seen)
        np.testing.assert_array_equal(np.sort(seen), np.flatnonzero(np.isin(stream.split, splits)))
        if order == "time":
            np.testing.assert_array_equal(seen, np.sort(seen))              # evaluation keeps time order
    assert abs(stream.columns["user_delta"][stream.split == "train"].mean()) < 1e-5   # standardised on train


def test_elements_carry_raw_float64_times():
    data = resource_limited(num_users=10, num_items=20, num_events=300, seed=3)
    stream = WindowedStream.from_stream(data, parts=10)
    assert stream.time_origin == data.frame["timestamp"].min()
    rows, _ = stream.window_steps(("val",), "time")[0]
    first = next(iter(stream.dataset("val", order="time")))
    assert first["timestamp"].dtype.name == "float64"
    np.testing.assert_array_equal(first["timestamp"].numpy(), data.frame["timestamp"].to_numpy(np.float64)[rows])


def test_consecutive_runs_cut_at_a_repeat_a_segment_or_the_size():
    users = np.array([1, 2, 1, 3, 4, 5, 6])
    items = np.array([7, 8, 9, 8, 1, 2, 3])
    segments = np.array([0, 0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(consecutive_runs(users, items, segments, 10), [0, 2, 5, 7])
    np.testing.assert_array_equal(consecutive_runs(users, items, segments, 1), np.arange(8))
