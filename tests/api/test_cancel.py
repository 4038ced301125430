"""``DELETE /{id}``: a queued analysis is cancelled at once, a running one within ~1 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.config import Settings
from tests.api.helpers import read_sse, running_app, wait_status
from tests.conftest import DUBS

#: the issue's promise is "about a second"; 2 s leaves room for a loaded 2-core machine
CANCEL_SECONDS = 2.0


class TestCancel:
    @pytest.mark.parametrize(("stage", "delay"), [("decode", 0.0), ("decode", 2.5),
                                                  ("refine", 0.0)])
    async def test_cancel_a_running_analysis(self, make_settings: Callable[..., Settings],
                                             long_media: Path, stage: str, delay: float
                                             ) -> None:
        """At the start of decoding, during feature extraction (no engine check for a few
        seconds: the cancellation is recorded after a 1 s grace) and while refining."""
        async with running_app(make_settings(MAX_WORKERS=1)) as (_, client):
            aid = (await client.post("/api/v1/analysis/sync", json={
                "master_file": long_media.name, "dub_file": long_media.name})
                   ).json()["analysis_id"]
            stream = asyncio.create_task(
                read_sse(client, f"/api/v1/analysis/{aid}/progress/stream"))
            await wait_status(client, aid, {"running"}, stage=stage, timeout=60)
            await asyncio.sleep(delay)

            t0 = time.monotonic()
            r = await client.delete(f"/api/v1/analysis/{aid}")
            took = time.monotonic() - t0
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["status"] == "cancelled", body
            assert took < CANCEL_SECONDS, f"cancel took {took:.2f} s"
            assert body["error"]["code"] == "cancelled"
            assert body["result"] is None and body["finished_at"] is not None

            events, _ = await stream
            assert events[-1].event == "cancelled" and events[-1].data["final"] is True
            assert (await client.get(f"/api/v1/analysis/{aid}")).json()["status"] == "cancelled"
            again = await client.delete(f"/api/v1/analysis/{aid}")
            assert again.status_code == 200 and again.json()["status"] == "cancelled"

            # the worker is free again: the next analysis runs to its result
            nxt = (await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "dub_late.wav",
                "methods": ["correlation"]})).json()["analysis_id"]
            done = await wait_status(client, nxt)
            assert abs(done["result"]["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001

    async def test_cancel_a_queued_analysis(self, make_settings: Callable[..., Settings],
                                            long_media: Path) -> None:
        async with running_app(make_settings(MAX_WORKERS=1)) as (_, client):
            busy = (await client.post("/api/v1/analysis/sync", json={
                "master_file": long_media.name, "dub_file": long_media.name})
                    ).json()["analysis_id"]
            queued = (await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "dub_late.wav"})).json()["analysis_id"]
            await wait_status(client, busy, {"running"})
            r = await client.delete(f"/api/v1/analysis/{queued}")
            assert r.status_code == 200 and r.json()["status"] == "cancelled"
            assert r.json()["started_at"] is None and r.json()["attempts"] == 0
            assert (await client.delete(f"/api/v1/analysis/{busy}")).json()["status"] == \
                "cancelled"
            # the cancelled analysis is never picked up by the freed worker
            await asyncio.sleep(0.5)
            body = (await client.get(f"/api/v1/analysis/{queued}")).json()
            assert body["status"] == "cancelled" and body["attempts"] == 0
