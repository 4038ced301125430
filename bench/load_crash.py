"""Load and crash benchmark: nothing is lost when the server is killed under load.

Starts the service with uvicorn (temporary SQLite database and media), queues N analyses
(default 200: half through ``POST /api/v1/analysis/sync``, half as one CSV batch) while S
Server-Sent-Events clients (default 100) follow them and pollers time ``GET
/api/v1/analysis/{id}``; once a share of them has completed (default 25 %) the server is killed
with SIGKILL and started again on the same port and database. The SSE clients reconnect like
a browser's EventSource. Prints:

- jobs completed, interrupted, other, and **lost** (unknown after the restart, or never
  finished; must be 0);
- HTTP **5xx** responses over the whole run (must be 0) and connection errors at the kill;
- p50/p99 latency of the status calls before the kill and after the restart;
- SSE streams that reached their analysis' final event, and SQLite's integrity check.

Run: ``python bench/load_crash.py [--analyses 200] [--subscribers 100] [--kill-at 0.25]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.service_load import DUBS, make_media  # noqa: E402
from testkit.services import stop_process  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


@dataclass
class Counters:
    latencies_before: list[float] = field(default_factory=list)
    latencies_after: list[float] = field(default_factory=list)
    http_5xx: int = 0
    connection_errors: int = 0
    restarted: bool = False


class Server:
    """uvicorn on a fixed port with the benchmark's environment; kill() is a SIGKILL."""

    def __init__(self, root: Path, env: dict[str, str], port: int) -> None:
        self.root, self.env, self.port = root, env, port
        self.base_url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        log = (self.root / f"uvicorn-{self.runs}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port",
             str(self.port), "--log-level", "warning"],
            cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base_url}/api/v1/health/live", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.root / f"uvicorn-{self.runs}.log").read_text()[-3000:])
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _follow(client: httpx.AsyncClient, analysis_id: str, counters: Counters,
                  deadline: float) -> bool:
    """Follow one analysis' SSE stream to its final event, reconnecting after the kill as an
    EventSource does. True when the final event arrived."""
    url = f"/api/v1/analysis/{analysis_id}/progress/stream"
    while time.monotonic() < deadline:
        try:
            async with client.stream("GET", url) as response:
                if response.status_code >= 500:
                    counters.http_5xx += 1
                if response.status_code != 200:
                    await asyncio.sleep(0.5)
                    continue
                async for line in response.aiter_lines():
                    if line.startswith("data:") and json.loads(line[5:]).get("final"):
                        return True
        except httpx.HTTPError:
            counters.connection_errors += 1
            await asyncio.sleep(0.5)
    return False


async def _poll(client: httpx.AsyncClient, ids: list[str], counters: Counters,
                stop: asyncio.Event, interval: float) -> None:
    i = 0
    while not stop.is_set():
        aid = ids[i % len(ids)]
        i += 1
        t0 = time.perf_counter()
        try:
            r = await client.get(f"/api/v1/analysis/{aid}")
        except httpx.HTTPError:
            counters.connection_errors += 1
            await asyncio.sleep(0.2)
            continue
        ms = (time.perf_counter() - t0) * 1000
        (counters.latencies_after if counters.restarted else counters.latencies_before
         ).append(ms)
        if r.status_code >= 500:
            counters.http_5xx += 1
        await asyncio.sleep(interval)


async def _count(client: httpx.AsyncClient, status: str) -> int:
    r = await client.get("/api/v1/analysis", params={"status": status, "limit": 1})
    return int(r.json()["total"]) if r.status_code == 200 else 0


async def _submit(client: httpx.AsyncClient, args: argparse.Namespace,
                  counters: Counters) -> list[str]:
    """Half the analyses one by one through the API, half as a CSV batch."""
    dubs = list(DUBS)
    n_api = args.analyses // 2
    ids: list[str] = []
    for i in range(n_api):
        r = await client.post("/api/v1/analysis/sync", json={
            "master_file": "master.wav", "dub_file": dubs[i % len(dubs)],
            "max_offset_seconds": 10, "methods": args.methods})
        counters.http_5xx += r.status_code >= 500
        r.raise_for_status()
        ids.append(r.json()["analysis_id"])
    rows = ["master_file,dub_file,methods,max_offset_seconds"]
    rows += [f"master.wav,{dubs[i % len(dubs)]},{'|'.join(args.methods)},10"
             for i in range(args.analyses - n_api)]
    r = await client.post("/api/v1/analysis/batch/upload-csv", content="\n".join(rows) + "\n",
                          headers={"content-type": "text/csv"})
    counters.http_5xx += r.status_code >= 500
    r.raise_for_status()
    batch_id = r.json()["batch_id"]
    r = await client.post(f"/api/v1/analysis/batch/{batch_id}/start")
    counters.http_5xx += r.status_code >= 500
    r.raise_for_status()
    ids += [item["analysis_id"] for item in r.json()["items"]]
    return ids


def _quantiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (0.0, 0.0)
    q = statistics.quantiles(values, n=100)
    return round(q[49], 2), round(q[98], 2)


async def run(args: argparse.Namespace, server: Server, database: Path) -> dict[str, object]:
    counters = Counters()
    limits = httpx.Limits(max_connections=args.subscribers + args.pollers + 20,
                          max_keepalive_connections=args.subscribers + args.pollers + 20)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=httpx.Timeout(60.0),
                                 limits=limits) as client:
        t0 = time.perf_counter()
        ids = await _submit(client, args, counters)
        submit_seconds = time.perf_counter() - t0
        deadline = time.monotonic() + args.timeout
        followed = [ids[(i * len(ids)) // args.subscribers] for i in range(args.subscribers)]
        followers = [asyncio.create_task(_follow(client, aid, counters, deadline))
                     for aid in followed]
        stop = asyncio.Event()
        pollers = [asyncio.create_task(_poll(client, ids, counters, stop, args.poll_interval))
                   for _ in range(args.pollers)]
        while await _count(client, "completed") < args.kill_at * len(ids):
            await asyncio.sleep(0.2)
        at_kill = {s: await _count(client, s) for s in ("completed", "running", "queued")}
        await asyncio.to_thread(server.kill)
        t_kill = time.perf_counter()
        ok_before = _integrity(database)
        await asyncio.to_thread(server.start)
        counters.restarted = True
        restart_seconds = time.perf_counter() - t_kill

        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            pending = [a for a in ids if statuses.get(a) not in TERMINAL]
            if not pending:
                break
            for aid in pending:
                r = await client.get(f"/api/v1/analysis/{aid}")
                counters.http_5xx += r.status_code >= 500
                statuses[aid] = (r.json()["status"] if r.status_code == 200
                                 else f"http_{r.status_code}")
            await asyncio.sleep(0.5)
        streams_final = sum(await asyncio.gather(*followers))
        stop.set()
        await asyncio.gather(*pollers)
        wall = time.perf_counter() - t0
        attempts = []
        for aid in ids:
            r = await client.get(f"/api/v1/analysis/{aid}")
            if r.status_code == 200:
                attempts.append(r.json()["attempts"])
    by_status: dict[str, int] = {}
    for aid in ids:
        by_status[statuses.get(aid, "unknown")] = by_status.get(statuses.get(aid, "unknown"), 0) + 1
    lost = sum(n for s, n in by_status.items() if s not in TERMINAL)
    p50_before, p99_before = _quantiles(counters.latencies_before)
    p50_after, p99_after = _quantiles(counters.latencies_after)
    return {
        "analyses": len(ids), "subscribers": len(followed),
        "submit_seconds": round(submit_seconds, 1),
        "at_kill": at_kill, "restart_seconds": round(restart_seconds, 1),
        "wall_seconds": round(wall, 1), "statuses": by_status,
        "completed": by_status.get("completed", 0), "interrupted": by_status.get("interrupted", 0),
        "lost": lost, "re_run": sum(1 for a in attempts if a >= 2),
        "http_5xx": counters.http_5xx, "connection_errors": counters.connection_errors,
        "status_calls": len(counters.latencies_before) + len(counters.latencies_after),
        "status_p50_before_ms": p50_before, "status_p99_before_ms": p99_before,
        "status_p50_after_ms": p50_after, "status_p99_after_ms": p99_after,
        "streams_final": streams_final, "integrity_at_kill": ok_before,
        "integrity_end": _integrity(database),
    }


def _integrity(database: Path) -> str:
    with sqlite3.connect(database) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyses", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--poll-interval", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=2, help="MAX_WORKERS of the server")
    parser.add_argument("--seconds", type=float, default=8.0, help="programme length")
    parser.add_argument("--methods", default="correlation,onset",
                        help="comma-separated methods of every analysis")
    parser.add_argument("--kill-at", type=float, default=0.25,
                        help="SIGKILL once this share of the analyses has completed")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    with tempfile.TemporaryDirectory(prefix="load-crash-") as tmp:
        root = Path(tmp)
        media = root / "media"
        media.mkdir()
        make_media(media, args.seconds)
        database = root / "bench.db"
        env = {**os.environ, "MOUNT_PATH": str(media), "UPLOAD_DIR": str(root / "uploads"),
               "OUTPUT_DIR": str(root / "output"), "DATABASE_URL": f"sqlite:///{database}",
               "MAX_WORKERS": str(args.workers), "LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(REPO), "BATCH_MAX_ITEMS": str(max(100, args.analyses)),
               "SSE_PING_SECONDS": "5", "JOB_MAX_ATTEMPTS": "2"}
        server = Server(root, env, _free_port())
        server.start()
        try:
            summary = asyncio.run(run(args, server, database))
        finally:
            server.stop()
    summary.update(cpu_count=os.cpu_count(), max_workers=args.workers)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"load + crash: {summary['analyses']} analyses ({args.analyses // 2} via POST "
              f"/analysis/sync, {args.analyses - args.analyses // 2} via one CSV batch) of "
              f"{args.seconds:g} s programmes, methods {'+'.join(args.methods)}, "
              f"{summary['subscribers']} SSE clients, {args.pollers} pollers, "
              f"MAX_WORKERS={args.workers}, {summary['cpu_count']} CPUs; SIGKILL at "
              f"{args.kill_at:.0%} completed")
        rows = [
            ("at the kill", summary["at_kill"]),
            ("restart to ready", f"{summary['restart_seconds']} s"),
            ("wall time", f"{summary['wall_seconds']} s"),
            ("final statuses", summary["statuses"]),
            ("jobs completed", f"{summary['completed']}/{summary['analyses']}"),
            ("  of them re-run after the kill", summary["re_run"]),
            ("jobs interrupted", summary["interrupted"]),
            ("jobs lost (must be 0)", summary["lost"]),
            ("HTTP 5xx (must be 0)", summary["http_5xx"]),
            ("connection errors at the kill", summary["connection_errors"]),
            ("status calls (GET /{id})", summary["status_calls"]),
            ("status p50 / p99 before the kill",
             f"{summary['status_p50_before_ms']} / {summary['status_p99_before_ms']} ms"),
            ("status p50 / p99 after the restart",
             f"{summary['status_p50_after_ms']} / {summary['status_p99_after_ms']} ms"),
            ("SSE streams that saw the final event",
             f"{summary['streams_final']}/{summary['subscribers']}"),
            ("SQLite integrity at kill / end",
             f"{summary['integrity_at_kill']} / {summary['integrity_end']}"),
        ]
        for name, value in rows:
            print(f"  {name:<38} {value}")
    ok = summary["lost"] == 0 and summary["http_5xx"] == 0 and summary["integrity_end"] == "ok"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
