"""The NRT loop: read the states an event moves, run the exported one-step update on the events,
write the new states back; score candidates from the stored states. One loop serves two state
contracts, told apart by the model's signatures:

* SUM (and its GRU / RUM encoders): a user state ``memory`` [K, D] + ``last_input`` [D]; an
  event is (user, item, category); signatures ``initial_state`` / ``update_state`` /
  ``score_state``; every new user starts from the same initial state.
* IMN-Net (JODIE's serving design): a user state ``general_state`` [d] + ``limited_state`` [d] +
  ``last_item_id`` [] + ``last_time`` [] + ``last_purchase_time`` [] and an item state
  ``item_state`` [d] + ``last_time`` [] (store key ``item:<item id>``); an event is (user, item,
  ``timestamp``, ``is_purchase`` [, ``features``]) and moves the user's and the item's state
  together (one group compare-and-set: both or neither). The loop turns the event's time into
  the model's raw deltas with the stored times (time since the user's last interaction, the
  item's last interaction, the user's last purchase; the exported model standardises them), so
  times are in the unit of the training stream's timestamps (POSIX seconds for datetimes,
  :func:`tfrec_pkg.data.interactions.seconds`). An event older than its user's or item's last
  one is handed back, not applied. Ids the store has not seen start from the export's snapshot
  (``initial_state`` / ``initial_item_state``: states and last times as of the end of the
  stream the model last ran). ``score`` ranks given candidates with their stored item states
  (``score_state``); ``top_k`` ranks every item with the snapshot's item states (the stored
  state of the user's last item is passed in); both at the time ``now`` per user.
"""
from __future__ import annotations

import random
import time

import numpy as np

from .errors import CorruptState, EventsNotApplied
from .store import STATE_KEYS, StateStore, VersionedState

ITEM_PREFIX = "item:"   # store key of an item's state: ITEM_PREFIX + str(item id)
IMN_USER_KEYS = ("general_state", "limited_state", "last_item_id", "last_time", "last_purchase_time")
IMN_ITEM_KEYS = ("item_state", "last_time")
IMN_EVENT_COLUMNS = ("timestamp", "is_purchase")


def _with_initial(found, ids, initial) -> list[VersionedState]:
    """The stored states, with ``initial(ids)`` in place of the ids the store has not seen (their
    version kept, so the first write is still a compare-and-set)."""
    fresh = [i for i, (state, _) in enumerate(found) if state is None]
    out = list(found)
    for i, state in zip(fresh, initial([ids[i] for i in fresh]) if fresh else []):
        out[i] = VersionedState(state, found[i].version)
    return out


def _tensor(signature, name, values):
    """``values`` as a tensor of the signature input ``name``'s dtype."""
    import tensorflow as tf

    spec = signature.structured_input_signature[1][name]
    return tf.constant(np.asarray(values, dtype=object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype),
                       spec.dtype)


class _SUMStates:
    """SUM's contract: user states only, the same initial state for every user."""

    signatures = ("initial_state", "update_state", "score_state")
    user_keys, item_keys = STATE_KEYS, None

    def __init__(self, signatures):
        import tensorflow as tf

        self.sig = signatures
        out = signatures["initial_state"](user_id=tf.constant([0], tf.int64))  # the same for every user
        self.initial = {k: np.asarray(out[k])[0] for k in STATE_KEYS}
        self.user_shapes = {k: v.shape for k, v in self.initial.items()}

    def initial_users(self, user_ids):
        return [self.initial] * len(user_ids)

    def event_columns(self, n, category_ids, columns) -> dict:
        if category_ids is None or columns:
            raise ValueError(f"SUM events are (user_ids, item_ids, category_ids); got extra columns {sorted(columns)}"
                             if columns else "SUM events need category_ids")
        return {"category_ids": np.asarray(category_ids, np.int64)}

    def out_of_order(self, users, items, columns) -> dict:
        return {}   # SUM's events carry no time

    def update(self, users, items, item_ids, columns, item_states=None):
        import tensorflow as tf

        batch = _stack(users, STATE_KEYS)
        new = self.sig["update_state"](
            memory=tf.constant(batch["memory"]), last_input=tf.constant(batch["last_input"]),
            item_id=tf.constant(np.asarray(item_ids, np.int64)), category_id=tf.constant(columns["category_ids"]))
        return _unstack(new, STATE_KEYS, len(users)), None


class _IMNStates:
    """IMN-Net's contract: user and item states, unseen ids from the export's snapshot."""

    signatures = ("initial_state", "initial_item_state", "update_state", "score_state", "top_k")
    user_keys, item_keys = IMN_USER_KEYS, IMN_ITEM_KEYS

    def __init__(self, signatures):
        self.sig = signatures
        d = int(signatures["update_state"].structured_input_signature[1]["general_state"].shape[-1])
        self.user_shapes = {"general_state": (d,), "limited_state": (d,), "last_item_id": (), "last_time": (),
                            "last_purchase_time": ()}
        self.item_shapes = {"item_state": (d,), "last_time": ()}
        self.features = "features" in signatures["update_state"].structured_input_signature[1]

    def initial_users(self, user_ids):
        out = self.sig["initial_state"](user_id=_tensor(self.sig["initial_state"], "user_id", user_ids))
        return _unstack(out, IMN_USER_KEYS, len(user_ids))

    def initial_items(self, item_ids):
        out = self.sig["initial_item_state"](item_id=_tensor(self.sig["initial_item_state"], "item_id", item_ids))
        return _unstack(out, IMN_ITEM_KEYS, len(item_ids))

    def event_columns(self, n, category_ids, columns) -> dict:
        wanted = IMN_EVENT_COLUMNS + (("features",) if self.features else ())
        missing, extra = sorted(set(wanted) - set(columns)), sorted(set(columns) - set(wanted))
        extra += ["category_ids"] if category_ids is not None else []
        if missing or extra:
            raise ValueError(f"IMN-Net events are user_ids, item_ids and the columns {list(wanted)} "
                             f"(event times in the stream's unit, is_purchase 1/0"
                             f"{', features [n, F]' if self.features else ''}); missing {missing}, unexpected {extra}")
        out = {k: np.asarray(columns[k], np.float64 if k == "timestamp" else np.float32) for k in wanted}
        for k, v in out.items():
            if len(v) != n:
                raise ValueError(f"column {k!r} has {len(v)} rows for {n} events")
        if not np.isfinite(out["timestamp"]).all():
            raise ValueError(f"timestamp must be finite numbers, got {out['timestamp'].tolist()}")
        return out

    def out_of_order(self, users, items, columns) -> dict:
        """{position: why} for the events older than their user's or item's last one."""
        t, out = columns["timestamp"], {}
        for r, (user, item) in enumerate(zip(users, items)):
            older = [f"the {who}'s last event at {float(state['last_time'])!r}"
                     for who, state in (("user", user), ("item", item)) if t[r] < state["last_time"]]
            if older:
                out[r] = f"event time {float(t[r])!r} is before " + " and ".join(older)
        return out

    def update(self, users, items, item_ids, columns, user_ids=None):
        import tensorflow as tf

        u, i = _stack(users, IMN_USER_KEYS), _stack(items, IMN_ITEM_KEYS)
        t, bought = columns["timestamp"], columns["is_purchase"] > 0
        deltas = {"user_delta": t - u["last_time"], "item_delta": t - i["last_time"],
                  "user_since_purchase": t - u["last_purchase_time"]}
        fn = self.sig["update_state"]
        new = fn(user_id=_tensor(fn, "user_id", user_ids), item_id=_tensor(fn, "item_id", item_ids),
                 general_state=tf.constant(u["general_state"]), limited_state=tf.constant(u["limited_state"]),
                 item_state=tf.constant(i["item_state"]),
                 **{k: tf.constant(v, tf.float32) for k, v in deltas.items()},
                 **{k: tf.constant(v) for k, v in columns.items() if k != "timestamp"})
        new = dict(new) | {"last_time": t, "last_purchase_time": np.where(bought, t, u["last_purchase_time"])}
        return _unstack(new, IMN_USER_KEYS, len(users)), _unstack(new, IMN_ITEM_KEYS, len(users))


CONTRACTS = (_IMNStates, _SUMStates)


class NRTUserStates:
    """The NRT loop over a loaded SavedModel (or anything with the same signatures) of SUM or
    IMN-Net (module docstring).

    Several writers (threads, processes) may update the same users (and items): each event's
    read-update-write is a compare-and-set on the store, and an event whose states another
    writer changed in between is recomputed from the fresh states, up to ``max_attempts``
    writes per call."""

    def __init__(self, model, store: StateStore, *, max_attempts: int = 16):
        self.signatures = model.signatures
        contract = next((c for c in CONTRACTS if all(n in self.signatures for n in c.signatures)), None)
        if contract is None:
            missing = [n for n in _SUMStates.signatures if n not in self.signatures]
            raise ValueError(f"the model has no {missing[0]!r} signature; export a sequential SUM/GRU/RUM model "
                             "or IMN-Net")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.store = store
        self.max_attempts = max_attempts
        self.contract = contract(self.signatures)
        self.initial_state = getattr(self.contract, "initial", None)   # SUM: every user's starting state

    # --- reading ---------------------------------------------------------------------------
    def states(self, user_ids) -> dict:
        """Stored states of these users as a batch (new users start from the initial state).
        Raises CorruptState naming the users whose stored value is not a state of this model."""
        keys = [str(u) for u in user_ids]
        return _stack([v.state for v in self._read_users(keys, list(user_ids))], self.contract.user_keys)

    def item_states(self, item_ids) -> dict:
        """IMN-Net: stored item states of these items as a batch (unseen items: the snapshot)."""
        self._need_items("item_states")
        keys = [ITEM_PREFIX + str(i) for i in item_ids]
        found = self._read_items(keys, list(item_ids), owners=keys)
        return _stack([v.state for v in found], IMN_ITEM_KEYS)

    def _need_items(self, what):
        if self.contract.item_keys is None:
            raise ValueError(f"{what} is for models with item states (IMN-Net); this model keeps user states only")

    def _checked(self, keys, found, owners, shapes, kind) -> dict:
        """{owner key: why} for the stored values that are not states of this model."""
        reasons = {}
        for key, owner, (state, _) in zip(keys, owners, found):
            if state is None:
                continue
            what = "state" if kind == "user" else f"item state {key!r}:"
            if sorted(state) != sorted(shapes):   # e.g. another model's state under this key
                reasons[owner] = f"{what} arrays {sorted(state)} do not fit the model's {sorted(shapes)}"
                continue
            got = {k: np.shape(state[k]) for k in shapes}
            if got != shapes:   # e.g. states of an earlier model with another K or D
                reasons[owner] = f"{what} shapes {got} do not fit the model's {shapes}"
        return reasons

    def _read_users(self, keys, user_ids) -> list[VersionedState]:
        found = self.store.read(keys)
        reasons = self._checked(keys, found, keys, self.contract.user_shapes, "user")
        if reasons:
            raise CorruptState(reasons)
        return _with_initial(found, user_ids, self.contract.initial_users)

    def _read_items(self, keys, item_ids, owners) -> list[VersionedState]:
        try:
            found = self.store.read(keys)
        except CorruptState as e:   # name the owner (the user whose event reads the item)
            owner = dict(zip(keys, owners))
            raise CorruptState({owner.get(k, k): f"item state {k!r}: {why}" for k, why in e.reasons.items()}) from None
        reasons = self._checked(keys, found, owners, self.contract.item_shapes, "item")
        if reasons:
            raise CorruptState(reasons)
        return _with_initial(found, item_ids, self.contract.initial_items)

    # --- events ----------------------------------------------------------------------------
    def on_events(self, user_ids, item_ids, category_ids=None, **columns) -> int:
        """Apply one event per user (a batch of distinct users -- and, for IMN-Net, distinct
        items; repeat the call for the next events: order matters). SUM:
        ``on_events(user_ids, item_ids, category_ids)``; IMN-Net: ``on_events(user_ids, item_ids,
        timestamp=, is_purchase= [, features=])``. Returns
        how many updates were recomputed because another writer got there first (0 without
        contention).

        Raises EventsNotApplied, after applying the other events, with the events that are
        not in the store: a corrupt stored state, an IMN-Net event older than its user's or
        item's last one, a store that fails (unreachable, timed out), or a user still contended
        after ``max_attempts`` writes. Nothing is dropped silently."""
        keys = [str(u) for u in user_ids]
        if len(set(keys)) != len(keys):
            raise ValueError("on_events takes one event per user per call; split repeated users "
                             "into successive calls so their events apply in order")
        items = list(item_ids)
        with_items = self.contract.item_keys is not None
        item_keys = [ITEM_PREFIX + str(i) for i in items] if with_items else []
        if with_items and len(set(item_keys)) != len(item_keys):
            raise ValueError("on_events takes one event per item per call (an IMN-Net event moves the item's state "
                             "too); split repeated items into successive calls so their events apply in order")
        events = self.contract.event_columns(len(keys), category_ids, columns)
        row = {k: i for i, k in enumerate(keys)}
        pending, reasons, recomputed = keys, {}, 0

        def not_applied(in_flight=()):
            failed = sorted(row[k] for k in set(pending) | set(reasons))
            cats = events["category_ids"][failed].tolist() if "category_ids" in events else []
            others = {k: v[failed].tolist() for k, v in events.items() if k != "category_ids"}
            return EventsNotApplied([user_ids[i] for i in failed], [items[i] for i in failed], cats, reasons,
                                    [user_ids[row[k]] for k in in_flight], columns=others)

        for attempt in range(self.max_attempts):
            if attempt:
                recomputed += len(pending)
                # jitter, so that writers that collided do not collide again in lockstep
                time.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 6)))
            try:
                pending, users, stored_items = self._readable(pending, reasons, user_ids, items, item_keys, row,
                                                              events)
                rows = [row[k] for k in pending]
                cols = {k: v[rows] for k, v in events.items()}
                if not pending:
                    new_users, new_items = [], []
                elif with_items:
                    new_users, new_items = self.contract.update(
                        [c.state for c in users], [c.state for c in stored_items], [items[r] for r in rows], cols,
                        user_ids=[user_ids[r] for r in rows])
                else:
                    new_users, new_items = self.contract.update([c.state for c in users], None,
                                                                [items[r] for r in rows], cols)
            except Exception as e:
                reasons.update({k: f"not read or updated: {_describe(e)}" for k in pending})
                raise not_applied() from e
            try:
                if with_items:   # the user's and the item's state: both or neither
                    wkeys = pending + [item_keys[r] for r in rows]
                    lost = set(self.store.compare_and_set(
                        wkeys, new_users + new_items, [c.version for c in users + stored_items],
                        groups=list(range(len(pending))) * 2))
                else:
                    lost = set(self.store.compare_and_set(pending, new_users, [c.version for c in users]))
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

    def _readable(self, keys, reasons, user_ids, items, item_keys, row, events):
        """The keys whose states (and items' states) read and whose events are not older than
        those states, with the states; the others go into ``reasons``, so that one corrupt state
        or late event does not hold back a batch."""
        while True:
            try:
                users = self._read_users(keys, [user_ids[row[k]] for k in keys])
                stored_items = []
                if item_keys:
                    stored_items = self._read_items([item_keys[row[k]] for k in keys],
                                                    [items[row[k]] for k in keys], owners=keys)
            except CorruptState as e:
                left = [k for k in keys if k not in e.reasons]
                if len(left) == len(keys):
                    raise
                reasons.update(e.reasons)
                keys = left
                continue
            late = self.contract.out_of_order([c.state for c in users], [c.state for c in stored_items],
                                              {k: v[[row[key] for key in keys]] for k, v in events.items()})
            if not late:
                return keys, users, stored_items
            reasons.update({keys[r]: why for r, why in late.items()})
            keys = [k for r, k in enumerate(keys) if r not in late]

    # --- scoring ---------------------------------------------------------------------------
    def _imn_request(self, user_ids, now):
        """The stored user states of these users, the stored state of each one's last item and
        the raw deltas from their stored times to ``now``."""
        import tensorflow as tf

        state = self.states(user_ids)
        now = np.asarray(now, np.float64)
        if now.shape != (len(user_ids),) or not np.isfinite(now).all():
            raise ValueError(f"now must hold one finite time per user ({len(user_ids)}), got {now.tolist()}")
        early = [f"{_plain(u)!r} (last event at {float(t)!r})" for u, t, n in zip(user_ids, state["last_time"], now)
                 if n < t]
        if early:
            raise ValueError(f"now is before the last event of users {', '.join(early)}")
        last = self._read_items([ITEM_PREFIX + str(i) for i in state["last_item_id"]], list(state["last_item_id"]),
                                owners=[str(u) for u in user_ids])
        last_state = _stack([v.state for v in last], IMN_ITEM_KEYS)["item_state"]
        fn = self.signatures["score_state"]
        return {"user_id": _tensor(fn, "user_id", list(user_ids)),
                "general_state": tf.constant(state["general_state"]),
                "limited_state": tf.constant(state["limited_state"]),
                "last_item_id": _tensor(fn, "last_item_id", state["last_item_id"]),
                "last_item_state": tf.constant(last_state),
                "user_delta": tf.constant(now - state["last_time"], tf.float32),
                "user_since_purchase": tf.constant(now - state["last_purchase_time"], tf.float32)}

    def score(self, user_ids, item_ids, category_ids=None, *, now=None) -> np.ndarray:
        """Scores [B, C] of candidates [B, C] for users [B] from their stored states. SUM:
        ``score(user_ids, item_ids, category_ids)``; IMN-Net: ``score(user_ids, item_ids, now=)``
        (each user's current time, in the stream's unit), the candidates scored with their
        stored states."""
        import tensorflow as tf

        if self.contract.item_keys is None:
            state = self.states(user_ids)
            out = self.signatures["score_state"](
                memory=tf.constant(state["memory"]), last_input=tf.constant(state["last_input"]),
                item_ids=tf.constant(np.asarray(item_ids, np.int64)),
                category_ids=tf.constant(np.asarray(category_ids, np.int64)))
            return np.asarray(out["scores"])
        if now is None or category_ids is not None:
            raise ValueError("IMN-Net scores take user_ids, item_ids [B, C] and now (the time per user)")
        request = self._imn_request(user_ids, now)
        candidates = np.asarray(item_ids)
        stored = self._read_items([ITEM_PREFIX + str(i) for i in candidates.reshape(-1)], list(candidates.reshape(-1)),
                                  owners=[str(u) for u in np.repeat(np.asarray(user_ids), candidates.shape[1])])
        states = _stack([v.state for v in stored], IMN_ITEM_KEYS)["item_state"]
        fn = self.signatures["score_state"]
        out = fn(**request, item_ids=_tensor(fn, "item_ids", candidates),
                 item_states=tf.constant(states.reshape(candidates.shape + states.shape[-1:])))
        return np.asarray(out["scores"])

    def top_k(self, user_ids, k=10, *, now) -> tuple[np.ndarray, np.ndarray]:
        """IMN-Net: the k best raw item ids [B, k] and their scores for users [B] in their stored
        states at times ``now`` [B], over every item with the export's snapshot of item states
        (the stored state of each user's last item is passed in)."""
        import tensorflow as tf

        self._need_items("top_k")
        request = self._imn_request(user_ids, now)
        out = self.signatures["top_k"](**request, k=tf.fill([len(user_ids)], tf.constant(int(k), tf.int64)))
        return np.asarray(out["item_ids"]), np.asarray(out["scores"])


def _plain(value):
    """A numpy scalar as the Python value it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _stack(states: list[dict], keys) -> dict:
    return {k: np.stack([s[k] for s in states]) if states else np.zeros((0,)) for k in keys}


def _unstack(outputs, keys, n) -> list[dict]:
    arrays = {k: np.asarray(outputs[k]) for k in keys}
    return [{k: arrays[k][i] for k in keys} for i in range(n)]
