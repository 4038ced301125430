"""JobRepository (on analyses): conditional transitions that two instances can never both win."""

from __future__ import annotations

import threading
from datetime import UTC
from pathlib import Path

import pytest

from app.db.models import AnalysisRow, JobStatus, utcnow
from app.db.repository import AnalysisRepository, Database

PROGRESS = ("refine", 0.8, "refining", 3, 10, {"offset_seconds": 0.1, "confidence": 0.9})


def row(aid: str, *, master: str = "m.wav", dub: str = "d.wav", status: str = "queued",
        owner: str | None = "me") -> AnalysisRow:
    now = utcnow()
    return AnalysisRow(id=aid, status=status, master_file=f"/x/{master}", dub_file=f"/x/{dub}",
                       master_name=master, dub_name=dub, request={"label": None}, owner=owner,
                       created_at=now, updated_at=now)


@pytest.fixture
def repo(tmp_path: Path) -> AnalysisRepository:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    db.create_all()
    yield AnalysisRepository(db)
    db.dispose()


class TestTransitions:
    def test_only_one_claim_wins(self, repo: AnalysisRepository) -> None:
        repo.add_many([row("a")])
        wins: list[str] = []
        barrier = threading.Barrier(8)

        def claim(i: int) -> None:
            barrier.wait()
            if repo.claim("a", f"owner{i}") is not None:
                wins.append(f"owner{i}")

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1
        got = repo.get("a")
        assert got is not None and got.status == "running" and got.owner == wins[0]
        assert got.attempts == 1 and got.started_at is not None

    def test_progress_finish_and_cancel_are_conditional(self, repo: AnalysisRepository) -> None:
        repo.add_many([row("a"), row("b")])
        assert repo.claim("a", "me") is not None
        assert repo.update("a", "me", PROGRESS) is True  # keep going
        assert repo.update("a", "other", PROGRESS) is False  # not its job: stop
        assert not repo.finish("a", "other", JobStatus.COMPLETED, progress=PROGRESS)
        assert repo.request_cancel("a")
        assert repo.update("a", "me", PROGRESS) is False
        assert repo.finish("a", "me", JobStatus.CANCELLED, progress=PROGRESS,
                           error={"code": "cancelled", "message": "x", "details": None})
        assert not repo.finish("a", "me", JobStatus.COMPLETED, progress=PROGRESS)
        assert not repo.cancel("a", JobStatus.QUEUED) and not repo.cancel("a", JobStatus.RUNNING)
        assert repo.cancel("b", JobStatus.QUEUED) and repo.claim("b", "me") is None
        a = repo.get("a")
        assert a is not None and a.progress_estimate == PROGRESS[5]
        assert a.finished_at is not None and a.finished_at.tzinfo is UTC

    def test_requeue_refunds_the_attempt(self, repo: AnalysisRepository) -> None:
        repo.add_many([row("a")])
        repo.claim("a", "me")
        assert not repo.requeue("a", "other", expected_status="running", new_owner="x",
                                message="m")
        assert repo.requeue("a", "me", expected_status="running", new_owner="me",
                            message="back", refund_attempt=True)
        a = repo.get("a")
        assert a is not None and (a.status, a.attempts, a.started_at) == ("queued", 0, None)


class TestList:
    def test_filters(self, repo: AnalysisRepository) -> None:
        repo.add_many([row("a", master="Ep1_master.wav", dub="ep1_DE.wav"),
                       row("b", master="ep2_master.wav", dub="ep2_100%.wav", status="completed"),
                       row("c", master="ep3.wav", dub="ep3_fr.wav", status="failed")])
        assert repo.search()[1] == 3
        assert [r.id for r in repo.search(file="EP1")[0]] == ["a"]
        assert [r.id for r in repo.search(file="100%")[0]] == ["b"]
        assert repo.search(file="_")[1] == 3 and repo.search(file="%x")[1] == 0
        assert {r.id for r in repo.search(statuses=["completed", "failed"])[0]} == {"b", "c"}
        rows, total = repo.search(limit=1, offset=1)
        assert total == 3 and len(rows) == 1
        assert repo.count_by_status() == {"queued": 1, "completed": 1, "failed": 1}
