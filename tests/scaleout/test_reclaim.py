"""A worker given a task again (its first worker died) re-claims the analysis on PostgreSQL only
when its owner is dead, and at most JOB_MAX_ATTEMPTS runs in all; a live owner keeps it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete

from app.db.jobs import InstanceRepository
from app.db.models import AnalysisRow, InstanceRow, utcnow
from app.db.repository import AnalysisRepository, Database
from app.jobs.events import EventBus
from app.services.analysis import AnalysisService, new_analysis_id
from tests.scaleout.conftest import Cluster


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def seeded(cluster: Cluster) -> Iterator[tuple[AnalysisService, AnalysisRepository,
                                               dict[str, str]]]:
    """Analyses left running by a dead worker (runs 1 and 2), by a live one, and by the
    service's own instance id while it runs nothing; removed afterwards."""
    settings = cluster.settings(JOB_MAX_ATTEMPTS=2)
    db = Database(settings.DATABASE_URL)
    db.create_all()
    repo = AnalysisRepository(db)
    service = AnalysisService(settings, repo, EventBus(asyncio.new_event_loop()))
    host, token = socket.gethostname(), os.urandom(3).hex()
    dead, alive = f"w9@{host}:dead:{token}", f"w8@{host}:alive:{token}"
    InstanceRepository(db).register(dead, host, _dead_pid())
    InstanceRepository(db).register(alive, host, os.getpid())  # this test process: alive
    media = str(cluster.media)
    ids = {k: f"{new_analysis_id()}_{k}" for k in ("first", "last", "live", "own")}

    def row(key: str, owner: str, attempts: int) -> AnalysisRow:
        request: dict[str, Any] = {
            "master_file": "master.wav", "dub_file": "dub_late.wav",
            "master_path": f"{media}/master.wav", "dub_path": f"{media}/dub_late.wav",
            "methods": ["correlation"], "enable_ai": False, "ai_model": None,
            "sample_rate": 16000, "window_size": None, "confidence_threshold": 0.5,
            "max_offset_seconds": 10.0, "master_stream": 0, "dub_stream": 0,
            "master_channel": None, "dub_channel": None, "label": key}
        now = utcnow()
        return AnalysisRow(id=ids[key], status="running", master_file=request["master_path"],
                           dub_file=request["dub_path"], master_name="master.wav",
                           dub_name="dub_late.wav", request=request, owner=owner,
                           attempts=attempts, created_at=now, updated_at=now, started_at=now,
                           progress_stage="refine")

    repo.add_many([row("first", dead, 1), row("last", dead, 2), row("live", alive, 1),
                   row("own", service.instance_id, 1)])
    try:
        yield service, repo, ids
    finally:
        with db.sessions.begin() as s:
            s.execute(delete(AnalysisRow).where(AnalysisRow.id.in_(list(ids.values()))))
            s.execute(delete(InstanceRow).where(InstanceRow.id.in_([dead, alive])))
        db.dispose()


class TestAdoptOrphan:
    def test_dead_owner_reclaimed_within_max_attempts(
            self, seeded: tuple[AnalysisService, AnalysisRepository, dict[str, str]]) -> None:
        service, repo, ids = seeded
        assert service.jobs.adopt_orphan(ids["first"], running_here=False) == "requeued"
        claimed = repo.claim(ids["first"], service.instance_id)
        assert claimed is not None and claimed.attempts == 2
        assert claimed.owner == service.instance_id
        # a second copy of the task finds it running for a live owner: left alone
        assert service.jobs.adopt_orphan(ids["first"], running_here=True) is None

        assert service.jobs.adopt_orphan(ids["last"], running_here=False) == "interrupted"
        last = repo.get(ids["last"])
        assert last is not None and last.status == "interrupted"
        assert last.error is not None and last.error["code"] == "interrupted"
        assert "not re-run" in last.error["message"]

    def test_live_owner_kept_own_leftover_reclaimed(
            self, seeded: tuple[AnalysisService, AnalysisRepository, dict[str, str]]) -> None:
        service, repo, ids = seeded
        assert service.jobs.adopt_orphan(ids["live"], running_here=False) is None
        live = repo.get(ids["live"])
        assert live is not None and live.status == "running" and live.attempts == 1
        # marked running by this very instance, which does not run it (an earlier try failed)
        assert service.jobs.adopt_orphan(ids["own"], running_here=False) == "requeued"
        assert repo.claim(ids["own"], service.instance_id) is not None
