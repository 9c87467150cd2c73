"""User states in a dict of this process (tests, single-process services)."""
from __future__ import annotations

import numpy as np


class InMemoryStateStore:
    def __init__(self):
        self._data: dict[str, dict] = {}

    def get_many(self, keys):
        return [self._data.get(k) for k in keys]

    def put_many(self, keys, states):
        for k, s in zip(keys, states):
            self._data[k] = {n: np.array(v, copy=True) for n, v in s.items()}

    def __len__(self):
        return len(self._data)
