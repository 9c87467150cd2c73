"""Every code block of README.md runs as written, in order.

The blocks run in a scratch directory holding a copy of ``tools/``, with ``TFREC_QUICK=1`` (every
command's ``--quick`` sizes) and with ``python`` and ``tfrec`` running this checkout: a
```` ```python ```` block in a fresh interpreter each (as a user pastes it), a shell block in bash.
The ``tfrec serve`` block starts the server in the background for the blocks after it (curl,
client), on a free port written into the blocks in place of 8501. A block right after
``<!-- not executed by tests/test_readme.py: REASON -->`` is skipped; ```` ```text ```` is the
command-line synopsis, not code; a ```` ```yaml ```` block (the TFJob manifest) is checked, not run:
it parses, and its command is a valid ``tfrec`` command line.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfrec_pkg.serving.local import free_port

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(?P<skip><!-- not executed by tests/test_readme\.py: (?P<why>[^\n]*?) -->\n)?"
                   r"```(?P<lang>[a-z]*)\n(?P<code>.*?)```", re.S)
# `make demo` / `make test` (builds .venv from PyPI, runs the whole suite) and TF Serving in Docker
NOT_EXECUTED = 2
README_PORT = "8501"


@dataclasses.dataclass
class Block:
    lang: str
    code: str
    skipped_because: str | None

    @property
    def runs(self) -> bool:
        return self.skipped_because is None and self.lang not in ("text", "yaml")


def readme_blocks() -> list[Block]:
    text = (ROOT / "README.md").read_text()
    return [Block(m["lang"], m["code"], m["why"]) for m in BLOCK.finditer(text)]


def test_readme_blocks_not_executed_are_few_and_say_why():
    blocks = readme_blocks()
    assert {b.lang for b in blocks} <= {"python", "bash", "sh", "", "text", "yaml"}
    assert [b.lang for b in blocks].count("text") == 1  # the command-line synopsis
    skipped = [b for b in blocks if b.skipped_because is not None]
    assert len(skipped) == NOT_EXECUTED, [b.code for b in skipped]
    assert all(len(b.skipped_because) > 20 for b in skipped)


def _scratch(tmp_path: Path) -> tuple[Path, dict]:
    """The directory the blocks run in, and their environment."""
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "tools", work / "tools")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, command in (("python", f'"{sys.executable}"'), ("tfrec", f'"{sys.executable}" -m tfrec_pkg.cli')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT),
               TFREC_QUICK="1", PYTHONUNBUFFERED="1")
    env.pop("REDIS_URL", None)  # the SUM example then keeps its states in memory
    return work, env


def _start_server(code: str, work: Path, env: dict, log: Path) -> subprocess.Popen:
    """The server of the README's `tfrec serve` block, once it has printed its ready lines."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "-c", f"exec {code}"], cwd=work, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while " on http://" not in log.read_text():  # "serving NAME version V on http://HOST:PORT"
        assert proc.poll() is None, f"`{code}` exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"`{code}` not ready after 180 s:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return proc


@pytest.mark.slow
def test_readme_code_blocks_run_as_written(tmp_path):
    work, env = _scratch(tmp_path)
    port = str(free_port())
    server, seconds = None, []
    try:
        for i, block in enumerate(b for b in readme_blocks() if b.runs):
            code = block.code.replace(README_PORT, port)
            start = time.monotonic()
            if code.startswith("tfrec serve"):
                server = _start_server(code.strip(), work, env, tmp_path / "server.log")
                continue
            if block.lang == "python":
                script = tmp_path / f"block_{i}.py"
                script.write_text(code)
                command = ["python", str(script)]
            else:
                command = ["bash", "-euo", "pipefail", "-c", code]
            proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)
            seconds.append((round(time.monotonic() - start), code.splitlines()[0][:60]))
            assert proc.returncode == 0, (f"README block {i} failed:\n{code}\n--- stdout\n{proc.stdout[-3000:]}"
                                          f"\n--- stderr\n{proc.stderr[-3000:]}")
            if code.startswith("curl"):
                assert all(0 <= p <= 1 for p in json.loads(proc.stdout)["predictions"])
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        print("seconds per block:", seconds)
    assert server is not None, "the README's `tfrec serve` block did not run"


def test_the_tfjob_manifest_parses_and_runs_a_valid_tfrec_command():
    import yaml

    from tfrec_pkg.cli import build_parser

    manifests = [yaml.safe_load(b.code) for b in readme_blocks() if b.lang == "yaml"]
    assert len(manifests) == 1
    job = manifests[0]
    assert job["kind"] == "TFJob" and job["apiVersion"] == "kubeflow.org/v1"
    replicas = job["spec"]["tfReplicaSpecs"]
    assert set(replicas) == {"Chief", "Worker", "PS"} and replicas["Chief"]["replicas"] == 1
    for spec in replicas.values():
        command = spec["template"]["spec"]["containers"][0]["command"]
        assert command[0] == "tfrec"
        args = build_parser().parse_args(command[1:])
        assert args.command == "train" and args.model == "sasrec"
