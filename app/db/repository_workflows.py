"""The workflows' repository: the job transitions on the ``workflows`` table, and a page."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from app.db.jobs import JobRepository
from app.db.models_workflows import WorkflowRow

__all__ = ["WorkflowRepository"]


class WorkflowRepository(JobRepository[WorkflowRow]):
    """Workflow rows: the job transitions, and a page of them."""

    model = WorkflowRow
    kind = "workflow"
    claim_reset = {"stages": [], "decision": None, "result": None, "files": {}, "error": None}

    def search(self, *, statuses: Sequence[str] = (), limit: int = 50, offset: int = 0
               ) -> tuple[list[WorkflowRow], int]:
        """A page of workflows, newest first, and the total matching."""
        with self.db.sessions() as s:
            query = select(WorkflowRow)
            count = select(func.count()).select_from(WorkflowRow)
            if statuses:
                query = query.where(WorkflowRow.status.in_(list(statuses)))
                count = count.where(WorkflowRow.status.in_(list(statuses)))
            total = int(s.execute(count).scalar_one())
            rows = s.execute(query.order_by(WorkflowRow.created_at.desc(),
                                            WorkflowRow.id.desc()).limit(limit).offset(offset))
            return list(rows.scalars().all()), total
