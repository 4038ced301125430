"""Start-up recovery: analyses of a dead instance are re-queued (running ones re-run) or,
after JOB_MAX_ATTEMPTS runs, marked interrupted; a live instance's work is left alone."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta

from app.core.config import Settings
from app.db.jobs import InstanceRepository
from app.db.models import AnalysisRow, InstanceRow, utcnow
from app.db.repository import AnalysisRepository, Database
from tests.api.helpers import running_app, wait_status
from tests.conftest import DUBS


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _seed(settings: Settings, media: str) -> None:
    """What a crash leaves: rows queued/running for instances that no longer run."""
    settings.ensure_directories()
    db = Database(settings.DATABASE_URL)
    db.create_all()
    repo = AnalysisRepository(db)
    import socket

    host = socket.gethostname()
    old = utcnow() - timedelta(minutes=10)
    InstanceRepository(db).register("dead-here", host, _dead_pid())
    InstanceRepository(db).register("alive-elsewhere", "other-host", 1)
    InstanceRepository(db).register("stale-elsewhere", "other-host", 2)
    with db.sessions.begin() as s:
        s.get(InstanceRow, "stale-elsewhere").heartbeat_at = old  # type: ignore[union-attr]

    def analysis(aid: str, status: str, owner: str | None, attempts: int) -> AnalysisRow:
        now = utcnow()
        request = {"master_file": "master.wav", "dub_file": "dub_late.wav",
                   "master_path": f"{media}/master.wav", "dub_path": f"{media}/dub_late.wav",
                   "methods": ["correlation"], "enable_ai": False, "ai_model": None,
                   "sample_rate": 16000, "window_size": 10.0, "confidence_threshold": 0.5,
                   "max_offset_seconds": 10.0, "master_stream": 0, "dub_stream": 0,
                   "master_channel": None, "dub_channel": None, "label": aid}
        return AnalysisRow(id=aid, status=status, master_file=request["master_path"],
                           dub_file=request["dub_path"], master_name="master.wav",
                           dub_name="dub_late.wav", request=request, owner=owner,
                           attempts=attempts, created_at=now, updated_at=now,
                           started_at=now if status == "running" else None,
                           progress_stage="refine" if status == "running" else "queued")

    repo.add_many([
        analysis("analysis_20250101_000000_0000000a", "queued", "dead-here", 0),
        analysis("analysis_20250101_000000_0000000b", "running", "dead-here", 1),
        analysis("analysis_20250101_000000_0000000c", "running", "dead-here", 2),
        analysis("analysis_20250101_000000_0000000d", "running", "alive-elsewhere", 1),
        analysis("analysis_20250101_000000_0000000e", "running", "stale-elsewhere", 1),
        analysis("analysis_20250101_000000_0000000f", "queued", "never-registered", 0),
    ])
    db.dispose()


class TestRecovery:
    async def test_crash_leftovers(self, make_settings: Callable[..., Settings]) -> None:
        settings = make_settings(JOB_MAX_ATTEMPTS=2, INSTANCE_STALE_SECONDS=120)
        _seed(settings, str(settings.mount_root))
        async with running_app(settings) as (_, client):
            ids = {k: f"analysis_20250101_000000_0000000{k}" for k in "abcdef"}
            for key in "abef":  # queued again (running ones re-run) and completed
                done = await wait_status(client, ids[key])
                assert done["status"] == "completed", (key, done)
                assert abs(done["result"]["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001
            assert (await client.get(f"/api/v1/analysis/{ids['b']}")).json()["attempts"] == 2
            assert (await client.get(f"/api/v1/analysis/{ids['a']}")).json()["attempts"] == 1

            c = (await client.get(f"/api/v1/analysis/{ids['c']}")).json()
            assert c["status"] == "interrupted"
            assert c["error"]["code"] == "interrupted" and "not re-run" in c["error"]["message"]
            assert c["finished_at"] is not None

            d = (await client.get(f"/api/v1/analysis/{ids['d']}")).json()
            assert d["status"] == "running" and d["attempts"] == 1  # its owner is alive

            events = (await client.get(f"/api/v1/analysis/{ids['c']}/progress/stream")).text
            assert "event: interrupted" in events
