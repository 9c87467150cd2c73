"""Near-real-time (NRT) user states, the serving design of the SUM paper (Sec. 2):
keep each user's encoder state in a key-value store, update it on every event with the
exported ``update_state`` signature, and score candidates from the stored state with
``score_state`` -- no history is stored or re-read at request time.

    model = tf.saved_model.load("saved_models/sum/1")
    nrt = NRTUserStates(model, RedisStateStore.connect("redis://127.0.0.1:6379/0"))  # or InMemoryStateStore()
    nrt.on_events(user_ids=[7], item_ids=[500_012], category_ids=[103])
    scores = nrt.score(user_ids=[7], item_ids=[[500_001, 500_002]], category_ids=[[101, 102]])

A state is the dict of arrays the signatures use (``memory`` [K, D], ``last_input`` [D]).

The same loop serves IMN-Net (JODIE's online serving), whose events move a user state
(``general_state``, ``limited_state``, ``last_item_id``) and an item state (``item_state``,
key ``item:<id>``) together; see :mod:`~tfrec_pkg.serving.nrt.user_states`:

    nrt = NRTUserStates(tf.saved_model.load("saved_models/imn_net/1"), store)
    nrt.on_events(user_ids=[7], item_ids=[500_012], timestamp=[1_764_000_000.0], is_purchase=[0.0],
                  features=[[...]])
    ids, scores = nrt.top_k(user_ids=[7], k=10, now=[1_764_000_060.0])

Times are in the unit of the training stream's timestamps (POSIX seconds for datetimes). The
states keep each user's and item's last time and each user's last purchase time, so the loop
turns an event's time into the model's raw deltas (time since the user's last interaction, the
item's last interaction, the user's last purchase), which the exported model standardises; an
id the store has not seen starts from the export's snapshot, times included.

Guarantees:
- Per user, read-update-write is atomic: the store offers a versioned read and a compare-and-set
  (``StateStore``), and ``on_events`` recomputes a user whose state another writer changed in
  between, so concurrent writers lose no update.
- An event is applied or handed back: ``on_events`` raises ``EventsNotApplied`` carrying the
  events that are not in the store (store down or timed out, corrupt stored state, contention
  past ``max_attempts``) and why; the call's other events are applied.
- A stored value that is not a state of the model raises ``CorruptState`` (a ValueError) naming
  the user and what was expected; stored values are never unpickled.

Deployment (Redis): an applied event survives a crash of Redis only if Redis keeps an
append-only file -- run it with ``appendonly yes`` and ``appendfsync always`` (every
acknowledged write is on disk; ``everysec`` may lose the last ~1 s). With RDB snapshots alone a
killed Redis comes back with every state as of the last snapshot, without any error.
``RedisStateStore`` warns when it sees AOF off. Use ``RedisStateStore.connect`` (short socket
timeouts, no backoff) so that with Redis down a call fails in about a second instead of
waiting 3-4 s on redis-py's default retries.
"""
from .errors import CorruptState, EventsNotApplied
from .memory_store import InMemoryStateStore
from .redis_store import RedisStateStore
from .store import STATE_KEYS, StateStore, VersionedState
from .user_states import NRTUserStates

__all__ = ["NRTUserStates", "StateStore", "VersionedState", "InMemoryStateStore", "RedisStateStore",
           "CorruptState", "EventsNotApplied", "STATE_KEYS"]
