"""Table of analyze-and-repair workflows (their files live under OUTPUT_DIR/workflows/<id>/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, JobStatus, UTCDateTime, utcnow

__all__ = ["WorkflowRow"]


class WorkflowRow(Base):
    """One workflow: analysis → decision → repair → verification → package.

    ``status`` follows :class:`JobStatus`; ``stages`` is the list of stages with their own
    status and times; ``decision``/``result`` are filled as the stages finish; ``files`` maps a
    file type (repaired, report, formatted, plots, package) to its path relative to the
    workflow's folder.
    """

    __tablename__ = "workflows"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    episode_name: Mapped[str | None] = mapped_column(String(200), default=None)
    master_file: Mapped[str] = mapped_column(Text)
    dub_file: Mapped[str] = mapped_column(Text)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)

    stage: Mapped[str] = mapped_column(String(32), default="queued")
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    files: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    attempts: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(64), default=None)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (
        Index("ix_workflows_created", "created_at"),
        Index("ix_workflows_status", "status"),
    )
