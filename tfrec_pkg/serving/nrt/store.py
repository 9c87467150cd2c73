"""What the NRT loop needs from a key-value store of states (users', and items' for models
with item states such as IMN-Net): a versioned read and a per-key compare-and-set -- per
group of keys when one event moves several states -- so that concurrent writers never
overwrite each other's updates."""
from __future__ import annotations

from typing import Hashable, NamedTuple, Protocol, Sequence

# A state is the dict of arrays the exported signatures take and return; SUM's user state:
STATE_KEYS = ("memory", "last_input")


class VersionedState(NamedTuple):
    state: dict | None   # None: nothing stored for this user yet
    version: Hashable    # opaque; hand it back to compare_and_set unchanged


class StateStore(Protocol):
    def read(self, keys: Sequence[str]) -> list[VersionedState]:
        """The states of these keys with their versions. Raises CorruptState naming every key
        whose stored value is not a state."""

    def compare_and_set(self, keys: Sequence[str], states: Sequence[dict],
                        versions: Sequence[Hashable], groups: Sequence[Hashable] | None = None) -> list[str]:
        """Write each key's state only if the key is still at ``version`` (the one read), each
        check-and-write atomic. Returns the keys not written because another writer changed
        them since they were read. ``groups`` (one label per key): a key is written only if
        every key of its group is still at its version (one event's user and item state
        move together or not at all); the keys of a group that lost all come back."""
