"""The analyses' repository: the job transitions of :class:`~app.db.jobs.JobRepository` on
the ``analyses`` table, plus its list queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from app.db.database import Database, _escape_like
from app.db.jobs import JobRepository
from app.db.models import AnalysisRow

__all__ = ["Database", "AnalysisRepository", "Progress"]

#: (stage, fraction, message, window, windows, estimate)
Progress = tuple[str, float, str, int | None, int | None, dict[str, float] | None]
_NO_WINDOW: dict[str, Any] = {"progress_window": None, "progress_windows": None,
                              "progress_estimate": None, "cancel_requested": False}


class AnalysisRepository(JobRepository[AnalysisRow]):
    """Analyses: the job transitions, and a filtered page of them."""

    model = AnalysisRow
    kind = "analysis"
    progress_columns = ("progress_stage", "progress_fraction", "progress_message",
                        "progress_window", "progress_windows", "progress_estimate")
    claim_reset = _NO_WINDOW
    requeue_reset = _NO_WINDOW

    def search(self, *, statuses: Sequence[str] = (), file: str | None = None,
               batch_id: str | None = None, limit: int = 50, offset: int = 0,
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
