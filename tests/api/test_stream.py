"""``GET /{id}/progress/stream``: state, every event in order, the final event, then close."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from app.core.config import Settings
from tests.api.helpers import check_sse_sequence, read_sse, running_app, wait_status
from tests.conftest import DUBS

PAIR = {"master_file": "master.wav", "dub_file": "dub_late.wav"}


class TestProgressStream:
    async def test_live_stream_to_the_end(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            aid = (await client.post("/api/v1/analysis/sync", json=PAIR)).json()["analysis_id"]
            readers = [read_sse(client, f"/api/v1/analysis/{aid}/progress/stream")
                       for _ in range(5)]
            results = await asyncio.gather(*readers)
            for events, _ in results:
                check_sse_sequence(events)
                assert events[-1].event == "completed"
                final = events[-1].data
                assert final["status"] == "completed" and final["analysis_id"] == aid
                assert abs(final["result"]["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001
                stages = [e.data["progress"]["stage"] for e in events if e.event == "progress"]
                assert stages[-1] == "done"
                assert {"decode", "coarse", "refine"} <= set(stages)
                fractions = [e.data["progress"]["fraction"] for e in events
                             if e.event == "progress"]
                assert fractions == sorted(fractions)
            # from the point where the last subscriber joined, every subscriber saw exactly the
            # same events (they connect at slightly different moments while progress flows)
            joined = max(int(ev[1].id or 0) for ev, _ in results)
            tails = [[(e.id, e.event) for e in ev if int(e.id or 0) >= joined]
                     for ev, _ in results]
            assert all(t == tails[0] for t in tails) and len(tails[0]) > 1

    async def test_stream_of_a_finished_analysis(self, make_settings: Callable[..., Settings]
                                                 ) -> None:
        async with running_app(make_settings()) as (_, client):
            aid = (await client.post("/api/v1/analysis/sync",
                                     json={**PAIR, "methods": ["correlation"]})
                   ).json()["analysis_id"]
            await wait_status(client, aid)
            events, _ = await read_sse(client, f"/api/v1/analysis/{aid}/progress/stream",
                                       timeout=10)
            assert [e.event for e in events] == ["state", "completed"]
            assert events[0].data["status"] == "completed"
            assert events[0].data["verdict"] == "constant_offset"
            assert abs(events[1].data["result"]["offset_seconds"] - 0.2345) < 0.001

    async def test_keepalive_pings_while_queued(self, make_settings: Callable[..., Settings],
                                                long_media: Path) -> None:
        settings = make_settings(MAX_WORKERS=1, SSE_PING_SECONDS=0.2)
        async with running_app(settings) as (_, client):
            busy = (await client.post("/api/v1/analysis/sync", json={
                "master_file": long_media.name, "dub_file": long_media.name})
                    ).json()["analysis_id"]
            waiting = (await client.post("/api/v1/analysis/sync", json=PAIR)
                       ).json()["analysis_id"]
            reader = asyncio.create_task(
                read_sse(client, f"/api/v1/analysis/{waiting}/progress/stream"))
            await asyncio.sleep(1.0)
            assert (await client.delete(f"/api/v1/analysis/{waiting}")).status_code == 200
            events, pings = await reader
            assert pings >= 2
            assert [e.event for e in events] == ["state", "cancelled"]
            assert events[0].data["status"] == "queued"
            assert (await client.delete(f"/api/v1/analysis/{busy}")).json()["status"] == \
                "cancelled"
