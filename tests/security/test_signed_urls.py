"""Signed URLs (SECRET_KEY, HMAC): one resource, read-only, until they expire; API keys never
in query strings, the dashboard included."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.core.config import DEFAULT_SECRET_KEY, Settings
from app.core.signing import SignatureError, UrlSigner
from app.web.router import STATIC_DIR
from tests.api.helpers import read_sse, running_app

WRITER = "writer-key-0123456789"
READER = "reader-key-9876543210"
KEYS = f"{WRITER},{READER}:read"
GOOD = {"master_file": "master.wav", "dub_file": "dub_late.wav", "methods": ["correlation"]}


def _pairs(url: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(url)
    return parts.path, parse_qsl(parts.query, keep_blank_values=True)


class TestSigner:
    def test_one_resource_until_it_expires(self) -> None:
        signer = UrlSigner("s3cret-key-for-tests", ttl_seconds=60)
        now = 1_700_000_000.0
        signed = signer.sign("/api/v1/files/proxy-audio?path=a.wav&format=wav", now=now)
        assert signed.expires == 1_700_000_060
        path, pairs = _pairs(signed.url)
        assert signer.verify(path, pairs, now=now + 59) == signed.expires
        assert signer.verify(path, list(reversed(pairs)), now=now) == signed.expires  # order
        for changed_path, changed in (
                (path, [(k, "b.wav" if k == "path" else v) for k, v in pairs]),  # another file
                (path, [*pairs, ("start", "10")]),  # a parameter added
                (path, [(k, v) for k, v in pairs if k != "format"]),  # one removed
                ("/api/v1/files/raw", pairs),  # another route
                (path, [(k, v[:-1] + ("A" if v[-1] != "A" else "B")) if k == "signature"
                        else (k, v) for k, v in pairs]),  # a forged signature
                (path, [(k, str(int(v) + 3600)) if k == "expires" else (k, v)
                        for k, v in pairs])):  # a longer life
            with pytest.raises(SignatureError) as err:
                signer.verify(changed_path, changed, now=now)
            assert err.value.code == "signature_invalid"
        with pytest.raises(SignatureError) as err:
            signer.verify(path, pairs, now=now + 61)
        assert err.value.code == "signature_expired"
        other = UrlSigner("another-secret-key", ttl_seconds=60)
        with pytest.raises(SignatureError):
            other.verify(path, pairs, now=now)

    def test_only_paths(self) -> None:
        signer = UrlSigner("s3cret-key-for-tests", ttl_seconds=60)
        for url in ("https://evil.example/api/v1/analysis", "api/v1/analysis", "/a#frag"):
            with pytest.raises(ValueError):
                signer.sign(url)
        # a URL signed again drops its old signature and the legacy key
        again = signer.sign(signer.sign("/api/v1/analysis?api_key=x&limit=5").url)
        assert dict(_pairs(again.url)[1]).keys() == {"limit", "expires", "signature"}


class TestSignedUrlsThroughTheApp:
    async def test_streams_audio_and_reports_without_a_key(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(API_KEYS=KEYS)) as (app, c):
            writer = {"X-API-Key": WRITER}
            r = await c.post("/api/v1/analysis/sync", json=GOOD, headers=writer)
            aid = r.json()["analysis_id"]
            stream = f"/api/v1/analysis/{aid}/progress/stream"
            audio = "/api/v1/files/proxy-audio?path=master.wav&format=wav&duration=1"
            # a read-only key may sign (GET); without a key, nothing is signed
            assert (await c.get("/api/v1/auth/signed-url",
                                params={"url": stream})).status_code == 401
            answer = await c.get("/api/v1/auth/signed-url", params={"url": [stream, audio]},
                                 headers={"X-API-Key": READER})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["ttl_seconds"] == 300
            s_stream, s_audio = (i["url"] for i in body["items"])
            assert all(0 < i["expires"] - time.time() <= 300 for i in body["items"])
            assert READER not in s_stream and s_stream.startswith(stream + "?expires=")
            events, _ = await read_sse(c, s_stream)
            assert events[-1].event == "completed"
            wav = await c.get(s_audio)
            assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
            assert len(wav.content) > 16000  # a second of 16-bit audio at least
            # the same signature does not open another file, analysis or route
            for forged in (s_audio.replace("path=master.wav", "path=dub_late.wav"),
                           s_audio.replace("duration=1", "duration=2"),
                           s_stream.replace(stream, f"/api/v1/analysis/{aid}"),
                           s_stream.replace(stream, "/api/v1/analysis")):
                err = (await c.get(forged)).json()["error"]
                assert err["code"] == "signature_invalid", forged
            # read-only: a signed URL never changes anything
            deleted = await c.delete(s_stream.replace("/progress/stream", ""))
            assert deleted.status_code == 401
            assert (await c.get(f"/api/v1/analysis/{aid}", headers=writer)
                    ).json()["status"] == "completed"
            # expired: signed in the past by the app's own signer
            old = app.state.signer.sign(stream, now=time.time() - 301)
            err = (await c.get(old.url)).json()["error"]
            assert err["code"] == "signature_expired"
            # a signed URL cannot sign further URLs
            meta = (await c.get("/api/v1/auth/signed-url", headers={"X-API-Key": READER},
                                params={"url": "/api/v1/auth/signed-url?url=/api/v1/x"}))
            assert meta.status_code == 422
            signer_url = app.state.signer.sign("/api/v1/auth/signed-url?url=/api/v1/x").url
            assert (await c.get(signer_url)).json()["error"]["code"] == "signature_invalid"

    async def test_the_default_secret_key_signs_nothing(
            self, make_settings: Callable[..., Settings]) -> None:
        """Left at its public default, SECRET_KEY is replaced by a random key of the process:
        a URL signed with the default is refused. A set SECRET_KEY is shared by instances."""
        url = "/api/v1/analysis?limit=1"
        async with running_app(make_settings(API_KEYS=KEYS)) as (_, c):
            forged = UrlSigner(DEFAULT_SECRET_KEY, ttl_seconds=300).sign(url).url
            assert (await c.get(forged)).json()["error"]["code"] == "signature_invalid"
        shared = make_settings(API_KEYS=KEYS, SECRET_KEY="a-shared-secret-of-the-fleet")
        async with running_app(shared) as (_, first), running_app(shared) as (_, second):
            signed = (await first.get("/api/v1/auth/signed-url", params={"url": url},
                                      headers={"X-API-Key": READER})).json()["items"][0]["url"]
            assert (await second.get(signed)).status_code == 200
            assert UrlSigner("a-shared-secret-of-the-fleet", ttl_seconds=5).verify(
                *_pairs(signed)) > time.time()

    async def test_bad_requests_are_4xx(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, c):
            for params in ({"url": "https://elsewhere.example/api/v1/x"}, {"url": "/etc/passwd"},
                           {"url": "/api/v1/x#frag"}, {}, {"url": ["/api/v1/a"] * 51}):
                r = await c.get("/api/v1/auth/signed-url", params=params)
                assert r.status_code == 422, (params, r.text)
                assert r.json()["error"]["code"] in ("invalid_parameter", "validation_error")
            # keys off: signing works (the dashboard may hold a key anyway), URLs open
            ok = (await c.get("/api/v1/auth/signed-url",
                              params={"url": "/api/v1/analysis?limit=1"})).json()
            assert (await c.get(ok["items"][0]["url"])).status_code == 200


def test_dashboard_never_puts_the_key_in_a_url() -> None:
    scripts = {p.name: p.read_text() for p in (STATIC_DIR / "js").glob("*.js")}
    for name, text in scripts.items():
        assert "api_key=" not in text, name
        assert not re.search(r"[?&]api_key", text), name
    api = scripts["api.js"]
    assert "auth/signed-url" in api and '"X-API-Key"' in api
    assert "new EventSource(await signed(" in scripts["jobs.js"]
    assert "signedMany([m, d])" in scripts["preview.js"]


async def test_health_status_only_without_key_is_unchanged(
        make_settings: Callable[..., Settings]) -> None:
    async with running_app(make_settings(API_KEYS=KEYS)) as (_, c):
        h = (await c.get("/api/v1/health")).json()
        assert "ffmpeg" not in h and h["status"] in ("ok", "degraded")
        full = await c.get("/api/v1/health", headers={"X-API-Key": READER})
        assert full.json()["ffmpeg"]["path"]
