"""Fixtures for the serving tests: tiny SavedModels and real server subprocesses on loopback."""
from __future__ import annotations

import json
import os

import pytest

from serving_test_utils import ServerProcess, save_ranker, save_scaler, write_version


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
    """ranker/1, scaler/1 (y = 2x), hot/1 (y = 2x; the reload test adds hot/2), plus decoys."""
    root = tmp_path_factory.mktemp("models")
    for name in ("ranker", "scaler", "hot"):
        (root / name).mkdir()
    write_version(root / "ranker", 1, save_ranker)
    write_version(root / "scaler", 1, save_scaler, 2.0)
    write_version(root / "hot", 1, save_scaler, 2.0)
    # decoys the version scan must ignore
    (root / "scaler" / "not-a-version").mkdir()
    (root / "scaler" / "99").mkdir()  # no saved_model.pb: an export in progress
    outside = tmp_path_factory.mktemp("outside")
    save_scaler(outside / "evil", 100.0)
    os.symlink(outside / "evil", root / "scaler" / "50")  # symlink escaping the base path
    return root


@pytest.fixture(scope="session")
def servers(model_dirs, tmp_path_factory):
    """Start both servers at once (TF start-up dominates), wait for both."""
    logs = tmp_path_factory.mktemp("logs")
    config = logs / "models.json"
    config.write_text(json.dumps({"models": [
        {"name": "ranker", "base_path": str(model_dirs / "ranker"), "version_labels": {"stable": 1}},
        {"name": "scaler", "base_path": str(model_dirs / "scaler")},
        {"name": "hot", "base_path": str(model_dirs / "hot")},
    ]}))
    main = ServerProcess(["--model-config-file", str(config), "--poll-seconds", "0.5"], logs / "main.log")
    small = ServerProcess(
        ["--model-name", "scaler", "--model-base-path", str(model_dirs / "scaler"),
         "--version-label", "stable=1", "--max-body-bytes", "2000", "--poll-seconds", "0",
         "--max-batch-rows", "120", "--chunk-rows", "7"],
        logs / "small.log",
    )
    try:
        main.wait_ready("/v1/models/hot")
        small.wait_ready("/v1/models/scaler")
        yield {"main": main, "small": small}
    finally:
        main.stop()
        small.stop()


@pytest.fixture(scope="session")
def server(servers):
    return servers["main"]


@pytest.fixture(scope="session")
def small_server(servers):
    return servers["small"]
