"""The base of every repository: one model, its reads by primary key, inserts and deletes.

Like polar's ``RepositoryBase[M]``: a repository names its model once and inherits these, so
the get/add/delete of the job tables, uploads, batches and dashboard state are written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import delete, inspect

from app.db.database import Database, _retry_locked, _rowcount
from app.db.models import Base

__all__ = ["RowRepository"]

M = TypeVar("M", bound=Base)


class RowRepository(Generic[M]):
    """Rows of one table (``model``) keyed by its primary key."""

    model: ClassVar[Any]

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, row_id: str) -> M | None:
        with self.db.sessions() as s:
            return s.get(self.model, row_id)  # type: ignore[no-any-return]

    @_retry_locked
    def add_many(self, rows: Iterable[M]) -> None:
        """Insert rows in one transaction (all or none)."""
        with self.db.sessions.begin() as s:
            s.add_all(list(rows))

    def add(self, row: M) -> None:
        self.add_many([row])

    @_retry_locked
    def delete(self, row_id: str) -> bool:
        """Delete one row by its primary key; True when it existed."""
        key = inspect(self.model).primary_key[0]
        with self.db.sessions.begin() as s:
            return _rowcount(s.execute(delete(self.model).where(key == row_id))) == 1
