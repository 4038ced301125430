"""Tables of CSV batches: one row per batch, one per item (a master/dub pair of the CSV).

An item becomes an analysis (``analyses.batch_id`` = the batch id, ``batch_items.analysis_id``
= the analysis) when the batch starts; from then on the analysis row is the item's state, so a
batch survives a restart exactly as its analyses do.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, UTCDateTime, utcnow

__all__ = ["BatchState", "ItemState", "BatchRow", "BatchItemRow"]


class BatchState(StrEnum):
    """What was done to a batch: ``uploaded`` (parsed, not started), ``started``,
    ``cancelled``. Its reported status also depends on its items (see the batch service)."""

    UPLOADED = "uploaded"
    STARTED = "started"
    CANCELLED = "cancelled"


class ItemState(StrEnum):
    """An item before it has an analysis: ``pending``; ``started`` once it has one;
    ``invalid`` when it failed validation at start (skip_invalid); ``cancelled`` when the batch
    was cancelled before it started."""

    PENDING = "pending"
    STARTED = "started"
    INVALID = "invalid"
    CANCELLED = "cancelled"


class BatchRow(Base):
    """A batch of pairs, from a CSV upload."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str | None] = mapped_column(String(200), default=None)
    source: Mapped[str] = mapped_column(String(16), default="csv")
    filename: Mapped[str | None] = mapped_column(String(255), default=None)
    state: Mapped[str] = mapped_column(String(16), default=BatchState.UPLOADED)
    skip_invalid: Mapped[bool] = mapped_column(Boolean, default=False)
    total: Mapped[int] = mapped_column(Integer, default=0)
    #: CSV rows left out (skip_invalid): [{line, column, code, message, value}]
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (Index("ix_batches_created", "created_at"),)


class BatchItemRow(Base):
    """One pair of a batch, in CSV order, with the options of its row."""

    __tablename__ = "batch_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(String(64), ForeignKey("batches.id",
                                                                 ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    line: Mapped[int] = mapped_column(Integer)
    episode_name: Mapped[str | None] = mapped_column(String(200), default=None)
    master_file: Mapped[str] = mapped_column(Text)
    dub_file: Mapped[str] = mapped_column(Text)
    #: the analysis request of the row (AnalysisCreate fields), as given
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    auto_repair: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default=ItemState.PENDING)
    analysis_id: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    __table_args__ = (
        UniqueConstraint("batch_id", "position", name="uq_batch_items_position"),
        Index("ix_batch_items_analysis", "analysis_id"),
    )
