"""Fixtures shared across test folders."""
from __future__ import annotations

import os

# TensorFlow's default x86 kernels on every CPU, in this process and the ones it starts, unless
# the environment says otherwise: TensorFlow turns its oneDNN kernels on by itself on CPUs with
# AVX512_VNNI and newer, and their round-off moves the CI-sized claim checks, sized with the
# default kernels (IMN-Net's quick check failed under oneDNN: CLAIMS.md, imn_net). Set before
# TensorFlow loads.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# One core's share of TensorFlow's intra-op threads per test process (1 with `make test`'s one
# process per core), in this process and the ones it starts: with the default pool (one thread
# per core) in each, the processes' threads contend for the cores. Two processes side by side
# each trained SASRec on the quick provider data in 59.7 s with 1 thread and 69.5 s with 2 (2
# cores), to the same numbers; other models' round-off moves with the pool size (CLAIMS.md).
_processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _processes > 1:
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _processes)))

import pytest  # noqa: E402

from redis_server import EXECUTABLE, RedisServer


def pytest_collection_modifyitems(items):
    """The files holding a test marked ``slow`` first, each group in collection order. With
    ``--dist loadfile --no-loadscope-reorder`` (Makefile) the two test processes start on the
    minutes-long files and end on short ones. xdist's own order (files with the most tests first)
    left the one-test files (the claim checks, the README) for last, where the process that drew
    the longest one ran on alone."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


def pytest_terminal_summary(terminalreporter):
    """The numbers of each CI claim check that ran (tests/claims/ci_claims.py: ``show``), passed
    or failed, after the run: every CI run's draw is then on record in its log."""
    for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed"):
        for name, text in report.user_properties:
            if name == "claims":
                terminalreporter.write_sep("-", f"{report.nodeid} ({report.duration:.0f} s)")
                terminalreporter.write_line(text)


@pytest.fixture
def uniform_draws(monkeypatch):
    """Every ``tf.random.uniform`` draw while the test runs, recorded and passed on unchanged
    (MuSENet's Gumbel noise, g = -log(-log u): a numpy rendering can use the very noise a layer
    call or a training step drew). Clear it before the call whose draws matter."""
    import tensorflow as tf

    draws, draw = [], tf.random.uniform

    def recording(*args, **kwargs):
        u = draw(*args, **kwargs)
        draws.append(u)
        return u

    monkeypatch.setattr(tf.random, "uniform", recording)
    return draws


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
