"""Faults end in a clear error on the job concerned only; the service keeps serving and health
names the cause: corrupt, truncated and audio-less files, a file removed before its analysis
runs, ffmpeg missing from PATH, a full output disk (a 1 MiB tmpfs) and a worker that raises."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import app.services.analysis as analysis_module
from app.core.config import Settings
from app.db.models import JobStatus
from app.db.repository import AnalysisRepository
from tests.api.helpers import TERMINAL, running_app, wait_status
from tests.conftest import DUBS

GOOD = {"master_file": "master.wav", "dub_file": "dub_late.wav", "methods": ["correlation"]}


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-v", "error", *args], check=True)


async def _still_serving(client: httpx.AsyncClient) -> None:
    """A normal analysis still completes with the right offset."""
    r = await client.post("/api/v1/analysis/sync", json=GOOD)
    assert r.status_code == 202, r.text
    done = await wait_status(client, r.json()["analysis_id"])
    assert done["status"] == "completed"
    assert abs(done["result"]["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001


async def _block_worker(client: httpx.AsyncClient, long_media: Path) -> str:
    """Occupy the only worker (MAX_WORKERS=1) with a long analysis; returns its id."""
    r = await client.post("/api/v1/analysis/sync", json={
        "master_file": long_media.name, "dub_file": long_media.name, "methods": ["correlation"]})
    aid: str = r.json()["analysis_id"]
    await wait_status(client, aid, {"running"})
    return aid


async def _wait_workflow(client: httpx.AsyncClient, workflow_id: str,
                         timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        wf: dict[str, Any] = (await client.get(f"/api/v1/workflows/{workflow_id}/status")).json()
        if wf["status"] in TERMINAL or time.monotonic() > deadline:
            return wf
        await asyncio.sleep(0.1)


async def _health(client: httpx.AsyncClient) -> dict[str, Any]:
    return (await client.get("/api/v1/health")).json()  # type: ignore[no-any-return]


class TestBadFiles:
    async def test_corrupt_truncated_and_audio_less_files(
            self, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
        settings = make_settings()
        settings.ensure_directories()
        up = settings.UPLOAD_DIR
        (up / "garbage.wav").write_bytes(random.Random(5).randbytes(4096))
        master = settings.MOUNT_PATH / "dub_late.wav"
        _ffmpeg("-i", str(master), "-c:a", "flac", str(tmp_path / "whole.flac"))
        whole = (tmp_path / "whole.flac").read_bytes()
        (up / "cut.flac").write_bytes(whole[: len(whole) // 2])  # header says 30 s
        # AAC in MP4 (index at the front) and AC-3 in Matroska: the container declares 30 s
        for name, codec in (("cut.m4a", ["-c:a", "aac", "-b:a", "96k", "-movflags",
                                         "+faststart"]), ("cut.mkv", ["-c:a", "ac3"])):
            _ffmpeg("-i", str(master), *codec, str(tmp_path / name))
            data = (tmp_path / name).read_bytes()
            (up / name).write_bytes(data[: len(data) // 3])
        _ffmpeg("-f", "lavfi", "-i", "testsrc=d=2:s=64x48:r=5", "-c:v", "mpeg4",
                str(up / "video_only.mp4"))
        async with running_app(settings) as (_, client):
            err = _error(await client.post("/api/v1/analysis/sync",
                                           json={**GOOD, "dub_file": "garbage.wav"}),
                         422, "audio_decode_error")
            assert "ffprobe cannot read garbage.wav" in err["message"]
            err = _error(await client.post("/api/v1/analysis/sync",
                                           json={**GOOD, "dub_file": "video_only.mp4"}),
                         422, "audio_decode_error")
            assert "no audio stream" in err["message"]
            # the truncated FLAC probes fine (its header declares 30 s): the job fails
            r = await client.post("/api/v1/analysis/sync", json={**GOOD, "dub_file": "cut.flac"})
            assert r.status_code == 202, r.text
            failed = await wait_status(client, r.json()["analysis_id"])
            assert failed["status"] == "failed"
            assert failed["error"]["code"] == "audio_decode_error"
            assert "cut.flac is truncated or corrupt" in failed["error"]["message"]
            assert "declares 30.000 s" in failed["error"]["message"]
            for name in ("cut.m4a", "cut.mkv"):
                r = await client.post("/api/v1/analysis/sync",
                                      json={**GOOD, "dub_file": name})
                assert r.status_code == 202, r.text
                failed = await wait_status(client, r.json()["analysis_id"])
                assert failed["status"] == "failed", (name, failed.get("result"))
                assert f"{name} is truncated or corrupt" in failed["error"]["message"]
            # a repair of the truncated file fails in its job, and says so by name
            err = _error(await client.post("/api/v1/repair/per-channel", json={
                "dub_file": "cut.flac", "offsets_seconds": [0.1]}), 422, "audio_decode_error")
            assert "cut.flac" in err["message"]
            await _still_serving(client)
            h = await _health(client)  # a bad file is not the service's fault
            assert h["status"] == "ok" and h["job-errors"]["status"] == "ok"
            recent = h["job-errors"]["recent"]
            assert {f["code"] for f in recent} == {"audio_decode_error"}
            assert {f["kind"] for f in recent} == {"analysis", "repair"}

    async def test_file_removed_before_its_analysis_runs(
            self, make_settings: Callable[..., Settings], long_media: Path) -> None:
        settings = make_settings(MAX_WORKERS=1)
        settings.ensure_directories()
        victim = settings.UPLOAD_DIR / "soon_gone.wav"
        shutil.copy(settings.MOUNT_PATH / "dub_late.wav", victim)
        async with running_app(settings) as (_, client):
            blocker = await _block_worker(client, long_media)
            r = await client.post("/api/v1/analysis/sync",
                                  json={**GOOD, "dub_file": "soon_gone.wav"})
            assert r.status_code == 202
            victim.unlink()
            await client.delete(f"/api/v1/analysis/{blocker}")
            failed = await wait_status(client, r.json()["analysis_id"])
            assert failed["status"] == "failed"
            assert failed["error"]["code"] == "audio_decode_error"
            assert "soon_gone.wav" in failed["error"]["message"]
            await _still_serving(client)


class TestFfmpegMissing:
    async def test_health_submissions_and_queued_jobs(
            self, make_settings: Callable[..., Settings], long_media: Path,
            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        no_ffmpeg = tmp_path / "bin"
        no_ffmpeg.mkdir()
        async with running_app(make_settings(MAX_WORKERS=1)) as (_, client):
            blocker = await _block_worker(client, long_media)
            queued = (await client.post("/api/v1/analysis/sync", json=GOOD)).json()
            monkeypatch.setenv("PATH", str(no_ffmpeg))  # ffmpeg uninstalled meanwhile
            await client.delete(f"/api/v1/analysis/{blocker}")
            failed = await wait_status(client, queued["analysis_id"])
            assert failed["status"] == "failed"
            assert failed["error"]["code"] == "ffmpeg_unavailable"
            assert "not found on PATH" in failed["error"]["message"]
            err = _error(await client.post("/api/v1/analysis/sync", json=GOOD), 503,
                         "ffmpeg_unavailable")
            assert "apt-get install ffmpeg" in err["message"]
            r = await client.get("/api/v1/health")
            assert r.status_code == 503
            h = r.json()
            assert h["components"]["ffmpeg"] == "error"
            assert "not found on PATH" in h["ffmpeg"]["ffmpeg"]["error"]
            assert h["job-errors"]["status"] == "degraded"
            assert queued["analysis_id"] in h["job-errors"]["note"]
            assert (await client.get("/api/v1/analysis")).status_code == 200
            monkeypatch.undo()  # reinstalled: analyses work again
            await _still_serving(client)


@contextlib.contextmanager
def _tiny_disk(where: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (root only; the test is skipped otherwise)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(where)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> Path:
    """Write a file until the filesystem of ``folder`` is full."""
    filler = folder / f"filler-{uuid.uuid4().hex}"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


class TestFullOutputDisk:
    async def test_repairs_and_workflows_fail_clearly(
            self, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
        with _tiny_disk(tmp_path / "output") as output:
            settings = make_settings(OUTPUT_DIR=output)
            async with running_app(settings) as (_, client):
                # a 30 s repaired WAV (2.9 MB) does not fit in 1 MiB
                err = _error(await client.post("/api/v1/repair/per-channel", json={
                    "dub_file": "dub_late.wav", "offsets_seconds": [0.2345]}), 507, "disk_full")
                assert "OUTPUT_DIR" in err["message"]
                assert not list((output / "repairs").glob("*/*")), "partial files were kept"
                r = await client.post("/api/v1/workflows/analyze-and-repair", json={
                    "master_file": "master.wav", "dub_file": "dub_late.wav",
                    "min_confidence": 0.0})
                assert r.status_code == 202, r.text
                wid = r.json()["workflow_id"]
                wf = await _wait_workflow(client, wid)
                assert wf["status"] == "failed", wf
                assert wf["error"]["code"] == "disk_full"
                assert wf["files"] == {}, "a file of the failed workflow is offered"
                h = await _health(client)
                assert h["job-errors"]["status"] == "degraded"
                assert wid in h["job-errors"]["note"]

                filler = _fill(output)
                h = await _health(client)
                assert h["components"]["filesystem"] == "error"
                assert h["filesystem"]["output"]["note"].startswith("disk full")
                filler.unlink()
                h = await _health(client)
                assert h["filesystem"]["output"]["status"] == "ok"
                await _still_serving(client)


class TestWorkerRaises:
    async def test_only_that_job_fails(self, make_settings: Callable[..., Settings],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
        real = analysis_module.analyze_files

        def flaky(master: Any, dub: Any, **kwargs: Any) -> Any:
            if str(dub).endswith("dub_early.flac"):
                raise RuntimeError("injected worker fault")
            return real(master, dub, **kwargs)

        monkeypatch.setattr(analysis_module, "analyze_files", flaky)
        async with running_app(make_settings()) as (_, client):
            bad = (await client.post("/api/v1/analysis/sync",
                                     json={**GOOD, "dub_file": "dub_early.flac"})).json()
            failed = await wait_status(client, bad["analysis_id"])
            assert failed["status"] == "failed"
            assert failed["error"] == {"code": "internal_error", "details": None,
                                       "message": "RuntimeError: injected worker fault"}
            await _still_serving(client)
            h = await _health(client)
            assert h["status"] == "degraded" and h["components"]["job-errors"] == "degraded"
            assert "injected worker fault" in h["job-errors"]["note"]
            assert h["jobs"]["accepting"] is True and h["jobs"]["status"] == "ok"

    async def test_a_fault_outside_the_engine_is_recorded(
            self, make_settings: Callable[..., Settings],
            monkeypatch: pytest.MonkeyPatch) -> None:
        """The worker raises while recording its result: the analysis is marked failed, not
        left running until the next restart."""
        real = AnalysisRepository.finish

        def hiccup(self: AnalysisRepository, analysis_id: str, owner: str, status: JobStatus,
                   **kwargs: Any) -> bool:
            if status == JobStatus.COMPLETED:
                raise RuntimeError("database hiccup")
            return real(self, analysis_id, owner, status, **kwargs)

        monkeypatch.setattr(AnalysisRepository, "finish", hiccup)
        async with running_app(make_settings()) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json=GOOD)
            failed = await wait_status(client, r.json()["analysis_id"])
            assert failed["status"] == "failed"
            assert failed["error"]["message"] == "RuntimeError: database hiccup"
