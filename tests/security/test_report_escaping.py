"""Hostile user text (episode names, labels, file paths) through every report format, over the
real API: analysis reports (JSON, text, Markdown, HTML), workflow reports (Markdown, HTML, the
copies inside the ZIP package) and the batch results CSV. The text must come out escaped (no
raw HTML, heading, list, link, image or broken table; no spreadsheet formula) and still
recognisable."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.core.config import Settings
from app.services.text_safety import csv_cell, md_text, one_line
from tests.api.helpers import TERMINAL, running_app, wait_status
from tests.conftest import write_audio

SR = 16_000
SECONDS = 20.0  # the workflow finds a reliable match (and repairs) from about 20 s
OFFSET = 0.12  # the dub is late by this much

SCRIPT = "<script>alert(1)</script>"
HEADING_LINK = "# Heading\n\n[x](javascript:alert(1))"
TABLE = "| a | b |"
IMAGE = "![img](http://evil/x.png)"
FORMULA = "=cmd|' /C calc'!A0"
MULTILINE = "EP1\r\n## Injected\n- item\n> quote\n1. first\n<img src=x onerror=alert(1)>"
MIXED = "`tick` ``` **bold** _em_ ~~s~~ {: onclick=alert(1)} &lt; \\| \u202eevil"

#: (label or episode name, master path, dub path); paths are relative to MOUNT_PATH, a "/"
#: makes folders (no "//": a path is normalised)
CASES = {
    "script-heading": (SCRIPT + "\n" + HEADING_LINK + " " + IMAGE,
                       "<script>alert(1)</script> master.wav",
                       "# Heading\n\n[x](javascript:alert(1)).wav"),
    "table-formula": (TABLE + "\n" + FORMULA + "\n" + MIXED,
                      "| a | b |\n- item.wav",
                      "=cmd|' /C calc'!A0 ![img](x.png).wav"),
    "no-label": (None,  # the title falls back to the dub's name
                 "+list/@at master.wav",
                 MULTILINE.replace("\r\n", "\n") + ".wav"),
}
#: what would be markup if it were not escaped
HOSTILE_LINE_STARTS = ("#", "-", "+", "*", ">", "<", "=", "[", "!", "`", "~", "{")


# --- media -------------------------------------------------------------------------------------
def _media(root: Path, master: str, dub: str) -> None:
    rng = np.random.default_rng(5)
    n = int(SECONDS * SR)
    block = SR // 10
    envelope = np.repeat(rng.uniform(0.05, 1.0, n // block + 1), block)[:n]
    x = (0.25 * rng.standard_normal(n) * envelope).astype(np.float32)
    lag = int(OFFSET * SR)
    y = (0.8 * np.concatenate([np.zeros(lag, np.float32), x])[:n]
         + 0.01 * rng.standard_normal(n)).astype(np.float32)
    for name, audio in ((master, x), (dub, y)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_audio(root / name, audio, sample_rate=SR)


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path: Path,
         make_settings: Callable[..., Settings]) -> tuple[Settings, str | None, str, str]:
    label, master, dub = CASES[request.param]
    mount = tmp_path / "mount"
    mount.mkdir()
    _media(mount, master, dub)
    return make_settings(MOUNT_PATH=mount), label, master, dub


# --- checks ------------------------------------------------------------------------------------
def _flat(text: str) -> str:
    """How the text must read once escaped: on one line, runs of spaces as one."""
    return re.sub(r"\s+", " ", one_line(text)).strip()


def _md_plain(md: str) -> str:
    """The Markdown's text as a reader sees it (backslash escapes and entities undone)."""
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", md)
    return re.sub(r"\s+", " ", html.unescape(text))


def _bare_pipes(line: str) -> int:
    """The ``|`` of a table row that separate cells (an escaped ``\\|`` does not)."""
    return sum(1 for tok in re.findall(r"\\.|\|", line) if tok == "|")


def check_markdown(md: str, user: list[str], headings: set[str]) -> None:
    assert "<script" not in md.lower()
    assert not re.search(r"<[A-Za-z/!?]", md), "raw HTML in the Markdown"
    assert "](javascript:" not in md and "](http" not in md
    lines = md.splitlines()
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith("#"):
            assert stripped in headings or stripped.startswith("# Sync report"), line
        elif stripped.startswith("!["):
            assert re.fullmatch(r"!\[[\w\\.]+\]\(plots/[\w.]+\)", stripped), line
        else:
            assert not stripped.startswith(HOSTILE_LINE_STARTS), line
            assert not re.match(r"\d+[.)]", stripped), line
        # every unescaped "](" is a plot of ours
        for m in re.finditer(r"(?<!\\)\]\(", line):
            assert line[m.end():].startswith("plots/"), line
    assert sum(1 for line in lines if line.startswith("# ")) == 1
    # each table keeps its columns
    block: list[str] = []
    for line in [*lines, ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            counts = {_bare_pipes(row) for row in block}
            assert len(counts) == 1, block
            block = []
    plain = _md_plain(md)
    for text in user:
        assert _flat(text) in plain, (text, plain)
    _check_rendered(md, user, headings)


def _check_rendered(md: str, user: list[str], headings: set[str]) -> None:
    """Rendered by a CommonMark + tables renderer with raw HTML allowed (the worst case)."""
    markdown_it = pytest.importorskip("markdown_it")
    page = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert "<script" not in page.lower() and "<a " not in page and "<li" not in page
    assert "<blockquote" not in page and "<em>" not in page and "<hr" not in page
    assert not re.search(r"<img (?!src=\"plots/)", page)
    assert page.count("<h1>") == 1
    assert page.count("<h2>") == sum(1 for h in headings if h.startswith("## ") and h in md)
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", page)))
    for t in user:
        assert _flat(t) in text, (t, text)


def check_html(page: str, user: list[str]) -> None:
    assert "<script" not in page.lower() and "<a " not in page and "href" not in page
    # images: the workflow report's plots/ files, the analysis report's inline PNG plots
    assert not re.search(r"<img (?!src='plots/|src=\"data:image/png;base64,[A-Za-z0-9+/=]+\" )",
                         page)
    assert "onerror=alert" not in page or "&lt;img src=x onerror=alert" in page
    for text in user:
        assert html.escape(text) in page, text


def check_text(body: str, user: list[str]) -> None:
    for line in body.splitlines():
        assert not line.lstrip().startswith(("# Heading", "## Injected", "- item", "[x]",
                                             "<img", "> quote", "1. first", "=cmd")), line
    for text in user:
        assert one_line(text) in body, text


ANALYSIS_HEADINGS = {f"## {md_text(t)}" for t in (
    "Verdict", "QC", "Offset (> 0 = dub late)", "Confidence", "Offset along the programme",
    "Methods", "Findings", "Files", "Analysis")}
WORKFLOW_HEADINGS = {"## Edits", "## Channels", "## Plots"}


# --- the helpers themselves --------------------------------------------------------------------
class TestHelpers:
    @pytest.mark.parametrize("text", [SCRIPT, HEADING_LINK, TABLE, IMAGE, FORMULA, MULTILINE,
                                      MIXED])
    def test_md_text(self, text: str) -> None:
        out = md_text(text)
        assert "\n" not in out and "\r" not in out and "\u202e" not in out
        assert _bare_pipes(out) == 0 and "<" not in out and "](" not in out
        assert not out.startswith(HOSTILE_LINE_STARTS)
        check_markdown(f"# Sync report: {out}\n\n{out}\n\n| | |\n|---|---|\n| {out} | {out} |"
                       "\n", [text], set())

    def test_csv_cell(self) -> None:
        for bad in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", FORMULA):
            assert csv_cell(bad) == "'" + bad
        assert csv_cell("EP1 German") == "EP1 German"


# --- analysis reports --------------------------------------------------------------------------
async def _analyse(client: httpx.AsyncClient, label: str | None, master: str, dub: str) -> str:
    r = await client.post("/api/v1/analysis/sync", json={
        "master_file": master, "dub_file": dub, "methods": ["correlation"], "label": label})
    assert r.status_code == 202, r.text
    done = await wait_status(client, r.json()["analysis_id"])
    assert done["status"] == "completed", done
    return str(done["analysis_id"])


class TestAnalysisReports:
    async def test_every_format_escapes_user_text(
            self, case: tuple[Settings, str | None, str, str]) -> None:
        settings, label, master, dub = case
        user = [label or Path(dub).name, master, dub]
        async with running_app(settings) as (_, client):
            aid = await _analyse(client, label, master, dub)
            base = f"/api/v1/reports/{aid}"

            report = (await client.get(base)).json()  # JSON is data: the text as given
            assert report["analysis"]["label"] == label
            assert report["inputs"]["dub"]["path"].endswith(dub)

            md = await client.get(f"{base}/formatted", params={"format": "markdown"})
            assert md.status_code == 200 and md.headers["content-type"].startswith(
                "text/markdown")
            check_markdown(md.text, user, ANALYSIS_HEADINGS)

            page = await client.get(f"{base}/formatted", params={"format": "html"})
            assert page.status_code == 200
            check_html(page.text, user)

            text = await client.get(f"{base}/formatted", params={"format": "text"})
            assert text.status_code == 200
            check_text(text.text, user)


# --- workflow reports and package --------------------------------------------------------------
async def _workflow(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/workflows/analyze-and-repair", json=body)
    assert r.status_code == 202, r.text
    wid = r.json()["workflow_id"]
    deadline = time.monotonic() + 120
    while True:
        status = (await client.get(f"/api/v1/workflows/{wid}/status")).json()
        if status["status"] in TERMINAL:
            assert status["status"] == "completed", status
            return status  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.1)


class TestWorkflowReports:
    async def test_markdown_html_and_package_escape_user_text(
            self, case: tuple[Settings, str | None, str, str]) -> None:
        settings, episode, master, dub = case
        user = [episode or Path(dub).name, master, dub]
        async with running_app(settings) as (_, client):
            for fmt, name in (("markdown", "report.md"), ("html", "report.html")):
                wf = await _workflow(client, master_file=master, dub_file=dub,
                                     episode_name=episode, report_format=fmt)
                assert wf["outcome"] == "repaired", (wf["decision"], wf["result"])
                formatted = await client.get(wf["files"]["formatted"])
                assert formatted.status_code == 200
                package = await client.get(wf["files"]["package"])
                assert package.status_code == 200
                zipped = zipfile.ZipFile(io.BytesIO(package.content))
                assert all("\n" not in n and ".." not in n for n in zipped.namelist())
                inside = zipped.read(name).decode()
                assert inside == formatted.text
                for body in (formatted.text, inside):
                    if fmt == "markdown":
                        check_markdown(body, user, WORKFLOW_HEADINGS)
                    else:
                        check_html(body, user)
                # the workflow's analysis report carries the episode name as its label
                md = await client.get(f"{wf['links']['report']}/formatted",
                                      params={"format": "markdown"})
                check_markdown(md.text, user, ANALYSIS_HEADINGS)


# --- batch results CSV -------------------------------------------------------------------------
class TestBatchCsv:
    async def test_formula_cells_are_neutralised(
            self, case: tuple[Settings, str | None, str, str]) -> None:
        settings, label, master, dub = case
        episode = label or FORMULA
        async with running_app(settings) as (_, client):
            r = await client.post("/api/v1/analysis/batch", json={"items": [
                {"master_file": master, "dub_file": dub, "methods": ["correlation"],
                 "label": episode}]})
            assert r.status_code in (201, 202), r.text
            batch_id = r.json()["batch_id"]
            deadline = time.monotonic() + 60
            while (await client.get(f"/api/v1/analysis/batch/{batch_id}/status")
                   ).json()["status"] != "completed":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            r = await client.get(f"/api/v1/analysis/batch/{batch_id}/results",
                                 params={"format": "csv"})
            assert r.status_code == 200, r.text
            rows = list(csv.DictReader(io.StringIO(r.text, newline="")))
            assert len(rows) == 1
            row = rows[0]
            for column, value in (("episode_name", episode), ("master_file", master),
                                  ("dub_file", dub)):
                assert row[column] == csv_cell(value), column
                assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), column
