"""The NRT loop: read users' states, run the exported one-step encoder on their events, write
the new states back; score candidates from the stored states."""
from __future__ import annotations

import numpy as np

from .store import STATE_KEYS, StateStore


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
