"""The serving fuzz benchmark (``tfrec bench serving_fuzz``): every paper model exported (untrained:
the fuzz run tests the server, not the scores), served by one local server, hit with
:func:`tfrec_pkg.serving.fuzz.run`'s hostile requests; the row records the request count, the
statuses, the failures (0 expected) and the server's RSS before and at its peak; then the
server's RSS growth while it answers one IPSRec request of 4096 rows, scored in chunks of 256
rows against in one piece, in the same run."""
from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time

import requests as http

from tfrec_pkg import experiment, export
from tfrec_pkg.serving import fuzz
from tfrec_pkg.serving.local import LocalServer

MODELS = ("base_model", "sum", "ipsrec", "iprec", "musenet")
MAX_BATCH_ROWS = 256  # small, so the over-the-cap requests stay cheap to build and send
RSS_GROWTH_MB = 1024  # the bound: the fuzz run may grow the server's RSS by at most this much


def export_models(root: str, names=MODELS) -> str:
    """Each model, built on its quick planted data, exported to root/<name>/1; returns a
    --model-config-file serving them all."""
    for name in names:
        splits = experiment.planted_splits(name, quick=True, seed=0)
        export.save(experiment.build(name, splits[0].vocab, seed=0), os.path.join(root, name))
    config = os.path.join(root, "models.json")
    with open(config, "w") as f:
        json.dump({"models": [{"name": n, "base_path": os.path.join(root, n)} for n in names]}, f)
    return config


def serve_and_fuzz(root: str, requests: int, seed: int = 0, log=None) -> fuzz.Report:
    config = export_models(root)
    with LocalServer(["--model-config-file", config, "--poll-seconds", "0", "--max-batch-rows", str(MAX_BATCH_ROWS)],
                     os.path.join(root, "server.log")) as server:
        server.wait_ready(f"/v1/models/{MODELS[0]}")
        start = fuzz.rss_mb(server.proc.pid)
        report = fuzz.run(server.url, list(MODELS), seed=seed, requests=requests, pid=server.proc.pid,
                          max_batch_rows=MAX_BATCH_ROWS, max_rss_mb=start + RSS_GROWTH_MB, log=log)
        if server.proc.poll() is not None:
            report.failures.append((requests, "exit", "", "", f"server exited:\n{server.output()[-2000:]}"))
    return report


def rss_growth_mb(base_path: str, log_path: str, rows: int, chunk_rows: int) -> float:
    """Peak RSS growth (sampled every 5 ms) of a server answering one top-10 request of
    ``rows`` histories, scored ``chunk_rows`` rows at a time."""
    with LocalServer(["--model-name", "m", "--model-base-path", base_path, "--poll-seconds", "0",
                      "--max-batch-rows", str(rows), "--chunk-rows", str(chunk_rows)], log_path) as server:
        server.wait_ready("/v1/models/m")
        sigs = fuzz.signatures(server.url, ["m"])["m"]
        body = {"inputs": fuzz.valid_inputs(random.Random(0), sigs["serving_default"],
                                            "serving_default", rows=rows)}
        body["inputs"]["k"] = [10] * rows
        # one row first: the first call's tracing and allocations are not the request's
        http.post(server.url + "/v1/models/m:predict", json={"inputs": {k: v[:1] for k, v in body["inputs"].items()}})
        start = peak = fuzz.rss_mb(server.proc.pid)
        done = threading.Event()

        def sample():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, fuzz.rss_mb(server.proc.pid))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        answer = http.post(server.url + "/v1/models/m:predict", json=body, timeout=600)
        done.set()
        sampler.join()
        answer.raise_for_status()
    return peak - start


def measure(quick: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = serve_and_fuzz(tmp, 2000 if quick else 10_000, log=print)
        ipsrec = os.path.join(tmp, "ipsrec")
        chunked = rss_growth_mb(ipsrec, os.path.join(tmp, "chunked.log"), 4096, 256)
        whole = rss_growth_mb(ipsrec, os.path.join(tmp, "whole.log"), 4096, 4096)
    for failure in report.failures[:20]:
        print("failure:", failure)
    return {"model": "serving_fuzz", "fuzz_requests": report.requests, "fuzz_seconds": round(report.seconds, 1),
            "fuzz_failures": len(report.failures), "status_2xx": report.statuses[200],
            "status_4xx": sum(n for s, n in report.statuses.items() if 400 <= s < 500),
            "status_5xx": sum(n for s, n in report.statuses.items() if s >= 500),
            "no_answer": report.statuses[0], "health_checks": report.health_checks,
            "server_rss_start_mb": round(report.start_rss_mb), "server_rss_peak_mb": round(report.peak_rss_mb),
            "rss_bound_mb": round(report.start_rss_mb + RSS_GROWTH_MB),
            "ipsrec_4096_rows_rss_growth_mb_chunks_256": round(chunked),
            "ipsrec_4096_rows_rss_growth_mb_one_piece": round(whole),
            "one_piece_over_chunked_rss_growth": round(whole / max(chunked, 1.0), 1)}
