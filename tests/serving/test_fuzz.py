"""A seeded, bounded fuzz run (tfrec_pkg/serving/fuzz.py) over every paper model's exported
signatures on one real server over loopback: no 5xx, every 4xx a JSON error body, every valid
request 200, a health check every 100 requests, the server's RSS within its bound. The
10,000-request run is `tfrec bench serving_fuzz` (BENCHMARKS.md)."""
import pytest

from tfrec_pkg.bench import serving_fuzz
from tfrec_pkg.serving import fuzz

pytestmark = pytest.mark.timeout(900)


def test_two_thousand_hostile_requests(tmp_path):
    report = serving_fuzz.serve_and_fuzz(str(tmp_path), requests=2000, seed=0)
    assert not report.failures, "\n".join(map(str, report.failures[:20]))
    assert report.requests == 2000 and report.health_checks == 20
    assert set(report.kinds) == set(fuzz.KINDS) and min(report.kinds.values()) >= 100
    assert not any(s >= 500 for s in report.statuses)
    assert report.statuses[200] >= 125  # the valid requests, at least
    assert report.peak_rss_mb <= report.start_rss_mb + serving_fuzz.RSS_GROWTH_MB


def test_the_checks_catch_what_they_are_for():
    """The invariants fail on the answers they exist to catch."""
    valid, hostile = fuzz.Request("valid", path="/p"), fuzz.Request("bad_string", path="/p")
    assert fuzz.check(hostile, 500, b'{"error": "x"}')
    assert fuzz.check(hostile, 400, b"Invalid HTTP request received.")
    assert fuzz.check(hostile, 400, b'{"message": "x"}') and fuzz.check(hostile, 400, b'{"error": ""}')
    assert fuzz.check(valid, 400, b'{"error": "x"}') and fuzz.check(valid, 200, b"not json")
    assert fuzz.check(hostile, 0, b"")
    assert fuzz.check(fuzz.Request("raw_http", raw=b"x", may_close=True), 0, b"") is None
    assert fuzz.check(hostile, 400, b'{"error": "bad"}') is None and fuzz.check(valid, 200, b"{}") is None
