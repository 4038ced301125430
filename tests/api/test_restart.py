"""Persistence across instances and restarts: nothing is silently lost.

A second instance on the same database sees the first one's analyses and leaves its running
work alone; a crashed instance's analyses are queued again (running ones re-run); a graceful
shutdown hands running analyses back to the queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from app.core.config import Settings
from tests.api.helpers import UvicornProcess, read_sse, running_app, wait_status
from tests.conftest import DUBS

SHORT = {"master_file": "master.wav", "dub_file": "dub_late.wav", "methods": ["correlation"]}


class TestSecondInstance:
    async def test_sees_the_first_ones_analyses(self, make_settings: Callable[..., Settings],
                                                long_media: Path) -> None:
        settings = make_settings()
        async with running_app(settings) as (_, first), running_app(settings) as (_, second):
            done_id = (await first.post("/api/v1/analysis/sync", json=SHORT)
                       ).json()["analysis_id"]
            await wait_status(first, done_id)
            seen = (await second.get(f"/api/v1/analysis/{done_id}")).json()
            assert seen["status"] == "completed"
            assert abs(seen["result"]["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001
            assert (await second.get("/api/v1/analysis")).json()["total"] == 1

            # a job running on the first is not taken over by the second ...
            long_id = (await first.post("/api/v1/analysis/sync", json={
                "master_file": long_media.name, "dub_file": long_media.name})
                       ).json()["analysis_id"]
            running = await wait_status(first, long_id, {"running"})
            await asyncio.sleep(3 * settings.HEARTBEAT_SECONDS)  # maintenance ran on both
            still = (await second.get(f"/api/v1/analysis/{long_id}")).json()
            assert still["status"] == "running" and still["attempts"] == running["attempts"] == 1
            # ... and a cancel sent to the second reaches the worker of the first
            t0 = time.monotonic()
            r = await second.delete(f"/api/v1/analysis/{long_id}")
            assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
            assert time.monotonic() - t0 < 2.0 + settings.HEARTBEAT_SECONDS

    async def test_stream_from_the_other_instance(self, make_settings: Callable[..., Settings]
                                                  ) -> None:
        settings = make_settings()
        async with running_app(settings) as (_, first), running_app(settings) as (_, second):
            aid = (await first.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "dub_early.flac"})
                   ).json()["analysis_id"]
            events, _ = await read_sse(second, f"/api/v1/analysis/{aid}/progress/stream")
            assert events[0].event == "state" and events[-1].event == "completed"
            assert abs(events[-1].data["result"]["offset_seconds"] - DUBS["dub_early.flac"]) \
                < 0.001


class TestRestart:
    async def test_crash_requeues_and_reruns(self, make_settings: Callable[..., Settings],
                                             long_media: Path, tmp_path: Path) -> None:
        settings = make_settings(MAX_WORKERS=1, LOG_LEVEL="INFO")
        server = UvicornProcess(settings, cwd=tmp_path, log=tmp_path / "uvicorn.log")
        try:
            server.wait_ready()
            with httpx.Client(base_url=server.base_url, timeout=30) as c:
                running = c.post("/api/v1/analysis/sync", json={
                    "master_file": long_media.name, "dub_file": long_media.name}).json()
                queued = c.post("/api/v1/analysis/sync", json=SHORT).json()
                deadline = time.monotonic() + 30
                while (body := c.get(f"/api/v1/analysis/{running['analysis_id']}").json())[
                        "status"] != "running":
                    assert time.monotonic() < deadline, (body, server.log.read_text()[-4000:])
                    time.sleep(0.05)
        finally:
            server.kill()

        async with running_app(make_settings(MAX_WORKERS=2)) as (_, client):
            done = await wait_status(client, queued["analysis_id"])
            assert done["status"] == "completed"
            assert abs(done["result"]["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001
            rerun = await wait_status(client, running["analysis_id"], {"running"})
            assert rerun["attempts"] == 2
            r = await client.delete(f"/api/v1/analysis/{running['analysis_id']}")
            assert r.json()["status"] == "cancelled"

    async def test_graceful_shutdown_hands_back_running_work(
            self, make_settings: Callable[..., Settings], long_media: Path) -> None:
        settings = make_settings(MAX_WORKERS=1)
        async with running_app(settings) as (_, client):
            aid = (await client.post("/api/v1/analysis/sync", json={
                "master_file": long_media.name, "dub_file": long_media.name})
                   ).json()["analysis_id"]
            await wait_status(client, aid, {"running"})
            t0 = time.monotonic()
        assert time.monotonic() - t0 < 5, "shutdown waited for the analysis to finish"

        async with running_app(settings) as (_, client):
            body = (await client.get(f"/api/v1/analysis/{aid}")).json()
            if body["status"] == "queued":
                assert "shut down" in body["progress"]["message"]
            rerun = await wait_status(client, aid, {"running"})
            assert rerun["attempts"] == 1  # a graceful shutdown does not count as a run
            await client.delete(f"/api/v1/analysis/{aid}")
