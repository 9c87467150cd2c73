"""A tf.distribute cluster on one machine: one process per task, each with its ``TF_CONFIG``.

Cluster managers (Kubeflow TFJob, Vertex AI, SageMaker) start one process per task of a cluster
and tell each which task it is through the ``TF_CONFIG`` environment variable; ``LocalCluster``
does the same on this machine, on free loopback ports, for tests, the demo and ``tfrec cluster``:

    cluster_spec(2)            {"worker": ["localhost:P1", "localhost:P2"]}      multi-worker mirrored
    cluster_spec(2, ps=1)      {"chief": [...], "worker": [...], "ps": [...]}   parameter-server

* Every task runs the same command, with ``os.environ`` + ``env`` + ``TF_CONFIG`` (and
  ``PYTHONUNBUFFERED=1`` unless the environment sets it, so that Python tasks' lines arrive as they
  are printed). Their stdout and stderr, merged, are copied line by line to ``out`` with the task
  as prefix: ``[worker 1] ...``; the launcher's own lines start with ``[cluster]``.
* The run succeeds when its finishing tasks have exited 0: the chief in parameter-server mode
  (the coordinator), every chief and worker otherwise (all of them train; worker 0 is the chief
  when there is no chief task). The other tasks -- ps, and the workers of parameter-server mode,
  which serve until they are killed -- are then stopped.
* A task that exits non-zero (or is killed by a signal) is restarted alone, with the same
  ``TF_CONFIG`` and port, while the run's restart budget lasts (a total over all tasks, as a TFJob's
  ``restartPolicy: OnFailure`` with a ``backoffLimit``); past it every task is stopped and the run
  returns the task's exit status (128 + N for signal N, as a shell reports it).
* Stopping a task sends SIGTERM to its process group (each task starts in its own session, so the
  processes it started go with it), waits ``grace`` seconds, then sends SIGKILL. Every task is
  stopped when the run ends, on success, failure, timeout (exit status 124), an exception or
  Ctrl-C: no task outlives the launcher.

The ports are found free just before the tasks start (bound to port 0 on 127.0.0.1 and released),
so another program may take one in between; a task that cannot bind its port fails, and is
restarted if the budget allows.

This module starts processes only: it never imports TensorFlow.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO, Mapping, Sequence

__all__ = ["TASK_TYPES", "Task", "LocalCluster", "cluster_spec", "tf_config", "describe", "exit_status", "run"]

TASK_TYPES = ("chief", "worker", "ps")  # the order of TF_CONFIG's cluster and of the tasks' start
TIMEOUT_STATUS = 124  # as timeout(1)
_POLL_SECONDS = 0.05


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1: all bound at once to port 0, then released."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def cluster_spec(workers: int, ps: int = 0, chief: bool | None = None) -> dict:
    """The ``cluster`` part of TF_CONFIG: ``{"chief": [...], "worker": [...], "ps": [...]}`` on free
    loopback ports (``localhost:PORT``, all distinct); task types with no task are left out.

    ``chief`` defaults to ``ps > 0``: parameter-server training needs a coordinator task named
    "chief", multi-worker mirrored training has only workers (worker 0 acting as chief).
    """
    _count("workers", workers, 1)
    _count("ps", ps, 0)
    if chief is None:
        chief = ps > 0
    if ps > 0 and not chief:
        raise ValueError("ps tasks need a chief task, the coordinator of parameter-server training")
    counts = {"chief": int(bool(chief)), "worker": workers, "ps": ps}
    ports = iter(_free_ports(sum(counts.values())))
    return {t: [f"localhost:{next(ports)}" for _ in range(n)] for t, n in counts.items() if n}


def tf_config(spec: Mapping[str, Sequence[str]], task_type: str, index: int) -> str:
    """The TF_CONFIG (JSON) of task ``task_type`` ``index`` of the cluster ``spec``."""
    if task_type not in spec:
        raise ValueError(f"no task type {task_type!r} in the cluster (it has {', '.join(spec)})")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(spec[task_type]):
        raise ValueError(f"{task_type} index must be in 0..{len(spec[task_type]) - 1}, got {index!r}")
    return json.dumps({"cluster": {t: list(a) for t, a in spec.items()},
                       "task": {"type": task_type, "index": index}})


def describe(spec: Mapping[str, Sequence[str]]) -> str:
    """One line saying what the cluster starts: ``cluster: 2 workers on localhost:P1,localhost:P2; ...``."""
    parts = []
    for t in TASK_TYPES:
        n = len(spec.get(t, ()))
        if n:
            noun = t if n == 1 or t in ("chief", "ps") else f"{t}s"
            parts.append(f"{n} {noun} on {','.join(spec[t])}")
    return f"cluster: {', '.join(parts)}; logs prefixed by task"


def exit_status(returncode: int) -> int:
    """A process's exit status as a shell reports it: 128 + N when signal N killed it."""
    return 128 - returncode if returncode < 0 else returncode


def _says(returncode: int) -> str:
    if returncode >= 0:
        return str(returncode)
    try:
        return f"{returncode} ({signal.Signals(-returncode).name})"
    except ValueError:
        return str(returncode)


def _live_groups(pgids: set[int]) -> set[int]:
    """Those of the process groups ``pgids`` with a process that has not exited (zombies have)."""
    if not os.path.isdir("/proc/self"):  # no /proc: signal 0 asks, zombies count as alive
        live = set()
        for pgid in pgids:
            try:
                os.killpg(pgid, 0)
                live.add(pgid)
            except (ProcessLookupError, PermissionError):
                pass
        return live
    live = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp
            except OSError:
                continue
            if int(fields[2]) in pgids and fields[0] not in ("Z", "X"):
                live.add(int(fields[2]))
    return live


@dataclasses.dataclass(eq=False)
class Task:
    """One task of the cluster; ``restarts`` counts its restarts (0 for its first process)."""

    type: str
    index: int
    address: str
    tf_config: str
    restarts: int = 0
    process: subprocess.Popen | None = dataclasses.field(default=None, repr=False)
    returncode: int | None = None  # of its current process, once it has exited
    _reader: threading.Thread | None = dataclasses.field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.type} {self.index}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        """Started and not yet seen to exit (``LocalCluster.wait`` looks)."""
        return self.process is not None and self.returncode is None


class LocalCluster:
    """Runs ``command`` once per task of a local cluster (see the module's docstring).

    ``with LocalCluster(cmd, workers=2) as c: status = c.wait()`` -- leaving the block stops every
    task. ``run(...)`` does exactly that. ``tasks`` lists the tasks (type, index, pid, restarts) while
    they run, e.g. for a test that kills one.
    """

    def __init__(self, command: Sequence[str], workers: int, ps: int = 0, chief: bool | None = None,
                 restarts: int = 0, env: Mapping[str, str] | None = None, out: IO[str] | None = None,
                 grace: float = 10.0):
        if isinstance(command, (str, bytes)) or not command:
            raise ValueError("command must be a non-empty list of arguments, e.g. ['python', 'train.py']")
        self.command = [str(a) for a in command]
        self.restart_budget = _count("restarts", restarts, 0)
        self.spec = cluster_spec(workers, ps, chief)
        self.env = dict(env or {})
        self.out = out
        self.grace = float(grace)
        self.restarts_used = 0
        self.tasks = [Task(t, i, address, tf_config(self.spec, t, i))
                      for t in TASK_TYPES for i, address in enumerate(self.spec.get(t, ()))]
        ps_mode = "ps" in self.spec
        self.finishing = [t for t in self.tasks if t.type == "chief" or (t.type == "worker" and not ps_mode)]
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False

    # -- output ------------------------------------------------------------------------------

    def _write(self, line: str) -> None:
        out = self.out if self.out is not None else sys.stdout
        with self._lock:
            out.write(line if line.endswith("\n") else line + "\n")
            out.flush()

    def _copy(self, task: Task, stream) -> None:
        prefix, writing = f"[{task.name}] ", True
        try:
            for raw in iter(stream.readline, b""):
                if writing:
                    try:
                        self._write(prefix + raw.decode(errors="replace").rstrip("\r\n"))
                    except (OSError, ValueError):  # out is gone (a closed pipe): drain the rest unseen
                        writing = False
        except ValueError:  # closed while reading
            pass
        finally:
            stream.close()

    # -- processes ----------------------------------------------------------------------------

    def task(self, task_type: str, index: int) -> Task:
        """The task ``task_type`` ``index`` (KeyError if the cluster has none)."""
        for t in self.tasks:
            if t.type == task_type and t.index == index:
                return t
        raise KeyError(f"no task {task_type} {index} in the cluster ({', '.join(t.name for t in self.tasks)})")

    def exited(self, task_type: str, index: int) -> bool:
        """Whether the task's current process has exited, before ``wait`` sees it (and restarts it)."""
        task = self.task(task_type, index)
        return task.process is not None and self._exited(task)

    def _launch(self, task: Task) -> None:
        env = {"PYTHONUNBUFFERED": "1", **os.environ, **self.env, "TF_CONFIG": task.tf_config}
        task.returncode = None
        task.process = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        task._reader = threading.Thread(target=self._copy, args=(task, task.process.stdout),
                                        name=f"cluster-{task.type}-{task.index}", daemon=True)
        task._reader.start()

    def start(self) -> "LocalCluster":
        """Starts every task (once); a task that cannot be started stops those already started."""
        if self._started:
            raise RuntimeError("the cluster was already started")
        self._started = True
        self._write(describe(self.spec))
        try:
            for task in self.tasks:
                self._launch(task)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _signal_group(task: Task, sig: int) -> None:
        """``sig`` to the process group of the task's process (its own session: pgid == pid)."""
        pid = task.pid
        if pid is None or pid <= 1:
            return
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone

    @staticmethod
    def _exited(task: Task) -> bool:
        """Whether the task's process has exited, without reaping it: until it is reaped its pid,
        and so its process group id, cannot be taken by another process."""
        proc = task.process
        if proc.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:  # reaped elsewhere
            return proc.poll() is not None

    def _reap(self, task: Task) -> int | None:
        """The task's return code if its process has exited, after killing what it left running."""
        if task.process is None:
            return None
        if task.returncode is None and self._exited(task):
            if task.process.returncode is None:
                self._signal_group(task, signal.SIGKILL)  # the processes it started that outlived it
            task.returncode = task.process.wait()
        return task.returncode

    def stop(self) -> None:
        """SIGTERM to every running task's process group, up to ``grace`` seconds for them to exit,
        then SIGKILL; returns once every task has exited."""
        if self._stopped:
            return
        self._stopped = True
        running = [t for t in self.tasks if t.process is not None and self._reap(t) is None]
        for t in running:
            self._signal_group(t, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while any(self._reap(t) is None for t in running) and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
        for t in running:
            if t.returncode is None:
                self._signal_group(t, signal.SIGKILL)
                t.returncode = t.process.wait()
        self._wait_for_groups(seconds=2.0)
        for t in self.tasks:
            if t._reader is not None:
                t._reader.join(timeout=5)

    def _wait_for_groups(self, seconds: float) -> None:
        """Until the processes the tasks started, killed with their groups, have exited: a signal is
        delivered, not waited for."""
        groups = {t.pid for t in self.tasks if t.pid is not None and t.pid > 1}
        deadline = time.monotonic() + seconds
        while groups and time.monotonic() < deadline:
            groups &= _live_groups(groups)
            if groups:
                time.sleep(0.01)

    def wait(self, timeout: float | None = None) -> int:
        """Watches the tasks until the run ends; returns its exit status (0, a task's, or 124 on
        ``timeout`` seconds). Restarts failed tasks while the budget lasts; stops every task at the end."""
        if not self._started:
            self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                for task in self.tasks:
                    if task.running and self._reap(task) not in (None, 0):
                        status = self._failed(task)
                        if status is not None:
                            return status
                if all(t.returncode == 0 for t in self.finishing):
                    serving = [t.name for t in self.tasks if t.running]
                    if serving:
                        done = ", ".join(t.name for t in self.finishing)
                        self._write(f"[cluster] {done} finished; stopping {', '.join(serving)}")
                    return 0
                if deadline is not None and time.monotonic() >= deadline:
                    self._write(f"[cluster] timed out after {timeout:g} s; stopping every task")
                    return TIMEOUT_STATUS
                time.sleep(_POLL_SECONDS)
        finally:
            self.stop()

    def _failed(self, task: Task) -> int | None:
        """Restarts the failed task, or says why the run ends and returns its exit status."""
        said = f"[cluster] {task.name} exited with {_says(task.returncode)}"
        if self.restarts_used < self.restart_budget:
            self.restarts_used += 1
            self._write(f"{said}; restarting ({self.restarts_used} of {self.restart_budget} restarts)")
            if task._reader is not None:
                task._reader.join(timeout=5)  # its last lines before the new process's
            task.restarts += 1
            self._launch(task)
            return None
        left = f"no restarts left ({self.restart_budget} used)" if self.restart_budget else "no restarts allowed"
        status = exit_status(task.returncode)
        self._write(f"{said}; {left}: stopping every task, exit status {status}")
        return status

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run(command: list[str], workers: int, ps: int = 0, chief: bool | None = None, restarts: int = 0,
        env: Mapping[str, str] | None = None, out: IO[str] | None = None, timeout: float | None = None,
        grace: float = 10.0) -> int:
    """Runs ``command`` as every task of a local cluster until it finishes; its exit status
    (0, the failed task's, or 124 after ``timeout`` seconds). ``out``: where the lines go (default:
    ``sys.stdout`` at the time of the call). See the module's docstring."""
    with LocalCluster(command, workers, ps=ps, chief=chief, restarts=restarts, env=env, out=out,
                      grace=grace) as cluster:
        return cluster.wait(timeout)
