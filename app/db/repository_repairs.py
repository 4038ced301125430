"""The repairs' repository: the job transitions on the ``repairs`` table."""

from __future__ import annotations

from app.db.jobs import JobRepository
from app.db.models_repairs import RepairRow

__all__ = ["RepairRepository"]


class RepairRepository(JobRepository[RepairRow]):
    model = RepairRow
    kind = "repair"
