"""The NRT loop: read users' states, run the exported one-step encoder on their events, write
the new states back; score candidates from the stored states."""
from __future__ import annotations

import random
import time

import numpy as np

from .errors import CorruptState, EventsNotApplied
from .store import STATE_KEYS, StateStore, VersionedState


class NRTUserStates:
    """The NRT loop over a loaded SavedModel (or anything with the same signatures).

    Several writers (threads, processes) may update the same users: each user's
    read-update-write is a compare-and-set on the store, and a user another writer updated in
    between is recomputed from the fresh state, up to ``max_attempts`` writes per call."""

    def __init__(self, model, store: StateStore, *, max_attempts: int = 16):
        self.signatures = model.signatures
        for name in ("initial_state", "update_state", "score_state"):
            if name not in self.signatures:
                raise ValueError(f"the model has no {name!r} signature; export a sequential SUM/GRU/RUM model")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.store = store
        self.max_attempts = max_attempts
        self.initial_state = self._initial_state()

    def _initial_state(self) -> dict:
        """One user's starting state; the exported initial_state is the same for every user."""
        import tensorflow as tf

        out = self.signatures["initial_state"](user_id=tf.constant([0], tf.int64))
        return {k: np.asarray(out[k])[0] for k in STATE_KEYS}

    def states(self, user_ids) -> dict:
        """Stored states of these users as a batch (new users start from the initial state).
        Raises CorruptState naming the users whose stored value is not a state of this model."""
        return _stack([v.state for v in self._read([str(u) for u in user_ids])])

    def _read(self, keys) -> list[VersionedState]:
        found = self.store.read(keys)
        expected = {k: v.shape for k, v in self.initial_state.items()}
        reasons = {}
        for key, (state, _) in zip(keys, found):
            shapes = expected if state is None else {k: np.shape(state[k]) for k in STATE_KEYS}
            if shapes != expected:  # e.g. states of an earlier model with another K or D
                reasons[key] = f"state shapes {shapes} do not fit the model's {expected}"
        if reasons:
            raise CorruptState(reasons)
        return [VersionedState(self.initial_state if s is None else s, v) for s, v in found]

    def _update(self, states: list[dict], item_ids, category_ids) -> list[dict]:
        import tensorflow as tf

        batch = _stack(states)
        new = self.signatures["update_state"](
            memory=tf.constant(batch["memory"]), last_input=tf.constant(batch["last_input"]),
            item_id=tf.constant(item_ids), category_id=tf.constant(category_ids))
        arrays = {k: np.asarray(new[k]) for k in STATE_KEYS}
        return [{k: arrays[k][i] for k in STATE_KEYS} for i in range(len(states))]

    def on_events(self, user_ids, item_ids, category_ids) -> int:
        """Apply one event per user (a batch of distinct users; repeat the call for a user's
        next event: order matters). Returns how many user updates were recomputed because
        another writer got there first (0 without contention).

        Raises EventsNotApplied, after applying the other events, with the events that are
        not in the store: a corrupt stored state, a store that fails (unreachable, timed out),
        or a user still contended after ``max_attempts`` writes. Nothing is dropped silently."""
        keys = [str(u) for u in user_ids]
        if len(set(keys)) != len(keys):
            raise ValueError("on_events takes one event per user per call; split repeated users "
                             "into successive calls so their events apply in order")
        items, categories = np.asarray(item_ids, np.int64), np.asarray(category_ids, np.int64)
        row = {k: i for i, k in enumerate(keys)}
        pending, reasons, recomputed = keys, {}, 0

        def not_applied(in_flight=()):
            failed = sorted(row[k] for k in set(pending) | set(reasons))
            return EventsNotApplied([user_ids[i] for i in failed], items[failed].tolist(),
                                    categories[failed].tolist(), reasons, [user_ids[row[k]] for k in in_flight])

        for attempt in range(self.max_attempts):
            if attempt:
                recomputed += len(pending)
                # jitter, so that writers that collided do not collide again in lockstep
                time.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 6)))
            try:
                pending, current = self._readable(pending, reasons)
                rows = [row[k] for k in pending]
                new = self._update([c.state for c in current], items[rows], categories[rows]) if pending else []
            except Exception as e:
                reasons.update({k: f"not read or updated: {_describe(e)}" for k in pending})
                raise not_applied() from e
            try:
                lost = set(self.store.compare_and_set(pending, new, [c.version for c in current]))
            except Exception as e:
                reasons.update({k: f"not written: {_describe(e)}" for k in pending})
                raise not_applied(in_flight=pending) from e
            pending = [k for k in pending if k in lost]
            if not pending:
                break
        for k in pending:
            reasons[k] = f"other writers kept changing the state ({self.max_attempts} attempts)"
        if reasons:
            raise not_applied()
        return recomputed

    def _readable(self, keys, reasons) -> tuple[list[str], list[VersionedState]]:
        """The keys whose states read, with their states; the others go into ``reasons``, so
        that one corrupt user does not hold back a batch."""
        try:
            return keys, self._read(keys)
        except CorruptState as e:
            reasons.update(e.reasons)
            keys = [k for k in keys if k not in e.reasons]
            return keys, self._read(keys)

    def score(self, user_ids, item_ids, category_ids) -> np.ndarray:
        """Scores [B, C] of candidates [B, C] for users [B] from their stored states."""
        import tensorflow as tf

        state = self.states(user_ids)
        out = self.signatures["score_state"](
            memory=tf.constant(state["memory"]), last_input=tf.constant(state["last_input"]),
            item_ids=tf.constant(np.asarray(item_ids, np.int64)),
            category_ids=tf.constant(np.asarray(category_ids, np.int64)))
        return np.asarray(out["scores"])


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _stack(states: list[dict]) -> dict:
    return {k: np.stack([s[k] for s in states]) for k in STATE_KEYS}
