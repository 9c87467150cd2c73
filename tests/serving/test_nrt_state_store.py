"""The NRT state loop (tfrec_pkg/serving/nrt) against its stores, without a trained model:
concurrent writers lose no update, a killed and restarted Redis (AOF) keeps every applied
event, a corrupt stored value names its user, and with Redis down the events come back to the
caller promptly. Redis is a real redis-server on a loopback port (fixture redis_server)."""
from __future__ import annotations

import io
import pickle
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tfrec_pkg.serving.nrt import (CorruptState, EventsNotApplied, InMemoryStateStore, NRTUserStates,
                                   RedisStateStore)

K, D = 2, 3


class CountingModel:
    """Stands in for an exported SUM model: every event adds 1 to each entry of ``memory`` (so
    memory counts the applied events) and ``last_input`` holds the last item id; a user's score is
    the sum of memory. ``update_seconds`` is the inference time: the window in which writers race."""

    def __init__(self, update_seconds: float = 0.0):
        self.update_seconds = update_seconds
        self.signatures = {"initial_state": self.initial_state, "update_state": self.update_state,
                           "score_state": self.score_state}

    def initial_state(self, user_id):
        n = len(np.asarray(user_id))
        return {"memory": np.zeros((n, K, D), np.float32), "last_input": np.zeros((n, D), np.float32)}

    def update_state(self, memory, last_input, item_id, category_id):
        time.sleep(self.update_seconds)
        last = np.repeat(np.asarray(item_id, np.float32)[:, None], D, axis=1)
        return {"memory": np.asarray(memory) + 1, "last_input": last}

    def score_state(self, memory, last_input, item_ids, category_ids):
        total = np.asarray(memory).sum(axis=(1, 2))
        return {"scores": np.broadcast_to(total[:, None], np.shape(item_ids))}


def events_applied(nrt: NRTUserStates, users) -> np.ndarray:
    memory = nrt.states(users)["memory"]
    assert (memory == memory[:, :1, :1]).all()
    return memory[:, 0, 0]


@pytest.fixture(params=["memory", "redis"])
def store_factory(request):
    """A callable giving each writer its own handle (own Redis connection) on one store."""
    if request.param == "memory":
        store = InMemoryStateStore()
        return lambda: store
    server = request.getfixturevalue("redis_server")
    return lambda: RedisStateStore.connect(server.url)


def test_concurrent_writers_lose_no_update(store_factory):
    users, writers, events = list(range(6)), 4, 15

    def writer(w):
        nrt = NRTUserStates(CountingModel(update_seconds=0.002), store_factory(), max_attempts=50)
        return sum(nrt.on_events(users, [100 * w + e] * len(users), [1] * len(users)) for e in range(events))

    with ThreadPoolExecutor(writers) as pool:
        recomputed = sum(pool.map(writer, range(writers)))
    counts = events_applied(NRTUserStates(CountingModel(), store_factory()), users)
    np.testing.assert_array_equal(counts, writers * events)
    assert recomputed > 0, "the writers never raced: the test did not exercise the compare-and-set"


def test_contention_past_max_attempts_hands_the_events_back():
    class AlwaysOvertaken(InMemoryStateStore):
        def compare_and_set(self, keys, states, versions):
            return list(keys)

    nrt = NRTUserStates(CountingModel(), AlwaysOvertaken(), max_attempts=3)
    with pytest.raises(EventsNotApplied, match="3 attempts") as err:
        nrt.on_events([1, 2], [10, 20], [5, 6])
    assert (err.value.user_ids, err.value.item_ids, err.value.category_ids) == ([1, 2], [10, 20], [5, 6])


def test_kill_and_restart_keep_every_applied_event(redis_server):
    """The deployment's AOF (appendfsync always): after SIGKILL and a restart every state is as
    it was, and the store from before the crash goes on working (it reconnects)."""
    nrt = NRTUserStates(CountingModel(), RedisStateStore.connect(redis_server.url))
    users = [11, 12, 13, 14]
    for e in range(9):
        nrt.on_events(users, [e] * 4, [0] * 4)
    before = nrt.states(users)
    redis_server.kill()
    redis_server.start()
    after = NRTUserStates(CountingModel(), RedisStateStore.connect(redis_server.url)).states(users)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])
    nrt.on_events(users, [9] * 4, [0] * 4)
    np.testing.assert_array_equal(events_applied(nrt, users), 10)


def test_store_warns_when_redis_would_lose_states(redis_server):
    client = redis_server.client()
    client.config_set("appendonly", "no")
    with pytest.warns(RuntimeWarning, match="appendonly=no"):
        RedisStateStore(client)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


CORRUPTIONS = {
    "garbage": (lambda c, key: c.hset(key, "state", b"\x00not an npz"), "expected an .npz"),
    "pickle": (lambda c, key: c.hset(key, "state", pickle.dumps({"memory": 1})), "expected an .npz"),
    "missing array": (lambda c, key: c.hset(key, "state", _npz(memory=np.zeros((K, D)))), r"arrays \['memory'\]"),
    "object array": (lambda c, key: c.hset(key, "state", _npz(memory=np.array([{}]), last_input=np.zeros(D))),
                     "expected an .npz"),
    "wrong shape": (lambda c, key: c.hset(key, "state", _npz(memory=np.zeros((K + 1, D), np.float32),
                                                            last_input=np.zeros(D, np.float32))),
                    "do not fit the model"),
    "no version": (lambda c, key: c.hdel(key, "version"), "field version is missing"),
    "plain string": (lambda c, key: (c.delete(key), c.set(key, b"old layout")), "another type"),
}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupt_value_names_the_user(redis_server, kind):
    corrupt, expected = CORRUPTIONS[kind]
    client = redis_server.client()
    nrt = NRTUserStates(CountingModel(), RedisStateStore(client, prefix="s:"))
    nrt.on_events([1, 2, 3], [7, 7, 7], [0, 0, 0])
    corrupt(client, "s:2")

    with pytest.raises(CorruptState, match=f"user '2': .*{expected}") as err:
        nrt.score([1, 2], [[5], [5]], [[0], [0]])
    assert isinstance(err.value, ValueError) and list(err.value.reasons) == ["2"]
    # the other users' events still apply; user 2's comes back
    with pytest.raises(EventsNotApplied, match="user '2'") as err:
        nrt.on_events([1, 2, 3, 4], [8, 8, 8, 8], [0, 0, 0, 0])
    assert (err.value.user_ids, err.value.item_ids) == ([2], [8])
    np.testing.assert_array_equal(events_applied(nrt, [1, 3, 4]), [2, 2, 1])


@pytest.mark.parametrize("failure", ["killed", "hung"])
def test_redis_down_hands_the_events_back_promptly(redis_server, failure):
    nrt = NRTUserStates(CountingModel(), RedisStateStore.connect(redis_server.url, timeout_s=0.5))
    nrt.on_events([1, 2], [3, 4], [0, 0])
    redis_server.kill() if failure == "killed" else redis_server.pause()
    started = time.monotonic()
    with pytest.raises(EventsNotApplied, match="not read") as err:
        nrt.on_events([1, 2], [5, 6], [7, 8])
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    assert (err.value.user_ids, err.value.item_ids, err.value.category_ids) == ([1, 2], [5, 6], [7, 8])
    assert err.value.maybe_applied == []
    assert err.value.__cause__ is not None


def test_a_failed_write_says_the_store_may_have_applied_it():
    class WriteFails(InMemoryStateStore):
        def compare_and_set(self, keys, states, versions):
            raise ConnectionError("connection reset while waiting for the reply")

    with pytest.raises(EventsNotApplied, match="may have applied 2") as err:
        NRTUserStates(CountingModel(), WriteFails()).on_events([1, 2], [3, 4], [0, 0])
    assert err.value.maybe_applied == [1, 2]
