"""Schemas of ``/api/v1/ui/state``: the dashboard's batch queue."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.v1.schemas.analysis import AnalysisOptionsIn
from app.engine import METHOD_NAMES

__all__ = ["BatchQueueItem", "BatchQueueWrite", "BatchQueueRead"]


class BatchQueueItem(AnalysisOptionsIn):
    """A pair waiting in the dashboard's queue, with the options it will be submitted with."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "row-1", "master_file": "show/ep101_master.wav",
        "dub_file": "show/ep101_de.wav", "episode_name": "EP101 German",
        "methods": ["correlation", "onset"], "auto_repair": False}]})

    id: str | None = Field(None, min_length=1, max_length=64,
                           description="The dashboard's own id of the row (unique in the "
                                       "queue).", examples=["row-1"])
    master_file: str = Field(min_length=1, max_length=4096, description="Master path.")
    dub_file: str = Field(min_length=1, max_length=4096, description="Dub path.")
    episode_name: str | None = Field(None, max_length=200,
                                     description="Shown in lists; becomes the label.")
    auto_repair: bool = Field(False, description="Repair after the analysis when asked.")
    selected: bool = Field(True, description="Whether the row is ticked for submission.")
    analysis_id: str | None = Field(None, pattern=r"^analysis_\d{8}_\d{6}_[0-9a-f]{8}$",
                                    description="Set once the row was submitted.")
    batch_id: str | None = Field(None, max_length=64, description="Batch it was submitted in.")
    note: str | None = Field(None, max_length=1000, description="Free text.")

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str] | None) -> list[str] | None:
        unknown = [m for m in value or [] if m not in METHOD_NAMES]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; known: {list(METHOD_NAMES)}")
        return value


class BatchQueueWrite(BaseModel):
    """The whole queue (replaces the stored one)."""

    model_config = ConfigDict(extra="forbid")

    items: list[BatchQueueItem] = Field(description="The rows, in order (at most "
                                                    "BATCH_MAX_ITEMS).")
    expected_version: int | None = Field(
        None, ge=0, le=2**63 - 1,
        description="The version this edit started from: when the stored queue "
                                "has another version the write is refused with 409 (another "
                                "tab saved in between). Omit to overwrite unconditionally.")


class BatchQueueRead(BaseModel):
    items: list[BatchQueueItem]
    version: int = Field(description="Grows by one at every write; 0 = never saved.")
    updated_at: datetime | None = None
