"""``POST /api/v1/analysis/batch/csv/validate``: the server's CSV parser and checks, nothing
stored; and the offline ``/docs`` and ``/redoc`` pages (every URL they name is local)."""

from __future__ import annotations

import re
from collections.abc import Callable

from app.core.config import Settings
from app.web.docs import ASSET_FILES, ASSETS_URL
from tests.api.helpers import running_app

URL = "/api/v1/analysis/batch/csv/validate"


class TestValidateCsv:
    async def test_rows_converted_and_nothing_stored(
            self, make_settings: Callable[..., Settings]) -> None:
        text = ("\ufeffMaster File;Dub File;Episode Name;Methods;Window Size;"
                "Confidence Threshold;Auto Repair\n"
                "master.wav;dub_late.wav;EP1 DE;correlation|onset;5;0,5;false\n"
                "# a comment\n"
                "master.wav;dub_early.flac;EP1 FR;correlation;;;yes\n")
        async with running_app(make_settings()) as (_, client):
            r = await client.post(URL, files={"file": ("s.csv", text.encode(), "text/csv")})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["valid"] is True and body["errors"] == [] and body["delimiter"] == ";"
            assert [row["line"] for row in body["rows"]] == [2, 4]
            first, second = body["rows"]
            assert first["episode_name"] == "EP1 DE" and first["dub_file"] == "dub_late.wav"
            assert first["options"] == {"methods": ["correlation", "onset"], "window_size": 5.0,
                                        "confidence_threshold": 0.5}
            assert first["auto_repair"] is False and second["auto_repair"] is True
            listed = (await client.get("/api/v1/analysis/batch")).json()
            assert listed["total"] == 0  # nothing stored

    async def test_line_numbered_errors(self, make_settings: Callable[..., Settings]) -> None:
        text = ("master_file,dub_file,window_size\n"
                "master.wav,dub_late.wav,abc\n"
                "master.wav,missing.wav,\n"
                "master.wav,,\n"
                "master.wav,dub_early.flac,5\n")
        async with running_app(make_settings()) as (_, client):
            r = await client.post(URL, content=text, headers={"Content-Type": "text/csv"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["valid"] is False and body["valid_rows"] == 1
            assert body["invalid_rows"] == 3 and [x["line"] for x in body["rows"]] == [5]
            by_line = {e["line"]: e for e in body["errors"]}
            assert by_line[2]["column"] == "window_size" and by_line[2]["message"].startswith(
                "line 2, window_size: 'abc'")
            assert by_line[3]["code"] == "file_not_found" and "missing.wav" in \
                by_line[3]["message"]
            assert by_line[4]["code"] == "missing_value" and by_line[4]["column"] == "dub_file"

    async def test_unreadable_csv_is_422(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post(URL, content="episode,notes\nx,y\n",
                                  headers={"Content-Type": "text/csv"})
            assert r.status_code == 422
            assert r.json()["error"]["code"] == "csv_missing_column"
            r = await client.post(URL, content=b"master_file,dub_file\n\xff\xfe\xfa,x\n",
                                  headers={"Content-Type": "text/csv"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "csv_encoding"
            r = await client.post(URL, json={"a": 1})
            assert r.status_code == 415


class TestOfflineDocs:
    async def test_pages_name_local_urls_only(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            for page, asset in (("/docs", "swagger-ui-bundle.js"),
                                ("/redoc", "redoc.standalone.js")):
                r = await client.get(page)
                assert r.status_code == 200 and "/openapi.json" in r.text
                assert f"{ASSETS_URL}/{asset}" in r.text
                urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)""", r.text)
                assert urls and all(u.startswith("/") for u in urls), (page, urls)
                assert not re.search(r"https?://", r.text), page
            for name in ASSET_FILES:
                r = await client.get(f"{ASSETS_URL}/{name}")
                assert r.status_code == 200 and len(r.content) > 1000, name
            js = await client.get(f"{ASSETS_URL}/swagger-ui-bundle.js")
            assert "SwaggerUIBundle" in js.text and "javascript" in js.headers["content-type"]
            redoc = await client.get(f"{ASSETS_URL}/redoc.standalone.js")
            assert "Redoc" in redoc.text and "cdn.redoc.ly" not in redoc.text  # its logo
