"""Queries of uploaded files (table in ``models_files``) and of the analyses that use a file."""

from __future__ import annotations

from sqlalchemy import or_, select

from app.db.models import AnalysisRow, JobStatus
from app.db.models_files import UploadRow
from app.db.rows import RowRepository

__all__ = ["UploadRepository"]


class UploadRepository(RowRepository[UploadRow]):
    """Records of uploaded files."""

    model = UploadRow

    def active_analyses_using(self, path: str) -> list[str]:
        """Ids of queued or running analyses whose master or dub is ``path`` (resolved)."""
        with self.db.sessions() as s:
            return list(s.execute(
                select(AnalysisRow.id)
                .where(AnalysisRow.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
                       or_(AnalysisRow.master_file == path, AnalysisRow.dub_file == path))
                .order_by(AnalysisRow.created_at)).scalars())
