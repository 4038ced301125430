"""``/api/v1/health``, ``/docs``, ``/redoc``, ``/openapi.json`` and ``/api/help``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest

from app.core.config import Settings
from app.services import health as health_module
from tests.api.helpers import running_app


class TestHealth:
    async def test_all_components(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.get("/api/v1/health")
            assert r.status_code == 200, r.text
            h = r.json()
            assert h["status"] == "ok"
            assert h["components"] == {"database": "ok", "ffmpeg": "ok",
                                       "ai-models": "disabled", "filesystem": "ok",
                                       "jobs": "ok", "job-errors": "ok"}
            assert h["ffmpeg"]["path"] == shutil.which("ffmpeg")
            assert h["ffmpeg"]["version"].startswith("ffmpeg version")
            assert h["ffmpeg"]["ffprobe"]["version"].startswith("ffprobe version")
            assert h["ai-models"]["enabled"] == [] and h["ai-models"]["models"] == []
            fs = h["filesystem"]
            assert fs["mount"]["readable"] and fs["upload"]["writable"]
            assert fs["upload"]["free_bytes"] > 0
            assert h["database"]["journal_mode"] == "wal"
            assert h["database"]["latency_ms"] >= 0
            assert h["jobs"]["workers"] == 2 and h["jobs"]["accepting"] is True
            system = h["system"]
            assert system["cpu_count"] >= 1 and system["memory"]["total_bytes"] > 0
            assert len(system["load_average"]) == 3
            assert system["gpu"] == "none" or system["gpu"]["devices"]
            assert (await client.get("/api/v1/health/live")).json() == {"status": "ok"}

    async def test_ffmpeg_missing_is_an_error(self, make_settings: Callable[..., Settings],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FFMPEG_BINARY", "/nonexistent/ffmpeg")
        async with running_app(make_settings()) as (_, client):
            r = await client.get("/api/v1/health")
            assert r.status_code == 503
            h = r.json()
            assert h["status"] == "error" and h["components"]["ffmpeg"] == "error"

    async def test_enabled_ai_models_are_reported(self, make_settings: Callable[..., Settings]
                                                  ) -> None:
        async with running_app(make_settings(ENABLED_AI_MODELS="wav2vec2")) as (_, client):
            h = (await client.get("/api/v1/health")).json()
            assert h["status"] == "degraded" and h["components"]["ai-models"] == "degraded"
            assert h["ai-models"]["models"][0]["name"] == "wav2vec2"
            assert h["ai-models"]["models"][0]["available"] is False

    async def test_component_routes_have_their_own_status(
            self, make_settings: Callable[..., Settings],
            monkeypatch: pytest.MonkeyPatch) -> None:
        """The documented /health/{status,ffmpeg,ai-models,filesystem,system}: each its part
        of the record, 503 only for the component that is down."""
        settings = make_settings(ENABLED_AI_MODELS="wav2vec2,spectral")
        async with running_app(settings) as (_, client):
            whole = (await client.get("/api/v1/health")).json()
            status = await client.get("/api/v1/health/status")
            assert status.status_code == 200 and status.json()["components"] == \
                whole["components"]
            ff = await client.get("/api/v1/health/ffmpeg")
            assert ff.status_code == 200 and ff.json()["status"] == "ok"
            assert ff.json()["path"] == shutil.which("ffmpeg")
            ai = await client.get("/api/v1/health/ai-models")
            assert ai.status_code == 200 and ai.json()["status"] == "degraded"
            assert [m["name"] for m in ai.json()["models"]] == ["wav2vec2", "spectral"]
            assert [m["available"] for m in ai.json()["models"]] == [False, True]
            system = (await client.get("/api/v1/health/system")).json()
            assert system["status"] == "ok" and system["cpu_count"] >= 1
            assert system["memory"]["total_bytes"] > 0
            fs = await client.get("/api/v1/health/filesystem")
            assert fs.status_code == 200 and fs.json()["upload"]["writable"] is True
            shutil.rmtree(settings.UPLOAD_DIR)  # the upload folder disappears: only it is down
            fs = await client.get("/api/v1/health/filesystem")
            assert fs.status_code == 503 and fs.json()["status"] == "error"
            assert fs.json()["upload"]["exists"] is False
            assert (await client.get("/api/v1/health/ffmpeg")).status_code == 200
            assert (await client.get("/api/v1/health/status")).status_code == 503
            monkeypatch.setenv("FFMPEG_BINARY", "/nonexistent/ffmpeg")
            ff = await client.get("/api/v1/health/ffmpeg")
            assert ff.status_code == 503 and ff.json()["ffmpeg"]["path"] == "/nonexistent/ffmpeg"
            assert "not found" in ff.json()["ffmpeg"]["error"]
            assert (await client.get("/api/v1/health/system")).status_code == 200

    async def test_gpu_none_without_any(self, monkeypatch: pytest.MonkeyPatch) -> None:
        health_module.gpu_info.cache_clear()
        monkeypatch.setattr(health_module.importlib.util, "find_spec", lambda name: None)
        monkeypatch.setattr(health_module.shutil, "which", lambda name: None)
        try:
            assert health_module.gpu_info() == "none"
        finally:
            health_module.gpu_info.cache_clear()


def _models_without_descriptions(schema: dict[str, Any]) -> list[str]:
    missing = []
    for name, model in schema["components"]["schemas"].items():
        if name in {"AnalysisCreate", "BatchCreate", "AnalysisOptionsIn"}:
            for field, prop in model.get("properties", {}).items():
                if "description" not in prop:
                    missing.append(f"{name}.{field}")
    return missing


class TestDocs:
    async def test_openapi_documents_every_request_field(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            schema = (await client.get("/openapi.json")).json()
            assert not _models_without_descriptions(schema)
            create = schema["components"]["schemas"]["AnalysisCreate"]
            assert create["examples"][0]["master_file"]
            paths = schema["paths"]
            assert {"/api/v1/analysis/sync", "/api/v1/analysis/batch", "/api/v1/analysis",
                    "/api/v1/analysis/{analysis_id}",
                    "/api/v1/analysis/{analysis_id}/progress/stream", "/api/v1/health",
                    "/api/help"} <= set(paths)
            sync = paths["/api/v1/analysis/sync"]["post"]
            assert {"202", "403", "422"} <= set(sync["responses"])
            stream = paths["/api/v1/analysis/{analysis_id}/progress/stream"]["get"]
            assert "text/event-stream" in stream["responses"]["200"]["content"]
            for page in ("/docs", "/redoc"):
                r = await client.get(page)
                assert r.status_code == 200 and "openapi.json" in r.text

    async def test_help_lists_every_endpoint_with_curl(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            schema = (await client.get("/openapi.json")).json()
            operations = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
            h = (await client.get("/api/help")).json()
            listed = {(e["method"], e["path"]) for e in h["endpoints"]}
            assert listed == operations
            for e in h["endpoints"]:
                assert e["summary"], e
                assert e["curl"].startswith("curl ") and "http://testserver/" in e["curl"]
            assert h["sign_convention"] == "offset_seconds > 0 means the dub is late"
