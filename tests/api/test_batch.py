"""CSV batches through the real app, engine, ffmpeg and database: upload, start, status,
results, cancel, restart."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from app.core.config import Settings
from tests.api.helpers import UvicornProcess, running_app
from tests.conftest import DUBS

TOLERANCE_SECONDS = 0.001
BASE = "/api/v1/analysis/batch"
THREE = ("master_file,dub_file,episode_name,methods,max_offset_seconds\n"
         "master.wav,dub_late.wav,EP1 late,correlation,10\n"
         "master.wav,dub_early.flac,EP1 early,correlation,10\n"
         "master.wav,dub_late2.wav,EP1 late 2,correlation,10\n")


async def upload(client: httpx.AsyncClient, text: str | bytes, **params: Any) -> httpx.Response:
    body = text.encode() if isinstance(text, str) else text
    return await client.post(f"{BASE}/upload-csv", params=params, content=body,
                             headers={"Content-Type": "text/csv"})


async def wait_batch(client: httpx.AsyncClient, batch_id: str, statuses: set[str], *,
                     timeout: float = 90.0, check: Callable[[dict[str, Any]], bool] | None = None
                     ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(f"{BASE}/{batch_id}/status")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in statuses and (check is None or check(body)):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


class TestUploadCsv:
    async def test_bom_semicolons_case_and_parsed_items(
            self, make_settings: Callable[..., Settings]) -> None:
        text = ("\ufeffMaster File;DUB_FILE;Episode-Name;Methods;Window_Size;"
                "confidence_threshold;enable_ai;auto_repair;notes\n"
                "master.wav;dub_late.wav;EP1 DE;correlation,onset;7,5;0,4;no;yes;first\n"
                "\n"
                "# a comment line\n"
                "master.wav;dub_early.flac;EP1 FR;;;;;;\n")
        async with running_app(make_settings()) as (_, client):
            r = await upload(client, text, label="Season 1")
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["status"] == "uploaded" and body["source"] == "csv"
            assert body["label"] == "Season 1" and body["totals"]["pending"] == 2
            first, second = body["items"]
            assert (first["line"], second["line"]) == (2, 5)
            assert first["episode_name"] == "EP1 DE" and first["auto_repair"] is True
            assert first["options"] == {"methods": ["correlation", "onset"],
                                        "window_size": 7.5, "confidence_threshold": 0.4,
                                        "enable_ai": False}
            assert second["options"] == {} and second["status"] == "pending"
            assert first["analysis_id"] is None
            assert any("notes" in w for w in body["warnings"])
            listed = (await client.get(BASE)).json()
            assert listed["total"] == 1 and listed["items"][0]["batch_id"] == body["batch_id"]
            # nothing runs before start
            assert (await client.get("/api/v1/analysis")).json()["total"] == 0

    async def test_every_bad_row_named_by_line_and_nothing_stored(
            self, make_settings: Callable[..., Settings]) -> None:
        text = ("master_file,dub_file,episode_name,window_size,methods,enable_ai\n"
                "master.wav,dub_late.wav,ok,,,\n"                       # 2: fine
                "master.wav,missing.wav,EP2,,,\n"                       # 3: missing file
                "master.wav,../../../../etc/passwd,EP3,,,\n"            # 4: outside the roots
                "master.wav,dub_late.wav,EP4,abc,,\n"                   # 5: bad number
                "master.wav,,EP5,,,\n"                                  # 6: missing value
                "master.wav,dub_late.wav,EP6,,fourier,\n"               # 7: unknown method
                "master.wav,notes.txt,EP7,,,\n"                         # 8: no audio
                "master.wav,dub_late.wav,EP8,2000,,\n"                  # 9: out of range
                "master.wav,dub_late.wav,EP9,,,maybe\n"                 # 10: bad boolean
                '"master.wav","dub_late.wav","a, quoted, name",,,\n'    # 11: fine
                "master.wav,dub_late.wav,EP11,,,,surplus\n")            # 12: extra value
        async with running_app(make_settings()) as (_, client):
            r = await upload(client, text)
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["code"] == "invalid_csv"
            errors = error["details"]["errors"]
            by_line = {e["line"]: e for e in errors}
            assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10, 12]
            assert by_line[3]["code"] == "file_not_found" and by_line[3]["column"] == "dub_file"
            assert by_line[4]["code"] == "path_not_allowed"
            assert by_line[5]["code"] == "invalid_value" and by_line[5]["column"] == "window_size"
            assert "'abc'" in by_line[5]["message"] and by_line[5]["message"].startswith("line 5")
            assert by_line[6]["code"] == "missing_value" and by_line[6]["column"] == "dub_file"
            assert by_line[7]["code"] == "unknown_method" and by_line[7]["column"] == "methods"
            assert by_line[8]["code"] == "audio_decode_error"
            assert by_line[9]["column"] == "window_size"
            assert by_line[10]["column"] == "enable_ai"
            assert by_line[12]["code"] == "too_many_values"
            assert error["details"]["valid_rows"] == 2
            assert (await client.get(BASE)).json()["total"] == 0

            # the same CSV with skip_invalid keeps the two good rows and reports the others
            r = await upload(client, text, skip_invalid="true")
            assert r.status_code == 201, r.text
            body = r.json()
            assert [i["line"] for i in body["items"]] == [2, 11]
            assert body["items"][1]["episode_name"] == "a, quoted, name"
            assert sorted({e["line"] for e in body["skipped_rows"]}) == sorted(by_line)
            assert body["skip_invalid"] is True

    async def test_whole_file_problems(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(BATCH_MAX_ITEMS=3)) as (_, client):
            r = await upload(client, "master,dub\nmaster.wav,dub_late.wav\n")
            assert r.status_code == 422
            error = r.json()["error"]
            assert error["code"] == "csv_missing_column"
            assert error["details"]["missing"] == ["master_file", "dub_file"]
            r = await upload(client, "master_file\tother\nmaster.wav\tx\n")
            assert r.json()["error"]["details"]["missing"] == ["dub_file"]
            r = await upload(client, "master_file,dub_file\n")
            assert r.json()["error"]["code"] == "csv_empty"
            r = await upload(client, "")
            assert r.json()["error"]["code"] == "csv_empty"
            r = await upload(client, "master_file,dub_file\nma\xeester.wav,x.wav\n".encode(
                "latin-1"))
            assert r.status_code == 422 and r.json()["error"]["code"] == "csv_encoding"
            assert "line 2" in r.json()["error"]["message"]
            r = await upload(client, "master_file,dub_file\n" + "master.wav,dub_late.wav\n" * 4)
            assert r.json()["error"]["code"] == "batch_too_large"
            r = await upload(client, 'master_file,dub_file\n"master.wav,dub_late.wav\n')
            assert r.json()["error"]["code"] in ("csv_malformed", "invalid_csv")
            r = await client.post(f"{BASE}/upload-csv", content=b"{}",
                                  headers={"Content-Type": "application/json"})
            assert r.status_code == 415
            r = await client.post(f"{BASE}/upload-csv", files={"other": ("a.csv", b"x")})
            assert r.status_code == 400 and r.json()["error"]["code"] == "csv_missing"

    async def test_multipart_and_utf16(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post(f"{BASE}/upload-csv", files={
                "file": ("season1.csv", b"master_file,dub_file\nmaster.wav,dub_late.wav\n",
                         "text/csv")})
            assert r.status_code == 201, r.text
            assert r.json()["filename"] == "season1.csv"
            r = await upload(client, "master_file\tdub_file\nmaster.wav\tdub_late.wav\n"
                             .encode("utf-16"))
            assert r.status_code == 201, r.text


class TestBatchRun:
    async def test_three_items_to_completion_with_results(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await upload(client, THREE)
            assert r.status_code == 201, r.text
            batch_id = r.json()["batch_id"]
            r = await client.post(f"{BASE}/{batch_id}/start")
            assert r.status_code == 202, r.text
            started = r.json()
            assert started["status"] == "running" and started["started_at"]
            assert all(i["analysis_id"] for i in started["items"])
            assert (await client.post(f"{BASE}/{batch_id}/start")).json()["error"]["code"] \
                == "batch_already_started"

            done = await wait_batch(client, batch_id, {"completed"})
            assert done["totals"]["completed"] == 3 and done["totals"]["finished"] == 3
            assert done["progress"]["percent"] == 100.0 and done["eta_seconds"] is None
            assert done["finished_at"]
            for item, dub in zip(done["items"], DUBS, strict=True):
                assert item["dub_file"] == dub and item["status"] == "completed"
                assert abs(item["offset_seconds"] - DUBS[dub]) < TOLERANCE_SECONDS
                assert item["links"]["report"] == f"/api/v1/reports/{item['analysis_id']}"

            # the items are ordinary analyses of the batch
            listed = (await client.get("/api/v1/analysis", params={"batch_id": batch_id})).json()
            assert listed["total"] == 3
            assert {a["label"] for a in listed["items"]} == {"EP1 late", "EP1 early",
                                                             "EP1 late 2"}

            results = (await client.get(f"{BASE}/{batch_id}/results")).json()
            for item, dub in zip(results["items"], DUBS, strict=True):
                res = item["result"]
                assert abs(res["offset_seconds"] - DUBS[dub]) < TOLERANCE_SECONDS
                assert abs(res["offset_ms"] - 1000 * DUBS[dub]) < 1.0
                assert res["offset_samples"] == round(DUBS[dub] * 48000)
                assert res["verdict"] == "constant_offset" and res["reliable"] is True
                assert abs(res["offset_frames"]["25"] - 25 * DUBS[dub]) < 0.025

            r = await client.get(f"{BASE}/{batch_id}/results", params={"format": "csv"})
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/csv")
            assert f'{batch_id}_results.csv' in r.headers["content-disposition"]
            rows = list(csv.DictReader(io.StringIO(r.text)))
            assert [row["dub_file"] for row in rows] == list(DUBS)
            for row in rows:
                truth = DUBS[row["dub_file"]]
                assert abs(float(row["offset_seconds"]) - truth) < TOLERANCE_SECONDS
                assert row["status"] == "completed" and row["line"]
                assert row["timecode_25"] == ("-" if truth < 0 else "") + \
                    f"00:00:0{int(abs(truth))}:{round(abs(truth) % 1 * 25):02d}"

            # cancelling a finished batch keeps every result
            r = await client.delete(f"{BASE}/{batch_id}")
            assert r.status_code == 200 and r.json()["totals"]["completed"] == 3

    async def test_cancel_stops_what_runs_keeps_what_finished(
            self, make_settings: Callable[..., Settings], long_media: Path) -> None:
        text = ("master_file,dub_file,methods\n"
                "master.wav,dub_late.wav,correlation\n"
                f"{long_media.name},{long_media.name},correlation\n"
                "master.wav,dub_early.flac,correlation\n")
        async with running_app(make_settings(MAX_WORKERS=1)) as (_, client):
            batch_id = (await upload(client, text)).json()["batch_id"]
            await client.post(f"{BASE}/{batch_id}/start")
            running = await wait_batch(
                client, batch_id, {"running"},
                check=lambda b: b["items"][1]["status"] == "running")
            assert running["items"][0]["status"] == "completed"
            assert running["items"][2]["status"] == "queued"
            assert running["eta_seconds"] > 0 and running["eta_at"] > running["started_at"]
            assert 0 < running["progress"]["fraction"] < 1
            t0 = time.monotonic()
            r = await client.delete(f"{BASE}/{batch_id}")
            assert r.status_code == 200, r.text
            assert time.monotonic() - t0 < 3.0
            body = await wait_batch(client, batch_id, {"cancelled"})
            assert [i["status"] for i in body["items"]] == ["completed", "cancelled",
                                                           "cancelled"]
            assert abs(body["items"][0]["offset_seconds"] - DUBS["dub_late.wav"]) \
                < TOLERANCE_SECONDS
            assert (await client.post(f"{BASE}/{batch_id}/start")).status_code == 409
            assert (await client.delete(f"{BASE}/{batch_id}")).status_code == 200

    async def test_not_started_batch_cancel_and_unknown_ids(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            batch_id = (await upload(client, THREE)).json()["batch_id"]
            body = (await client.delete(f"{BASE}/{batch_id}")).json()
            assert body["status"] == "cancelled" and body["totals"]["cancelled"] == 3
            r = await client.post(f"{BASE}/{batch_id}/start")
            assert r.status_code == 409 and r.json()["error"]["code"] == "batch_cancelled"
            for method, url in (("GET", f"{BASE}/batch_x/status"),
                                ("GET", f"{BASE}/batch_x/results"),
                                ("POST", f"{BASE}/batch_x/start"),
                                ("DELETE", f"{BASE}/batch_x")):
                r = await client.request(method, url)
                assert r.status_code == 404 and r.json()["error"]["code"] == "batch_not_found"

    async def test_json_batches_have_status_and_results(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post("/api/v1/analysis/batch", json={"items": [
                {"master_file": "master.wav", "dub_file": "dub_late.wav",
                 "methods": ["correlation"]}]})
            batch_id = r.json()["batch_id"]
            done = await wait_batch(client, batch_id, {"completed"})
            assert done["source"] == "json" and done["items"][0]["line"] is None
            assert abs(done["items"][0]["offset_seconds"] - DUBS["dub_late.wav"]) \
                < TOLERANCE_SECONDS
            assert (await client.post(f"{BASE}/{batch_id}/start")).status_code == 409

    async def test_start_rechecks_files(self, make_settings: Callable[..., Settings],
                                        media_dir: Path, tmp_path: Path) -> None:
        mount = tmp_path / "mount"
        mount.mkdir()
        for name in ("master.wav", "dub_late.wav", "dub_early.flac"):
            os.link(media_dir / name, mount / name)  # a symlink would lead outside the roots
        text = ("master_file,dub_file,methods\nmaster.wav,dub_late.wav,correlation\n"
                "master.wav,dub_early.flac,correlation\n")
        async with running_app(make_settings(MOUNT_PATH=mount)) as (_, client):
            strict = (await upload(client, text)).json()["batch_id"]
            lenient = (await upload(client, text, skip_invalid="true")).json()["batch_id"]
            (mount / "dub_early.flac").unlink()
            r = await client.post(f"{BASE}/{strict}/start")
            assert r.status_code == 422, r.text
            assert r.json()["error"]["details"]["errors"][0]["line"] == 3
            assert (await client.get(f"{BASE}/{strict}/status")).json()["status"] == "uploaded"
            r = await client.post(f"{BASE}/{lenient}/start")
            assert r.status_code == 202, r.text
            done = await wait_batch(client, lenient, {"completed_with_errors"})
            assert [i["status"] for i in done["items"]] == ["completed", "invalid"]
            assert done["items"][1]["error"]["code"] == "file_not_found"


class TestRestart:
    async def test_batch_survives_a_crash(self, make_settings: Callable[..., Settings],
                                          tmp_path: Path) -> None:
        settings = make_settings(MAX_WORKERS=1)
        server = UvicornProcess(settings, cwd=tmp_path, log=tmp_path / "uvicorn.log")
        try:
            server.wait_ready()
            with httpx.Client(base_url=server.base_url, timeout=30) as c:
                headers = {"Content-Type": "text/csv"}
                started = c.post(f"{BASE}/upload-csv", content=THREE, headers=headers).json()
                waiting = c.post(f"{BASE}/upload-csv", content=THREE, headers=headers).json()
                r = c.post(f"{BASE}/{started['batch_id']}/start")
                assert r.status_code == 202, (r.text, server.log.read_text()[-3000:])
        finally:
            server.kill()

        async with running_app(make_settings(MAX_WORKERS=2)) as (_, client):
            done = await wait_batch(client, started["batch_id"], {"completed"})
            for item, dub in zip(done["items"], DUBS, strict=True):
                assert abs(item["offset_seconds"] - DUBS[dub]) < TOLERANCE_SECONDS
            body = (await client.get(f"{BASE}/{waiting['batch_id']}/status")).json()
            assert body["status"] == "uploaded" and body["totals"]["pending"] == 3
            listed = (await client.get(BASE)).json()
            assert {b["batch_id"] for b in listed["items"]} == {started["batch_id"],
                                                                waiting["batch_id"]}
            r = await client.post(f"{BASE}/{waiting['batch_id']}/start")
            assert r.status_code == 202 and r.json()["totals"]["queued"] + \
                r.json()["totals"]["running"] == 3
