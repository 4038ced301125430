"""Load benchmark of the analysis service.

Starts the service with uvicorn (temporary SQLite database and media folder), submits N analyses
(default 50) while S Server-Sent-Events subscribers (default 100) follow them, and polls
``GET /api/v1/analysis/{id}`` meanwhile. Prints:

- lost events: gaps in each stream's event ids, and streams that ended without their final event
  (must be 0);
- p50/p99 latency of ``GET /api/v1/analysis/{id}`` under that load (target p99 < 50 ms);
- peak memory (RSS) of the server process, and with its ffmpeg children;
- how many results found the true offset within 1 ms, and 5xx responses (must be 0).

Run: ``python bench/service_load.py [--analyses 50] [--subscribers 100] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testkit.services import stop_process  # noqa: E402

SR = 48_000
#: dub file name → true offset in seconds (> 0 = dub late)
DUBS = {"dub_a.wav": 0.2345, "dub_b.wav": -0.8765, "dub_c.wav": 1.5, "dub_d.wav": 0.04}


def make_media(root: Path, seconds: float) -> None:
    """A broadband master and dubs late/early by DUBS' offsets (seeded, non-periodic)."""
    rng = np.random.default_rng(7)
    n = int(seconds * SR)
    block = SR // 10
    env = np.repeat(rng.uniform(0.05, 1.0, n // block + 1), block)[:n]
    master = (0.25 * rng.standard_normal(n) * env).astype(np.float32)

    def write(path: Path, x: np.ndarray) -> None:
        subprocess.run(
            [
                "ffmpeg",
                "-y",
                "-v",
                "error",
                "-f",
                "f32le",
                "-ar",
                str(SR),
                "-ac",
                "1",
                "-i",
                "pipe:0",
                "-c:a",
                "pcm_s16le",
                str(path),
            ],
            input=x.astype(np.float32).tobytes(),
            check=True,
        )

    write(root / "master.wav", master)
    for name, offset in DUBS.items():
        lag = int(round(offset * SR))
        dub = (
            np.concatenate([np.zeros(lag, np.float32), master])[:n]
            if lag >= 0
            else np.concatenate([master[-lag:], np.zeros(-lag, np.float32)])
        )
        write(root / name, 0.8 * dub + 0.01 * rng.standard_normal(n).astype(np.float32))


@dataclass
class Stream:
    analysis_id: str
    ids: list[int] = field(default_factory=list)
    events: int = 0
    final: str | None = None
    gaps: int = 0
    error: str | None = None


class MemoryWatch(threading.Thread):
    """Samples the RSS of a process (and with its children) every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.peak_with_children = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                rss = self.proc.memory_info().rss
                children = sum(c.memory_info().rss for c in self.proc.children(recursive=True))
            except psutil.Error:
                return
            self.peak = max(self.peak, rss)
            self.peak_with_children = max(self.peak_with_children, rss + children)
            time.sleep(0.05)


async def follow(client: httpx.AsyncClient, stream: Stream) -> None:
    """Read one SSE stream to its end, checking that event ids have no gap."""
    url = f"/api/v1/analysis/{stream.analysis_id}/progress/stream"
    event, ident = None, None
    try:
        async with client.stream("GET", url) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                line = line.rstrip("\r")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("id:"):
                    ident = int(line[3:].strip())
                elif line.startswith("data:"):
                    data = json.loads(line[5:])
                    stream.events += 1
                    assert ident is not None
                    if (
                        stream.ids
                        and event != "state"
                        and ident != stream.ids[-1] + 1
                        and not data.get("final")
                    ):
                        stream.gaps += ident - stream.ids[-1] - 1
                    stream.ids.append(ident)
                    if data.get("final"):
                        stream.final = event
    except Exception as exc:  # reported as a lost stream
        stream.error = f"{type(exc).__name__}: {exc}"


async def poll(
    client: httpx.AsyncClient,
    ids: list[str],
    stop: asyncio.Event,
    latencies: list[float],
    errors: list[int],
    interval: float,
) -> None:
    i = 0
    while not stop.is_set():
        aid = ids[i % len(ids)]
        i += 1
        t0 = time.perf_counter()
        r = await client.get(f"/api/v1/analysis/{aid}")
        latencies.append((time.perf_counter() - t0) * 1000)
        if r.status_code >= 500:
            errors.append(r.status_code)
        await asyncio.sleep(interval)


async def run(args: argparse.Namespace, base_url: str) -> dict[str, object]:
    limits = httpx.Limits(
        max_connections=args.subscribers + args.pollers + 20,
        max_keepalive_connections=args.subscribers + args.pollers + 20,
    )
    async with httpx.AsyncClient(
        base_url=base_url, timeout=httpx.Timeout(600.0), limits=limits
    ) as client:
        t0 = time.perf_counter()
        submitted: list[tuple[str, float]] = []
        streams: list[Stream] = []
        followers: list[asyncio.Task[None]] = []
        errors: list[int] = []
        dubs = list(DUBS)
        per = max(1, args.subscribers // args.analyses)
        extra = args.subscribers - per * args.analyses
        submit_ms: list[float] = []
        for i in range(args.analyses):
            dub = dubs[i % len(dubs)]
            ts = time.perf_counter()
            r = await client.post(
                "/api/v1/analysis/sync",
                json={"master_file": "master.wav", "dub_file": dub, "max_offset_seconds": 10},
            )
            submit_ms.append((time.perf_counter() - ts) * 1000)
            if r.status_code >= 500:
                errors.append(r.status_code)
            r.raise_for_status()
            aid = r.json()["analysis_id"]
            submitted.append((aid, DUBS[dub]))
            count = per + (1 if i < extra else 0)
            for _ in range(count if len(streams) < args.subscribers else 0):
                stream = Stream(aid)
                streams.append(stream)
                followers.append(asyncio.create_task(follow(client, stream)))
        ids = [a for a, _ in submitted]
        stop = asyncio.Event()
        latencies: list[float] = []
        pollers = [
            asyncio.create_task(poll(client, ids, stop, latencies, errors, args.poll_interval))
            for _ in range(args.pollers)
        ]
        await asyncio.gather(*followers)
        stop.set()
        await asyncio.gather(*pollers)
        wall = time.perf_counter() - t0

        correct = 0
        statuses: dict[str, int] = {}
        for aid, truth in submitted:
            body = (await client.get(f"/api/v1/analysis/{aid}")).json()
            statuses[body["status"]] = statuses.get(body["status"], 0) + 1
            result = body.get("result") or {}
            if (
                result.get("offset_seconds") is not None
                and abs(result["offset_seconds"] - truth) < 0.001
            ):
                correct += 1
    lost = sum(s.gaps for s in streams) + sum(1 for s in streams if s.final is None)
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return {
        "analyses": args.analyses,
        "subscribers": len(streams),
        "wall_seconds": round(wall, 1),
        "statuses": statuses,
        "offsets_within_1ms": correct,
        "events_received": sum(s.events for s in streams),
        "lost_events": lost,
        "stream_errors": [s.error for s in streams if s.error][:5],
        "get_requests": len(latencies),
        "get_p50_ms": round(q[49], 2),
        "get_p99_ms": round(q[98], 2),
        "get_max_ms": round(max(latencies, default=0.0), 2),
        "submit_p50_ms": round(statistics.median(submit_ms), 1),
        "http_5xx": len(errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyses", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument(
        "--pollers", type=int, default=4, help="concurrent clients polling GET /{id} during the run"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.01,
        help="pause of each poller between two requests (seconds)",
    )
    parser.add_argument("--workers", type=int, default=2, help="MAX_WORKERS of the server")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the test programmes")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="service-load-") as tmp:
        root = Path(tmp)
        media = root / "media"
        media.mkdir()
        make_media(media, args.seconds)
        env = {
            **os.environ,
            "MOUNT_PATH": str(media),
            "UPLOAD_DIR": str(root / "uploads"),
            "DATABASE_URL": f"sqlite:///{root / 'bench.db'}",
            "MAX_WORKERS": str(args.workers),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO),
            "SSE_PING_SECONDS": "5",
        }
        log = (root / "uvicorn.log").open("wb")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.port),
                "--log-level",
                "warning",
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{args.port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base_url}/api/v1/health/live", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    print((root / "uvicorn.log").read_text()[-3000:], file=sys.stderr)
                    return 2
                time.sleep(0.1)
            watch = MemoryWatch(server.pid)
            idle_rss = watch.proc.memory_info().rss
            watch.start()
            summary = asyncio.run(run(args, base_url))
            watch.stop.set()
            watch.join()
            summary["server_rss_idle_mib"] = round(idle_rss / 2**20, 1)
            summary["server_rss_peak_mib"] = round(watch.peak / 2**20, 1)
            summary["server_rss_peak_with_ffmpeg_mib"] = round(watch.peak_with_children / 2**20, 1)
            summary["cpu_count"] = os.cpu_count()
            summary["max_workers"] = args.workers
        finally:
            stop_process(server, grace=30)
            log.close()

    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"service load: {summary['analyses']} analyses of {args.seconds:g} s programmes, "
            f"{summary['subscribers']} SSE subscribers, {args.pollers} pollers, "
            f"MAX_WORKERS={args.workers}, {summary['cpu_count']} CPUs"
        )
        rows = [
            ("wall time", f"{summary['wall_seconds']} s"),
            ("final statuses", summary["statuses"]),
            ("offsets within 1 ms", f"{summary['offsets_within_1ms']}/{summary['analyses']}"),
            ("events received", summary["events_received"]),
            ("lost events (must be 0)", summary["lost_events"]),
            ("GET /{id} requests", summary["get_requests"]),
            ("GET /{id} p50", f"{summary['get_p50_ms']} ms"),
            ("GET /{id} p99 (target < 50 ms)", f"{summary['get_p99_ms']} ms"),
            ("GET /{id} max", f"{summary['get_max_ms']} ms"),
            ("POST /sync p50 (incl. 2 ffprobe)", f"{summary['submit_p50_ms']} ms"),
            ("HTTP 5xx (must be 0)", summary["http_5xx"]),
            ("server RSS idle", f"{summary['server_rss_idle_mib']} MiB"),
            ("server RSS peak", f"{summary['server_rss_peak_mib']} MiB"),
            ("  with ffmpeg children", f"{summary['server_rss_peak_with_ffmpeg_mib']} MiB"),
        ]
        for name, value in rows:
            print(f"  {name:<34} {value}")
        if summary["stream_errors"]:
            print("  stream errors:", summary["stream_errors"])
    ok = summary["lost_events"] == 0 and summary["http_5xx"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
