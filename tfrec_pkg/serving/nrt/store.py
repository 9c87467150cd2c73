"""What the NRT loop needs from a key-value store of user states."""
from __future__ import annotations

from typing import Protocol, Sequence

# A state is the dict of arrays the exported signatures take and return.
STATE_KEYS = ("memory", "last_input")


class StateStore(Protocol):
    def get_many(self, keys: Sequence[str]) -> list[dict | None]: ...

    def put_many(self, keys: Sequence[str], states: Sequence[dict]) -> None: ...
