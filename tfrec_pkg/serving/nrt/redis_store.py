"""User states in Redis (redis-py client)."""
from __future__ import annotations

from .codec import decode_state, encode_state


class RedisStateStore:
    """One key per user: ``<prefix><user id>``, values are ``.npz`` blobs. Reads and writes
    are pipelined (one round trip per batch)."""

    def __init__(self, client, prefix: str = "tfrec:state:", ttl_seconds: int | None = None):
        self.client = client
        self.prefix = prefix
        self.ttl = ttl_seconds

    def get_many(self, keys):
        blobs = self.client.mget([self.prefix + k for k in keys]) if keys else []
        return [decode_state(b) if b is not None else None for b in blobs]

    def put_many(self, keys, states):
        pipe = self.client.pipeline(transaction=False)
        for k, s in zip(keys, states):
            pipe.set(self.prefix + k, encode_state(s), ex=self.ttl)
        pipe.execute()
