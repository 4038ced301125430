"""Structured logs: the analysis id on every line of its work (JSON lines or key=value), and
LOG_FILE rotation (LOG_MAX_BYTES, LOG_BACKUP_COUNT)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from app.core.config import Settings
from app.core.logging import in_context, log_context
from tests.api.helpers import running_app, wait_status

GOOD = {"master_file": "master.wav", "dub_file": "dub_late.wav", "methods": ["correlation"]}


class TestStructuredLogs:
    async def test_json_lines_carry_the_analysis_id(
            self, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
        log = tmp_path / "app.log"
        settings = make_settings(LOG_FORMAT="json", LOG_FILE=log, LOG_LEVEL="DEBUG")
        async with running_app(settings) as (_, client):
            ids = [(await client.post("/api/v1/analysis/sync", json=GOOD)).json()["analysis_id"]
                   for _ in range(2)]
            for aid in ids:
                assert (await wait_status(client, aid))["status"] == "completed"
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        assert {"ts", "level", "logger", "thread", "msg"} <= set(entries[0])
        for aid in ids:
            mine = [e for e in entries if e.get("analysis_id") == aid]
            assert any("running" in e["msg"] for e in mine)
            assert any("completed" in e["msg"] for e in mine)
            # every line naming it, from whatever thread, carries it (and no other id)
            for e in entries:
                if aid in e["msg"] and e["thread"].startswith("analysis-worker"):
                    assert e.get("analysis_id") == aid, e
        workers = [e for e in entries if e["thread"].startswith("analysis-worker")]
        assert workers and all(e.get("analysis_id") in ids for e in workers)

    async def test_key_value_lines(self, make_settings: Callable[..., Settings],
                                   tmp_path: Path) -> None:
        log = tmp_path / "kv.log"
        async with running_app(make_settings(LOG_FILE=log, LOG_LEVEL="INFO")) as (_, client):
            aid = (await client.post("/api/v1/analysis/sync", json=GOOD)).json()["analysis_id"]
            await wait_status(client, aid)
        lines = [ln for ln in log.read_text().splitlines() if f"analysis_id={aid}" in ln]
        assert lines and all(ln.startswith("ts=") and " level=" in ln and ' msg="' in ln
                             for ln in lines)

    def test_context_follows_into_threads_started_with_in_context(self) -> None:
        seen: list[str | None] = []

        def work() -> None:
            record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "m", None, None)
            from app.core.logging import ContextFilter

            ContextFilter().filter(record)
            seen.append(record.context.get("analysis_id"))  # type: ignore[attr-defined]

        with log_context(analysis_id="analysis_x"):
            plain = threading.Thread(target=work)
            bound = threading.Thread(target=in_context(work))
        for t in (plain, bound):
            t.start()
            t.join()
        assert seen == [None, "analysis_x"]


class TestRotation:
    async def test_log_file_rotates(self, make_settings: Callable[..., Settings],
                                    tmp_path: Path) -> None:
        log = tmp_path / "logs" / "app.log"
        settings = make_settings(LOG_FILE=log, LOG_LEVEL="DEBUG", LOG_MAX_BYTES=2048,
                                 LOG_BACKUP_COUNT=2)
        async with running_app(settings) as (_, client):
            for _ in range(3):
                aid = (await client.post("/api/v1/analysis/sync", json=GOOD)
                       ).json()["analysis_id"]
                await wait_status(client, aid)
            for i in range(60):  # ~15 kB: several rotations
                logging.getLogger("app.test").info("line %d %s", i, "x" * 100)
        files = sorted(p.name for p in log.parent.iterdir())
        assert files == ["app.log", "app.log.1", "app.log.2"], files
        for p in log.parent.iterdir():
            assert p.stat().st_size <= 2048
        assert "line 59" in log.read_text() + (log.parent / "app.log.1").read_text()


class TestKeysStayOutOfLogs:
    def test_access_log_redacts_query_keys(self, make_settings: Callable[..., Settings]
                                           ) -> None:
        from app.core.logging import configure_logging

        configure_logging(make_settings())
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                                   '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET",
                                   "/api/v1/analysis/a/progress/stream?api_key=s3cret-key&x=1",
                                   "1.1", 200), None)
        assert logging.getLogger("uvicorn.access").filter(record)
        line = record.getMessage()
        assert "s3cret-key" not in line and "api_key=***&x=1" in line
