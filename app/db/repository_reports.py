"""Queries behind the reports: finished analyses, found by file pair, newest first."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, select

from app.db.database import _escape_like
from app.db.models import AnalysisRow
from app.db.rows import RowRepository

__all__ = ["ReportRepository"]


class ReportRepository(RowRepository[AnalysisRow]):
    """Read-only queries on analyses for the reports API."""

    model = AnalysisRow

    def search(self, *, statuses: Sequence[str], master: str | None = None,
               dub: str | None = None, batch_id: str | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[AnalysisRow], int]:
        """Analyses in ``statuses`` whose master path contains ``master`` and whose dub path
        contains ``dub`` (case-insensitive; either may be None), newest first, and the total."""
        conditions: list[ColumnElement[bool]] = [AnalysisRow.status.in_(list(statuses))]
        for column, value in ((AnalysisRow.master_file, master), (AnalysisRow.dub_file, dub)):
            if value:
                pattern = f"%{_escape_like(value.lower())}%"
                conditions.append(func.lower(column).like(pattern, escape="\\"))
        if batch_id:
            conditions.append(AnalysisRow.batch_id == batch_id)
        where = and_(*conditions)
        with self.db.sessions() as s:
            total = int(s.execute(select(func.count()).select_from(AnalysisRow).where(where))
                        .scalar_one())
            rows = s.execute(select(AnalysisRow).where(where)
                             .order_by(AnalysisRow.created_at.desc(), AnalysisRow.id.desc())
                             .limit(limit).offset(offset)).scalars().all()
            return list(rows), total
