"""Real Redis, PostgreSQL and Celery worker processes on free localhost ports, for the scale-out
tests (``tests/scaleout``) and ``bench/scale.py``.

Each server runs from a temporary folder and is stopped (and its folder removed) by ``stop()``.
PostgreSQL refuses to run as root, so when this process is root its cluster is created and run
as the ``postgres`` system user (Debian's package creates it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import psutil

__all__ = ["RedisServer", "PostgresServer", "CeleryWorker", "free_port", "missing_servers",
           "stop_process", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[1]
_PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def stop_process(proc: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM ``proc`` and wait ``grace`` seconds for it to end, then SIGKILL it; nothing
    when it has already ended."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_tool(name: str) -> str | None:
    for folder in _PG_BIN_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


def missing_servers() -> list[str]:
    """What is missing to start the servers (empty when everything is installed)."""
    missing = []
    if shutil.which("redis-server") is None:
        missing.append("redis-server (apt-get install redis-server)")
    if _pg_tool("initdb") is None or _pg_tool("pg_ctl") is None:
        missing.append("initdb/pg_ctl (apt-get install postgresql)")
    return missing


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, what: str, log: Path,
               timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on {port}: {log.read_text(errors='replace')[-2000:]}")


class RedisServer:
    """``redis-server`` on a free port, in memory only (no snapshots)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = self.dir / "redis.log"
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, "redis-server", self.log)

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """A throw-away PostgreSQL cluster (trust authentication, localhost only) and a database."""

    def __init__(self, database: str = "sync_analyzer") -> None:
        initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self._pg_ctl = pg_ctl
        self.dir = Path(tempfile.mkdtemp(prefix="pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.log = self.dir / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run([initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--no-sync"])
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                   f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                   "start"])
        _wait_port(self.port, None, "postgres", self.log)
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"
        self._run([str(Path(initdb).with_name("createdb")), "-h", "127.0.0.1", "-p",
                   str(self.port), "-U", "postgres", database])

    def _run(self, cmd: list[str]) -> None:
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.dir, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run([self._pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)


class CeleryWorker:
    """``celery -A app.worker worker`` in its own process group (so a SIGKILL takes its pool
    processes and their ffmpeg children with it, as when a machine dies)."""

    def __init__(self, name: str, env: Mapping[str, str], *, queues: str = "analysis,gpu",
                 concurrency: int = 1, log: Path, cwd: Path = REPO_ROOT) -> None:
        self.name = name
        self.node = f"{name}@{socket.gethostname()}"
        self.log = log
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "app.worker", "worker", "-Q", queues,
             "-c", str(concurrency), "-n", self.node, "--without-mingle", "--without-gossip",
             "-l", "INFO"],
            cwd=cwd, env={**env, "PYTHONPATH": str(REPO_ROOT)}, stdout=self._log_file,
            stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, broker_url: str, timeout: float = 60.0) -> None:
        """Until this worker process's heartbeat (written once it consumes) is in Redis (a
        killed predecessor of the same name leaves its own for a few seconds)."""
        import json

        import redis

        from app.jobs.backends.redis_events import WORKER_KEY_PREFIX

        client = redis.Redis.from_url(broker_url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"worker {self.name} exited: {self.tail()}")
                beat = client.get(f"{WORKER_KEY_PREFIX}{self.node}")
                if beat is not None and json.loads(beat).get("pid") == self.proc.pid:
                    return
                time.sleep(0.1)
        finally:
            client.close()
        raise RuntimeError(f"worker {self.name} not ready: {self.tail()}")

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def pids(self) -> set[int]:
        """This worker's main process and its pool processes."""
        try:
            main = psutil.Process(self.proc.pid)
            return {main.pid, *(c.pid for c in main.children(recursive=True))}
        except psutil.NoSuchProcess:
            return set()

    def kill(self) -> None:
        """SIGKILL to the whole process group: nothing is cleaned up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._log_file.close()

    def stop(self, timeout: float = 20.0) -> None:
        """A warm shutdown (SIGTERM), SIGKILL after ``timeout``."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if not self._log_file.closed:
            self._log_file.close()
