"""Recent failures of analyses, workflows and repairs (for health): the cause of what went wrong."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.db.database import Database
from app.db.models import AnalysisRow, JobStatus
from app.db.models_repairs import RepairRow
from app.db.models_workflows import WorkflowRow

__all__ = ["recent_failures"]

_FAILED = (JobStatus.FAILED, JobStatus.INTERRUPTED)


def recent_failures(db: Database, *, since: datetime, limit: int = 5) -> list[dict[str, Any]]:
    """Analyses, workflows and repairs that failed or were interrupted since ``since``,
    newest first: kind, id, status, error code and message, finished_at."""
    found: list[dict[str, Any]] = []
    with db.sessions() as s:
        for kind, model in (("analysis", AnalysisRow), ("workflow", WorkflowRow),
                            ("repair", RepairRow)):
            rows = s.execute(
                select(model.id, model.status, model.error, model.finished_at)
                .where(model.status.in_(_FAILED), model.finished_at >= since)
                .order_by(model.finished_at.desc()).limit(limit))
            for ident, status, error, finished in rows:
                error = error or {}
                found.append({"kind": kind, "id": ident, "status": str(status),
                              "code": error.get("code"), "message": error.get("message"),
                              "finished_at": finished})
    found.sort(key=lambda f: f["finished_at"], reverse=True)
    return found[:limit]
