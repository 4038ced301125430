"""Helpers of the API tests: the real app in-process, SSE parsing, a real uvicorn process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from fastapi import FastAPI

from app.core.config import Settings
from main import create_app
from testkit.services import stop_process

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real app with its lifespan running, and an AsyncClient on it (ASGITransport)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=60) as client:
            yield app, client


@dataclass
class SseEvent:
    event: str
    id: str | None
    data: dict[str, Any]


def parse_sse(lines: Iterable[str]) -> tuple[list[SseEvent], int]:
    """(events, number of comment lines such as pings) of an SSE body split into lines."""
    events: list[SseEvent] = []
    comments = 0
    event, ident, data = "message", None, []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                events.append(SseEvent(event, ident, json.loads("\n".join(data))))
            event, ident, data = "message", None, []
        elif line.startswith(":"):
            comments += 1
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "id":
                ident = value
            elif field == "data":
                data.append(value)
    if data:
        events.append(SseEvent(event, ident, json.loads("\n".join(data))))
    return events, comments


async def read_sse(client: httpx.AsyncClient, url: str, *, timeout: float = 60.0
                   ) -> tuple[list[SseEvent], int]:
    """Read an SSE stream to its end."""
    lines: list[str] = []

    async def read() -> None:
        async with client.stream("GET", url) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                lines.append(line)

    await asyncio.wait_for(read(), timeout)
    return parse_sse(lines)


async def wait_status(client: httpx.AsyncClient, analysis_id: str,
                      statuses: set[str] | None = None, *, timeout: float = 60.0,
                      stage: str | set[str] | None = None) -> dict[str, Any]:
    """Poll GET /{id} until its status is in ``statuses`` (default: terminal) and, when
    given, its progress stage is ``stage`` (or one of them)."""
    wanted = statuses or TERMINAL
    stages = {stage} if isinstance(stage, str) else stage
    deadline = time.monotonic() + timeout
    while True:
        body = (await client.get(f"/api/v1/analysis/{analysis_id}")).json()
        if body["status"] in wanted and (stages is None or body["progress"]["stage"] in stages):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{analysis_id} still {body['status']} after {timeout} s: "
                                 f"{body['progress']}")
        await asyncio.sleep(0.05)


def check_sse_sequence(events: list[SseEvent]) -> None:
    """state first with id n, then ids n+1, n+2 … without a gap, the final event last."""
    assert events[0].event == "state"
    start = int(events[0].id or 0)
    ids = [int(e.id or 0) for e in events[1:]]
    assert ids == list(range(start + 1, start + 1 + len(ids))), ids
    assert events[-1].data["final"] is True
    assert sum(1 for e in events if e.data.get("final")) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce ``settings`` in a child process."""
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    for name in settings.model_fields_set | {"MOUNT_PATH", "UPLOAD_DIR", "DATABASE_URL"}:
        value = getattr(settings, name)
        env[name] = ",".join(value) if isinstance(value, list) else str(value)
    env["PYTHONPATH"] = str(REPO)
    return env


class UvicornProcess:
    """``python -m uvicorn main:app`` in a child process, with ``settings`` as environment."""

    def __init__(self, settings: Settings, *, cwd: Path, log: Path) -> None:
        self.log = log
        self._log_file = log.open("ab")
        self._cwd = cwd
        self._env = settings_env(settings)
        self._spawn()

    def _spawn(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port",
             str(self.port), "--log-level", "warning"],
            cwd=self._cwd, env=self._env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def _listening(self) -> bool:
        """Whether *this* process holds the port (another test run may have taken the free
        port between free_port() and uvicorn's bind, and would answer in its place)."""
        try:
            conns = psutil.Process(self.proc.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port for c in conns)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        respawns = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "address already in use" in self.log.read_text().lower() and respawns < 3:
                    respawns += 1
                    self._spawn()
                    continue
                raise AssertionError(f"uvicorn exited: {self.log.read_text()[-3000:]}")
            try:
                if self._listening() and httpx.get(f"{self.base_url}/api/v1/health/live",
                                                   timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"uvicorn not ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: a crash, nothing cleaned up."""
        self.proc.kill()
        self.proc.wait(10)
        self._log_file.close()

    def stop(self) -> None:
        """SIGTERM: a graceful shutdown."""
        stop_process(self.proc, grace=30)
        self._log_file.close()


def place_file(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` (a hard link where possible, else a copy) for a docs example."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)
