"""What the services are asked to do, as plain data (the API's schemas: ``to_domain()``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["AnalysisRequest", "WorkflowRequest", "FileType", "PerChannelRepairRequest",
           "AnalysisRepairRequest", "RepairRequest"]


@dataclass(frozen=True)
class AnalysisRequest:
    """A master/dub pair to analyse; None options take the server's defaults."""

    master_file: str
    dub_file: str
    methods: list[str] | None = None
    enable_ai: bool = False
    ai_model: str | None = None
    sample_rate: int | None = None
    window_size: float | None = None
    confidence_threshold: float | None = None
    max_offset_seconds: float | None = None
    master_stream: int = 0
    dub_stream: int = 0
    master_channel: int | None = None
    dub_channel: int | None = None
    label: str | None = None
    tolerance: str | dict[str, Any] | None = None
    frame_rate: float | None = None
    master_start_timecode: str | None = None
    dub_start_timecode: str | None = None


class FileType(StrEnum):
    """What a workflow produces (``GET /{workflow_id}/download/{file_type}``)."""

    REPAIRED = "repaired"
    REPORT = "report"
    FORMATTED = "formatted"
    PLOTS = "plots"
    PACKAGE = "package"


@dataclass(frozen=True)
class WorkflowRequest:
    """A pair to analyse and maybe repair (fields in the order they are stored)."""

    master_file: str
    dub_file: str
    episode_name: str | None
    auto_repair: bool
    repair_threshold_ms: float
    min_confidence: float
    create_package: bool
    output_format: str
    output_codec: str | None
    match_master_duration: bool
    per_channel: bool | None
    drift_method: str
    report_format: str
    frame_rate: float
    max_offset_seconds: float | None
    sample_rate: int | None


@dataclass(frozen=True)
class PerChannelRepairRequest:
    """One offset per channel (None: measured), applied to one file or a multi-mono set."""

    output_format: str
    output_codec: str | None
    output_bitrate: str | None
    match_master_duration: bool
    verify: bool
    dub_file: str | None
    dub_files: list[str] | None
    master_file: str | None
    offsets_seconds: list[float] | None
    reference: str
    max_offset_seconds: float | None
    output_name: str | None


@dataclass(frozen=True)
class AnalysisRepairRequest:
    """The dub of a completed analysis repaired from its result."""

    output_format: str
    output_codec: str | None
    output_bitrate: str | None
    match_master_duration: bool
    verify: bool
    analysis_id: str
    drift_method: str
    output_name: str | None


RepairRequest = PerChannelRepairRequest | AnalysisRepairRequest
