"""Queries of uploaded files (table in ``models_files``) and of the analyses that use a file."""

from __future__ import annotations

from sqlalchemy import delete, or_, select

from app.db.database import Database, _retry_locked, _rowcount
from app.db.models import AnalysisRow, JobStatus
from app.db.models_files import UploadRow

__all__ = ["UploadRepository"]


class UploadRepository:
    """Records of uploaded files."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, file_id: str) -> UploadRow | None:
        with self.db.sessions() as s:
            return s.get(UploadRow, file_id)

    @_retry_locked
    def add(self, row: UploadRow) -> None:
        with self.db.sessions.begin() as s:
            s.add(row)

    @_retry_locked
    def delete(self, file_id: str) -> bool:
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(delete(UploadRow).where(UploadRow.id == file_id))) == 1

    def active_analyses_using(self, path: str) -> list[str]:
        """Ids of queued or running analyses whose master or dub is ``path`` (resolved)."""
        with self.db.sessions() as s:
            return list(s.execute(
                select(AnalysisRow.id)
                .where(AnalysisRow.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
                       or_(AnalysisRow.master_file == path, AnalysisRow.dub_file == path))
                .order_by(AnalysisRow.created_at)).scalars())
