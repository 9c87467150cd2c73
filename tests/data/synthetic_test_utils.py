"""Shared checks for the planted-data generators' tests."""
import numpy as np
import pandas as pd


def assert_deterministic_by_seed(a, b, c, scalars, lists):
    """a and b come from the same seed, c from another: a == b exactly, c differs."""
    pd.testing.assert_frame_equal(a.frame[scalars], b.frame[scalars])
    for col in lists:
        assert all(np.array_equal(x, y) for x, y in zip(a.frame[col], b.frame[col]))
    np.testing.assert_array_equal(a.split_of, b.split_of)
    pd.testing.assert_frame_equal(a.items, b.items)
    assert not a.frame["item_id"].equals(c.frame["item_id"])
