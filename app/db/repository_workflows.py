"""Queries and state transitions of workflows (table in ``models_workflows``).

Like analyses, every transition is one conditional UPDATE, so two instances sharing a database
never both claim or finish the same workflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update

from app.db.models import JobStatus, utcnow
from app.db.models_workflows import WorkflowRow
from app.db.repository import Database, _retry_locked, _rowcount

__all__ = ["WorkflowRepository"]


class WorkflowRepository:
    """Workflow rows: add, claim, progress, finish, requeue, list, delete."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, workflow_id: str) -> WorkflowRow | None:
        with self.db.sessions() as s:
            return s.get(WorkflowRow, workflow_id)

    def search(self, *, statuses: Sequence[str] = (), limit: int = 50, offset: int = 0
               ) -> tuple[list[WorkflowRow], int]:
        """A page of workflows, newest first, and the total matching."""
        with self.db.sessions() as s:
            query = select(WorkflowRow)
            count = select(func.count()).select_from(WorkflowRow)
            if statuses:
                query = query.where(WorkflowRow.status.in_(list(statuses)))
                count = count.where(WorkflowRow.status.in_(list(statuses)))
            total = int(s.execute(count).scalar_one())
            rows = s.execute(query.order_by(WorkflowRow.created_at.desc(),
                                            WorkflowRow.id.desc()).limit(limit).offset(offset))
            return list(rows.scalars().all()), total

    def unfinished(self) -> list[tuple[str, str, str | None, int]]:
        """(id, status, owner, attempts) of every queued or running workflow, oldest first."""
        with self.db.sessions() as s:
            rows = s.execute(
                select(WorkflowRow.id, WorkflowRow.status, WorkflowRow.owner,
                       WorkflowRow.attempts)
                .where(WorkflowRow.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                .order_by(WorkflowRow.created_at, WorkflowRow.id)).all()
            return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    @_retry_locked
    def add(self, row: WorkflowRow) -> None:
        with self.db.sessions.begin() as s:
            s.add(row)

    @_retry_locked
    def claim(self, workflow_id: str, owner: str) -> WorkflowRow | None:
        """queued → running for ``owner``; None when it is no longer queued."""
        now = utcnow()
        with self.db.sessions.begin() as s:
            return s.execute(
                update(WorkflowRow)
                .where(WorkflowRow.id == workflow_id, WorkflowRow.status == JobStatus.QUEUED)
                .values(status=JobStatus.RUNNING, owner=owner, attempts=WorkflowRow.attempts + 1,
                        started_at=now, updated_at=now, stage="starting", fraction=0.0,
                        message="workflow started", stages=[], decision=None, result=None,
                        files={}, error=None)
                .returning(WorkflowRow)).scalar_one_or_none()

    @_retry_locked
    def update(self, workflow_id: str, owner: str, **values: Any) -> bool:
        """Store progress/partial results of a running workflow; False when it is no longer
        running for ``owner`` (cancelled or deleted): the worker should stop."""
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(
                update(WorkflowRow)
                .where(WorkflowRow.id == workflow_id, WorkflowRow.owner == owner,
                       WorkflowRow.status == JobStatus.RUNNING)
                .values(updated_at=utcnow(), **values))) == 1

    @_retry_locked
    def finish(self, workflow_id: str, owner: str, status: str, **values: Any) -> bool:
        """running (by ``owner``) → a final status."""
        now = utcnow()
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(
                update(WorkflowRow)
                .where(WorkflowRow.id == workflow_id, WorkflowRow.owner == owner,
                       WorkflowRow.status == JobStatus.RUNNING)
                .values(status=status, finished_at=now, updated_at=now, **values))) == 1

    @_retry_locked
    def cancel(self, workflow_id: str) -> bool:
        """queued or running → cancelled (a running worker notices at its next check)."""
        now = utcnow()
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(
                update(WorkflowRow)
                .where(WorkflowRow.id == workflow_id,
                       WorkflowRow.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                .values(status=JobStatus.CANCELLED, finished_at=now, updated_at=now,
                        stage="cancelled", message="cancelled by request",
                        error={"code": "cancelled", "message": "cancelled by request",
                               "details": None}))) == 1

    @_retry_locked
    def requeue(self, workflow_id: str, owner: str | None, *, expected_status: str,
                new_owner: str, message: str, refund_attempt: bool = False) -> bool:
        """Put a workflow back in the queue under ``new_owner`` (shutdown, crash recovery)."""
        values: dict[str, Any] = {"status": JobStatus.QUEUED, "owner": new_owner,
                                  "updated_at": utcnow(), "started_at": None,
                                  "stage": "queued", "fraction": 0.0, "message": message}
        if refund_attempt:
            values["attempts"] = func.max(WorkflowRow.attempts - 1, 0) if self.db.is_sqlite \
                else func.greatest(WorkflowRow.attempts - 1, 0)
        owner_cond = WorkflowRow.owner.is_(None) if owner is None else WorkflowRow.owner == owner
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(
                update(WorkflowRow)
                .where(WorkflowRow.id == workflow_id, WorkflowRow.status == expected_status,
                       owner_cond).values(**values))) == 1

    @_retry_locked
    def mark_interrupted(self, workflow_id: str, owner: str | None, error: dict[str, Any]
                         ) -> bool:
        now = utcnow()
        owner_cond = WorkflowRow.owner.is_(None) if owner is None else WorkflowRow.owner == owner
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(
                update(WorkflowRow)
                .where(WorkflowRow.id == workflow_id, WorkflowRow.status == JobStatus.RUNNING,
                       owner_cond)
                .values(status=JobStatus.INTERRUPTED, error=error, finished_at=now,
                        updated_at=now, stage="interrupted", message=error["message"]))) == 1

    @_retry_locked
    def delete(self, workflow_id: str) -> bool:
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(
                delete(WorkflowRow).where(WorkflowRow.id == workflow_id))) == 1
