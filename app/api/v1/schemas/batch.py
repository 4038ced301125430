"""Schemas of ``/api/v1/analysis/batch``: CSV upload, start, status, results, list.

Sign convention: ``offset_seconds > 0`` means the dub is late.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.api.v1.schemas.analysis import ProgressRead
from app.api.v1.schemas.common import ErrorDetail

__all__ = ["BatchRowError", "BatchCsvRow", "BatchCsvValidation", "BatchItemRead", "BatchTotals",
           "BatchLinks", "BatchStatusRead",
           "BatchResultHeadline", "BatchResultItem", "BatchResultsRead", "BatchSummary",
           "BatchList", "BATCH_STATUSES"]

_BATCH_ID = "batch_20250101_120000_9f8e7d6c"
BATCH_STATUSES = ("uploaded", "running", "completed", "completed_with_errors", "cancelling",
                  "cancelled")


class BatchRowError(BaseModel):
    """A problem of one CSV row (or of the header, line 1)."""

    line: int = Field(description="Line of the CSV where the row starts (the header is line 1).",
                      examples=[4])
    column: str | None = Field(None, description="Column at fault, when there is one.",
                               examples=["dub_file"])
    code: str = Field(description="missing_value, invalid_value, too_many_values, "
                                  "file_not_found, path_not_allowed, not_a_file, file_too_large, "
                                  "audio_decode_error, unknown_method, method_disabled, "
                                  "ai_unavailable, invalid_parameter.",
                      examples=["file_not_found"])
    message: str = Field(examples=["line 4: dub_file 'show/ep104_de.wav' does not exist"])
    value: str | None = Field(None, description="The value at fault, as written.")


class BatchLinks(BaseModel):
    status: str = Field(examples=[f"/api/v1/analysis/batch/{_BATCH_ID}/status"])
    results: str = Field(examples=[f"/api/v1/analysis/batch/{_BATCH_ID}/results"])
    results_csv: str = Field(examples=[f"/api/v1/analysis/batch/{_BATCH_ID}/results?format=csv"])
    start: str = Field(examples=[f"/api/v1/analysis/batch/{_BATCH_ID}/start"])
    cancel: str = Field(description="DELETE: cancel.",
                        examples=[f"/api/v1/analysis/batch/{_BATCH_ID}"])


class BatchItemRead(BaseModel):
    """One pair of the batch and where its analysis stands."""

    index: int = Field(description="Position in the batch (0-based, CSV order).")
    line: int | None = Field(description="CSV line of the row (null for JSON batches).")
    episode_name: str | None = None
    master_file: str | None = Field(description="As written in the CSV.")
    dub_file: str | None = Field(description="As written in the CSV.")
    auto_repair: bool = Field(description="The row asked for a repair after the analysis "
                                          "(recorded; see the README for the repair workflow).")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="Analysis options of the row (methods, "
                                                "window_size, ...); absent ones take the "
                                                "server defaults.")
    analysis_id: str | None = Field(description="The item's analysis, once the batch started.")
    status: str = Field(description="pending (not started), queued, running, completed, "
                                    "failed, cancelled, interrupted, or invalid (failed its "
                                    "checks at start and was skipped).", examples=["running"])
    progress: ProgressRead | None = None
    offset_seconds: float | None = Field(None, description="> 0 = dub late (at the start of "
                                                           "the master).")
    confidence: float | None = None
    verdict: str | None = None
    max_abs_offset_ms: float | None = Field(None, description="Largest |offset| over the "
                                                              "programme, in ms.")
    qc_status: str | None = Field(None, description="QC verdict: PASS, WARN or FAIL.")
    error: ErrorDetail | None = None
    started_at: str | None = None
    finished_at: str | None = None
    elapsed_seconds: float | None = None
    links: dict[str, str] | None = Field(None, description="The analysis, its stream, its "
                                                           "report.")


class BatchTotals(BaseModel):
    items: int
    pending: int = 0
    queued: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    interrupted: int = 0
    invalid: int = 0
    finished: int = Field(0, description="Items that will not run any more.")


class BatchProgress(BaseModel):
    fraction: float = Field(ge=0, le=1)
    percent: float = Field(ge=0, le=100)


class _BatchBase(BaseModel):
    batch_id: str = Field(examples=[_BATCH_ID])
    label: str | None = None
    source: str = Field(description="csv (uploaded) or json (POST /analysis/batch).")
    filename: str | None = Field(None, description="Name of the uploaded CSV.")
    skip_invalid: bool = Field(description="Invalid rows/items are skipped instead of "
                                           "refusing the batch.")
    status: str = Field(description=" | ".join(BATCH_STATUSES), examples=["running"])
    totals: BatchTotals
    created_at: str | None = None
    started_at: str | None = None
    cancelled_at: str | None = None
    skipped_rows: list[BatchRowError] = Field(default_factory=list,
                                              description="CSV rows left out (skip_invalid).")
    warnings: list[str] = Field(default_factory=list,
                                description="Unused columns, repeated pairs.")
    links: BatchLinks


class BatchStatusRead(_BatchBase):
    """The batch, each item's status and numbers, totals and an estimate of the time left."""

    progress: BatchProgress
    eta_seconds: float | None = Field(None, description="Estimated seconds until every item "
                                                        "has run (null when unknown).")
    eta_at: str | None = Field(None, description="The same as a UTC time.")
    finished_at: str | None = None
    items: list[BatchItemRead]


class BatchResultHeadline(BaseModel):
    model_config = {"extra": "allow"}

    verdict: str | None = None
    reason: str | None = None
    offset_seconds: float | None = Field(None, description="> 0 = dub late.")
    offset_ms: float | None = Field(None, description="Offset at the start of the master.")
    offset_start_ms: float | None = Field(None, description="Offset where the covered "
                                                            "programme starts (0.1 ms).")
    offset_end_ms: float | None = Field(None, description="Offset where it ends (differs for "
                                                          "drift and edits).")
    max_abs_offset_ms: float | None = Field(None, description="Largest |offset| over the "
                                                              "programme.")
    qc: dict[str, Any] | None = Field(None, description="The QC verdict (status PASS / WARN / "
                                                        "FAIL, tolerance, worst offset and "
                                                        "where, reason).")
    offset_samples: int | None = Field(None, description="At the dub's native rate.")
    offset_frames: dict[str, float] = Field(default_factory=dict)
    timecodes: dict[str, str] = Field(default_factory=dict)
    confidence: float | None = None
    reliable: bool | None = None
    polarity_inverted: bool | None = None
    drift: dict[str, Any] | None = None
    edits_count: int = 0
    edits: list[dict[str, Any]] = Field(default_factory=list)
    findings: list[str] = Field(default_factory=list)


class BatchResultItem(BatchItemRead):
    result: BatchResultHeadline | None = Field(None, description="Present once completed.")


class BatchResultsRead(BatchStatusRead):
    items: list[BatchResultItem]  # type: ignore[assignment]


class BatchSummary(_BatchBase):
    """A line of the list of batches."""


class BatchList(BaseModel):
    items: list[BatchSummary]
    total: int
    limit: int
    offset: int


class BatchCsvRow(BaseModel):
    """A row of a checked CSV, with its values as the server read them."""

    line: int = Field(description="Line of the CSV where the row starts.", examples=[2])
    episode_name: str | None = Field(None, examples=["EP101 German"])
    master_file: str = Field(description="As written in the CSV.",
                             examples=["show/ep101_master.wav"])
    dub_file: str = Field(description="As written in the CSV.", examples=["show/ep101_de.wav"])
    auto_repair: bool = Field(False, description="The row's auto_repair column.")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="Analysis options of the row, converted "
                                                "(methods as a list, decimal commas read).",
                                    examples=[{"methods": ["correlation", "onset"],
                                               "confidence_threshold": 0.5}])


class BatchCsvValidation(BaseModel):
    """What the server's CSV parser and checks make of a batch CSV; nothing is stored."""

    valid: bool = Field(description="Every row can run as it is.")
    rows: list[BatchCsvRow] = Field(description="The rows that passed every check.")
    errors: list[BatchRowError] = Field(description="Each problem with its line.")
    warnings: list[str] = Field(default_factory=list,
                                description="Unused columns, repeated pairs.")
    valid_rows: int
    invalid_rows: int
    delimiter: str = Field(description="The separator found in the header row.",
                           examples=[";"])
    columns: list[str] = Field(description="The header's columns, normalised.")
