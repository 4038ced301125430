"""Database tables. API schemas are separate (``app/api/v1/schemas``).

Timestamps are stored in UTC and always come back timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["Base", "JobStatus", "TERMINAL_STATUSES", "JobColumns", "StageColumns", "AnalysisRow",
           "InstanceRow", "utcnow"]


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


class JobStatus(StrEnum):
    """Life cycle of a job: queued → running → completed | failed | cancelled.

    ``interrupted``: the process running it died and the job was not re-run (it had already used
    JOB_MAX_ATTEMPTS runs).
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


TERMINAL_STATUSES: frozenset[str] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.INTERRUPTED}
)


class UTCDateTime(TypeDecorator[datetime]):
    """DateTime stored as UTC; naive values read back (SQLite) are marked UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class JobColumns:
    """The columns of every job table (analyses, workflows, repairs; ``app.db.jobs``)."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class StageColumns:
    """Where a workflow or a repair stands: its stage, overall fraction and message."""

    stage: Mapped[str] = mapped_column(String(32), default="queued")
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")


class AnalysisRow(JobColumns, Base):
    """One analysis: what was asked, where it stands, and its result or error."""

    __tablename__ = "analyses"

    batch_id: Mapped[str | None] = mapped_column(String(64), default=None)
    master_file: Mapped[str] = mapped_column(Text)
    dub_file: Mapped[str] = mapped_column(Text)
    master_name: Mapped[str] = mapped_column(String(512))
    dub_name: Mapped[str] = mapped_column(String(512))

    progress_stage: Mapped[str] = mapped_column(String(32), default="queued")
    progress_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    progress_message: Mapped[str] = mapped_column(Text, default="")
    progress_window: Mapped[int | None] = mapped_column(Integer, default=None)
    progress_windows: Mapped[int | None] = mapped_column(Integer, default=None)
    progress_estimate: Mapped[dict[str, float] | None] = mapped_column(JSON, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_analyses_status_created", "status", "created_at"),
        Index("ix_analyses_created", "created_at"),
        Index("ix_analyses_batch", "batch_id"),
        Index("ix_analyses_owner", "owner"),
    )


class InstanceRow(Base):
    """A running service process; its heartbeat tells whether jobs it owns are still alive."""

    __tablename__ = "service_instances"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
