"""The evidence through the real app: ``GET /api/v1/reports/{id}/plots/{name}`` (PNG), the HTML
report with its QC verdict, tables and plots inline, and the analyse-and-repair package with
its envelope plot and QC."""

from __future__ import annotations

import asyncio
import io
import re
import time
import zipfile
from collections.abc import Callable

import httpx

from app.core.config import Settings
from tests.api.helpers import running_app, wait_status

PNG = b"\x89PNG\r\n\x1a\n"


async def _analyse(client: httpx.AsyncClient, dub: str) -> str:
    r = await client.post("/api/v1/analysis/sync", json={
        "master_file": "master.wav", "dub_file": dub, "methods": ["correlation", "onset"]})
    assert r.status_code == 202, r.text
    done = await wait_status(client, r.json()["analysis_id"])
    assert done["status"] == "completed", done
    return str(done["analysis_id"])


async def test_plots_and_html_report(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    async with running_app(settings) as (_, client):
        aid = await _analyse(client, "dub_late.wav")
        base = f"/api/v1/reports/{aid}"
        for name in ("timeline", "envelope"):
            r = await client.get(f"{base}/plots/{name}", params={"fps": "25"})
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "image/png" and r.content[:8] == PNG
        assert list((settings.output_root / "plots" / aid).glob("timeline_*.png"))  # cached
        r = await client.get(f"{base}/plots/windows")
        assert r.status_code == 404 and r.json()["error"]["code"] == "plot_not_available"
        r = await client.get(f"{base}/plots/other")
        assert r.status_code == 422
        r = await client.get("/api/v1/reports/analysis_20250101_120000_1a2b3c4d/plots/timeline")
        assert r.status_code == 404

        report = (await client.get(base)).json()
        assert report["qc"]["status"] == "FAIL" and report["qc"]["max_abs_offset_ms"] == 234.5
        page = (await client.get(f"{base}/formatted", params={"format": "html"})).text
        assert "<h2>QC</h2>\n<p>FAIL: " in page  # the head of the 30-s dub lies before it
        assert "dub 234.5 ms late throughout, over the late limit of 40.0 ms" in page
        assert "<th>Worst offset</th><td>+234.5 ms" in page
        assert "<th>Tolerance</th><td>one_frame at 25 fps: audio at most 40.0 ms early" in page
        images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
        assert len(images) == 2, "the timeline and envelope plots, inline"
        assert "<table>" in page and "<h2>Methods</h2>" in page  # tables and plots both
        text = (await client.get(f"{base}/formatted", params={"format": "text"})).text
        assert "\nQC\n--\nFAIL: " in text and "data:image" not in text


async def test_repair_package_holds_the_evidence(make_settings: Callable[..., Settings]
                                                 ) -> None:
    async with running_app(make_settings()) as (_, client):
        r = await client.post("/api/v1/workflows/analyze-and-repair", json={
            "master_file": "master.wav", "dub_file": "dub_late.wav", "episode_name": "EP1"})
        assert r.status_code == 202, r.text
        wid = r.json()["workflow_id"]
        deadline = time.monotonic() + 120
        while (body := (await client.get(f"/api/v1/workflows/{wid}/status")).json())[
                "status"] not in {"completed", "failed", "cancelled", "interrupted"}:
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.2)
        assert body["status"] == "completed", body
        package = zipfile.ZipFile(io.BytesIO((await client.get(body["files"]["package"]))
                                             .content))
        names = set(package.namelist())
        assert {"plots/correlation.png", "plots/timeline.png", "plots/envelope.png"} <= names
        assert package.read("plots/envelope.png")[:8] == PNG
        page = package.read("report.html").decode()
        assert "<th>QC</th><td>FAIL</td>" in page and "src='plots/envelope.png'" in page
