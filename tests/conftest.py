"""Fixtures shared across test folders."""
from __future__ import annotations

import pytest

from redis_server import EXECUTABLE, RedisServer


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port, configured like the documented NRT
    deployment (AOF, appendfsync always); stopped after the test."""
    if EXECUTABLE is None:
        pytest.skip("redis-server is not installed (Debian package redis-server; .ci/run installs it)")
    pytest.importorskip("redis")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
