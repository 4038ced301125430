"""Submit → progress → result through the real app, engine and ffmpeg, on a temporary SQLite."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.config import Settings
from tests.api.helpers import read_sse, running_app, wait_status
from tests.conftest import DUBS

TOLERANCE_SECONDS = 0.001
ID_RE = re.compile(r"^analysis_\d{8}_\d{6}_[0-9a-f]{8}$")


class TestSubmitSync:
    async def test_submit_progress_result(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "dub_late.wav", "label": "EP1 late"})
            assert r.status_code == 202, r.text
            body = r.json()
            aid = body["analysis_id"]
            assert ID_RE.match(aid)
            assert body["status"] == "queued"
            assert body["links"] == {"self": f"/api/v1/analysis/{aid}",
                                     "stream": f"/api/v1/analysis/{aid}/progress/stream",
                                     "cancel": f"/api/v1/analysis/{aid}",
                                     "conform": f"/api/v1/analysis/sync/{aid}/conform"
                                                "?format=edl"}
            assert r.headers["location"] == f"/api/v1/analysis/{aid}"

            events, _ = await read_sse(client, body["links"]["stream"])
            kinds = [e.event for e in events]
            assert kinds[0] == "state" and kinds[-1] == "completed"
            assert "progress" in kinds
            estimates = [e.data["progress"]["estimate"] for e in events
                         if e.event == "progress" and e.data["progress"]["estimate"]]
            assert estimates, "an early estimate is published"

            done = (await client.get(f"/api/v1/analysis/{aid}")).json()
            assert done["status"] == "completed"
            assert done["label"] == "EP1 late"
            assert done["progress"] == {**done["progress"], "stage": "done", "fraction": 1.0,
                                        "percent": 100.0}
            result = done["result"]
            assert abs(result["offset_seconds"] - DUBS["dub_late.wav"]) < TOLERANCE_SECONDS
            assert result["verdict"] == "constant_offset" and result["reliable"] is True
            assert result["offset_samples"] == round(DUBS["dub_late.wav"] * 48000)
            assert {m["method"] for m in result["methods"]} == {
                "correlation", "mfcc", "onset", "spectral"}
            assert done["started_at"] >= done["created_at"]
            assert done["finished_at"] >= done["started_at"]
            assert done["elapsed_seconds"] > 0 and done["attempts"] == 1
            assert done["error"] is None
            req = done["request"]
            assert req["sample_rate"] == 16000 and req["max_offset_seconds"] == 120.0
            assert req["window_size"] is None  # automatic
            assert req["master_path"].endswith("/master.wav")

    @pytest.mark.parametrize("dub", ["dub_early.flac", "dub_late2.wav"])
    async def test_offsets_both_signs(self, make_settings: Callable[..., Settings],
                                      dub: str) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": dub,
                "methods": ["correlation", "onset"], "max_offset_seconds": 10,
                "sample_rate": 16000, "confidence_threshold": 0.4, "window_size": 5})
            assert r.status_code == 202, r.text
            done = await wait_status(client, r.json()["analysis_id"])
            assert done["status"] == "completed", done
            assert abs(done["result"]["offset_seconds"] - DUBS[dub]) < TOLERANCE_SECONDS
            assert done["request"]["methods"] == ["correlation", "onset"]
            assert done["result"]["options"]["window_seconds"] == 5.0
            assert {m["method"] for m in done["result"]["methods"]} == {"onset", "correlation"}

    async def test_absolute_and_symlinked_paths_inside_roots(
            self, make_settings: Callable[..., Settings], media_dir: Path,
            tmp_path: Path) -> None:
        settings = make_settings()
        settings.ensure_directories()
        link = settings.UPLOAD_DIR / "linked_dub.wav"
        link.symlink_to(media_dir / "dub_late.wav")
        async with running_app(settings) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": str(media_dir / "master.wav"), "dub_file": "linked_dub.wav",
                "methods": ["correlation"]})
            assert r.status_code == 202, r.text
            done = await wait_status(client, r.json()["analysis_id"])
            assert abs(done["result"]["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001
            assert done["request"]["dub_path"] == str((media_dir / "dub_late.wav").resolve())


class TestBatch:
    async def test_batch_runs_every_pair(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            items = [{"master_file": "master.wav", "dub_file": name, "methods": ["correlation"],
                      "max_offset_seconds": 10} for name in DUBS]
            r = await client.post("/api/v1/analysis/batch", json={"items": items,
                                                                  "label": "season 1"})
            assert r.status_code == 202, r.text
            body = r.json()
            assert body["total"] == len(DUBS) and len(body["items"]) == len(DUBS)
            assert body["batch_id"].startswith("batch_")
            for item, name in zip(body["items"], DUBS, strict=True):
                done = await wait_status(client, item["analysis_id"])
                assert done["batch_id"] == body["batch_id"] and done["label"] == "season 1"
                assert abs(done["result"]["offset_seconds"] - DUBS[name]) < TOLERANCE_SECONDS
            listed = (await client.get("/api/v1/analysis",
                                       params={"batch_id": body["batch_id"]})).json()
            assert listed["total"] == len(DUBS)

    async def test_batch_is_all_or_nothing(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            items = [{"master_file": "master.wav", "dub_file": "dub_late.wav"},
                     {"master_file": "master.wav", "dub_file": "missing.wav"},
                     {"master_file": "../../etc/passwd", "dub_file": "dub_late.wav"}]
            r = await client.post("/api/v1/analysis/batch", json={"items": items})
            assert r.status_code == 422
            err = r.json()["error"]
            assert err["code"] == "invalid_batch_item"
            assert [(d["index"], d["code"]) for d in err["details"]] == [
                (1, "file_not_found"), (2, "path_not_allowed")]
            assert (await client.get("/api/v1/analysis")).json()["total"] == 0

    async def test_batch_size_limit(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(BATCH_MAX_ITEMS=2)) as (_, client):
            item = {"master_file": "master.wav", "dub_file": "dub_late.wav"}
            r = await client.post("/api/v1/analysis/batch", json={"items": [item] * 3})
            assert r.status_code == 422 and r.json()["error"]["code"] == "batch_too_large"
            r = await client.post("/api/v1/analysis/batch", json={"items": []})
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


class TestList:
    async def test_filters_and_pagination(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(MAX_WORKERS=1)) as (_, client):
            ids = []
            for name in ["dub_late.wav", "dub_early.flac", "dub_late2.wav"]:
                r = await client.post("/api/v1/analysis/sync", json={
                    "master_file": "master.wav", "dub_file": name, "methods": ["correlation"],
                    "max_offset_seconds": 5})
                ids.append(r.json()["analysis_id"])
            cancelled = await client.delete(f"/api/v1/analysis/{ids[2]}")
            assert cancelled.json()["status"] == "cancelled"
            for aid in ids[:2]:
                await wait_status(client, aid)

            page = (await client.get("/api/v1/analysis", params={"limit": 2})).json()
            assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
            assert [i["analysis_id"] for i in page["items"]] == ids[::-1][:2]  # newest first
            rest = (await client.get("/api/v1/analysis",
                                     params={"limit": 2, "offset": 2})).json()
            assert [i["analysis_id"] for i in rest["items"]] == [ids[0]]

            by_status = (await client.get("/api/v1/analysis",
                                          params={"status": "completed"})).json()
            assert {i["analysis_id"] for i in by_status["items"]} == set(ids[:2])
            item = next(i for i in by_status["items"] if i["analysis_id"] == ids[0])
            assert abs(item["offset_seconds"] - DUBS["dub_late.wav"]) < TOLERANCE_SECONDS
            assert item["verdict"] == "constant_offset" and "result" not in item
            several = (await client.get("/api/v1/analysis?status=completed&status=cancelled"
                                        )).json()
            assert several["total"] == 3

            by_file = (await client.get("/api/v1/analysis", params={"file": "EARLY.F"})).json()
            assert [i["analysis_id"] for i in by_file["items"]] == [ids[1]]
            assert (await client.get("/api/v1/analysis", params={"file": "%"})).json()[
                "total"] == 0
            trailing = await client.get("/api/v1/analysis/")
            assert trailing.status_code == 200 and trailing.json()["total"] == 3

    async def test_bad_filters(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            for params in ({"status": "done"}, {"limit": 0}, {"limit": 201}, {"offset": -1}):
                r = await client.get("/api/v1/analysis", params=params)
                assert r.status_code == 422, params
                assert r.json()["error"]["code"] == "validation_error"
