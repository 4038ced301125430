"""Schemas of ``/api/v1/reports``. Sign convention: ``offset_seconds > 0`` = dub late."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.v1.schemas.common import ErrorDetail

__all__ = ["VerdictRead", "OffsetRead", "RecommendationRead", "ReportRead", "ReportSummary",
           "ReportList"]


class VerdictRead(BaseModel):
    code: str = Field(description="in_sync, constant_offset, drift, edited, no_reliable_match "
                                  "(or the final status when the analysis did not complete).")
    label: str = Field(examples=["OUT OF SYNC (constant offset)"])
    reason: str | None = None


class OffsetRead(BaseModel):
    seconds: float = Field(description="> 0 = dub late.", examples=[0.2345])
    milliseconds: float = Field(examples=[234.5])
    samples: int | None = Field(description="At the dub's native rate.", examples=[11256])
    sample_rate: int | None = None
    direction: str = Field(description="late, early or none.")
    frames: dict[str, float] = Field(description="Offset in frames per frame rate.")
    timecodes: dict[str, str] = Field(description="Signed timecode per frame rate "
                                                  "(29.97 drop-frame).")
    headline_fps: str = Field(description="Frame rate used in the recommendation.")


class RecommendationRead(BaseModel):
    action: str = Field(description="none, optional_shift, shift, conform_speed, "
                                    "conform_edits, review, rerun.")
    summary: str = Field(description="What to do, in plain language.")
    details: list[str] = Field(default_factory=list)


class ReportRead(BaseModel):
    """The full record of an analysis: inputs and their probe, options, each method, the
    consensus, the timeline summary, the verdict, a recommendation, timings and versions."""

    model_config = ConfigDict(extra="allow")

    report_version: str
    generated_at: str
    sign_convention: str
    analysis: dict[str, Any]
    inputs: dict[str, Any] = Field(description="master and dub: paths, the analysed stream, "
                                               "a fresh ffprobe summary.")
    options: dict[str, Any] = Field(description="The request as it ran (defaults filled).")
    verdict: VerdictRead
    offset: OffsetRead | None = None
    consensus: dict[str, Any] | None = None
    methods: list[dict[str, Any]]
    timeline: dict[str, Any] | None = Field(None, description="Model, coverage, drift, edits "
                                                              "(with timecodes), segments.")
    qc: dict[str, Any] | None = Field(None, description="The QC gate: status PASS / WARN / "
                                                        "FAIL, the tolerance, the worst offset "
                                                        "and where, reason.")
    findings: list[str]
    recommendation: RecommendationRead
    timings: dict[str, float]
    error: ErrorDetail | None = None
    versions: dict[str, Any]
    links: dict[str, str]


class ReportSummary(BaseModel):
    analysis_id: str
    status: str
    label: str | None = None
    batch_id: str | None = None
    master_file: str = Field(description="Resolved path of the master.")
    dub_file: str = Field(description="Resolved path of the dub.")
    created_at: datetime
    finished_at: datetime | None = None
    verdict: str | None = None
    offset_seconds: float | None = Field(None, description="> 0 = dub late.")
    offset_ms: float | None = None
    confidence: float | None = None
    error: ErrorDetail | None = None
    links: dict[str, str]


class ReportList(BaseModel):
    items: list[ReportSummary]
    total: int
    limit: int
    offset: int
