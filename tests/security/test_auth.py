"""API keys, scopes, rate limits, body limits and security headers through the real app."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from app.api.middleware import DASHBOARD_CSP
from app.core.config import Settings
from app.core.security import KeyScope, parse_api_key
from app.web.router import STATIC_DIR
from tests.api.helpers import read_sse, running_app, wait_status

WRITER = "writer-key-0123456789"
READER = "reader-key-9876543210"
#: the writer in clear, the reader as its SHA-256 (what a .env should hold)
KEYS = f"{WRITER},sha256:{hashlib.sha256(READER.encode()).hexdigest()}:read"
GOOD = {"master_file": "master.wav", "dub_file": "dub_late.wav", "methods": ["correlation"]}
OPEN_PATHS = ["/api/v1/health", "/api/v1/health/live", "/docs", "/redoc", "/openapi.json",
              "/api/help", "/", "/static/js/api.js", "/static/css/app.css"]


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


@pytest.fixture
async def keyed(make_settings: Callable[..., Settings], tmp_path: Path
                ) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(API_KEYS=KEYS, LOG_LEVEL="INFO", LOG_FILE=tmp_path / "app.log")
    async with running_app(settings) as (_, client):
        yield client


class TestKeyParsing:
    def test_forms_and_scopes(self) -> None:
        plain = parse_api_key("abcdefgh12")
        assert plain.scope == KeyScope.WRITE and plain.digest == hashlib.sha256(
            b"abcdefgh12").digest()
        hexed = parse_api_key(f"sha256:{'ab' * 32}:read")
        assert hexed.scope == KeyScope.READ and hexed.digest == bytes.fromhex("ab" * 32)
        assert parse_api_key("abcdefgh12:write").scope == KeyScope.WRITE

    @pytest.mark.parametrize("entry", ["sha256:abc", "short", "sha256:" + "zz" * 32])
    def test_bad_entries_stop_start_up(self, entry: str) -> None:
        with pytest.raises(ValidationError, match="API_KEYS entry 2"):
            Settings(_env_file=None,  # type: ignore[call-arg]
                     API_KEYS=f"good-key-123,{entry}")  # type: ignore[arg-type]


class TestApiKeys:
    async def test_every_protected_route_refuses_without_a_key(
            self, keyed: httpx.AsyncClient) -> None:
        """Every operation of the OpenAPI schema except health answers 401 without a key."""
        schema = (await keyed.get("/openapi.json")).json()
        assert set(schema["components"]["securitySchemes"]) == {"APIKeyHeader", "APIKeyQuery"}
        checked = 0
        for path, operations in schema["paths"].items():
            url = re.sub(r"\{[^}]+\}", "x", path)
            for method, op in operations.items():
                if path.startswith("/api/v1/health") or path == "/api/help":
                    assert "security" not in op, path
                    continue
                assert {"401", "403"} <= set(op["responses"]), (method, path)
                r = await keyed.request(method.upper(), url)
                err = _error(r, 401, "api_key_missing")
                assert r.headers["www-authenticate"].startswith("ApiKey")
                assert "X-API-Key" in err["message"]
                checked += 1
        assert checked >= 35

    async def test_open_paths_need_no_key(self, keyed: httpx.AsyncClient) -> None:
        for path in OPEN_PATHS:
            assert (await keyed.get(path)).status_code == 200, path

    async def test_health_details_need_a_key(self, keyed: httpx.AsyncClient) -> None:
        """Health stays open (load balancers), but without a valid key only the statuses:
        no paths, broker, instance or system details."""
        for headers in ({}, {"X-API-Key": "nope-nope-nope"}):
            r = await keyed.get("/api/v1/health", headers=headers)
            assert r.status_code == 200
            body = r.json()
            assert set(body) == {"status", "components", "service", "details"}, body
            assert body["components"]["database"] == "ok"
            assert "/" not in r.text.replace("X-API-Key", "")  # not one path
        for key in (READER, WRITER):
            full = (await keyed.get("/api/v1/health", headers={"X-API-Key": key})).json()
            assert full["filesystem"]["mount"]["path"] and full["system"]["python"]
        # a key in the query string is not taken (API_KEY_IN_QUERY off): statuses only
        query = (await keyed.get("/api/v1/health", params={"api_key": READER})).json()
        assert "filesystem" not in query and query["components"]["filesystem"] == "ok"
        for part in ("ffmpeg", "filesystem", "system", "ai-models"):
            r = await keyed.get(f"/api/v1/health/{part}")
            assert r.status_code == 200 and set(r.json()) == {"component", "status", "details"}
            assert "/" not in r.text.replace("X-API-Key", "")
            full = await keyed.get(f"/api/v1/health/{part}", headers={"X-API-Key": READER})
            assert "details" not in full.json() and len(full.json()) > 3, part

    async def test_scopes(self, keyed: httpx.AsyncClient) -> None:
        _error(await keyed.get("/api/v1/analysis", headers={"X-API-Key": "nope-nope-nope"}),
               401, "api_key_invalid")
        reader = {"X-API-Key": READER}
        writer = {"X-API-Key": WRITER}
        assert (await keyed.get("/api/v1/analysis", headers=reader)).status_code == 200
        err = _error(await keyed.post("/api/v1/analysis/sync", json=GOOD, headers=reader),
                     403, "insufficient_scope")
        assert err["details"] == {"scope": "read", "required": "write"}
        _error(await keyed.post("/api/v1/files/upload", headers=reader,
                                files={"file": ("x.wav", b"RIFF")}), 403, "insufficient_scope")
        r = await keyed.post("/api/v1/analysis/sync", json=GOOD, headers=writer)
        assert r.status_code == 202, r.text
        aid = r.json()["analysis_id"]
        keyed.headers["X-API-Key"] = READER
        try:
            done = await wait_status(keyed, aid)
        finally:
            del keyed.headers["X-API-Key"]
        assert done["status"] == "completed"
        _error(await keyed.delete(f"/api/v1/analysis/{aid}", headers=reader), 403,
               "insufficient_scope")

    async def test_signed_urls_for_streams_and_links_no_query_keys(
            self, keyed: httpx.AsyncClient) -> None:
        r = await keyed.post("/api/v1/analysis/sync", json=GOOD,
                             headers={"X-API-Key": WRITER})
        aid = r.json()["analysis_id"]
        stream = f"/api/v1/analysis/{aid}/progress/stream"
        report = f"/api/v1/reports/{aid}/formatted?format=html"
        signed = (await keyed.get("/api/v1/auth/signed-url", params={"url": [stream, report]},
                                  headers={"X-API-Key": READER})).json()["items"]
        assert READER not in json.dumps(signed)
        events, _ = await read_sse(keyed, signed[0]["url"])
        assert events[-1].event == "completed"
        assert (await keyed.get(signed[1]["url"])).status_code == 200
        # a key in the query string is refused (it would end up in logs), for reads too
        for call in (keyed.get(f"{stream}?api_key={READER}"),
                     keyed.post(f"/api/v1/analysis/sync?api_key={WRITER}", json=GOOD)):
            err = _error(await call, 401, "api_key_in_query")
            assert "X-API-Key" in err["message"]

    async def test_query_keys_when_allowed(self, make_settings: Callable[..., Settings]
                                           ) -> None:
        async with running_app(make_settings(API_KEYS=KEYS, API_KEY_IN_QUERY=True)) as (_, c):
            assert (await c.get(f"/api/v1/analysis?api_key={READER}")).status_code == 200
            _error(await c.post(f"/api/v1/analysis/sync?api_key={WRITER}", json=GOOD), 401,
                   "api_key_missing")

    async def test_start_up_log_says_keys_are_on(self, keyed: httpx.AsyncClient,
                                                 tmp_path: Path) -> None:
        log = (tmp_path / "app.log").read_text()
        assert "API keys ON: 2 key(s), 1 read-only, 1 read/write" in log
        assert WRITER not in log and READER not in log

    async def test_off_by_default(self, make_settings: Callable[..., Settings],
                                  tmp_path: Path) -> None:
        settings = make_settings(LOG_FILE=tmp_path / "off.log")
        async with running_app(settings) as (_, client):
            assert (await client.get("/api/v1/analysis")).status_code == 200
            assert "securitySchemes" not in (await client.get("/openapi.json")).json().get(
                "components", {})
        assert "API keys OFF" in (tmp_path / "off.log").read_text()


class TestRateLimit:
    async def test_per_key_and_per_ip(self, make_settings: Callable[..., Settings]) -> None:
        settings = make_settings(API_KEYS=KEYS, ENABLE_RATE_LIMITING=True,
                                 RATE_LIMIT_PER_MINUTE=3)
        async with running_app(settings) as (_, client):
            for _ in range(3):
                r = await client.get("/api/v1/analysis", headers={"X-API-Key": WRITER})
                assert r.status_code == 200
            assert r.headers["x-ratelimit-limit"] == "3"
            r = await client.get("/api/v1/analysis", headers={"X-API-Key": WRITER})
            err = _error(r, 429, "rate_limited")
            assert 1 <= int(r.headers["retry-after"]) <= 60
            assert err["details"] == {"limit_per_minute": 3}
            # another key has its own budget; random keys share the IP's budget
            assert (await client.get("/api/v1/analysis",
                                     headers={"X-API-Key": READER})).status_code == 200
            for i in range(3):
                bad = await client.get("/api/v1/analysis", headers={"X-API-Key": f"rnd{i}xxxxx"})
                assert bad.status_code == 401
            _error(await client.get("/api/v1/analysis", headers={"X-API-Key": "rnd9xxxxx"}),
                   429, "rate_limited")
            # health, docs and the dashboard are never limited
            for path in OPEN_PATHS:
                assert (await client.get(path)).status_code == 200, path


class TestBodyLimit:
    async def test_json_bodies_over_the_limit(self, make_settings: Callable[..., Settings]
                                              ) -> None:
        async with running_app(make_settings(MAX_REQUEST_BODY=4096)) as (_, client):
            big = {**GOOD, "label": "x" * 5000}
            err = _error(await client.post("/api/v1/analysis/sync", json=big), 413,
                         "request_too_large")
            assert err["details"]["max_bytes"] == 4096

            async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as read
                data = json.dumps(big).encode()
                for i in range(0, len(data), 1000):
                    yield data[i:i + 1000]

            r = await client.post("/api/v1/analysis/sync", content=chunks(),
                                  headers={"content-type": "application/json"})
            err = _error(r, 413, "request_too_large")
            assert "MAX_REQUEST_BODY=4096" in err["message"]
            # under the limit, and uploads (their own MAX_FILE_SIZE) are not affected
            assert (await client.post("/api/v1/analysis/sync", json=GOOD)).status_code == 202
            wav = (make_settings().MOUNT_PATH / "dub_late.wav").read_bytes()
            up = await client.post("/api/v1/files/upload", files={"file": ("d.wav", wav)})
            assert up.status_code == 201, up.text


class TestHeaders:
    async def test_dashboard_and_api_headers(self, make_settings: Callable[..., Settings]
                                             ) -> None:
        async with running_app(make_settings()) as (_, client):
            page = await client.get("/")
            assert page.headers["content-security-policy"] == DASHBOARD_CSP
            assert "'unsafe-inline'" not in DASHBOARD_CSP
            for r in (page, await client.get("/static/js/main.js"),
                      await client.get("/api/v1/analysis")):
                assert r.headers["x-content-type-options"] == "nosniff"
                assert r.headers["x-frame-options"] == "DENY"
                assert r.headers["referrer-policy"] == "no-referrer"
            docs = await client.get("/docs")  # swagger-ui needs its inline script
            assert docs.status_code == 200 and "content-security-policy" not in docs.headers

    def test_dashboard_has_nothing_the_csp_blocks(self) -> None:
        """No inline script, event handler or style attribute in the page; the scripts set
        styles through the CSSOM only."""
        html = (STATIC_DIR / "index.html").read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert not re.search(r"\son[a-z]+\s*=", html)
        assert not re.search(r"\sstyle\s*=", html)
        assert "<style" not in html
        for js in (STATIC_DIR / "js").glob("*.js"):
            text = js.read_text()
            assert not re.search(r"setAttribute\(\s*[\"']style", text), js.name
            assert "innerHTML" not in text and "eval(" not in text, js.name
