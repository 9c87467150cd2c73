"""Near-real-time (NRT) user states, the serving design of the SUM paper (Sec. 2):
keep each user's encoder state in a key-value store, update it on every event with the
exported ``update_state`` signature, and score candidates from the stored state with
``score_state`` -- no history is stored or re-read at request time.

    model = tf.saved_model.load("saved_models/sum/1")
    nrt = NRTUserStates(model, InMemoryStateStore())        # or RedisStateStore(redis.Redis())
    nrt.on_events(user_ids=[7], item_ids=[500_012], category_ids=[103])
    scores = nrt.score(user_ids=[7], item_ids=[[500_001, 500_002]], category_ids=[[101, 102]])

A state is the dict of arrays the signatures use (``memory`` [K, D], ``last_input`` [D]).
Any store with ``get_many(keys) -> list[dict | None]`` and ``put_many(keys, states)`` works.
"""
from __future__ import annotations

import io
from typing import Protocol, Sequence

import numpy as np

STATE_KEYS = ("memory", "last_input")


class StateStore(Protocol):
    def get_many(self, keys: Sequence[str]) -> list[dict | None]: ...

    def put_many(self, keys: Sequence[str], states: Sequence[dict]) -> None: ...


class InMemoryStateStore:
    """A dict in this process (tests, single-process services)."""

    def __init__(self):
        self._data: dict[str, dict] = {}

    def get_many(self, keys):
        return [self._data.get(k) for k in keys]

    def put_many(self, keys, states):
        for k, s in zip(keys, states):
            self._data[k] = {n: np.array(v, copy=True) for n, v in s.items()}

    def __len__(self):
        return len(self._data)


def encode_state(state: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, np.float32) for k, v in state.items()})
    return buf.getvalue()


def decode_state(blob: bytes) -> dict:
    with np.load(io.BytesIO(blob)) as data:
        return {k: data[k] for k in data.files}


class RedisStateStore:
    """States in Redis (redis-py client), one key per user: ``<prefix><user id>``, values
    are ``.npz`` blobs. Reads and writes are pipelined (one round trip per batch)."""

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


class NRTUserStates:
    """The NRT loop over a loaded SavedModel (or anything with the same signatures)."""

    def __init__(self, model, store: StateStore):
        self.signatures = model.signatures
        for name in ("initial_state", "update_state", "score_state"):
            if name not in self.signatures:
                raise ValueError(f"the model has no {name!r} signature; export a sequential SUM/GRU/RUM model")
        self.store = store

    def states(self, user_ids) -> dict:
        """Stored states of these users as a batch (new users start from the initial state)."""
        import tensorflow as tf

        keys = [str(u) for u in user_ids]
        found = self.store.get_many(keys)
        missing = [i for i, s in enumerate(found) if s is None]
        if missing:
            init = self.signatures["initial_state"](user_id=tf.constant(np.arange(len(missing), dtype=np.int64)))
            for j, i in enumerate(missing):
                found[i] = {k: init[k].numpy()[j] for k in STATE_KEYS}
        return {k: np.stack([s[k] for s in found]) for k in STATE_KEYS}

    def on_events(self, user_ids, item_ids, category_ids) -> None:
        """Apply one event per user (a batch of distinct users; repeat the call for a user's
        next event: order matters)."""
        import tensorflow as tf

        if len(set(map(str, user_ids))) != len(user_ids):
            raise ValueError("on_events takes one event per user per call; split repeated users "
                             "into successive calls so their events apply in order")
        state = self.states(user_ids)
        new = self.signatures["update_state"](
            memory=tf.constant(state["memory"]), last_input=tf.constant(state["last_input"]),
            item_id=tf.constant(np.asarray(item_ids, np.int64)),
            category_id=tf.constant(np.asarray(category_ids, np.int64)))
        memory, last = new["memory"].numpy(), new["last_input"].numpy()
        self.store.put_many([str(u) for u in user_ids],
                            [{"memory": memory[i], "last_input": last[i]} for i in range(len(user_ids))])

    def score(self, user_ids, item_ids, category_ids) -> np.ndarray:
        """Scores [B, C] of candidates [B, C] for users [B] from their stored states."""
        import tensorflow as tf

        state = self.states(user_ids)
        out = self.signatures["score_state"](
            memory=tf.constant(state["memory"]), last_input=tf.constant(state["last_input"]),
            item_ids=tf.constant(np.asarray(item_ids, np.int64)),
            category_ids=tf.constant(np.asarray(category_ids, np.int64)))
        return out["scores"].numpy()
