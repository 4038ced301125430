"""Storage of the dashboard's state documents (table in ``models_ui_state``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from app.db.database import _retry_locked, _rowcount
from app.db.models import utcnow
from app.db.models_ui_state import UiStateRow
from app.db.rows import RowRepository

__all__ = ["UiStateRepository"]


class UiStateRepository(RowRepository[UiStateRow]):
    """Get and replace one JSON document per key, with a version for optimistic locking."""

    model = UiStateRow

    @_retry_locked
    def put(self, key: str, value: dict[str, Any], *,
            expected_version: int | None = None) -> UiStateRow | None:
        """Store ``value`` under ``key`` (version + 1). With ``expected_version``, only when
        the stored version is that one (0 = nothing stored yet); None on a conflict."""
        now = utcnow()
        with self.db.sessions.begin() as s:
            condition = [UiStateRow.key == key]
            if expected_version is not None:
                condition.append(UiStateRow.version == expected_version)
            n = _rowcount(s.execute(update(UiStateRow).where(*condition).values(
                value=value, version=UiStateRow.version + 1, updated_at=now)))
            if n == 1:
                return s.get(UiStateRow, key, populate_existing=True)
            if s.get(UiStateRow, key) is not None:  # it exists: the version did not match
                return None
            if expected_version not in (None, 0):
                return None
        try:
            with self.db.sessions.begin() as s:
                row = UiStateRow(key=key, value=value, version=1, updated_at=now)
                s.add(row)
            return row
        except IntegrityError:  # created meanwhile by another writer
            return None if expected_version is not None else self.put(key, value)
