"""Table of the dashboard's saved state, one JSON document per key (e.g. ``batch-queue``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, UTCDateTime, utcnow

__all__ = ["UiStateRow"]


class UiStateRow(Base):
    """One piece of UI state; ``version`` grows by one at every write (optimistic locking)."""

    __tablename__ = "ui_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
