"""One repository for the job tables (analyses, workflows, repairs) and the instance registry.

Every state transition of a job row is one conditional UPDATE, written once here and
parameterised by the model (like polar's ``RepositoryBase[M]``), so two instances sharing a
database never both claim, finish or recover the same job.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import delete, func, select, update

from app.db.database import _retry_locked, _rowcount
from app.db.models import Base, InstanceRow, JobStatus, utcnow
from app.db.rows import RowRepository

__all__ = ["JobRepository", "InstanceRepository", "CANCELLED_ERROR"]

M = TypeVar("M", bound=Base)
CANCELLED_ERROR = {"code": "cancelled", "message": "cancelled by request", "details": None}
_ANYONE = object()  # no condition on the owner


class JobRepository(RowRepository[M]):
    """Reads and transitions of one job table; subclasses name the model and its columns."""

    #: "analysis", "workflow", "repair": in progress messages
    kind: ClassVar[str]
    #: the model's (stage, fraction, message, ...) columns: a progress tuple, in this order
    progress_columns: ClassVar[tuple[str, ...]] = ("stage", "fraction", "message")
    #: values set when a run starts (claim) and when a job goes back to the queue (requeue)
    claim_reset: ClassVar[dict[str, Any]] = {}
    requeue_reset: ClassVar[dict[str, Any]] = {}

    def _progress(self, progress: Sequence[Any] | None) -> dict[str, Any]:
        return dict(zip(self.progress_columns, progress or (), strict=False))

    def said(self, stage: str, message: str) -> dict[str, Any]:
        """The values of a stage and message (the model's own columns)."""
        return {self.progress_columns[0]: stage, self.progress_columns[2]: message}

    def _where(self, job_id: str, status: str, owner: str | None | object = _ANYONE
               ) -> list[Any]:
        m = self.model
        cond = [m.id == job_id, m.status == status]
        if owner is not _ANYONE:
            cond.append(m.owner.is_(None) if owner is None else m.owner == owner)
        return cond

    @_retry_locked
    def _update(self, cond: list[Any], values: dict[str, Any]) -> bool:
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(update(self.model).where(*cond).values(**values))) == 1

    # --- reads ------------------------------------------------------------------------------
    def unfinished(self) -> list[tuple[str, str, str | None, int]]:
        """(id, status, owner, attempts) of every queued or running job, oldest first."""
        m = self.model
        with self.db.sessions() as s:
            rows = s.execute(select(m.id, m.status, m.owner, m.attempts)
                             .where(m.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                             .order_by(m.created_at, m.id)).all()
            return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    def run_states(self, ids: Sequence[str]) -> dict[str, tuple[str, str | None, bool]]:
        """(status, owner, cancel_requested) of each job in ``ids`` that exists."""
        if not ids:
            return {}
        m = self.model
        flag = getattr(m, "cancel_requested", None)
        with self.db.sessions() as s:
            rows = s.execute(select(m.id, m.status, m.owner, *([flag] if flag else []))
                             .where(m.id.in_(list(ids)))).all()
            return {r[0]: (r[1], r[2], bool(r[3]) if flag else False) for r in rows}

    def count_by_status(self) -> dict[str, int]:
        m = self.model
        with self.db.sessions() as s:
            return {str(st): int(n) for st, n in s.execute(
                select(m.status, func.count()).group_by(m.status))}

    # --- writes -----------------------------------------------------------------------------
    @_retry_locked
    def claim(self, job_id: str, owner: str) -> M | None:
        """queued → running for ``owner``; None when it is no longer queued (cancelled, taken)."""
        now = utcnow()
        values = {"status": JobStatus.RUNNING, "owner": owner, "started_at": now,
                  "attempts": self.model.attempts + 1, "updated_at": now, **self.claim_reset,
                  **self._progress(("starting", 0.0, f"{self.kind} started"))}
        with self.db.sessions.begin() as s:
            return s.execute(update(self.model).where(*self._where(job_id, JobStatus.QUEUED))
                             .values(**values).returning(self.model)).scalar_one_or_none()

    @_retry_locked
    def update(self, job_id: str, owner: str, progress: Sequence[Any] | None = None,
               **values: Any) -> bool:
        """Store progress/partial results of a running job; False when it should stop (no
        longer running for ``owner``, or a cancel was requested)."""
        m = self.model
        flag = getattr(m, "cancel_requested", None)
        with self.db.sessions.begin() as s:
            got = s.execute(update(m).where(*self._where(job_id, JobStatus.RUNNING, owner))
                            .values(updated_at=utcnow(), **self._progress(progress), **values)
                            .returning(m.id if flag is None else flag)).scalar_one_or_none()
            return got is not None and (flag is None or not got)

    def finish(self, job_id: str, owner: str, status: str, *,
               progress: Sequence[Any] | None = None, **values: Any) -> bool:
        """running (by ``owner``) → a final status; False when it was not ours to finish."""
        now = utcnow()
        return self._update(self._where(job_id, JobStatus.RUNNING, owner), {
            "status": status, "finished_at": now, "updated_at": now, **values,
            **self._progress(progress)})

    def cancel(self, job_id: str, status: str) -> bool:
        """queued or running (``status``) → cancelled, whoever runs it (a running worker stops
        at its next check); False when it is not in ``status``."""
        now = utcnow()
        values = {"status": JobStatus.CANCELLED, "finished_at": now, "updated_at": now,
                  "error": CANCELLED_ERROR, **self.said("cancelled", "cancelled before it ran"
                                                         if status == JobStatus.QUEUED
                                                         else "cancelled while running")}
        if hasattr(self.model, "cancel_requested") and status == JobStatus.RUNNING:
            values["cancel_requested"] = True
        return self._update(self._where(job_id, status), values)

    def request_cancel(self, job_id: str) -> bool:
        """Flag a running job for cancellation (its owner stops it); False if not running."""
        return self._update(self._where(job_id, JobStatus.RUNNING),
                            {"cancel_requested": True, "updated_at": utcnow()})

    def requeue(self, job_id: str, owner: str | None, *, expected_status: str, new_owner: str,
                message: str | None, refund_attempt: bool = False) -> bool:
        """Put a job back in the queue under ``new_owner`` (shutdown, crash recovery);
        ``message`` None keeps the stored progress message."""
        values: dict[str, Any] = {"status": JobStatus.QUEUED, "owner": new_owner,
                                  "updated_at": utcnow(), "started_at": None,
                                  **self.requeue_reset, **self._progress(("queued", 0.0))}
        if message is not None:
            values[self.progress_columns[2]] = message
        if refund_attempt:
            greatest = func.max if self.db.is_sqlite else func.greatest
            values["attempts"] = greatest(self.model.attempts - 1, 0)
        return self._update(self._where(job_id, expected_status, owner), values)

    def mark_interrupted(self, job_id: str, owner: str | None, error: dict[str, Any]) -> bool:
        """running (by a dead ``owner``) → interrupted, with the reason as its error."""
        now = utcnow()
        return self._update(self._where(job_id, JobStatus.RUNNING, owner), {
            "status": JobStatus.INTERRUPTED, "error": error, "finished_at": now,
            "updated_at": now, **self.said("interrupted", error["message"])})



class InstanceRepository(RowRepository[InstanceRow]):
    """Registered service instances (API processes, Celery worker processes) and heartbeats."""

    model = InstanceRow

    def register(self, instance_id: str, hostname: str, pid: int) -> None:
        now = utcnow()
        self.add(InstanceRow(id=instance_id, hostname=hostname, pid=pid, started_at=now,
                             heartbeat_at=now))

    @_retry_locked
    def heartbeat(self, instance_id: str) -> None:
        with self.db.sessions.begin() as s:
            s.execute(update(InstanceRow).where(InstanceRow.id == instance_id)
                      .values(heartbeat_at=utcnow()))

    def remove(self, instance_id: str) -> None:
        self.delete(instance_id)

    def all(self) -> list[InstanceRow]:
        with self.db.sessions() as s:
            return list(s.execute(select(InstanceRow)).scalars())

    @_retry_locked
    def prune(self, before: datetime) -> int:
        """Forget instances whose last heartbeat is older than ``before``."""
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(delete(InstanceRow).where(InstanceRow.heartbeat_at
                                                                < before)))
