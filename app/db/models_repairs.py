"""Table of repair jobs (their files and record live under OUTPUT_DIR/repairs/<id>/)."""

from __future__ import annotations

from app.db.models import Base, JobColumns, StageColumns

__all__ = ["RepairRow"]


class RepairRow(JobColumns, StageColumns, Base):
    """One repair: ``request`` is ``{"kind": per_channel | from_analysis, "body": ...}``;
    ``result`` its record (``repair.json``) once completed."""

    __tablename__ = "repairs"
