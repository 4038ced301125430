"""The dashboard with API keys on, under its Content-Security-Policy, in headless Chromium:
it asks for the key once, sends it as a header, loads the progress stream, the audio players and
the links through signed URLs (never the key in a URL), runs an analysis to the end, and the CSP
blocks nothing."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core.config import Settings
from tests.api.helpers import UvicornProcess, place_file

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
KEY = "dashboard-key-0123456789"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"chromium not found at {CHROMIUM}", allow_module_level=True)

#: records every CSP violation the page meets (the script runs before the page's own)
_WATCH_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"""


def test_dashboard_with_api_keys_and_csp(make_settings: Callable[..., Settings],
                                         media_dir: Path, tmp_path: Path) -> None:
    mount = tmp_path / "mount"
    place_file(media_dir / "master.wav", mount / "show" / "ep101_master.wav")
    place_file(media_dir / "dub_late.wav", mount / "show" / "ep101_de.wav")
    server = UvicornProcess(make_settings(MOUNT_PATH=mount, API_KEYS=f"{KEY}:write"),
                            cwd=tmp_path, log=tmp_path / "uvicorn.log")
    prompts: list[str] = []
    errors: list[str] = []
    try:
        server.wait_ready()
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page()
            page.add_init_script(_WATCH_CSP)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def answer(dialog: Any) -> None:
                prompts.append(dialog.message)
                dialog.accept(KEY)

            page.on("dialog", answer)
            page.goto(server.base_url + "/")
            page.fill("#master-file", "show/ep101_master.wav")
            page.fill("#dub-file", "show/ep101_de.wav")
            page.click("#start-analysis")
            page.wait_for_selector(".job[data-kind=analysis][data-status=completed]",
                                   timeout=90_000)
            assert len(prompts) == 1 and "API key" in prompts[0], prompts
            assert page.evaluate("localStorage.getItem('syncAnalyzer.apiKey')") == KEY
            # only the calls made before the key was entered were refused
            assert errors and all("status of 401" in e for e in errors), errors
            errors.clear()
            page.reload()  # the stored key is used from the start: no prompt, no 401
            page.fill("#master-file", "show/ep101_master.wav")
            page.fill("#dub-file", "show/ep101_de.wav")
            page.click("#start-analysis")
            page.wait_for_selector(".job[data-kind=analysis][data-status=completed]",
                                   timeout=90_000)
            assert len(prompts) == 1
            page.click(".job[data-kind=analysis] button:has-text('Show result')")
            page.wait_for_selector("#timeline svg")
            # polled from Python: a string predicate is eval'd in the page, which the CSP bars
            _wait(lambda: "signature=" in (page.get_attribute("#audio-master", "src") or ""))
            src = page.get_attribute("#audio-master", "src") or ""
            assert "/api/v1/files/proxy-audio?" in src and "expires=" in src
            link = "#r-links a:has-text('Formatted report')"
            _wait(lambda: all("signature=" in (a.get_attribute("href") or "")
                              for a in page.query_selector_all("#r-links a")))
            href = page.get_attribute(link, "href") or ""
            assert href.startswith("/api/v1/reports/")
            for url in (src, href):
                assert KEY not in url and "api_key" not in url, url
            # the signed link opens without a key; the same signature on another report not
            report = page.request.get(server.base_url + href)
            assert report.status == 200 and "<html" in report.text().lower()
            other = page.request.get(server.base_url + href.replace("format=html",
                                                                    "format=text"))
            assert other.status == 401
            page.click("#tab-btn-health")
            page.wait_for_selector("#health .hcard .meter span")
            assert page.evaluate("window.__csp") == []
            browser.close()
    finally:
        server.stop()
    # a 401 or a blocked resource after the reload would have been logged by the browser
    assert not errors, errors


def _wait(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``cond`` every 0.1 s until true (AssertionError after ``timeout`` seconds)."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.1)
