"""Table of analyze-and-repair workflows (their files live under OUTPUT_DIR/workflows/<id>/)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, JobColumns, StageColumns

__all__ = ["WorkflowRow"]


class WorkflowRow(JobColumns, StageColumns, Base):
    """One workflow: analysis → decision → repair → verification → package.

    ``status`` follows :class:`JobStatus`; ``stages`` is the list of stages with their own
    status and times; ``decision``/``result`` are filled as the stages finish; ``files`` maps a
    file type (repaired, report, formatted, plots, package) to its path relative to the
    workflow's folder.
    """

    __tablename__ = "workflows"

    episode_name: Mapped[str | None] = mapped_column(String(200), default=None)
    master_file: Mapped[str] = mapped_column(Text)
    dub_file: Mapped[str] = mapped_column(Text)
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    files: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_workflows_created", "created_at"),
        Index("ix_workflows_status", "status"),
    )
