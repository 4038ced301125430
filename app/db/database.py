"""The database handle and the helpers of every repository.

Writes are single conditional statements (``UPDATE … WHERE status = …``) so that two service
instances sharing one database never both claim, finish or recover the same job, and so that
SQLite never has to upgrade a read transaction to a write one. A write that still meets a locked
database is retried a few times.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import CursorResult, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from app.db.models import Base

__all__ = ["Database"]

_logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class Database:
    """Engine and session factory for DATABASE_URL (SQLite: WAL, busy timeout, any thread)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if ":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite+pysqlite:"):
                kwargs["poolclass"] = StaticPool
            else:
                kwargs["pool_size"] = 16
                kwargs["max_overflow"] = 16
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create missing tables (no migrations yet: the schema only grows)."""
        Base.metadata.create_all(self.engine)

    def ping(self) -> float:
        """Round trip of ``SELECT 1`` in seconds; raises when the database is unreachable."""
        t0 = time.perf_counter()
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return time.perf_counter() - t0

    def journal_mode(self) -> str | None:
        """SQLite's journal mode (``wal``), None for other databases."""
        if not self.is_sqlite:
            return None
        with self.engine.connect() as conn:
            return str(conn.execute(text("PRAGMA journal_mode")).scalar())

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


def _retry_locked(fn: Callable[P, R]) -> Callable[P, R]:
    """Retry a write a few times when SQLite reports a locked/busy database."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(5):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                message = str(exc).lower()
                if attempt == 4 or ("locked" not in message and "busy" not in message):
                    raise
                _logger.warning("database busy in %s, retrying (%s)", fn.__name__, exc)
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def _rowcount(result: Any) -> int:
    """Rows matched by an UPDATE/DELETE (``CursorResult.rowcount``)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def _escape_like(text_: str) -> str:
    return text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
