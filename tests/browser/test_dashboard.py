"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright)
against a live uvicorn with a temporary database and folders: pick files in the file browser,
run an analysis and watch its progress bar reach 100 %, read the offset, see an invalid request
explained, keep the batch queue across a reload, run it, and open the health panel.
Screenshots of each screen go to ``test-output/dashboard/`` (1280×800)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.config import Settings
from tests.api.helpers import REPO, UvicornProcess
from tests.conftest import DUBS

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO / "test-output" / "dashboard"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)


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


@pytest.fixture
def page(server: UvicornProcess) -> Iterator[sync_api.Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.base_url + "/")
        page.wait_for_selector("body[data-ready=true]")
        yield page
        context.close()
        browser.close()
        assert not errors, f"JavaScript errors in the page: {errors}"


def _pick(page: sync_api.Page, browse_for: str, name: str) -> None:
    """Open the file browser from the Browse… button of ``browse_for`` and choose show/name."""
    page.click(f"[data-browse='{browse_for}']")
    dialog = page.locator("#file-browser")
    page.select_option("#fb-root", "mount")            # back to the top of the shared storage
    dialog.locator("tr[data-path='show']").click()
    dialog.locator(f"tr[data-path='show/{name}']").click()
    dialog.locator("#fb-choose").click()
    assert page.input_value(f"#{browse_for}") == f"show/{name}"


def _number(text: str) -> float:
    """'+234.50 ms' / '−876.50 ms' → float."""
    m = re.search(r"([+−-])?(\d+(?:\.\d+)?)", text)
    assert m, text
    return float(m.group(2)) * (-1 if m.group(1) in ("−", "-") else 1)


def test_dashboard_end_to_end(page: sync_api.Page, server: UvicornProcess,
                              media_dir: Path) -> None:
    server_media = media_dir
    expect = sync_api.expect
    # --- the file browser and an analysis followed live -------------------------------------
    page.click("[data-browse='master-file']")
    page.locator("#file-browser tr[data-path='show']").click()
    expect(page.locator("#file-browser tr[data-path='show/ep101_de.wav']")).to_be_visible()
    page.locator("#file-browser tr[data-path='show/ep101_master.wav']").click()
    page.screenshot(path=SHOTS / "01_file_browser.png")
    page.locator("#fb-choose").click()
    assert page.input_value("#master-file") == "show/ep101_master.wav"
    # an upload lands in UPLOAD_DIR and is selected in the browser
    page.click("[data-browse='dub-file']")
    page.set_input_files("#fb-upload", files=[{
        "name": "delivery de.wav", "mimeType": "audio/wav",
        "buffer": (server_media / "dub_late.wav").read_bytes()}])
    expect(page.locator("#fb-selected")).to_contain_text(
        re.compile(r"/uploads/file_\d{8}_\d{6}_[0-9a-f]{8}/delivery de\.wav$"))
    page.locator("#file-browser button", has_text="Cancel").click()
    _pick(page, "dub-file", "ep101_de.wav")
    page.fill("#label", "EP101 German")
    page.click("#start-analysis")
    page.fill("#label", "EP101 German repair")
    page.click("#start-workflow")                       # two jobs followed at once

    analysis = page.locator(".job[data-kind=analysis]")
    workflow = page.locator(".job[data-kind=workflow]")
    expect(workflow).to_be_visible()
    try:   # a screenshot while something is still moving (best effort: the jobs are short)
        page.wait_for_selector(".job[data-status=running]", timeout=5_000)
    except sync_api.TimeoutError:
        pass
    page.screenshot(path=SHOTS / "02_jobs_progress.png")
    for job in (analysis, workflow):
        expect(job).to_have_attribute("data-status", "completed", timeout=90_000)
        expect(job.locator(".bar em")).to_have_text("100 %")
        assert job.locator(".bar").get_attribute("aria-valuenow") == "100"

    # analyze-and-repair: decision and downloads (repaired audio, ZIP package, report)
    workflow.locator("button", has_text="Show result").click()
    expect(page.locator("#r-links")).to_contain_text("ZIP package")
    expect(page.locator("#r-links")).to_contain_text("Repaired audio")
    expect(page.locator("#r-reason")).to_contain_text("Decision: repair")
    page.screenshot(path=SHOTS / "03_workflow_result.png")

    analysis.locator("button", has_text="Show result").click()
    expect(page.locator("#timeline svg")).to_be_visible()
    # the result: offset in ms, frames and timecode at 25 fps, verdict in words, methods, chart
    expect(page.locator("#result-body")).to_be_visible()
    expect(page.locator("#r-offset-ms")).not_to_have_text("–")
    true_ms = DUBS["dub_late.wav"] * 1000
    shown_ms = _number(page.inner_text("#r-offset-ms"))
    assert abs(shown_ms - true_ms) < 1.0, (shown_ms, true_ms)
    assert abs(_number(page.inner_text("#r-frames")) - true_ms / 40) < 0.05
    assert page.inner_text("#r-timecode") == "+00:00:00:06"   # 5.86 frames, dub late
    assert "late" in page.inner_text("#verdict")
    assert page.locator("#methods-table tbody tr").count() >= 2
    expect(page.locator("#timeline svg circle.pt-ok").first).to_be_visible()
    assert page.locator("#timeline svg line.model").count() >= 1
    report = page.locator("#r-links a", has_text="Formatted report")
    assert "/api/v1/reports/" in (report.get_attribute("href") or "")
    # listening: both excerpts fetched through /proxy-audio, decoded and started together
    page.fill("#preview-at", "12")
    page.click("#preview-play")
    expect(page.locator("#preview-status")).to_contain_text(
        re.compile(r"Playing master 10\.00 s and dub 10\.23\d s \(offset \+23\d\.\d+ ms applied\)"))
    page.click("#preview-stop")
    page.screenshot(path=SHOTS / "04_analysis_result.png", full_page=True)

    # --- an invalid request is explained in words -------------------------------------------
    page.fill("#dub-file", "show/missing_dub.wav")
    page.click("#start-analysis")
    error = page.locator("#form-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("missing_dub.wav")
    assert "does not exist" in error.inner_text() or "not found" in error.inner_text()
    page.screenshot(path=SHOTS / "05_invalid_request.png")

    # --- the batch queue survives a reload, then runs ---------------------------------------
    page.click("#tab-btn-batch")
    page.fill("#batch-master", "show/ep101_master.wav")
    page.fill("#batch-dub", "show/ep101_de.wav")
    page.fill("#batch-episode", "EP101 German")
    page.click("#batch-add-btn")
    expect(page.locator("#batch-table tbody tr", has_text="EP101 German")).to_be_visible()
    csv = b"master_file,dub_file,episode_name,methods\nshow/ep101_master.wav,show/ep101_fr.flac," \
          b"EP101 French,correlation|onset\n"
    page.set_input_files("#batch-csv", files=[{"name": "season.csv", "mimeType": "text/csv",
                                               "buffer": csv}])
    expect(page.locator("#batch-table tbody tr", has_text="EP101 French")).to_be_visible()
    page.fill("#batch-master", "show/ep101_master.wav")
    page.fill("#batch-dub", "../outside.wav")
    page.click("#batch-add-btn")
    expect(page.locator("#batch-error")).to_be_visible()       # refused by the server, in words
    assert page.locator("#batch-table tbody tr").count() == 2

    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#tab-batch")).to_be_visible()
    rows = page.locator("#batch-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("EP101 German")
    expect(rows.nth(1)).to_contain_text("EP101 French")
    expect(page.locator("#batch-saved")).to_contain_text("restored")

    page.click("#batch-start")
    expect(rows.nth(0)).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(rows.nth(1)).to_have_attribute("data-status", "completed", timeout=60_000)
    fr_ms = _number(rows.nth(1).locator("td").nth(5).inner_text())
    assert abs(fr_ms - DUBS["dub_early.flac"] * 1000) < 1.0, fr_ms
    page.screenshot(path=SHOTS / "06_batch_queue.png")

    # --- health -----------------------------------------------------------------------------
    page.click("#tab-btn-health")
    expect(page.locator("#health .hcard")).to_have_count(6)
    expect(page.locator("#health")).to_contain_text("ffmpeg version")
    page.screenshot(path=SHOTS / "07_health.png")
