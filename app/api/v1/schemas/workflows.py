"""Schemas of ``/api/v1/workflows``: analyze → decide → repair → verify → package.

Sign convention: ``offset_seconds > 0`` means the dub is late.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.v1.schemas.common import ErrorDetail
from app.db.models import JobStatus
from app.services.requests import FileType, WorkflowRequest

__all__ = [
    "FileType",
    "WorkflowCreate",
    "WorkflowSubmitted",
    "StageRead",
    "WorkflowRead",
    "WorkflowList",
    "WorkflowDeleted",
]

_EXAMPLE_ID = "workflow_20250101_120000_1a2b3c4d"


class WorkflowCreate(BaseModel):
    """A master/dub pair to analyse and, when the evidence is good enough, repair."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "master_file": "show/ep101_master.wav", "dub_file": "show/ep101_de.wav",
        "episode_name": "EP101 German", "auto_repair": True, "repair_threshold_ms": 1.0,
        "min_confidence": 0.7, "create_package": True, "output_format": "same"}]})

    master_file: str = Field(min_length=1, max_length=4096,
                             description="The reference soundtrack (absolute, or relative to "
                                         "MOUNT_PATH then UPLOAD_DIR).",
                             examples=["show/ep101_master.wav"])
    dub_file: str = Field(min_length=1, max_length=4096, description="The dub to check.",
                          examples=["show/ep101_de.wav"])
    episode_name: str | None = Field(None, max_length=200,
                                     description="Shown in the report and the list.",
                                     examples=["EP101 German"])
    auto_repair: bool = Field(True, description="Repair when the decision says so; false: "
                                                "analyse and recommend only.")
    repair_threshold_ms: float = Field(
        1.0, ge=0, le=60000, description="Repair only when the largest offset over the "
                                         "programme exceeds this (milliseconds); drift and "
                                         "edits beyond it are always repaired.")
    min_confidence: float = Field(0.7, ge=0, le=1,
                                  description="Decline to repair below this analysis "
                                              "confidence.")
    create_package: bool = Field(True, description="Build the ZIP package (repaired audio, "
                                                   "reports, plots, checksum manifest).")
    output_format: Literal["same", "wav", "flac"] = Field(
        "same", description="Container of the repaired audio: `same` keeps the dub's PCM/FLAC "
                            "format (a lossy source becomes 24-bit WAV).")
    output_codec: str | None = Field(None, max_length=32,
                                     description="Explicit output codec (a lossy one only "
                                                 "when asked).", examples=["pcm_s24le"])
    match_master_duration: bool = Field(False, description="Trim/pad the repaired audio to "
                                                           "the master's duration.")
    per_channel: bool | None = Field(
        None, description="Also measure every channel against the master's matching channel "
                          "(or downmix) and repair channels separately when they differ. "
                          "null: automatic for dubs with 3 or more channels.")
    drift_method: Literal["auto", "resample", "time_stretch"] = Field(
        "auto", description="How drift is undone: resample (pitch restored), time_stretch "
                            "(pitch kept), auto (as the analysis found).")
    report_format: Literal["html", "markdown"] = Field("html", description="Human report.")
    frame_rate: float = Field(25.0, gt=1, le=120, description="Frame rate (fps) of the "
                                                              "one-frame tolerance for drift "
                                                              "and edits and of the report's "
                                                              "timecodes.")
    max_offset_seconds: float | None = Field(None, gt=0, le=600, description="Search range "
                                             "± in seconds. Default: server default.")
    sample_rate: int | None = Field(None, ge=4000, le=48000, description="Analysis rate in "
                                    "Hz. Default: server default.")

    def to_domain(self) -> WorkflowRequest:
        return WorkflowRequest(**self.model_dump())


class WorkflowLinks(BaseModel):
    status: str = Field(description="GET: status, stages, decision, result.")
    stream: str = Field(description="GET: Server-Sent Events of the progress.")
    download: str = Field(description="GET with a file type appended: repaired, report, "
                                      "formatted, plots, package.")
    delete: str = Field(description="DELETE: cancel and remove the files.")
    analysis: str | None = Field(None, description="GET: the workflow's analysis (once it has "
                                                   "run), an analysis like any other.")
    timeline: str | None = Field(None, description="GET: that analysis's timeline.")
    report: str | None = Field(None, description="GET: that analysis's report.")
    conform: str | None = Field(None, description="GET: that analysis's conform export "
                                                  "(format=otio, edl or fcpxml).")


class WorkflowSubmitted(BaseModel):
    workflow_id: str = Field(examples=[_EXAMPLE_ID])
    status: JobStatus
    created_at: datetime
    links: WorkflowLinks


class StageRead(BaseModel):
    name: str = Field(description="analysis, decision, repair, verification, package.")
    status: str = Field(description="pending, running, done, skipped, failed.")
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


class WorkflowRead(BaseModel):
    """Where a workflow stands, what it decided and what it produced."""

    model_config = ConfigDict(extra="allow")

    workflow_id: str = Field(examples=[_EXAMPLE_ID])
    status: JobStatus
    episode_name: str | None = None
    analysis_id: str | None = Field(None, description="The stored analysis the workflow ran "
                                    "(its timeline, reports), once the analysis stage is "
                                    "done.", examples=["analysis_20250101_120000_5e6f7a8b"])
    master_file: str
    dub_file: str
    stage: str = Field(description="Current stage.", examples=["verification"])
    fraction: float = Field(ge=0, le=1)
    percent: float = Field(ge=0, le=100)
    message: str
    stages: list[StageRead]
    outcome: str | None = Field(None, description="repaired, not_needed, declined, "
                                                  "recommended, or verification_failed.")
    decision: dict[str, Any] | None = Field(None, description="action (repair, none, "
                                                              "declined, recommended), kind, "
                                                              "reason.")
    result: dict[str, Any] | None = Field(None, description="Headline numbers: analysis, "
                                                            "repair, verification.")
    files: dict[str, str] = Field(default_factory=dict,
                                  description="Available file types → download URL.")
    error: ErrorDetail | None = None
    attempts: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    links: WorkflowLinks


class WorkflowList(BaseModel):
    items: list[WorkflowRead]
    total: int
    limit: int
    offset: int


class WorkflowDeleted(BaseModel):
    workflow_id: str
    deleted: bool = Field(description="The record and its files are gone.")
    status_before: str
    files_removed: int = Field(description="Files removed from OUTPUT_DIR.")
