"""``/api/v1/reports`` through the real app: full JSON, formatted text/Markdown/HTML, search
by file pair, list; offsets checked against the known truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from tests.api.helpers import running_app, wait_status
from tests.conftest import DUBS, SR

API = "/api/v1/reports"
LATE, EARLY = DUBS["dub_late.wav"], DUBS["dub_early.flac"]


async def analyse(client: httpx.AsyncClient, dub: str, label: str | None = None) -> str:
    r = await client.post("/api/v1/analysis/sync", json={
        "master_file": "master.wav", "dub_file": dub, "methods": ["correlation", "onset"],
        "label": label})
    assert r.status_code == 202, r.text
    done = await wait_status(client, r.json()["analysis_id"])
    assert done["status"] == "completed", done
    return str(done["analysis_id"])


class TestReports:
    async def test_full_formatted_search_and_list(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            late = await analyse(client, "dub_late.wav", label="<b>EP1</b> & DE")
            early = await analyse(client, "dub_early.flac")

            r = await client.get(f"{API}/{late}")
            assert r.status_code == 200, r.text
            rep = r.json()
            assert rep["sign_convention"] == "offset_seconds > 0 means the dub is late"
            assert rep["verdict"]["code"] == "constant_offset"
            off = rep["offset"]
            assert abs(off["seconds"] - LATE) < 0.001
            assert abs(off["milliseconds"] - 1000 * LATE) < 1.0
            assert off["samples"] == round(LATE * SR) and off["sample_rate"] == SR
            assert off["direction"] == "late" and off["headline_fps"] == "25"
            assert abs(off["frames"]["25"] - 25 * LATE) < 0.025
            assert off["timecodes"]["25"] == "00:00:00:06"
            assert off["timecodes"]["29.97"] == "00:00:00;07"
            assert rep["consensus"]["reliable"] is True and rep["consensus"]["confidence"] > 0.5
            assert {m["method"] for m in rep["methods"]} == {"correlation", "onset"}
            master = rep["inputs"]["master"]
            assert master["probe"]["container"] == "wav" and master["name"] == "master.wav"
            assert rep["inputs"]["dub"]["analysed"]["sample_rate"] == SR
            assert rep["timeline"]["model"] and rep["timeline"]["windows"] > 0
            assert rep["recommendation"]["action"] == "shift"
            assert (f"remove 234.5 ms ({round(LATE * SR)} samples at {SR} Hz) from the head of "
                    "the dub") in rep["recommendation"]["summary"]
            assert rep["versions"]["ffmpeg"].startswith("ffmpeg version")
            assert rep["versions"]["engine"] and rep["timings"]
            assert rep["options"]["methods"] == ["correlation", "onset"]

            rep_early = (await client.get(f"{API}/{early}", params={"fps": "29.97"})).json()
            assert rep_early["offset"]["direction"] == "early"
            assert rep_early["offset"]["headline_fps"] == "29.97"
            summary = rep_early["recommendation"]["summary"]
            assert "876.5 ms early" in summary and "of silence to the head of the dub" in summary
            assert "at 29.97 fps" in summary
            assert any("BT.1359" in d for d in rep_early["recommendation"]["details"])

            text = await client.get(f"{API}/{late}/formatted", params={"format": "text"})
            assert text.status_code == 200
            assert text.headers["content-type"].startswith("text/plain")
            body = text.text
            assert "OUT OF SYNC (constant offset)" in body and "+234.5" in body
            assert "5.86 frames, timecode 00:00:00:06" in body
            assert "Recommendation: The dub is 234.5 ms late" in body
            md = (await client.get(f"{API}/{late}/formatted", params={"format": "markdown"}))
            assert md.headers["content-type"].startswith("text/markdown")
            assert "| Frame rate | Frames | Timecode |" in md.text and "## Methods" in md.text
            page = await client.get(f"{API}/{late}/formatted",
                                    params={"format": "html", "download": True})
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["content-disposition"] == f'attachment; filename="{late}.html"'
            assert "<b>EP1</b>" not in page.text and "&lt;b&gt;EP1&lt;/b&gt; &amp; DE" in page.text
            assert page.text.startswith("<!DOCTYPE html>") and "<table>" in page.text

            async def found(**params: str) -> list[str]:
                r = await client.get(f"{API}/search", params=params)
                assert r.status_code == 200, r.text
                body = r.json()
                assert body["total"] == len(body["items"])
                return [i["analysis_id"] for i in body["items"]]

            assert await found(master_file="master.wav", dub_file="dub_late") == [late]
            assert await found(dub_file="DUB_") == [early, late]  # newest first
            assert await found(master_file="MASTER") == [early, late]
            assert await found(dub_file="dub_early.flac") == [early]
            assert await found(master_file="master.wav", dub_file="nothing") == []
            hit = (await client.get(f"{API}/search", params={"dub_file": "dub_late"})).json()
            item = hit["items"][0]
            assert abs(item["offset_ms"] - 1000 * LATE) < 1.0 and item["verdict"] == \
                "constant_offset"
            assert item["links"]["report"] == f"{API}/{late}"

            listed = (await client.get(API, params={"limit": 1})).json()
            assert listed["total"] == 2 and [i["analysis_id"] for i in listed["items"]] == [
                early]
            assert (await client.get(API, params={"status": "failed"})).json()["total"] == 0

    async def test_unfinished_cancelled_and_unknown(
            self, make_settings: Callable[..., Settings], long_media: Path) -> None:
        async with running_app(make_settings()) as (_, client):
            aid = (await client.post("/api/v1/analysis/sync", json={
                "master_file": long_media.name, "dub_file": long_media.name})
                   ).json()["analysis_id"]
            await wait_status(client, aid, {"running"})
            r = await client.get(f"{API}/{aid}")
            assert r.status_code == 409 and r.json()["error"]["code"] == "report_not_ready"
            await client.delete(f"/api/v1/analysis/{aid}")
            rep = (await client.get(f"{API}/{aid}")).json()
            assert rep["verdict"]["code"] == "cancelled" and rep["offset"] is None
            assert rep["recommendation"]["action"] == "rerun"
            text = (await client.get(f"{API}/{aid}/formatted", params={"format": "text"})).text
            assert "CANCELLED" in text
            r = await client.get(f"{API}/analysis_20990101_000000_deadbeef")
            assert r.status_code == 404 and r.json()["error"]["code"] == "analysis_not_found"

    @pytest.mark.parametrize("params", [{"format": "pdf"}, {"fps": "50"}])
    async def test_bad_parameters(self, make_settings: Callable[..., Settings],
                                  params: dict[str, str]) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.get(f"{API}/analysis_20990101_000000_deadbeef/formatted",
                                 params=params)
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
