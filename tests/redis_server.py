"""A real redis-server subprocess for tests: a free loopback port, its data in one directory,
and the deployment's durability settings (AOF, fsync on every write) unless told otherwise.
It can be killed (SIGKILL), paused (SIGSTOP: a hung server), and restarted on the same port
and data, which is how the tests check what survives a crash."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

AOF_ALWAYS = ("--appendonly", "yes", "--appendfsync", "always")
EXECUTABLE = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, directory: Path, durability: tuple[str, ...] = AOF_ALWAYS):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        # no RDB snapshots: whatever survives a kill survives through the AOF alone
        self.args = [EXECUTABLE, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                     "--dir", str(self.directory), *durability]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        import redis

        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL)
        probe = self.client(socket_timeout=1.0)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                probe.ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {' '.join(self.args)}")
                time.sleep(0.05)
            finally:
                probe.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown save, only what is already on disk survives."""
        self.process.kill()
        self.process.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)
