"""Load: 8 client threads x 250 predicts against the real server, zero errors."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tfrec_pkg.serving.client import TFServingClient

pytestmark = pytest.mark.timeout(120)

THREADS, REQUESTS = 8, 250


def test_concurrent_clients(server):
    errors: list[str] = []
    done = [0] * THREADS

    def worker(i: int) -> None:
        client = TFServingClient(server.url, "ranker", retries=0)  # a retry would hide an error
        try:
            for j in range(REQUESTS):
                n = (i * REQUESTS + j) % 7
                if j % 2:
                    out = client.predict(inputs={"user_id": [f"u{i}"], "item_count": [n]})
                else:
                    out = client.predict(instances=[{"user_id": f"u{i}", "item_count": n}])
                want = n * 0.5 + len(f"u{i}")
                if not np.isclose(out["score"][0], want) or out["top_ids"][0][0] != f"u{i}_a":
                    errors.append(f"thread {i} request {j}: wrong answer {out}")
                done[i] += 1
        except Exception as e:  # recorded, the assert below reports it
            errors.append(f"thread {i}: {type(e).__name__}: {e}")
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    elapsed = time.monotonic() - start
    assert not errors, errors[:5]
    assert sum(done) == THREADS * REQUESTS
    assert elapsed < 60, f"{THREADS * REQUESTS} requests took {elapsed:.1f}s"
    print(f"{THREADS * REQUESTS} requests in {elapsed:.1f}s ({THREADS * REQUESTS / elapsed:.0f}/s)")
