"""tfrec_pkg.cluster and `tfrec cluster`: a local tf.distribute cluster of plain Python tasks (no
TensorFlow), each told its task by TF_CONFIG, as a cluster manager tells it."""
from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tfrec_pkg import cluster

ROOT = str(Path(__file__).resolve().parents[1])

# The task every test runs: python TASK MODE DIR. It prints its TF_CONFIG, writes its pid (and that
# of a child it starts, which must die with it) to DIR/<type><index>.pid, then acts out MODE.
TASK = r'''
import json, os, signal, subprocess, sys, time
mode, folder = sys.argv[1], sys.argv[2]
config = json.loads(os.environ["TF_CONFIG"])
kind, index = config["task"]["type"], config["task"]["index"]
name = f"{kind}{index}"
print("TF_CONFIG " + json.dumps(config))
print("stderr line", file=sys.stderr)

def serve():  # a ps / parameter-server worker: serves until killed, with a process of its own
    child = subprocess.Popen(["sleep", "1000"])
    with open(os.path.join(folder, name + ".pid.tmp"), "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    os.rename(os.path.join(folder, name + ".pid.tmp"), os.path.join(folder, name + ".pid"))
    time.sleep(1000)

if mode == "print":
    sys.exit(0)
if mode == "ps":  # the chief coordinates: it finishes once every other task serves
    if kind != "chief":
        serve()
    others = len(config["cluster"].get("worker", [])) + len(config["cluster"].get("ps", []))
    while len([f for f in os.listdir(folder) if f.endswith(".pid")]) < others:
        time.sleep(0.02)
    print("coordinator done")
    sys.exit(0)
if mode == "fail":  # worker 1 fails; the others would serve for ever
    if name == "worker1":
        while len([f for f in os.listdir(folder) if f.endswith(".pid")]) < 2:
            time.sleep(0.02)
        sys.exit(3)
    serve()
if mode == "killed_once":  # worker 1 waits to be killed the first time, finishes the second
    if name == "worker1" and not os.path.exists(os.path.join(folder, "worker1.pid")):
        serve()
    sys.exit(0)
if mode == "ignore_term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve()
if mode == "sleep":
    serve()
'''


@pytest.fixture
def task(tmp_path):
    """The command of a task in a given mode: task(mode) -> [python, script, mode, dir]."""
    script = tmp_path / "task.py"
    script.write_text(TASK)
    folder = tmp_path / "pids"
    folder.mkdir()
    yield lambda mode: [sys.executable, str(script), mode, str(folder)]
    # should a test fail with processes left running, they go here, not on the machine
    for path in folder.glob("*.pid"):
        for pid in map(int, path.read_text().split()):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _pids(command) -> dict[str, tuple[int, int]]:
    """{task name: (task pid, its child's pid)} from the pid files of the tasks that served."""
    folder = Path(command[-1])
    return {p.stem: tuple(map(int, p.read_text().split())) for p in folder.glob("*.pid")}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent's wait is missing


def _wait_until(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _lines(text: str, prefix: str) -> list[str]:
    return [line[len(prefix):] for line in text.splitlines() if line.startswith(prefix)]


def _configs(text: str) -> dict[str, list[dict]]:
    """{task name: [its TF_CONFIG, once per process]} from the prefixed output."""
    out = {}
    for line in text.splitlines():
        if "] TF_CONFIG " in line:
            name, config = line[1:].split("] TF_CONFIG ")
            out.setdefault(name, []).append(json.loads(config))
    return out


def test_cluster_spec_ports_are_distinct_free_loopback_ports():
    spec = cluster.cluster_spec(3, ps=2)
    assert list(spec) == ["chief", "worker", "ps"] and [len(v) for v in spec.values()] == [1, 3, 2]
    addresses = [a for v in spec.values() for a in v]
    assert all(a.startswith("localhost:") for a in addresses) and len(set(addresses)) == 6
    for address in addresses:  # each can be bound now
        with socket.socket() as s:
            s.bind(("127.0.0.1", int(address.split(":")[1])))


def test_chief_defaults_to_parameter_server_mode():
    assert list(cluster.cluster_spec(2)) == ["worker"]
    assert list(cluster.cluster_spec(2, ps=1)) == ["chief", "worker", "ps"]
    assert list(cluster.cluster_spec(2, chief=True)) == ["chief", "worker"]


@pytest.mark.parametrize("args, message", [
    ((0,), "workers must be an integer >= 1, got 0"),
    ((1.5,), "workers must be an integer >= 1"),
    ((2, -1), "ps must be an integer >= 0, got -1"),
    ((2, 1, False), "ps tasks need a chief task"),
])
def test_cluster_spec_rejects_bad_counts(args, message):
    with pytest.raises(ValueError, match=message):
        cluster.cluster_spec(*args)


def test_tf_config():
    spec = {"worker": ["localhost:1", "localhost:2"], "ps": ["localhost:3"]}
    assert json.loads(cluster.tf_config(spec, "worker", 1)) == {"cluster": spec,
                                                               "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError, match="index must be in 0..0, got 1"):
        cluster.tf_config(spec, "ps", 1)
    with pytest.raises(ValueError, match="no task type 'chief'"):
        cluster.tf_config(spec, "chief", 0)


def test_workers_only_run_ends_when_every_worker_exits_0_and_each_saw_its_tf_config(task):
    out = io.StringIO()
    with cluster.LocalCluster(task("print"), workers=3, out=out) as c:
        assert c.wait(timeout=30) == 0
        spec = c.spec
    text = out.getvalue()
    assert text.splitlines()[0] == f"cluster: 3 workers on {','.join(spec['worker'])}; logs prefixed by task"
    configs = _configs(text)
    assert configs == {f"worker {i}": [{"cluster": spec, "task": {"type": "worker", "index": i}}] for i in range(3)}
    assert len(_lines(text, "[worker 2] stderr line")) == 1  # stderr is merged, prefixed too


def test_parameter_server_run_ends_with_the_chief_and_stops_the_serving_tasks(task):
    out = io.StringIO()
    command = task("ps")
    assert cluster.run(command, workers=2, ps=2, out=out, timeout=30) == 0
    text = out.getvalue()
    assert "[chief 0] coordinator done" in text
    assert "[cluster] chief 0 finished; stopping worker 0, worker 1, ps 0, ps 1" in text
    assert set(_configs(text)) == {"chief 0", "worker 0", "worker 1", "ps 0", "ps 1"}
    pids = _pids(command)
    assert set(pids) == {"worker0", "worker1", "ps0", "ps1"}
    assert not [pid for pair in pids.values() for pid in pair if _alive(pid)]  # the tasks and their children


def test_a_failing_task_stops_the_others_and_its_exit_status_is_the_run_s(task):
    out = io.StringIO()
    command = task("fail")
    assert cluster.run(command, workers=3, out=out, timeout=30) == 3
    assert "[cluster] worker 1 exited with 3; no restarts allowed: stopping every task, exit status 3" in out.getvalue()
    pids = _pids(command)
    assert set(pids) == {"worker0", "worker2"}
    assert not [pid for pair in pids.values() for pid in pair if _alive(pid)]


def _kill_worker_1_mid_run(command, restarts):
    """Runs 2 workers in killed_once mode, SIGKILLs worker 1 once it serves; (status, output, cluster)."""
    out, status = io.StringIO(), []
    c = cluster.LocalCluster(command, workers=2, restarts=restarts, out=out, grace=2)
    c.start()
    watcher = threading.Thread(target=lambda: status.append(c.wait(timeout=30)))
    watcher.start()
    try:
        _wait_until(lambda: "worker1" in _pids(command))
        first = c.task("worker", 1)
        assert (first.pid, first.restarts) == (_pids(command)["worker1"][0], 0) and first.running
        os.kill(first.pid, signal.SIGKILL)
        watcher.join(timeout=40)
    finally:
        c.stop()
    return status[0], out.getvalue(), c


def test_a_task_killed_mid_run_is_restarted_with_the_same_tf_config(task):
    command = task("killed_once")
    status, text, c = _kill_worker_1_mid_run(command, restarts=2)
    assert status == 0, text
    assert "[cluster] worker 1 exited with -9 (SIGKILL); restarting (1 of 2 restarts)" in text
    worker_1 = c.task("worker", 1)
    assert worker_1.restarts == 1 and worker_1.pid != _pids(command)["worker1"][0] and worker_1.returncode == 0
    first, second = _configs(text)["worker 1"]
    assert first == second == {"cluster": c.spec, "task": {"type": "worker", "index": 1}}
    assert not _alive(_pids(command)["worker1"][1])  # the killed task's child went with it


def test_a_task_killed_without_restarts_left_fails_the_run(task):
    command = task("killed_once")
    status, text, c = _kill_worker_1_mid_run(command, restarts=0)
    assert status == 128 + signal.SIGKILL
    assert ("[cluster] worker 1 exited with -9 (SIGKILL); no restarts allowed: stopping every task, "
            "exit status 137") in text
    assert c.task("worker", 1).restarts == 0 and not [t for t in c.tasks if _alive(t.pid)]


def test_exited_sees_a_killed_task_before_wait_and_wait_still_restarts_it(task):
    command = task("killed_once")
    out = io.StringIO()
    with cluster.LocalCluster(command, workers=2, restarts=1, out=out, grace=2) as c:
        _wait_until(lambda: "worker1" in _pids(command))
        assert not c.exited("worker", 1)
        os.kill(c.task("worker", 1).pid, signal.SIGKILL)
        _wait_until(lambda: c.exited("worker", 1))
        assert c.task("worker", 1).running and "exited" not in out.getvalue()  # not reaped: wait() sees it
        assert c.wait(timeout=30) == 0, out.getvalue()
    assert "[cluster] worker 1 exited with -9 (SIGKILL); restarting (1 of 1 restarts)" in out.getvalue()


def test_timeout_stops_everything_and_returns_124(task):
    out = io.StringIO()
    command = task("sleep")
    c = cluster.LocalCluster(command, workers=2, ps=1, out=out)
    start = time.monotonic()
    with c:
        assert c.wait(timeout=1.5) == 124
    assert time.monotonic() - start < 10
    assert "[cluster] timed out after 1.5 s; stopping every task" in out.getvalue()
    pids = _pids(command)
    assert not [t for t in c.tasks if _alive(t.pid)] and not [p for pair in pids.values() for p in pair if _alive(p)]


def test_a_task_that_ignores_sigterm_is_killed_after_the_grace_period(task):
    command = task("ignore_term")
    c = cluster.LocalCluster(command, workers=1, out=io.StringIO(), grace=0.5)
    with c:
        _wait_until(lambda: "worker0" in _pids(command))
        start = time.monotonic()
    assert 0.4 < time.monotonic() - start < 5
    assert c.task("worker", 0).returncode == -signal.SIGKILL
    assert not [p for p in _pids(command)["worker0"] if _alive(p)]


def test_an_exception_in_the_with_block_stops_every_task(task):
    command = task("sleep")
    with pytest.raises(RuntimeError, match="boom"):
        with cluster.LocalCluster(command, workers=2, out=io.StringIO()) as c:
            _wait_until(lambda: len(_pids(command)) == 2)
            raise RuntimeError("boom")
    assert not [p for pair in _pids(command).values() for p in pair if _alive(p)]
    assert all(t.returncode is not None for t in c.tasks)


# ---- tfrec cluster ------------------------------------------------------------------------------

# tfrec's main() in a fresh interpreter, failing if it imported TensorFlow
TFREC = [sys.executable, "-c", "import sys\nfrom tfrec_pkg.cli import main\ntry:\n    code = main(sys.argv[1:])\n"
         "finally:\n    assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\nsys.exit(code)"]
ENV = {**os.environ, "PYTHONPATH": ROOT}


def _tfrec(*args, **kwargs):
    return subprocess.run([*TFREC, "cluster", *args], capture_output=True, text=True, timeout=60, env=ENV, **kwargs)


def test_cli_runs_the_command_after_the_double_dash(task):
    proc = _tfrec("--workers", "2", "--", *task("print"))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("cluster: 2 workers on localhost:") and first.endswith("; logs prefixed by task")
    assert set(_configs(proc.stdout)) == {"worker 0", "worker 1"}


def test_cli_exit_status_is_the_failed_task_s(task):
    proc = _tfrec("--workers", "2", "--ps", "1", "--timeout", "30", "--", *task("fail"))
    # in parameter-server mode worker 1 fails while the chief still waits for it
    assert proc.returncode == 3 and "[cluster] worker 1 exited with 3;" in proc.stdout, proc.stdout


@pytest.mark.parametrize("args, error", [
    (["--workers", "2"], "no command: tfrec cluster --workers N -- COMMAND ..."),
    (["--workers", "2", "--"], "no command: tfrec cluster --workers N -- COMMAND ..."),
    (["--workers", "0", "--", "true"], "workers must be an integer >= 1, got 0"),
    (["--workers", "1", "--ps", "1", "--no-chief", "--", "true"], "ps tasks need a chief task"),
])
def test_cli_usage_errors_are_one_line_and_exit_2(args, error):
    proc = _tfrec(*args)
    assert proc.returncode == 2 and proc.stderr.startswith("tfrec cluster: error: ") and error in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_cli_stopped_by_a_signal_stops_every_task(task, sig, status):
    command = task("sleep")
    # SIGINT as a terminal delivers it: a process started with SIGINT ignored (as pytest-xdist's
    # workers start their children) keeps ignoring it, which Python and the launcher honour
    launcher = subprocess.Popen([*TFREC, "cluster", "--workers", "2", "--", *command], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=ENV,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_until(lambda: len(_pids(command)) == 2)
        launcher.send_signal(sig)
        assert launcher.wait(timeout=120) == status  # generous: a loaded machine starts Python slowly
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.communicate()
    assert not [p for pair in _pids(command).values() for p in pair if _alive(p)]


def test_cli_help():
    proc = _tfrec("--help")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: tfrec cluster [-h] --workers N") and "-- COMMAND ..." in proc.stdout
    listing = subprocess.run([*TFREC, "--help"], capture_output=True, text=True, timeout=60, env=ENV).stdout
    assert "cluster" in listing
