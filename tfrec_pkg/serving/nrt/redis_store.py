"""States in Redis (redis-py client), one hash per key (``<prefix><user id>``; IMN-Net's item
states at ``<prefix>item:<item id>``) with fields ``version`` (a random token, new on every
write) and ``state`` (the ``.npz`` bytes).

A read is one pipelined round trip (HMGET per user); a write is one Lua script that, per user,
writes only if the version is still the one read -- Redis runs a script atomically, so no other
writer gets between a user's check and its write (nor between the checks and writes of a group
of keys, e.g. the user and item state one IMN-Net event moves). Keys of one batch go to one
script call, so this needs a single Redis primary (in a Redis Cluster they would have to share
a hash slot).

Durability: a state written since the last RDB snapshot is lost when Redis is killed unless
Redis keeps an append-only file: ``appendonly yes`` with ``appendfsync always`` (nothing
acknowledged is lost) or ``everysec`` (up to about one second of writes lost). The store warns
at construction when it can see that AOF is off.
"""
from __future__ import annotations

import uuid
import warnings

from .codec import EXPECTED, decode_state, encode_state
from .errors import CorruptState
from .store import VersionedState

ABSENT = b""

# The write token makes a re-sent script (redis-py retries a command whose reply was lost) a
# no-op rather than a conflict: finding its own token, the script knows the write went through.
_COMPARE_AND_SET = """
-- KEYS: the state keys. ARGV: this write's version token, the TTL in seconds (0: none), then per
-- key the version it was read at ('' when absent), the new state and the key's group label.
-- A key is written only if every key of its group is still at the version read.
-- Returns the (1-based) positions of the keys not written because another writer got there.
local token, ttl, current, failed, lost = ARGV[1], tonumber(ARGV[2]), {}, {}, {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  current[i] = ''
  if kind == 'hash' then
    current[i] = redis.call('HGET', key, 'version') or ''
  elseif kind ~= 'none' then
    current[i] = false  -- not a state: never overwrite it; the next read reports it
  end
  if current[i] ~= ARGV[3 * i] and current[i] ~= token then
    failed[ARGV[3 * i + 2]] = true
  end
end
for i, key in ipairs(KEYS) do
  if failed[ARGV[3 * i + 2]] then
    lost[#lost + 1] = i
  elseif current[i] == ARGV[3 * i] then
    redis.call('HSET', key, 'version', token, 'state', ARGV[3 * i + 1])
    if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  end
end
return lost
"""


class RedisStateStore:
    def __init__(self, client, prefix: str = "tfrec:state:", ttl_seconds: int | None = None, *,
                 check_durability: bool = True):
        """``client``: a redis-py client; see ``connect`` for one that fails fast when Redis is
        down. ``check_durability``: ask Redis (CONFIG GET) whether AOF is on and warn if not."""
        self.client = client
        self.prefix = prefix
        self.ttl = ttl_seconds
        self._compare_and_set = client.register_script(_COMPARE_AND_SET)
        if check_durability:
            warn_unless_durable(client)

    @classmethod
    def connect(cls, url: str = "redis://127.0.0.1:6379/0", *, timeout_s: float = 0.5,
                **store_options) -> RedisStateStore:
        """A store on its own client that fails fast: ``timeout_s`` to connect and for each
        reply, one immediate retry (a pooled connection from before a Redis restart), no backoff.
        With Redis down a call raises within about 2 x ``timeout_s`` -- redis-py's default
        client retries with backoff for seconds first."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                      retry=Retry(NoBackoff(), 1))
        return cls(client, **store_options)

    def read(self, keys):
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(self.prefix + key, "version", "state")
        replies = pipe.execute(raise_on_error=False)  # per-key WRONGTYPE errors come back in place
        out, reasons = [], {}
        for key, reply in zip(keys, replies):
            try:
                out.append(self._decode(reply))
            except ValueError as e:
                reasons[key] = f"Redis key {self.prefix + key!r}: {e}"
        if reasons:
            raise CorruptState(reasons)
        return out

    @staticmethod
    def _decode(reply) -> VersionedState:
        if isinstance(reply, Exception):
            if not str(reply).startswith("WRONGTYPE"):
                raise reply  # not about the value (e.g. Redis still loading): the caller sees it
            raise ValueError(f"expected a hash with fields version and state, found another type "
                             f"(a plain string is the layout before versioned states)")
        version, blob = reply
        if version is None and blob is None:
            return VersionedState(None, ABSENT)
        if version is None or blob is None:
            raise ValueError(f"expected a hash with fields version and state holding {EXPECTED}, "
                             f"field {'version' if version is None else 'state'} is missing")
        return VersionedState(decode_state(blob), version)

    def compare_and_set(self, keys, states, versions, groups=None):
        if not keys:
            return []
        groups = range(len(keys)) if groups is None else groups  # default: every key its own group
        args = [uuid.uuid4().hex, self.ttl or 0]
        for state, version, group in zip(states, versions, groups):
            args += [version, encode_state(state), str(group)]
        lost = self._compare_and_set(keys=[self.prefix + k for k in keys], args=args)
        return [keys[i - 1] for i in lost]


def warn_unless_durable(client) -> None:
    """Warn when Redis would lose acknowledged states on a crash (AOF off, or fsync left to the OS)."""
    import redis

    try:
        config = client.config_get("append*")
    except redis.ResponseError:  # CONFIG disabled (managed Redis): nothing to check
        return
    config = {_text(k): _text(v) for k, v in config.items()}
    if config.get("appendonly") != "yes" or config.get("appendfsync") == "no":
        warnings.warn(
            f"Redis runs with appendonly={config.get('appendonly')}, appendfsync={config.get('appendfsync')}: "
            "a crash loses every state written since the last snapshot. Run it with appendonly yes and "
            "appendfsync always (or everysec: up to ~1 s of writes lost).", RuntimeWarning, stacklevel=3)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
