"""``/api/v1/workflows``: analyze → decide → repair → verify → package through the real app,
engine, ffmpeg and SQLite; persistence across a restart; decline of an unrelated pair."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.core.config import Settings
from app.db.models import JobStatus
from app.db.models_workflows import WorkflowRow
from app.db.repository import Database
from app.db.repository_workflows import WorkflowRepository
from app.engine.types import AudioInfo, SyncResult, Verdict
from app.services.workflows import decide
from tests.api.helpers import read_sse, running_app
from tests.conftest import DUBS, SR, write_audio

TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


async def wait_workflow(client: httpx.AsyncClient, workflow_id: str, *,
                        timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = (await client.get(f"/api/v1/workflows/{workflow_id}/status")).json()
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


async def submit(client: httpx.AsyncClient, **body: Any) -> str:
    r = await client.post("/api/v1/workflows/analyze-and-repair", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["workflow_id"])


class TestRepairWorkflow:
    async def test_late_dub_repaired_packaged_and_verified(
            self, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
        settings = make_settings()
        async with running_app(settings) as (_, client):
            r = await client.post("/api/v1/workflows/analyze-and-repair", json={
                "master_file": "master.wav", "dub_file": "dub_late.wav",
                "episode_name": "EP1 German", "match_master_duration": True,
                "report_format": "markdown"})
            assert r.status_code == 202, r.text
            wid = r.json()["workflow_id"]
            assert r.headers["location"] == f"/api/v1/workflows/{wid}/status"
            events, _ = await read_sse(client, f"/api/v1/workflows/{wid}/status/stream",
                                       timeout=120)
            kinds = [e.event for e in events]
            assert kinds[0] == "state" and kinds[-1] == "completed", kinds
            stages_seen = [e.data["stage"] for e in events if e.event == "progress"]
            for stage in ("analysis", "decision", "repair", "verification", "package"):
                assert stage in stages_seen, stages_seen

            body = await wait_workflow(client, wid)
            assert body["status"] == "completed" and body["outcome"] == "repaired", body
            assert [s["status"] for s in body["stages"]] == ["done"] * 5
            assert body["decision"]["action"] == "repair"
            assert body["decision"]["kind"] == "constant"
            analysed = body["result"]["analysis"]["offset_seconds"]
            assert abs(analysed - DUBS["dub_late.wav"]) <= 0.001
            v = body["result"]["verification"]
            assert v["passed"] is True and abs(v["residual_offset_seconds"]) <= 0.001, v
            assert set(body["files"]) == {"repaired", "report", "formatted", "plots",
                                          "package"}
            # its analysis is stored as an analysis like any other: record, timeline, report
            aid = body["analysis_id"]
            assert aid and body["result"]["analysis"]["analysis_id"] == aid
            analysis = (await client.get(body["links"]["analysis"])).json()
            assert analysis["status"] == "completed" and analysis["label"] == "EP1 German"
            assert analysis["request"]["workflow_id"] == wid
            assert analysis["result"]["offset_seconds"] == analysed
            timeline = await client.get(body["links"]["timeline"])
            assert timeline.status_code == 200 and timeline.json()["analysis_id"] == aid
            assert (await client.get(body["links"]["report"])).status_code == 200

            # every file lives under OUTPUT_DIR/workflows/<id>/
            folder = settings.output_root / "workflows" / wid
            assert (folder / "report.json").is_file()
            report = (await client.get(body["files"]["report"])).json()
            assert report["outcome"] == "repaired"
            assert report["verification"]["passed"] is True
            md = await client.get(body["files"]["formatted"])
            assert md.headers["content-type"].startswith("text/markdown")
            assert "# Sync report: EP1 German" in md.text and "PASSED" in md.text
            audio = await client.get(body["files"]["repaired"])
            assert audio.headers["content-type"] == "audio/wav"
            (tmp_path / "rep.wav").write_bytes(audio.content)
            from app.engine.repair import probe_format

            fmt = probe_format(tmp_path / "rep.wav")
            assert (fmt.codec, fmt.sample_rate, fmt.channels) == ("pcm_s16le", SR, 1)
            assert abs(fmt.duration_seconds - 30.0) <= 1 / SR

            plots = zipfile.ZipFile(io.BytesIO((await client.get(body["files"]["plots"]))
                                               .content))
            assert {"plots/correlation.png", "plots/timeline.png"} <= set(plots.namelist())
            assert plots.read("plots/timeline.png")[:8] == b"\x89PNG\r\n\x1a\n"

            # the package: what it lists is there, byte for byte
            pkg = await client.get(body["files"]["package"])
            assert pkg.headers["content-type"] == "application/zip"
            z = zipfile.ZipFile(io.BytesIO(pkg.content))
            manifest = json.loads(z.read("manifest.json"))
            names = {e["name"] for e in manifest["files"]}
            assert names == set(z.namelist()) - {"manifest.json", "SHA256SUMS"}
            assert {"report.json", "report.md", "plots/correlation.png",
                    "plots/timeline.png"} <= names
            # the conform export of its analysis: one clip of the dub, read back by OTIO
            assert {"conform/conform.otio", "conform/conform.edl", "conform/conform.xml"} <= names
            import opentimelineio as otio

            conform = otio.adapters.read_from_string(z.read("conform/conform.otio").decode(),
                                                     "otio_json")
            [clip] = list(conform.find_clips())
            assert abs(clip.source_range.start_time.to_seconds() - DUBS["dub_late.wav"]) \
                <= 0.5 / 25  # the offset, to the nearest frame at 25 fps
            assert body["links"]["conform"].endswith(f"/{aid}/conform?format=edl")
            assert any(n.endswith(".wav") for n in names)
            for e in manifest["files"]:
                data = z.read(e["name"])
                assert hashlib.sha256(data).hexdigest() == e["sha256"] and \
                    len(data) == e["size_bytes"], e["name"]
            sums = z.read("SHA256SUMS").decode().splitlines()
            assert sorted(sums) == sorted(f"{e['sha256']}  {e['name']}"
                                          for e in manifest["files"])
            assert not [p for p in folder.rglob("*") if ".partial" in p.name]

            listed = (await client.get("/api/v1/workflows")).json()
            assert listed["total"] == 1 and listed["items"][0]["workflow_id"] == wid

            gone = await client.delete(f"/api/v1/workflows/{wid}")
            assert gone.status_code == 200 and gone.json()["deleted"] is True
            assert gone.json()["files_removed"] >= 6 and not folder.exists()
            assert (await client.get(f"/api/v1/workflows/{wid}/status")).status_code == 404

    async def test_negative_offset_in_flac_stays_flac(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            wid = await submit(client, master_file="master.wav", dub_file="dub_early.flac",
                               create_package=False)
            body = await wait_workflow(client, wid)
            assert body["outcome"] == "repaired", body
            v = body["result"]["verification"]
            assert abs(v["residual_offset_seconds"]) <= 0.001
            assert body["result"]["repair"]["output"]["codec"] == "flac"
            assert "package" not in body["files"]
            r = await client.get(f"/api/v1/workflows/{wid}/download/package")
            assert r.status_code == 404 and r.json()["error"]["code"] == "file_not_available"


class TestDecision:
    async def test_unrelated_pair_is_declined(self, make_settings: Callable[..., Settings],
                                              media_dir: Path) -> None:
        rng = np.random.default_rng(999)
        other = (0.25 * rng.standard_normal(int(30 * SR))).astype(np.float32)
        other *= np.repeat(rng.uniform(0.05, 1.0, 301), SR // 10)[: other.size]
        if not (media_dir / "unrelated.wav").exists():
            write_audio(media_dir / "unrelated.wav", other)
        async with running_app(make_settings()) as (_, client):
            wid = await submit(client, master_file="master.wav", dub_file="unrelated.wav")
            body = await wait_workflow(client, wid)
            assert body["status"] == "completed" and body["outcome"] == "declined", body
            d = body["decision"]
            assert d["action"] == "declined" and "no reliable match" in d["reason"]
            assert [s["status"] for s in body["stages"]] == \
                ["done", "done", "skipped", "skipped", "done"]
            assert "repaired" not in body["files"] and "report" in body["files"]
            r = await client.get(f"/api/v1/workflows/{wid}/download/repaired")
            assert r.status_code == 404
            report = (await client.get(body["files"]["report"])).json()
            assert report["decision"]["action"] == "declined"
            html = (await client.get(body["files"]["formatted"])).text
            assert "declined" in html and "<table>" in html

    def test_decide_rules(self) -> None:
        info = AudioInfo(path="/m/d.wav", container="wav", codec="pcm_s16le",
                         sample_rate=SR, channels=1, channel_layout=None,
                         duration_seconds=60.0, stream_index=0)
        good = SyncResult(
            offset_seconds=0.0404, confidence=0.95, reliable=True,
            verdict=Verdict.CONSTANT_OFFSET, reason="", offset_samples=None, offset_frames={},
            timecodes={}, polarity_inverted=False, agreement=1.0, support=1.0, methods=[],
            master=info, dub=info, overlap_seconds=60.0, timeline=None).to_dict()
        kw = {"auto_repair": True, "repair_threshold_ms": 1.0, "min_confidence": 0.7}
        assert decide(good, None, **kw)["action"] == "repair"
        low = decide({**good, "confidence": 0.6}, None, **kw)
        assert low["action"] == "declined" and "below min_confidence 0.70" in low["reason"]
        assert decide({**good, "offset_seconds": 0.0004}, None, **kw)["action"] == "none"
        rec = decide(good, None, **{**kw, "auto_repair": False})
        assert rec["action"] == "recommended" and "auto_repair is false" in rec["reason"]
        chans = {"measured": 6, "spread_seconds": 0.12}
        assert decide({**good, "offset_seconds": 0.0}, chans, **kw)["kind"] == "per_channel"

    async def test_bad_paths_refused_at_once(self, make_settings: Callable[..., Settings]
                                             ) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post("/api/v1/workflows/analyze-and-repair", json={
                "master_file": "/etc/passwd", "dub_file": "dub_late.wav"})
            assert r.status_code == 403 and r.json()["error"]["code"] == "path_not_allowed"
            r = await client.post("/api/v1/workflows/analyze-and-repair", json={
                "master_file": "notes.txt", "dub_file": "dub_late.wav"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "audio_decode_error"
            r = await client.get("/api/v1/workflows/workflow_20250101_000000_00000000/status")
            assert r.status_code == 404
            assert r.json()["error"]["code"] == "workflow_not_found"


class TestPersistence:
    async def test_survives_restart_and_reruns_a_dead_instances_workflow(
            self, make_settings: Callable[..., Settings]) -> None:
        settings = make_settings()
        async with running_app(settings) as (_, client):
            wid = await submit(client, master_file="master.wav", dub_file="dub_late.wav",
                               create_package=False)
            first = await wait_workflow(client, wid)
            assert first["outcome"] == "repaired"
        # a workflow left running by a process that died
        db = Database(settings.DATABASE_URL)
        try:
            repo = WorkflowRepository(db)
            orphan = WorkflowRow(
                id="workflow_20250101_000000_0badc0de", status=JobStatus.RUNNING,
                master_file="master.wav", dub_file="dub_late.wav", attempts=1,
                owner="gone-host:1:dead", stage="analysis", fraction=0.2, message="",
                request={**first_request(settings), "create_package": False},
                stages=[], files={})
            repo.add(orphan)
        finally:
            db.dispose()
        async with running_app(settings) as (_, client):
            again = (await client.get(f"/api/v1/workflows/{wid}/status")).json()
            assert again["status"] == "completed" and again["outcome"] == "repaired"
            assert (await client.get(again["files"]["repaired"])).status_code == 200
            rerun = await wait_workflow(client, orphan.id)
            assert rerun["status"] == "completed" and rerun["attempts"] == 2, rerun
            assert rerun["outcome"] == "repaired"


def first_request(settings: Settings) -> dict[str, Any]:
    root = settings.mount_root
    return {"master_file": "master.wav", "dub_file": "dub_late.wav", "episode_name": None,
            "auto_repair": True, "repair_threshold_ms": 1.0, "min_confidence": 0.7,
            "output_format": "same", "output_codec": None, "match_master_duration": False,
            "per_channel": None, "drift_method": "auto", "report_format": "html",
            "frame_rate": 25.0, "max_offset_seconds": None, "sample_rate": None,
            "master_path": str(root / "master.wav"), "dub_path": str(root / "dub_late.wav"),
            "dub_channels": 1}


class TestEditedAndCancelled:
    async def test_edited_dub_repaired_within_a_frame(
            self, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
        """A remixed other-language dub, late by 0.3 s, with 3 s cut at 20 s and 4 s of other
        music inserted at 40 s: the workflow repairs it and the re-analysis' windows over the
        whole programme are within one frame."""
        from testkit import dialogue_track, dub_remix, make_programme, real_bed
        from testkit import write_audio as tk_write

        mount = tmp_path / "mount"
        mount.mkdir()
        duration, base = 60.0, 0.3
        prog = make_programme(duration, SR, seed=31, language="en")
        tk_write(mount / "master.wav", prog.mix(2), SR, codec="pcm_s24le")
        dub = dub_remix(prog, dialogue_track(duration, SR, language="fr", seed=32), seed=33)
        late = np.concatenate([np.zeros((int(base * SR), 2), np.float32), dub])[: len(dub)]
        a, b, c = (int((t + base) * SR) for t in (20.0, 23.0, 40.0))
        edited = np.concatenate([late[:a], late[b:c], real_bed(4.0, SR, seed=99), late[c:]])
        tk_write(mount / "edited.wav", edited, SR, codec="pcm_s24le")
        async with running_app(make_settings(MOUNT_PATH=mount)) as (_, client):
            wid = await submit(client, master_file="master.wav", dub_file="edited.wav",
                               match_master_duration=True)
            body = await wait_workflow(client, wid, timeout=240)
            assert body["outcome"] == "repaired", body
            assert body["decision"]["kind"] == "edits"
            ops = body["result"]["repair"]["plan"]["operations"]
            assert any("silence" in op for op in ops) and any("removed 4.000" in op for op in ops)
            report = (await client.get(body["files"]["report"])).json()
            windows = [w for w in report["verification"]["result"]["timeline"]["windows"]
                       if w["status"] == "ok"]
            assert len(windows) >= 6 and windows[-1]["end_seconds"] >= 0.85 * duration
            assert max(abs(w["offset_seconds"]) for w in windows) <= 0.040
            assert report["verification"]["passed"] is True

    async def test_delete_cancels_a_running_workflow(
            self, make_settings: Callable[..., Settings], long_media: Path) -> None:
        settings = make_settings()
        async with running_app(settings) as (_, client):
            wid = await submit(client, master_file="long.wav", dub_file="long.wav")
            deadline = time.monotonic() + 30
            while (await client.get(f"/api/v1/workflows/{wid}/status")).json()["status"] \
                    != "running":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            t0 = time.monotonic()
            r = await client.delete(f"/api/v1/workflows/{wid}")
            assert r.status_code == 200, r.text
            assert r.json()["status_before"] == "running" and r.json()["deleted"] is True
            assert time.monotonic() - t0 < 15
            assert (await client.get(f"/api/v1/workflows/{wid}/status")).status_code == 404
            assert not (settings.output_root / "workflows" / wid).exists()
