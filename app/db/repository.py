"""The one place that talks SQL: the database handle and the analysis/instance repository.

Writes are single conditional statements (``UPDATE … WHERE status = …``) so that two service
instances sharing one database never both claim, finish or recover the same analysis, and so that
SQLite never has to upgrade a read transaction to a write one. SQLite runs in WAL mode with a busy
timeout; a write that still meets a locked database is retried a few times.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Engine,
    and_,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from app.db.models import AnalysisRow, Base, InstanceRow, JobStatus, utcnow

__all__ = ["Database", "AnalysisRepository", "Progress"]

_logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

#: (stage, fraction, message, window, windows, estimate)
Progress = tuple[str, float, str, int | None, int | None, dict[str, float] | None]


class Database:
    """Engine and session factory for DATABASE_URL (SQLite: WAL, busy timeout, any thread)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if ":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite+pysqlite:"):
                kwargs["poolclass"] = StaticPool
            else:
                kwargs["pool_size"] = 16
                kwargs["max_overflow"] = 16
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create missing tables (no migrations yet: the schema only grows)."""
        Base.metadata.create_all(self.engine)

    def ping(self) -> float:
        """Round trip of ``SELECT 1`` in seconds; raises when the database is unreachable."""
        t0 = time.perf_counter()
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return time.perf_counter() - t0

    def journal_mode(self) -> str | None:
        """SQLite's journal mode (``wal``), None for other databases."""
        if not self.is_sqlite:
            return None
        with self.engine.connect() as conn:
            return str(conn.execute(text("PRAGMA journal_mode")).scalar())

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


def _retry_locked(fn: Callable[P, R]) -> Callable[P, R]:
    """Retry a write a few times when SQLite reports a locked/busy database."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(5):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                message = str(exc).lower()
                if attempt == 4 or ("locked" not in message and "busy" not in message):
                    raise
                _logger.warning("database busy in %s, retrying (%s)", fn.__name__, exc)
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


class AnalysisRepository:
    """Queries and state transitions of analyses and service instances."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- analyses: reads --------------------------------------------------------------------
    def get(self, analysis_id: str) -> AnalysisRow | None:
        with self.db.sessions() as s:
            return s.get(AnalysisRow, analysis_id)

    def search(
        self,
        *,
        statuses: Sequence[str] = (),
        file: str | None = None,
        batch_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[AnalysisRow], int]:
        """A page of analyses, newest first, and the total matching the filters.

        ``file`` matches a case-insensitive substring of the master's or the dub's file name.
        """
        conditions: list[ColumnElement[bool]] = []
        if statuses:
            conditions.append(AnalysisRow.status.in_(list(statuses)))
        if batch_id:
            conditions.append(AnalysisRow.batch_id == batch_id)
        if file:
            pattern = f"%{_escape_like(file.lower())}%"
            conditions.append(or_(func.lower(AnalysisRow.master_name).like(pattern, escape="\\"),
                                  func.lower(AnalysisRow.dub_name).like(pattern, escape="\\")))
        where = and_(*conditions) if conditions else None
        with self.db.sessions() as s:
            query = select(AnalysisRow)
            count = select(func.count()).select_from(AnalysisRow)
            if where is not None:
                query, count = query.where(where), count.where(where)
            total = int(s.execute(count).scalar_one())
            rows = s.execute(
                query.order_by(AnalysisRow.created_at.desc(), AnalysisRow.id.desc())
                .limit(limit).offset(offset)
            ).scalars().all()
            return list(rows), total

    def count_by_status(self) -> dict[str, int]:
        with self.db.sessions() as s:
            rows = s.execute(select(AnalysisRow.status, func.count()).group_by(AnalysisRow.status))
            return {str(status): int(n) for status, n in rows}

    def owned_ids(self, owner: str, status: str) -> list[str]:
        """Ids of analyses in ``status`` owned by ``owner``, oldest first."""
        with self.db.sessions() as s:
            return list(s.execute(
                select(AnalysisRow.id)
                .where(AnalysisRow.owner == owner, AnalysisRow.status == status)
                .order_by(AnalysisRow.created_at, AnalysisRow.id)
            ).scalars())

    def run_states(self, ids: Sequence[str]) -> dict[str, tuple[str, str | None, bool]]:
        """(status, owner, cancel_requested) of each analysis in ``ids`` that exists."""
        if not ids:
            return {}
        with self.db.sessions() as s:
            rows = s.execute(
                select(AnalysisRow.id, AnalysisRow.status, AnalysisRow.owner,
                       AnalysisRow.cancel_requested).where(AnalysisRow.id.in_(list(ids)))
            ).all()
            return {r[0]: (r[1], r[2], bool(r[3])) for r in rows}

    def unfinished(self) -> list[tuple[str, str, str | None, int]]:
        """(id, status, owner, attempts) of every queued or running analysis."""
        with self.db.sessions() as s:
            rows = s.execute(
                select(AnalysisRow.id, AnalysisRow.status, AnalysisRow.owner,
                       AnalysisRow.attempts)
                .where(AnalysisRow.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                .order_by(AnalysisRow.created_at, AnalysisRow.id)
            ).all()
            return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    # --- analyses: writes -------------------------------------------------------------------
    @_retry_locked
    def add_many(self, rows: Iterable[AnalysisRow]) -> None:
        """Insert new analyses in one transaction (all or none)."""
        with self.db.sessions.begin() as s:
            s.add_all(list(rows))

    @_retry_locked
    def claim(self, analysis_id: str, owner: str) -> AnalysisRow | None:
        """queued → running for ``owner``; None when it is no longer queued (cancelled, taken)."""
        now = utcnow()
        with self.db.sessions.begin() as s:
            row = s.execute(
                update(AnalysisRow)
                .where(AnalysisRow.id == analysis_id, AnalysisRow.status == JobStatus.QUEUED)
                .values(status=JobStatus.RUNNING, owner=owner, attempts=AnalysisRow.attempts + 1,
                        started_at=now, updated_at=now, progress_stage="starting",
                        progress_fraction=0.0, progress_message="analysis started",
                        progress_window=None, progress_windows=None, progress_estimate=None,
                        cancel_requested=False)
                .returning(AnalysisRow)
            ).scalar_one_or_none()
            return row

    @_retry_locked
    def update_progress(self, analysis_id: str, owner: str, progress: Progress) -> bool:
        """Store the progress of a running analysis; returns whether it should stop (a cancel
        was requested, or it is no longer running for ``owner``)."""
        stage, fraction, message, window, windows, estimate = progress
        with self.db.sessions.begin() as s:
            flag = s.execute(
                update(AnalysisRow)
                .where(AnalysisRow.id == analysis_id, AnalysisRow.owner == owner,
                       AnalysisRow.status == JobStatus.RUNNING)
                .values(progress_stage=stage, progress_fraction=fraction,
                        progress_message=message, progress_window=window,
                        progress_windows=windows, progress_estimate=estimate,
                        updated_at=utcnow())
                .returning(AnalysisRow.cancel_requested)
            ).scalar_one_or_none()
            return flag is None or bool(flag)

    @_retry_locked
    def finish(
        self,
        analysis_id: str,
        owner: str,
        status: JobStatus,
        *,
        progress: Progress,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """running (by ``owner``) → a final status; False when it was not ours to finish."""
        stage, fraction, message, window, windows, estimate = progress
        now = utcnow()
        with self.db.sessions.begin() as s:
            n = _rowcount(s.execute(
                update(AnalysisRow)
                .where(AnalysisRow.id == analysis_id, AnalysisRow.owner == owner,
                       AnalysisRow.status == JobStatus.RUNNING)
                .values(status=status, result=result, error=error, finished_at=now,
                        updated_at=now, progress_stage=stage, progress_fraction=fraction,
                        progress_message=message, progress_window=window,
                        progress_windows=windows, progress_estimate=estimate)
            ))
            return n == 1

    @_retry_locked
    def cancel_queued(self, analysis_id: str) -> bool:
        """queued → cancelled; False when it is not queued."""
        now = utcnow()
        with self.db.sessions.begin() as s:
            n = _rowcount(s.execute(
                update(AnalysisRow)
                .where(AnalysisRow.id == analysis_id, AnalysisRow.status == JobStatus.QUEUED)
                .values(status=JobStatus.CANCELLED, finished_at=now, updated_at=now,
                        progress_stage="cancelled", progress_message="cancelled before it ran",
                        error={"code": "cancelled", "message": "cancelled by request",
                               "details": None})
            ))
            return n == 1

    @_retry_locked
    def force_cancel(self, analysis_id: str) -> bool:
        """running → cancelled whoever runs it (its worker stops at its next check)."""
        now = utcnow()
        with self.db.sessions.begin() as s:
            n = _rowcount(s.execute(
                update(AnalysisRow)
                .where(AnalysisRow.id == analysis_id, AnalysisRow.status == JobStatus.RUNNING)
                .values(status=JobStatus.CANCELLED, finished_at=now, updated_at=now,
                        cancel_requested=True, progress_stage="cancelled",
                        progress_message="cancelled while running",
                        error={"code": "cancelled", "message": "cancelled by request",
                               "details": None})
            ))
            return n == 1

    @_retry_locked
    def request_cancel(self, analysis_id: str) -> bool:
        """Flag a running analysis for cancellation (its owner stops it); False if not running."""
        with self.db.sessions.begin() as s:
            n = _rowcount(s.execute(
                update(AnalysisRow)
                .where(AnalysisRow.id == analysis_id, AnalysisRow.status == JobStatus.RUNNING)
                .values(cancel_requested=True, updated_at=utcnow())
            ))
            return n == 1

    @_retry_locked
    def requeue(self, analysis_id: str, owner: str | None, *, expected_status: str,
                new_owner: str, message: str | None,
                refund_attempt: bool = False) -> bool:
        """Put an analysis back in the queue under ``new_owner`` (shutdown, crash recovery);
        ``message`` None keeps the stored progress message."""
        values: dict[str, Any] = {
            "status": JobStatus.QUEUED, "owner": new_owner, "updated_at": utcnow(),
            "started_at": None, "progress_stage": "queued", "progress_fraction": 0.0,
            "progress_window": None, "progress_windows": None,
            "progress_estimate": None, "cancel_requested": False,
        }
        if message is not None:
            values["progress_message"] = message
        if refund_attempt:
            values["attempts"] = func.max(AnalysisRow.attempts - 1, 0) if self.db.is_sqlite \
                else func.greatest(AnalysisRow.attempts - 1, 0)
        owner_cond = AnalysisRow.owner.is_(None) if owner is None else AnalysisRow.owner == owner
        with self.db.sessions.begin() as s:
            n = _rowcount(s.execute(
                update(AnalysisRow)
                .where(AnalysisRow.id == analysis_id, AnalysisRow.status == expected_status,
                       owner_cond)
                .values(**values)
            ))
            return n == 1

    @_retry_locked
    def mark_interrupted(self, analysis_id: str, owner: str | None, error: dict[str, Any]) -> bool:
        """running (by a dead ``owner``) → interrupted, with the reason as its error."""
        now = utcnow()
        owner_cond = AnalysisRow.owner.is_(None) if owner is None else AnalysisRow.owner == owner
        with self.db.sessions.begin() as s:
            n = _rowcount(s.execute(
                update(AnalysisRow)
                .where(AnalysisRow.id == analysis_id, AnalysisRow.status == JobStatus.RUNNING,
                       owner_cond)
                .values(status=JobStatus.INTERRUPTED, error=error, finished_at=now,
                        updated_at=now, progress_stage="interrupted",
                        progress_message=error["message"])
            ))
            return n == 1

    # --- service instances ------------------------------------------------------------------
    @_retry_locked
    def register_instance(self, instance_id: str, hostname: str, pid: int) -> None:
        now = utcnow()
        with self.db.sessions.begin() as s:
            s.add(InstanceRow(id=instance_id, hostname=hostname, pid=pid, started_at=now,
                              heartbeat_at=now))

    @_retry_locked
    def heartbeat(self, instance_id: str) -> None:
        with self.db.sessions.begin() as s:
            s.execute(update(InstanceRow).where(InstanceRow.id == instance_id)
                      .values(heartbeat_at=utcnow()))

    @_retry_locked
    def remove_instance(self, instance_id: str) -> None:
        with self.db.sessions.begin() as s:
            s.execute(delete(InstanceRow).where(InstanceRow.id == instance_id))

    def instances(self) -> list[InstanceRow]:
        with self.db.sessions() as s:
            return list(s.execute(select(InstanceRow)).scalars())

    @_retry_locked
    def prune_instances(self, before: datetime) -> int:
        """Forget instances whose last heartbeat is older than ``before``."""
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(
                delete(InstanceRow).where(InstanceRow.heartbeat_at < before)))


def _rowcount(result: Any) -> int:
    """Rows matched by an UPDATE/DELETE (``CursorResult.rowcount``)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def _escape_like(text_: str) -> str:
    return text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
