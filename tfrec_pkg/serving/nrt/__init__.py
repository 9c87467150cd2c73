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
from .memory_store import InMemoryStateStore
from .redis_store import RedisStateStore
from .store import STATE_KEYS, StateStore
from .user_states import NRTUserStates

__all__ = ["NRTUserStates", "StateStore", "InMemoryStateStore", "RedisStateStore", "STATE_KEYS"]
