"""Queries and state changes of CSV batches and their items (tables in ``models_batch``).

Starting a batch is one transaction: the batch goes ``uploaded`` → ``started`` only if it is
still ``uploaded`` (so two concurrent starts cannot both create analyses), its items' analyses
are inserted and each item is linked to its analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update

from app.db.database import _retry_locked, _rowcount
from app.db.models import AnalysisRow, utcnow
from app.db.models_batch import BatchItemRow, BatchRow, BatchState, ItemState
from app.db.rows import RowRepository

__all__ = ["BatchRepository"]


class BatchRepository(RowRepository[BatchRow]):
    """Batches, their items, and the analyses linked to them."""

    model = BatchRow

    # --- reads --------------------------------------------------------------------------
    def items(self, batch_id: str) -> list[BatchItemRow]:
        """The items of a batch in CSV order."""
        with self.db.sessions() as s:
            return list(s.execute(select(BatchItemRow).where(BatchItemRow.batch_id == batch_id)
                                  .order_by(BatchItemRow.position)).scalars())

    def analyses(self, batch_id: str) -> list[AnalysisRow]:
        """Every analysis carrying ``batch_id``, oldest first."""
        with self.db.sessions() as s:
            return list(s.execute(select(AnalysisRow).where(AnalysisRow.batch_id == batch_id)
                                  .order_by(AnalysisRow.created_at, AnalysisRow.id)).scalars())

    def page(self, *, limit: int, offset: int) -> tuple[list[BatchRow], int]:
        """A page of batches, newest first, and how many there are."""
        with self.db.sessions() as s:
            total = int(s.execute(select(func.count()).select_from(BatchRow)).scalar_one())
            rows = s.execute(select(BatchRow)
                             .order_by(BatchRow.created_at.desc(), BatchRow.id.desc())
                             .limit(limit).offset(offset)).scalars().all()
            return list(rows), total

    def counts(self, batch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per batch: analyses per status, plus items without an analysis per item state."""
        out: dict[str, dict[str, int]] = {b: {} for b in batch_ids}
        if not batch_ids:
            return out
        with self.db.sessions() as s:
            for batch_id, status, n in s.execute(
                    select(AnalysisRow.batch_id, AnalysisRow.status, func.count())
                    .where(AnalysisRow.batch_id.in_(list(batch_ids)))
                    .group_by(AnalysisRow.batch_id, AnalysisRow.status)):
                out[str(batch_id)][str(status)] = int(n)
            for batch_id, state, n in s.execute(
                    select(BatchItemRow.batch_id, BatchItemRow.state, func.count())
                    .where(BatchItemRow.batch_id.in_(list(batch_ids)),
                           BatchItemRow.analysis_id.is_(None))
                    .group_by(BatchItemRow.batch_id, BatchItemRow.state)):
                out[batch_id][str(state)] = out[batch_id].get(str(state), 0) + int(n)
        return out

    # --- writes -------------------------------------------------------------------------
    @_retry_locked
    def create(self, batch: BatchRow, items: Sequence[BatchItemRow]) -> None:
        """Insert a batch and its items (all or nothing)."""
        with self.db.sessions.begin() as s:
            s.add(batch)
            s.flush()
            s.add_all(list(items))

    @_retry_locked
    def start(self, batch_id: str, started: Sequence[tuple[int, AnalysisRow]],
              invalid: Sequence[tuple[int, dict[str, Any]]]) -> bool:
        """uploaded → started with the analyses of its items, in one transaction.

        ``started``: (item id, its new analysis); ``invalid``: (item id, why it was left out).
        False (and nothing written) when the batch is no longer ``uploaded``.
        """
        now = utcnow()
        with self.db.sessions.begin() as s:
            n = _rowcount(s.execute(
                update(BatchRow).where(BatchRow.id == batch_id,
                                       BatchRow.state == BatchState.UPLOADED)
                .values(state=BatchState.STARTED, started_at=now, updated_at=now)))
            if n != 1:
                return False
            s.add_all([row for _, row in started])
            s.flush()
            for item_id, row in started:
                s.execute(update(BatchItemRow).where(BatchItemRow.id == item_id)
                          .values(state=ItemState.STARTED, analysis_id=row.id, error=None))
            for item_id, error in invalid:
                s.execute(update(BatchItemRow).where(BatchItemRow.id == item_id)
                          .values(state=ItemState.INVALID, error=error))
            return True

    @_retry_locked
    def cancel(self, batch_id: str) -> bool:
        """uploaded/started → cancelled; items that never started become ``cancelled``.
        False when the batch was already cancelled (or does not exist)."""
        now = utcnow()
        with self.db.sessions.begin() as s:
            n = _rowcount(s.execute(
                update(BatchRow).where(BatchRow.id == batch_id,
                                       BatchRow.state != BatchState.CANCELLED)
                .values(state=BatchState.CANCELLED, cancelled_at=now, updated_at=now)))
            if n == 1:
                s.execute(update(BatchItemRow)
                          .where(BatchItemRow.batch_id == batch_id,
                                 BatchItemRow.state == ItemState.PENDING)
                          .values(state=ItemState.CANCELLED))
            return n == 1
