"""Crash safety: SIGKILL the server while analyses, a CSV batch and a workflow run, restart it on
the same database: every job is accounted for (completed after a re-run, or cancelled by us),
SQLite's integrity check passes, and no partial file is offered as a result.

(tests/api/test_restart.py covers the analyses' re-run and graceful shutdown; this adds the
batch, the workflow, the database and the output files.)
"""

from __future__ import annotations

import functools
import io
import json
import sqlite3
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from app.core.config import Settings
from tests.api.helpers import TERMINAL, UvicornProcess
from tests.conftest import DUBS

CSV = ("master_file,dub_file,methods\n"
       "master.wav,dub_late.wav,correlation\n"
       "master.wav,dub_early.flac,correlation\n"
       "master.wav,dub_late2.wav,correlation\n")


def _integrity(settings: Settings) -> str:
    db = settings.sqlite_path
    assert db is not None
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _submit_everything(c: httpx.Client, long_media: Path) -> dict[str, Any]:
    """A long analysis (running), short ones and a started CSV batch (queued behind it on the
    single worker), and a workflow (its own runner): then wait until the workflow runs."""
    long_id = c.post("/api/v1/analysis/sync", json={
        "master_file": long_media.name, "dub_file": long_media.name,
        "methods": ["correlation"]}).json()["analysis_id"]
    short = [c.post("/api/v1/analysis/sync", json={
        "master_file": "master.wav", "dub_file": dub, "methods": ["correlation"]}
                    ).json()["analysis_id"] for dub in ("dub_late.wav", "dub_early.flac")]
    batch = c.post("/api/v1/analysis/batch/upload-csv", content=CSV,
                   headers={"content-type": "text/csv"}).json()
    started = c.post(f"/api/v1/analysis/batch/{batch['batch_id']}/start")
    assert started.status_code == 202, started.text
    workflow_id = c.post("/api/v1/workflows/analyze-and-repair", json={
        "master_file": "master.wav", "dub_file": "dub_late.wav", "min_confidence": 0.0}
                         ).json()["workflow_id"]
    _until(lambda: c.get(f"/api/v1/analysis/{long_id}").json()["status"] == "running", 30,
           "the long analysis to run")
    _until(lambda: c.get(f"/api/v1/workflows/{workflow_id}/status").json()["status"]
           == "running", 30, "the workflow to run")
    return {"long": long_id, "short": short, "batch": batch["batch_id"],
            "workflow": workflow_id}


class TestSigkill:
    def test_everything_is_accounted_for(self, make_settings: Callable[..., Settings],
                                         long_media: Path, tmp_path: Path) -> None:
        settings = make_settings(MAX_WORKERS=1, JOB_MAX_ATTEMPTS=2)
        first = UvicornProcess(settings, cwd=tmp_path, log=tmp_path / "first.log")
        try:
            first.wait_ready()
            with httpx.Client(base_url=first.base_url, timeout=30) as c:
                jobs = _submit_everything(c, long_media)
        finally:
            first.kill()
        assert _integrity(settings) == "ok"

        second = UvicornProcess(make_settings(MAX_WORKERS=2, JOB_MAX_ATTEMPTS=2),
                                cwd=tmp_path, log=tmp_path / "second.log")
        try:
            second.wait_ready()
            with httpx.Client(base_url=second.base_url, timeout=30) as c:
                self._check_after_restart(c, jobs, settings)
        finally:
            second.stop()
        assert _integrity(settings) == "ok"

    def _check_after_restart(self, c: httpx.Client, jobs: dict[str, Any],
                             settings: Settings) -> None:
        # the running analysis is run again (its second run), then we stop it
        rerun = _until(lambda: (b := c.get(f"/api/v1/analysis/{jobs['long']}").json())[
            "status"] == "running" and b["attempts"] == 2 and b, 30, "the long re-run")
        assert rerun["attempts"] == 2
        assert c.delete(f"/api/v1/analysis/{jobs['long']}").json()["status"] == "cancelled"

        # queued analyses and the batch's items complete with the right offsets
        def batch_done() -> dict[str, Any] | None:
            b: dict[str, Any] = c.get(f"/api/v1/analysis/batch/{jobs['batch']}/status").json()
            return b if b["totals"]["finished"] == b["totals"]["items"] else None

        batch = _until(batch_done, 90, "the batch")
        assert batch["totals"]["completed"] == 3, batch["totals"]
        for item in batch["items"]:
            assert abs(item["offset_seconds"] - DUBS[Path(item["dub_file"]).name]) < 0.001
        def finished(analysis_id: str) -> dict[str, Any] | None:
            body: dict[str, Any] = c.get(f"/api/v1/analysis/{analysis_id}").json()
            return body if body["status"] in TERMINAL else None

        for aid in jobs["short"]:
            body = _until(functools.partial(finished, aid), 60, aid)
            assert body["status"] == "completed", body
        listed = {a["analysis_id"] for a in c.get("/api/v1/analysis",
                                                   params={"limit": 100}).json()["items"]}
        assert {jobs["long"], *jobs["short"]} <= listed
        assert all(item["analysis_id"] in listed for item in batch["items"])

        # the workflow re-ran from the start; every file it offers is whole
        wf = _until(lambda: (w := c.get(f"/api/v1/workflows/{jobs['workflow']}/status"
                                        ).json())["status"] in TERMINAL and w, 120,
                    "the workflow")
        assert wf["status"] == "completed", wf
        assert wf["attempts"] == 2
        folder = settings.output_root / "workflows" / jobs["workflow"]
        leftovers = [p.name for p in folder.rglob("*") if ".partial" in p.name]
        assert not leftovers, leftovers
        for kind in wf["files"]:
            r = c.get(f"/api/v1/workflows/{jobs['workflow']}/download/{kind}")
            assert r.status_code == 200, (kind, r.text)
            name = r.headers["content-disposition"]
            assert ".partial" not in name
            if name.rstrip('"').endswith(".zip"):
                with zipfile.ZipFile(io.BytesIO(r.content)) as z:
                    assert z.testzip() is None
            elif name.rstrip('"').endswith(".json"):
                assert json.loads(r.content)["workflow_id"] == jobs["workflow"]
