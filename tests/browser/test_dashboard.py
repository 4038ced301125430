"""The dashboard in real headless browsers — Chromium (Debian's ``chromium``, Playwright) and
Firefox (Debian's ``firefox-esr``, Marionette), see ``drivers.py`` — against a live uvicorn with
a temporary database and folders: pick files in the file browser (and upload one), run an
analysis and an analyse-and-repair at once and watch their progress bars reach 100 %, read both
results (offset, verdict, methods, timeline chart; the repair's decision and downloads), see an
invalid request explained, keep the batch queue across a reload, run it, and open the health
panel. Nothing sticks out of the 1280×800 viewport. Screenshots of each screen go to
``test-output/dashboard/<browser>/``."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from tests.api.helpers import REPO, UvicornProcess
from tests.browser.drivers import BROWSERS, HEIGHT, WIDTH, Driver, browser_missing, open_browser
from tests.conftest import DUBS

pytestmark = pytest.mark.browser

SHOTS = REPO / "test-output" / "dashboard"


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)


@pytest.fixture
def server(make_settings: Callable[..., Settings], media_dir: Path,
           tmp_path: Path) -> Iterator[UvicornProcess]:
    mount = tmp_path / "mount"
    _place(media_dir / "master.wav", mount / "show" / "ep101_master.wav")
    _place(media_dir / "dub_late.wav", mount / "show" / "ep101_de.wav")
    _place(media_dir / "dub_early.flac", mount / "show" / "ep101_fr.flac")
    (mount / "show" / "notes.txt").write_text("not audio\n")
    proc = UvicornProcess(make_settings(MOUNT_PATH=mount), cwd=tmp_path,
                          log=tmp_path / "uvicorn.log")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(params=BROWSERS)
def browser_name(request: pytest.FixtureRequest) -> str:
    """Each browser in turn; skipped (before the server starts) when it is not installed."""
    name: str = request.param
    reason = browser_missing(name)
    if reason:
        pytest.skip(reason)
    return name


@pytest.fixture
def browser(browser_name: str, server: UvicornProcess, tmp_path: Path) -> Iterator[Driver]:
    """The dashboard open in a fresh headless browser (1280×800); no uncaught JS error."""
    name = browser_name
    (SHOTS / name).mkdir(parents=True, exist_ok=True)
    with open_browser(name, tmp_path) as driver:
        assert driver.viewport() == (WIDTH, HEIGHT)
        driver.goto(server.base_url + "/")
        driver.wait_ready()
        yield driver
        assert not driver.errors(), f"JavaScript errors in the page: {driver.errors()}"


def _pick(b: Driver, browse_for: str, name: str) -> None:
    """Open the file browser from the Browse… button of ``browse_for`` and choose show/name."""
    b.click(f"[data-browse='{browse_for}']")
    b.select("#fb-root", "mount")            # back to the top of the shared storage
    b.click("#file-browser tr[data-path='show'] td")
    b.click(f"#file-browser tr[data-path='show/{name}'] td")
    b.click("#fb-choose")
    assert b.value(f"#{browse_for}") == f"show/{name}"


def _number(text: str) -> float:
    """'+234.50 ms' / '−876.50 ms' → float."""
    m = re.search(r"([+−-])?(\d+(?:\.\d+)?)", text)
    assert m, text
    return float(m.group(2)) * (-1 if m.group(1) in ("−", "-") else 1)


def _shot(b: Driver, name: str, *, full_page: bool = False) -> None:
    """A screenshot, after checking that nothing sticks out of the viewport or its card."""
    assert not b.overflowing(), f"{b.name}, {name}: layout overflow {b.overflowing()}"
    b.screenshot(SHOTS / b.name / f"{name}.png", full_page=full_page)


def _check_result(b: Driver, true_ms: float) -> None:
    """The result view of an analysis of show/ep101_de.wav: figures, verdict, methods, chart."""
    b.wait_visible("#timeline svg circle.pt-ok")
    shown_ms = _number(b.text("#r-offset-ms"))
    assert abs(shown_ms - true_ms) < 1.0, (b.name, shown_ms, true_ms)
    assert abs(_number(b.text("#r-frames")) - true_ms / 40) < 0.05
    assert b.text("#r-timecode") == "+00:00:00:06"   # 5.86 frames, dub late
    assert "late" in b.text("#verdict")
    assert b.count("#methods-table tbody tr td.num") >= 2 * 4     # two methods or more
    assert b.count("#timeline svg line.model") >= 1
    report = b.attr("#r-links a", "href", text="Formatted report") or ""
    analysis_id = b.attr("#result", "data-analysis-id")
    assert analysis_id and f"/api/v1/reports/{analysis_id}/" in report, (analysis_id, report)


def test_dashboard_end_to_end(browser: Driver, server: UvicornProcess, media_dir: Path,
                              tmp_path: Path) -> None:
    b = browser
    true_ms = DUBS["dub_late.wav"] * 1000
    # --- the file browser and two jobs followed live ----------------------------------------
    b.click("[data-browse='master-file']")
    b.click("#file-browser tr[data-path='show'] td")
    b.wait_visible("#file-browser tr[data-path='show/ep101_de.wav']")
    b.click("#file-browser tr[data-path='show/ep101_master.wav'] td")
    b.wait_attr("#file-browser tr[data-path='show/ep101_master.wav']", "aria-selected", "true")
    _shot(b, "01_file_browser")
    b.click("#fb-choose")
    assert b.value("#master-file") == "show/ep101_master.wav"
    # an upload lands in UPLOAD_DIR and is selected in the browser
    upload = tmp_path / "delivery de.wav"
    _place(media_dir / "dub_late.wav", upload)
    b.click("[data-browse='dub-file']")
    b.set_file("#fb-upload", upload)
    b.wait_text("#fb-selected", re.compile(
        r"/uploads/file_\d{8}_\d{6}_[0-9a-f]{8}/delivery de\.wav$"))
    b.click("#file-browser button", text="Cancel")
    _pick(b, "dub-file", "ep101_de.wav")
    b.fill("#label", "EP101 German")
    b.click("#start-analysis")
    b.wait_visible(".job[data-kind=analysis]")
    b.fill("#label", "EP101 German repair")
    b.click("#start-workflow")
    b.wait_visible(".job[data-kind=workflow]")
    # a screenshot while something is still moving (best effort: the jobs are short)
    b.wait_visible(".job[data-status=running]", timeout=5, required=False)
    _shot(b, "02_jobs_progress")
    for kind in ("analysis", "workflow"):
        job = f".job[data-kind={kind}]"
        b.wait_attr(job, "data-status", "completed", timeout=90)
        assert b.text(f"{job} .bar em") == "100 %"
        assert b.attr(f"{job} .bar", "aria-valuenow") == "100"

    # --- analyse & repair: the analysis's full result view, the decision and the downloads ---
    b.click(".job[data-kind=workflow] button", text="Show result")
    b.wait_text("#wf-decision", re.compile(
        r"Decision: repair \(constant\).*Verification: passed, residual [+−±]0\.\d{3} ms"))
    b.wait_count("#workflow-stages tbody tr", 5)
    _check_result(b, true_ms)
    links = b.text("#r-links")
    for label in ("ZIP package", "Repaired audio", "Repair report"):
        assert label in links, (b.name, links)
    wf_analysis = b.attr("#result", "data-analysis-id")
    zip_href = b.attr("#r-links a", "href", text="ZIP package") or ""
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        package = http.get(zip_href)
        assert package.status_code == 200 and package.content[:2] == b"PK", zip_href
        # the workflow's analysis is a stored analysis like any other
        assert http.get(f"/api/v1/analysis/sync/{wf_analysis}/timeline").status_code == 200
    _shot(b, "03_workflow_result", full_page=True)

    # --- the plain analysis --------------------------------------------------------------------
    b.click(".job[data-kind=analysis] button", text="Show result")
    b.wait("return {ok: document.getElementById('result').dataset.analysisId !== "
           "arguments[0] && !document.getElementById('workflow-info').offsetParent, "
           "got: document.getElementById('result').dataset.analysisId};", wf_analysis,
           what="the plain analysis shown, without the workflow's part")
    _check_result(b, true_ms)
    # listening: both excerpts fetched through /proxy-audio, decoded and started together
    b.fill("#preview-at", "12")
    b.click("#preview-play")
    b.wait_text("#preview-status", re.compile(
        r"Playing master 10\.00 s and dub 10\.23\d s \(offset \+23\d\.\d+ ms applied\)"))
    b.click("#preview-stop")
    _shot(b, "04_analysis_result", full_page=True)

    # --- an invalid request is explained in words -------------------------------------------
    b.fill("#dub-file", "show/missing_dub.wav")
    b.click("#start-analysis")
    error = b.wait_text("#form-error", "missing_dub.wav")
    assert "does not exist" in error or "not found" in error, error
    _shot(b, "05_invalid_request")

    # --- the batch queue survives a reload, then runs ---------------------------------------
    b.click("#tab-btn-batch")
    b.fill("#batch-master", "show/ep101_master.wav")
    b.fill("#batch-dub", "show/ep101_de.wav")
    b.fill("#batch-episode", "EP101 German")
    b.click("#batch-add-btn")
    b.wait_visible("#batch-table tbody tr", text="EP101 German")
    csv = tmp_path / "season.csv"
    csv.write_text("master_file,dub_file,episode_name,methods\n"
                   "show/ep101_master.wav,show/ep101_fr.flac,EP101 French,correlation|onset\n")
    b.set_file("#batch-csv", csv)
    b.wait_visible("#batch-table tbody tr", text="EP101 French")
    b.fill("#batch-master", "show/ep101_master.wav")
    b.fill("#batch-dub", "../outside.wav")
    b.click("#batch-add-btn")
    b.wait_visible("#batch-error")                      # refused by the server, in words
    assert b.count("#batch-table tbody tr") == 2

    b.reload()
    b.wait_ready()
    b.wait_visible("#tab-batch")
    rows = "#batch-table tbody tr"
    b.wait_count(rows, 2)
    assert "EP101 German" in b.text(rows)
    assert "EP101 French" in b.js("return document.querySelectorAll(arguments[0])[1]"
                                  ".textContent;", rows)
    b.wait_text("#batch-saved", "restored")

    b.click("#batch-start")
    for i in range(2):
        b.wait("return document.querySelectorAll(arguments[0])[arguments[1]]"
               ".dataset.status === 'completed';", rows, i, timeout=60,
               what=f"batch row {i + 1} completed")
    fr_ms = _number(b.js("return document.querySelectorAll(arguments[0])[1]"
                         ".querySelectorAll('td')[5].innerText;", rows))
    assert abs(fr_ms - DUBS["dub_early.flac"] * 1000) < 1.0, fr_ms
    _shot(b, "06_batch_queue")

    # --- health: ffmpeg, models, GPU and disk among the cards --------------------------------
    b.click("#tab-btn-health")
    b.wait_text("#health", "ffmpeg version")
    titles = b.js("return [...document.querySelectorAll('#health .hcard h3 > span:first-child')]"
                  ".map((e) => e.textContent);")
    for title in ("ffmpeg", "AI models", "GPU", "Disk"):
        assert title in titles, titles
    _shot(b, "07_health")
