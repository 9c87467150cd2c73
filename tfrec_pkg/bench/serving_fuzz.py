"""The serving fuzz benchmark (``tfrec bench serving_fuzz``): every paper model exported (untrained:
the fuzz run tests the server, not the scores), served by one local server, hit with
:func:`tfrec_pkg.serving.fuzz.run`'s hostile requests; the row records the request count, the
statuses, the failures (0 expected) and the server's RSS before and at its peak."""
from __future__ import annotations

import json
import os
import tempfile

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


def measure(quick: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = serve_and_fuzz(tmp, 2000 if quick else 10_000, log=print)
    for failure in report.failures[:20]:
        print("failure:", failure)
    return {"model": "serving_fuzz", "fuzz_requests": report.requests, "fuzz_seconds": round(report.seconds, 1),
            "fuzz_failures": len(report.failures), "status_2xx": report.statuses[200],
            "status_4xx": sum(n for s, n in report.statuses.items() if 400 <= s < 500),
            "status_5xx": sum(n for s, n in report.statuses.items() if s >= 500),
            "no_answer": report.statuses[0], "health_checks": report.health_checks,
            "server_rss_start_mb": round(report.start_rss_mb), "server_rss_peak_mb": round(report.peak_rss_mb),
            "rss_bound_mb": round(report.start_rss_mb + RSS_GROWTH_MB)}
