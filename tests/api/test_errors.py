"""Every kind of bad request is refused at once with a 4xx JSON error naming the problem."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core.config import Settings
from tests.api.helpers import running_app, wait_status

GOOD = {"master_file": "master.wav", "dub_file": "dub_late.wav"}


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


class TestSubmitRefusals:
    @pytest.mark.parametrize(("change", "status", "code", "named"), [
        ({"master_file": "/etc/passwd"}, 403, "path_not_allowed", "/etc/passwd"),
        ({"dub_file": "../../../../etc/hostname"}, 403, "path_not_allowed", "dub_file"),
        ({"master_file": "nope.wav"}, 422, "file_not_found", "nope.wav"),
        ({"dub_file": "folder"}, 422, "not_a_file", "folder"),
        ({"dub_file": "notes.txt"}, 422, "audio_decode_error", "notes.txt"),
        ({"dub_file": "bad\u0000name.wav"}, 400, "invalid_path", "NUL"),
        ({"methods": ["correlation", "magic"]}, 422, "unknown_method", "magic"),
        ({"methods": []}, 422, "validation_error", "methods"),
        ({"sample_rate": 1000}, 422, "validation_error", "sample_rate"),
        ({"max_offset_seconds": 900}, 422, "validation_error", "max_offset_seconds"),
        ({"confidence_threshold": 1.5}, 422, "validation_error", "confidence_threshold"),
        ({"window_size": 0.5}, 422, "validation_error", "window_size"),
        ({"dub_channel": 3}, 422, "invalid_parameter", "dub_channel=3"),
        ({"master_stream": 2}, 422, "audio_decode_error", "stream 2"),
        ({"enable_ai": True, "ai_model": "whisper"}, 422, "unknown_ai_model", "whisper"),
        ({"methods": ["ai"]}, 422, "invalid_parameter", "beside at least one"),
        ({"colour": "blue"}, 422, "validation_error", "colour"),
        ({"master_file": ""}, 422, "validation_error", "master_file"),
    ])
    async def test_refused_at_once(self, make_settings: Callable[..., Settings],
                                   change: dict[str, Any], status: int, code: str,
                                   named: str) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={**GOOD, **change})
            err = _error(r, status, code)
            assert named in err["message"]
            assert (await client.get("/api/v1/analysis")).json()["total"] == 0

    async def test_missing_field_and_bad_json(self, make_settings: Callable[..., Settings]
                                              ) -> None:
        async with running_app(make_settings()) as (_, client):
            err = _error(await client.post("/api/v1/analysis/sync",
                                           json={"master_file": "master.wav"}),
                         422, "validation_error")
            assert err["details"][0]["loc"] == ["body", "dub_file"]
            _error(await client.post("/api/v1/analysis/sync", content=b"{not json",
                                     headers={"content-type": "application/json"}),
                   422, "validation_error")

    async def test_symlink_escaping_the_roots(self, make_settings: Callable[..., Settings],
                                              tmp_path: Path) -> None:
        settings = make_settings()
        settings.ensure_directories()
        outside = tmp_path / "outside.wav"
        outside.write_bytes((settings.MOUNT_PATH / "dub_late.wav").read_bytes())
        (settings.UPLOAD_DIR / "escape.wav").symlink_to(outside)
        async with running_app(settings) as (_, client):
            err = _error(await client.post("/api/v1/analysis/sync",
                                           json={**GOOD, "dub_file": "escape.wav"}),
                         403, "path_not_allowed")
            assert "'escape.wav'" in err["message"]  # as given: not where the link leads
            assert str(outside) not in json.dumps(err) and str(tmp_path) not in json.dumps(err)

    async def test_disabled_method(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(ENABLED_METHODS="correlation,onset")) as (_, c):
            err = _error(await c.post("/api/v1/analysis/sync", json={**GOOD, "methods": ["mfcc"]}),
                         422, "method_disabled")
            assert err["details"]["enabled"] == ["correlation", "onset"]
            ok = await c.post("/api/v1/analysis/sync", json=GOOD)
            assert ok.status_code == 202
            done = await wait_status(c, ok.json()["analysis_id"])
            assert done["request"]["methods"] == ["correlation", "onset"]

    async def test_ai_model_not_enabled_runs_without_it(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(ENABLED_AI_MODELS="wav2vec2")) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                **GOOD, "methods": ["correlation"], "enable_ai": True, "ai_model": "yamnet"})
            assert r.status_code == 202, r.text
            done = await wait_status(client, r.json()["analysis_id"])
            ai = next(m for m in done["result"]["methods"] if m["method"] == "ai")
            assert ai["status"] == "unavailable"
            assert ai["reason"].startswith("ai_model 'yamnet' is not enabled on this server "
                                           "(ENABLED_AI_MODELS=['wav2vec2']; add it there)")
            assert "yamnet" in done["warnings"][0]

    async def test_ai_off_in_enabled_methods(self, make_settings: Callable[..., Settings]
                                             ) -> None:
        settings = make_settings(ENABLED_METHODS="correlation,onset",
                                 ENABLED_AI_MODELS="spectral")
        async with running_app(settings) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                **GOOD, "methods": ["correlation", "ai"]})
            assert r.status_code == 202, r.text
            assert "the ai method is disabled on this server" in r.json()["warnings"][0]
            done = await wait_status(client, r.json()["analysis_id"])
            assert done["request"]["methods"] == ["correlation"]
            assert done["request"]["enable_ai"] is True
            assert [m["method"] for m in done["result"]["methods"]] == ["correlation", "ai"]

    async def test_file_too_large(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(MAX_FILE_SIZE=1000)) as (_, client):
            err = _error(await client.post("/api/v1/analysis/sync", json=GOOD), 413,
                         "file_too_large")
            assert err["details"]["max_size"] == 1000

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
    async def test_unreadable_file(self, make_settings: Callable[..., Settings]) -> None:
        settings = make_settings()
        settings.ensure_directories()
        locked = settings.UPLOAD_DIR / "locked.wav"
        locked.write_bytes(b"RIFF")
        locked.chmod(0)
        async with running_app(settings) as (_, client):
            _error(await client.post("/api/v1/analysis/sync",
                                     json={**GOOD, "dub_file": "locked.wav"}),
                   403, "file_not_readable")

    async def test_queue_full(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(MAX_QUEUED_JOBS=1, MAX_WORKERS=1)) as (_, client):
            item = {**GOOD, "methods": ["correlation"]}
            r = await client.post("/api/v1/analysis/batch", json={"items": [item] * 2})
            err = _error(r, 503, "queue_full")
            assert r.headers["retry-after"] == "30"
            assert "MAX_QUEUED_JOBS" in err["message"]


class TestOtherRefusals:
    async def test_unknown_analysis(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            missing = "analysis_20250101_000000_00000000"
            for method, url in (("GET", f"/api/v1/analysis/{missing}"),
                                ("DELETE", f"/api/v1/analysis/{missing}"),
                                ("GET", f"/api/v1/analysis/{missing}/progress/stream")):
                err = _error(await client.request(method, url), 404, "analysis_not_found")
                assert missing in err["message"]
            _error(await client.get("/api/v1/nothing-here"), 404, "not_found")
            _error(await client.put("/api/v1/analysis/sync"), 405, "method_not_allowed")

    async def test_cancel_a_finished_analysis(self, make_settings: Callable[..., Settings]
                                              ) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post("/api/v1/analysis/sync",
                                  json={**GOOD, "methods": ["correlation"]})
            aid = r.json()["analysis_id"]
            await wait_status(client, aid)
            err = _error(await client.delete(f"/api/v1/analysis/{aid}"), 409,
                         "analysis_finished")
            assert err["details"] == {"status": "completed"}

    async def test_rate_limit(self, make_settings: Callable[..., Settings]) -> None:
        settings = make_settings(ENABLE_RATE_LIMITING=True, RATE_LIMIT_PER_MINUTE=3)
        async with running_app(settings) as (_, client):
            for _ in range(3):
                assert (await client.get("/api/v1/analysis")).status_code == 200
            r = await client.get("/api/v1/analysis")
            _error(r, 429, "rate_limited")
            assert 1 <= int(r.headers["retry-after"]) <= 60
            assert (await client.get("/api/v1/health/live")).status_code == 200  # exempt

    async def test_trusted_hosts(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(ALLOWED_HOSTS="sync.example.com")) as (_, client):
            assert (await client.get("/api/v1/health/live")).status_code == 400
            ok = await client.get("/api/v1/health/live",
                                  headers={"host": "sync.example.com"})
            assert ok.status_code == 200

    async def test_cors(self, make_settings: Callable[..., Settings]) -> None:
        settings = make_settings(ALLOWED_ORIGINS="https://dash.example.com")
        async with running_app(settings) as (_, client):
            r = await client.options("/api/v1/analysis", headers={
                "origin": "https://dash.example.com", "access-control-request-method": "GET"})
            assert r.headers["access-control-allow-origin"] == "https://dash.example.com"
            r = await client.options("/api/v1/analysis", headers={
                "origin": "https://evil.example.com", "access-control-request-method": "GET"})
            assert "access-control-allow-origin" not in r.headers
