"""The documented API contract (tests/contract/documented_api.md, the specification's README
verbatim): every route of its tables in /openapi.json and answered at its path and method, its
`.env` block starting the service, its quick-start requests accepted and answered by the real
app through HTTP, and `python main.py` on the settings' HOST and PORT."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from app.core.config import Settings
from app.engine.ai.registry import SPECS
from testkit.services import stop_process
from tests.api.helpers import REPO, free_port, read_sse, running_app
from tests.conftest import _programme, _shift, write_audio
from tests.contract.contract import CONTRACT, curls, env_block, routes

SPEC = REPO.parent / "shared" / "SPEC-original-README.md"
#: values for the path parameters of the documented routes (well-formed, naming nothing)
PLACEHOLDERS = {"analysis_id": "analysis_20250827_143052_abc12345",
                "batch_id": "batch_20250101_120000_1a2b3c4d",
                "workflow_id": "workflow_20250101_120000_1a2b3c4d", "file_type": "package",
                "file_id": "file_20250101_120000_1a2b3c4d", "model_name": "spectral"}
#: the dub of the quick-start files is this late (seconds)
LATE = 0.2345
#: the answers of a route that does not exist (or not with that method)
NO_ROUTE = {"not_found", "method_not_allowed"}


class TestContractFile:
    def test_is_the_specification_verbatim(self) -> None:
        if not SPEC.is_file():
            pytest.skip(f"{SPEC} is not here")
        spec = SPEC.read_text(encoding="utf-8")
        body = CONTRACT.read_text(encoding="utf-8").split("-->\n\n", 1)[1]
        for section in re.split(r"\n(?=## )", body.strip()):
            assert section.strip() in spec, section[:80]

    def test_parses_into_the_documented_routes_and_requests(self) -> None:
        table = routes()
        assert len(table) == 39
        assert sum(r.section == "Health & Monitoring" for r in table) == 5
        assert ("POST", "/api/v1/repair/repair/per-channel") in {(r.method, r.path)
                                                                 for r in table}
        requests = curls()
        assert [(c.method, c.path_and_query.split("?")[0]) for c in requests] == [
            ("POST", "/api/v1/analysis/sync"),
            ("GET", "/api/v1/analysis/analysis_20250827_143052_abc12345/progress/stream"),
            ("POST", "/api/v1/workflows/analyze-and-repair"),
            ("GET", "/api/v1/files/proxy-audio")]
        assert requests[0].body == {"master_file": "/mnt/data/audio/master.wav",
                                    "dub_file": "/mnt/data/audio/dub.wav",
                                    "methods": ["mfcc", "onset"], "enable_ai": True,
                                    "ai_model": "wav2vec2"}
        assert 'ENABLED_METHODS=["mfcc", "onset", "spectral", "correlation", "ai"]' in \
            env_block()


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS[m.group(1)], path)


async def test_every_documented_route_exists(make_settings: Callable[..., Settings]) -> None:
    """In /openapi.json with its method, not deprecated, and answered through HTTP at the
    documented path itself (no redirect, no "no route")."""
    async with running_app(make_settings()) as (_, client):
        schema = (await client.get("/openapi.json")).json()
        for route in routes():
            operations = schema["paths"].get(route.openapi_path, {})
            op = operations.get(route.method.lower())
            assert op is not None, f"{route.method} {route.path} not in /openapi.json"
            assert not op.get("deprecated"), route
            r = await client.request(route.method, _concrete(route.path))
            assert r.status_code not in (301, 302, 307, 308, 405), (route, r.status_code)
            if r.status_code == 404 or r.status_code >= 400:
                code = r.json()["error"]["code"]
                assert code not in NO_ROUTE, (route, r.text)
                assert r.status_code < 500, (route, r.text)


def _media_at_documented_paths(mount: Path) -> None:
    """The files the quick-start names, under ``mount`` standing for /mnt/data: a 120-s
    programme and its dub LATE s late (the documented DEFAULT_WINDOW_SIZE=30.0: the timeline
    needs 3 windows or more), as WAV and in .mov, and 5 s of it as 5.1 E-AC-3."""
    (mount / "audio").mkdir(parents=True)
    master = _programme(120.0, seed=21)
    write_audio(mount / "audio" / "master.wav", master)
    write_audio(mount / "audio" / "dub.wav", _shift(master, LATE, seed=22))
    for src, dst in (("master.wav", "master.mov"), ("dub.wav", "dub.mov")):
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(mount / "audio" / src),
                        "-c:a", "pcm_s16le", "-f", "mov", str(mount / dst)], check=True)
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(mount / "audio" / "master.wav"),
                    "-t", "5", "-ac", "6", "-c:a", "eac3", "-b:a", "384k", "-f", "eac3",
                    str(mount / "audio" / "atmos.ec3")], check=True)


def _documented_settings(tmp_path: Path, mount: Path, monkeypatch: pytest.MonkeyPatch
                         ) -> Settings:
    """The documented `.env`, verbatim, in the working directory; /mnt/data is ``mount``
    (the environment wins over .env)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(env_block())
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOUNT_PATH", str(mount))
    return Settings()  # type: ignore[call-arg]


def _here(body: dict[str, Any], mount: Path) -> dict[str, Any]:
    return json.loads(json.dumps(body).replace("/mnt/data/", f"{mount}/"))


async def test_documented_env_starts_and_quick_start_requests_are_answered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = tmp_path / "mnt-data"
    _media_at_documented_paths(mount)
    settings = _documented_settings(tmp_path, mount, monkeypatch)
    assert settings.ENABLED_METHODS == ["mfcc", "onset", "spectral", "correlation", "ai"]
    assert settings.ENABLED_AI_MODELS == ["wav2vec2", "yamnet", "spectral"]
    assert settings.MAX_FILE_SIZE == 1073741824 and settings.USE_GPU is True
    assert settings.ENABLE_RATE_LIMITING and settings.DEFAULT_SAMPLE_RATE == 22050
    sync, monitor, workflow, proxy = curls()
    async with running_app(settings) as (_, c):
        health = await c.get("/api/v1/health")
        assert health.status_code == 200, health.text  # degraded: wav2vec2, yamnet missing
        assert health.json()["components"]["ai-models"] == "degraded"
        assert (tmp_path / "logs" / "app.log").is_file()  # LOG_FILE=./logs/app.log

        # 1. the first quick-start request: runs; the ai method is unavailable, and says why
        r = await c.post(sync.path_and_query, json=_here(sync.body or {}, mount),
                         headers=sync.headers)
        assert r.status_code == 202, r.text
        aid = r.json()["analysis_id"]
        warning = r.json()["warnings"][0]
        layout = SPECS["wav2vec2"].expected_layout
        assert "ai_model 'wav2vec2' is not installed here" in warning and layout in warning
        # 2. its progress, at the documented URL with this analysis' id
        events, _ = await read_sse(c, monitor.path_and_query.replace(
            "analysis_20250827_143052_abc12345", aid), timeout=120)
        assert events[0].event == "state" and events[-1].event == "completed", events[-1]
        done = (await c.get(f"/api/v1/analysis/{aid}")).json()
        result = done["result"]
        by = {m["method"]: m for m in result["methods"]}
        assert list(by) == ["mfcc", "onset", "ai"]
        for name in ("mfcc", "onset"):
            assert by[name]["status"] == "ok"
            assert abs(by[name]["offset_seconds"] - LATE) < 0.005, by[name]
        assert abs(result["offset_seconds"] - LATE) < 0.001
        assert result["verdict"] == "constant_offset" and result["confidence"] > 0.9
        assert by["ai"]["status"] == "unavailable" and by["ai"]["offset_seconds"] is None
        assert by["ai"]["diagnostics"]["expected_layout"] == layout
        assert done["warnings"] == result["warnings"] == [warning]

        # 3. analyze-and-repair on the .mov pair, followed at the documented routes
        r = await c.post(workflow.path_and_query, json=_here(workflow.body or {}, mount),
                         headers=workflow.headers)
        assert r.status_code == 202, r.text
        wid = r.json()["workflow_id"]
        events, _ = await read_sse(c, f"/api/v1/workflows/{wid}/status/stream", timeout=300)
        assert events[-1].event == "completed", events[-1].data
        base = f"/api/v1/workflows/analyze-and-repair/{wid}"
        status = (await c.get(f"{base}/status")).json()
        assert status["episode_name"] == "Episode 101"
        assert status["outcome"] == "repaired", status["decision"]
        assert abs(status["result"]["analysis"]["offset_seconds"] - LATE) < 0.001
        package = await c.get(f"{base}/download/package")
        assert package.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(package.content)).namelist()
        assert "manifest.json" in names and any(n.endswith(".mov") or n.endswith(".wav")
                                                for n in names), names
        listed = (await c.get("/api/v1/workflows/analyze-and-repair/workflows")).json()
        assert [w["workflow_id"] for w in listed["items"]] == [wid]
        deleted = await c.delete(base)
        assert deleted.status_code == 200 and deleted.json()["deleted"] is True
        assert (await c.get(f"{base}/status")).status_code == 404

        # 4. E-AC-3 for the browser, as WAV
        wav = await c.get(_here({"u": proxy.path_and_query}, mount)["u"])
        assert wav.status_code == 200, wav.text
        assert wav.headers["content-type"].startswith("audio/") and wav.content[:4] == b"RIFF"

        # 5. per-channel repair at its documented path: the dub's 0.2345 s removed
        r = await c.post("/api/v1/repair/repair/per-channel", json={
            "dub_file": "audio/dub.wav", "master_file": "audio/master.wav",
            "offsets_seconds": [LATE]})
        assert r.status_code == 201, r.text
        assert r.json()["channels"][0]["offset_samples"] == 11256  # 0.2345 s at 48 kHz
        assert abs(r.json()["verification"]["channels"][0]["residual_offset_seconds"]) <= 0.001


def _listening_on(pid: int, port: int) -> set[str]:
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return set()
    return {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def test_python_main_py_listens_on_host_and_port_of_the_settings(
        media_dir: Path, tmp_path: Path) -> None:
    """`python main.py` with the documented .env (HOST and PORT changed in it) starts uvicorn
    on them."""
    port = free_port()
    mount = tmp_path / "mnt-data"
    mount.mkdir()
    text = env_block().replace("HOST=0.0.0.0", "HOST=127.0.0.1").replace(
        "PORT=8000", f"PORT={port}").replace("MOUNT_PATH=/mnt/data", f"MOUNT_PATH={mount}")
    (tmp_path / ".env").write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    log = (tmp_path / "main.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py")], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "main.log").read_text()[-3000:])
            if _listening_on(proc.pid, port):
                break
            time.sleep(0.1)
        assert _listening_on(proc.pid, port) == {"127.0.0.1"}
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/health/filesystem", timeout=10)
        assert r.status_code == 200 and r.json()["mount"]["path"] == str(mount.resolve())
    finally:
        stop_process(proc, grace=30)
        log.close()
