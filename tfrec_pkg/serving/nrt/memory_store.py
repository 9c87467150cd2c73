"""User states in a dict of this process (tests, single-process services)."""
from __future__ import annotations

import itertools
import threading

import numpy as np

from .store import VersionedState

ABSENT = 0


class InMemoryStateStore:
    """Versions are write numbers; one lock makes each compare-and-set atomic. Stored arrays are
    read-only copies, so reads hand them out without copying."""

    def __init__(self):
        self._data: dict[str, VersionedState] = {}
        self._lock = threading.Lock()
        self._writes = itertools.count(ABSENT + 1)

    def read(self, keys):
        with self._lock:
            return [self._data.get(k, VersionedState(None, ABSENT)) for k in keys]

    def compare_and_set(self, keys, states, versions, groups=None):
        groups = range(len(keys)) if groups is None else groups  # default: every key its own group
        with self._lock:
            failed = {g for key, version, g in zip(keys, versions, groups)
                      if self._data.get(key, VersionedState(None, ABSENT)).version != version}
            for key, state, g in zip(keys, states, groups):
                if g not in failed:
                    self._data[key] = VersionedState(_frozen_copy(state), next(self._writes))
        return [key for key, g in zip(keys, groups) if g in failed]

    def __len__(self):
        return len(self._data)


def _frozen_copy(state: dict) -> dict:
    out = {}
    for name, value in state.items():
        out[name] = np.array(value, copy=True)
        out[name].setflags(write=False)
    return out
