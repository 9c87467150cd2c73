"""Run ``tfrec serve`` in a child process on a free loopback port (benchmarks, tests, notebooks)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class LocalServer:
    """``LocalServer(["--model-name", "m", "--model-base-path", "saved_models/m"], log_path)``;
    ``wait_ready("/v1/models/m")``; ``stop()`` (also usable as a context manager)."""

    def __init__(self, args: list[str], log_path: str | Path, cwd: str | None = None):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1", TF_USE_LEGACY_KERAS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tfrec_pkg.serving.server", "--host", HOST, "--port", str(self.port), *args],
            cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, probe_path: str, timeout: float = 90.0) -> "LocalServer":
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if requests.get(self.url + probe_path, timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
