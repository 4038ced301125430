"""In headless Chromium (Debian's ``chromium``, Playwright) with every request off this machine
refused: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) render from the app's own assets; the
dashboard imports the CSV that BATCH_PROCESSING_EXAMPLES.md documents through the server's
parser, shows the server's line-numbered errors, checks pairs added by hand, and exports its
CSV with formula cells neutralised as the server's CSV does."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from app.core.config import Settings
from tests.api.helpers import REPO, UvicornProcess
from tests.browser.drivers import ChromiumDriver, browser_missing

pytestmark = pytest.mark.browser

LOCAL = {"127.0.0.1", "localhost", "::1"}
DOC_CSV = re.compile(r"cat > season1\.csv <<'CSV'\n(.*?\n)CSV\n", re.S)
HOSTILE = "=cmd|' /C calc'!A0"


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)


@pytest.fixture
def server(make_settings: Callable[..., Settings], media_dir: Path,
           tmp_path: Path) -> Iterator[UvicornProcess]:
    """A live uvicorn whose MOUNT_PATH holds the files BATCH_PROCESSING_EXAMPLES.md names."""
    reason = browser_missing("chromium")
    if reason:
        pytest.skip(reason)
    mount = tmp_path / "mount"
    for src, dst in (("master.wav", "ep101_master.wav"), ("dub_late.wav", "ep101_de.wav"),
                     ("dub_early.flac", "ep101_fr.flac"), ("dub_late2.wav", "ep101_es.wav")):
        _place(media_dir / src, mount / "show" / dst)
    proc = UvicornProcess(make_settings(MOUNT_PATH=mount), cwd=tmp_path,
                          log=tmp_path / "uvicorn.log")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def offline() -> Iterator[tuple[ChromiumDriver, list[str]]]:
    """Chromium whose page can reach this machine only: (driver, the URLs it refused)."""
    driver = ChromiumDriver()
    refused: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if urlparse(url).hostname in LOCAL:
            r.continue_()
        else:
            refused.append(url)
            r.abort("internetdisconnected")

    try:
        driver.page.route("**/*", route)
        yield driver, refused
        assert not driver.errors(), f"JavaScript errors in the page: {driver.errors()}"
    finally:
        driver.close()


def test_docs_and_redoc_render_without_network(
        offline: tuple[ChromiumDriver, list[str]], server: UvicornProcess) -> None:
    b, refused = offline
    with httpx.Client(base_url=server.base_url) as http:
        operations = sum(len(ops) for ops in http.get("/openapi.json").json()["paths"]
                         .values())
    b.goto(server.base_url + "/docs")
    b.wait("return document.querySelectorAll('.opblock').length >= arguments[0];",
           operations, what=f"Swagger UI's {operations} operations")
    assert b.visible(".opblock-summary-path", text="/api/v1/analysis/sync")
    assert "Sync Analyzer" in b.text(".information-container .title")
    b.click(".opblock-summary", text="/api/v1/analysis/batch/csv/validate")
    b.wait_visible(".opblock-description-wrapper", text="nothing is stored")

    b.goto(server.base_url + "/redoc")
    b.wait_visible("h1", text="Sync Analyzer")
    b.wait_visible("h2", text="Check a CSV of master/dub pairs without storing it")
    b.wait("return document.querySelectorAll('[data-section-id^=\"operation/\"]').length "
           ">= arguments[0];", operations, what=f"ReDoc's {operations} operations")
    assert b.visible("[role=navigation], .menu-content")
    assert not refused, f"pages asked for off-machine URLs: {refused}"


def _queue(server: UvicornProcess) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.base_url}/api/v1/ui/state/batch-queue")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_dashboard_csv_import_checks_and_export(
        offline: tuple[ChromiumDriver, list[str]], server: UvicornProcess,
        tmp_path: Path) -> None:
    b, refused = offline
    b.goto(server.base_url + "/#batch")
    b.wait_ready()
    b.wait_visible("#tab-batch")
    rows = "#batch-table tbody tr[data-id]"

    # --- the documented CSV (semicolons, decimal comma, a comment line) is read by the server
    doc = DOC_CSV.search((REPO / "BATCH_PROCESSING_EXAMPLES.md").read_text())
    assert doc, "BATCH_PROCESSING_EXAMPLES.md no longer holds the season1.csv example"
    season = tmp_path / "season1.csv"
    season.write_text(doc.group(1))
    b.set_file("#batch-csv", season)
    b.wait_count(rows, 3)
    names = b.js("return [...document.querySelectorAll(arguments[0])].map((r) => "
                 "r.children[1].textContent);", rows)
    assert names == ["EP101 German", "EP101 French", "EP101 Spanish"]
    items = _queue(server)
    assert [i["dub_file"] for i in items] == ["show/ep101_de.wav", "show/ep101_fr.flac",
                                               "show/ep101_es.wav"]
    assert items[0]["methods"] == ["correlation", "onset"]
    assert items[0]["window_size"] == 5 and items[0]["confidence_threshold"] == 0.5
    assert items[2]["methods"] == ["correlation"] and items[2]["auto_repair"] is True

    # --- a bad CSV: the server's errors, each with its line; nothing is added
    bad = tmp_path / "bad.csv"
    bad.write_text("master_file,dub_file,window_size\n"
                   "show/ep101_master.wav,show/ep101_de.wav,abc\n"
                   "show/ep101_master.wav,show/missing.wav,\n")
    b.set_file("#batch-csv", bad)
    error = b.wait_text("#batch-error", "line 3")
    assert "2 row(s) of bad.csv are invalid" in error
    assert "line 2, window_size: 'abc'" in error and "missing.wav" in error, error
    b.wait_count(rows, 3)

    # --- a pair added by hand is checked by the server when added
    b.fill("#batch-master", "show/ep101_master.wav")
    b.fill("#batch-dub", "show/nothing_here.wav")
    b.click("#batch-add-btn")
    error = b.wait_text("#batch-error", "nothing_here.wav")
    assert "cannot be added" in error and "line 2" not in error, error
    b.fill("#batch-dub", "show/ep101_de.wav")
    b.fill("#batch-episode", HOSTILE)
    b.click("#batch-add-btn")
    b.wait_count(rows, 4)
    assert _queue(server)[3]["episode_name"] == HOSTILE

    # --- the export: formula cells neutralised, as the server's CSV (csv_cell)
    with b.page.expect_download() as download:
        b.click("#batch-export")
    text = Path(download.value.path()).read_text()
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["episode_name"] for r in table] == ["EP101 German", "EP101 French",
                                                  "EP101 Spanish", "'" + HOSTILE]
    assert all(r["master_file"] == "show/ep101_master.wav" for r in table)
    assert {"qc", "offset_ms", "max_abs_offset_ms", "verdict"} <= set(table[0])
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in table for cell in
                   (r["episode_name"], r["master_file"], r["dub_file"]))
    assert not refused, f"the dashboard asked for off-machine URLs: {refused}"
