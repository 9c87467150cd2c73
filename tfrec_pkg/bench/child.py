"""A measurement in a fresh Python process: its own peak RSS, its own TensorFlow settings (read
once, when TensorFlow loads: oneDNN, logical devices). The child prints its result as the line
``RESULT {json}`` (:func:`report`); the parent keeps the last such line (:func:`run`)."""
from __future__ import annotations

import json
import os
import subprocess

PREFIX = "RESULT "


def report(result) -> None:
    """The child's side: print ``result`` where :func:`run` finds it."""
    print(PREFIX + json.dumps(result), flush=True)


def run(command: list[str], env: dict | None = None, timeout: float | None = None):
    """Run ``command`` with ``env`` added to this process's environment; return the JSON of the
    last ``RESULT`` line it printed. A child that fails or prints none raises RuntimeError with
    the tail of its output."""
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})
    lines = [line for line in proc.stdout.splitlines() if line.startswith(PREFIX)]
    if proc.returncode or not lines:
        raise RuntimeError(f"child {command[1:]} failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(PREFIX):])
