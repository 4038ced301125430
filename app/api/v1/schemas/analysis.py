"""Schemas of ``/api/v1/analysis``: submit, read, list, batch.

Sign convention: ``offset_seconds > 0`` means the dub is late.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.v1.schemas.common import ErrorDetail
from app.db.models import JobStatus
from app.engine import METHOD_NAMES

__all__ = [
    "AnalysisOptionsIn",
    "AnalysisCreate",
    "BatchCreate",
    "Estimate",
    "ProgressRead",
    "AnalysisLinks",
    "AnalysisSubmitted",
    "BatchSubmitted",
    "EffectiveRequest",
    "AudioInfoRead",
    "MethodResultRead",
    "SyncResultRead",
    "AnalysisRead",
    "AnalysisSummary",
    "AnalysisList",
]

_EXAMPLE_ID = "analysis_20250101_120000_1a2b3c4d"


class AnalysisOptionsIn(BaseModel):
    """Options of an analysis; any left out take the server's defaults (DEFAULT_* settings)."""

    model_config = ConfigDict(extra="forbid")

    methods: list[str] | None = Field(
        None, min_length=1, max_length=len(METHOD_NAMES),
        description=f"Detection methods to run, among {list(METHOD_NAMES)} (and enabled by "
                    "ENABLED_METHODS). Default: every enabled method.",
        examples=[["correlation", "onset"]])
    enable_ai: bool = Field(False, description="Also run the AI method (needs a model listed in "
                                               "ENABLED_AI_MODELS).")
    ai_model: str | None = Field(None, max_length=64,
                                 description="AI model to use when enable_ai is true.",
                                 examples=["wav2vec2"])
    sample_rate: int | None = Field(None, ge=4000, le=48000,
                                    description="Analysis rate in Hz both files are decoded to "
                                                "(mono). Default: DEFAULT_SAMPLE_RATE.",
                                    examples=[16000])
    window_size: float | None = Field(
        None, ge=1, le=600,
        description="Length in seconds of the windows of the timeline (the offset measured "
                    "along the programme). Default: DEFAULT_WINDOW_SIZE, or automatic (an "
                    "eighth of the programme within [5, 10] s) when that is unset.",
        examples=[10.0])
    confidence_threshold: float | None = Field(
        None, ge=0, le=1, description="Minimum consensus confidence in [0, 1] for a reliable "
                                      "answer. Default: DEFAULT_CONFIDENCE_THRESHOLD.",
        examples=[0.5])
    max_offset_seconds: float | None = Field(
        None, gt=0, le=600, description="Limit the search to offsets within ±this many "
                                        "seconds (≤ 600). Left out (the default), the dub is "
                                        "found wherever it lies in the master, and the "
                                        "master in the dub (reels, promos, clips, a longer "
                                        "dub), then measured within "
                                        "±DEFAULT_MAX_OFFSET_SECONDS of that place.",
        examples=[120.0])
    master_stream: int = Field(0, ge=0, le=255, description="Audio stream of the master "
                                                           "(0 = its first audio stream).")
    dub_stream: int = Field(0, ge=0, le=255, description="Audio stream of the dub.")
    master_channel: int | None = Field(None, ge=0, le=63, description="Channel of the master "
                                       "to analyse; null = downmix of all channels.")
    dub_channel: int | None = Field(None, ge=0, le=63, description="Channel of the dub to "
                                    "analyse; null = downmix.", examples=[2])

    @field_validator("methods")
    @classmethod
    def _normalise_methods(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return list(dict.fromkeys(m.strip().lower() for m in value))


class AnalysisCreate(AnalysisOptionsIn):
    """A master/dub pair to analyse. Paths are absolute, or relative to MOUNT_PATH (then
    UPLOAD_DIR); they must resolve, symlinks included, inside one of the two."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "master_file": "show/ep101_master.wav", "dub_file": "show/ep101_de.m4a",
        "methods": ["correlation", "mfcc", "onset", "spectral"], "max_offset_seconds": 60,
        "label": "EP101 German"}]})

    master_file: str = Field(min_length=1, max_length=4096,
                             description="The reference soundtrack (or video with audio).",
                             examples=["show/ep101_master.wav"])
    dub_file: str = Field(min_length=1, max_length=4096,
                          description="The soundtrack whose sync is measured.",
                          examples=["show/ep101_de.m4a"])
    label: str | None = Field(None, max_length=200,
                              description="Free text shown in lists (e.g. episode and language).",
                              examples=["EP101 German"])


class BatchCreate(BaseModel):
    """Several pairs in one request; each becomes an analysis. Validated all or nothing."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [
        {"master_file": "show/ep101_master.wav", "dub_file": "show/ep101_de.m4a"},
        {"master_file": "show/ep102_master.wav", "dub_file": "show/ep102_de.m4a",
         "methods": ["correlation"]}]}]})

    items: list[AnalysisCreate] = Field(min_length=1, description="The pairs (at most "
                                                                  "BATCH_MAX_ITEMS).")
    label: str | None = Field(None, max_length=200, description="Label of the batch.")


class Estimate(BaseModel):
    offset_seconds: float = Field(description="Best offset so far (> 0 = dub late).",
                                  examples=[0.2345])
    confidence: float = Field(description="Its confidence in [0, 1].", examples=[0.93])


class ProgressRead(BaseModel):
    stage: str = Field(description="queued, starting, probe, decode, speed, methods, coarse, "
                                   "refine, timeline, done, or the final status.",
                       examples=["refine"])
    fraction: float = Field(ge=0, le=1, description="Overall progress in [0, 1].",
                            examples=[0.8])
    percent: float = Field(ge=0, le=100, description="The same in percent.", examples=[80.0])
    message: str = Field(description="What is happening.", examples=["refining block 12/40"])
    window: int | None = Field(None, description="Block i of the current stage.",
                               examples=[12])
    windows: int | None = Field(None, description="Number of blocks of the current stage.",
                                examples=[40])
    estimate: Estimate | None = Field(None, description="Early estimate of the offset, once "
                                                        "the coarse search has one.")


class AnalysisLinks(BaseModel):
    self: str = Field(description="GET: status and result.",
                      examples=[f"/api/v1/analysis/{_EXAMPLE_ID}"])
    stream: str = Field(description="GET: Server-Sent Events of the progress.",
                        examples=[f"/api/v1/analysis/{_EXAMPLE_ID}/progress/stream"])
    cancel: str = Field(description="DELETE: cancel.",
                        examples=[f"/api/v1/analysis/{_EXAMPLE_ID}"])


class AnalysisSubmitted(BaseModel):
    analysis_id: str = Field(description="analysis_YYYYMMDD_HHMMSS_<8 hex>.",
                             examples=[_EXAMPLE_ID])
    status: JobStatus = Field(description="queued right after submission.")
    created_at: datetime
    links: AnalysisLinks


class BatchSubmitted(BaseModel):
    batch_id: str = Field(description="Id shared by the batch's analyses (filter the list "
                                      "with ?batch_id=).",
                          examples=["batch_20250101_120000_9f8e7d6c"])
    total: int = Field(description="Number of analyses created.", examples=[2])
    items: list[AnalysisSubmitted]


class EffectiveRequest(BaseModel):
    """The request as it will run: every default filled in, paths resolved."""

    master_file: str = Field(description="As submitted.")
    dub_file: str = Field(description="As submitted.")
    master_path: str = Field(description="Resolved absolute path (symlinks followed).")
    dub_path: str = Field(description="Resolved absolute path (symlinks followed).")
    methods: list[str]
    enable_ai: bool
    ai_model: str | None
    sample_rate: int
    window_size: float | None = Field(description="null = automatic.")
    confidence_threshold: float
    max_offset_seconds: float
    master_stream: int
    dub_stream: int
    master_channel: int | None
    dub_channel: int | None
    label: str | None = None
    workflow_id: str | None = Field(None, description="The analyze-and-repair workflow that "
                                                      "ran this analysis, if one did.")


class AudioInfoRead(BaseModel):
    model_config = ConfigDict(extra="allow")

    path: str
    container: str = Field(description="ffprobe's format name.", examples=["wav"])
    codec: str = Field(examples=["pcm_s24le"])
    sample_rate: int = Field(description="Native rate in Hz.", examples=[48000])
    channels: int = Field(examples=[6])
    channel_layout: str | None = Field(None, examples=["5.1"])
    duration_seconds: float
    stream_index: int
    analysed_seconds: float = Field(0.0, description="Seconds actually decoded.")


class MethodResultRead(BaseModel):
    model_config = ConfigDict(extra="allow")

    method: str = Field(examples=["correlation"])
    offset_seconds: float | None = Field(description="This method's offset (> 0 = dub late), "
                                                     "or null when it found none.")
    confidence: float = Field(description="In [0, 1].")
    peak_height: float
    peak_ratio: float = Field(description="Peak over the highest peak outside its main lobe.")
    search_range_seconds: list[float] = Field(description="[min, max] offsets searched.")
    resolution_seconds: float
    elapsed_seconds: float = 0.0
    polarity_inverted: bool | None = None
    diagnostics: dict[str, Any] = Field(default_factory=dict)


class SyncResultRead(BaseModel):
    """The engine's consensus (``SyncResult.to_dict()``); offset > 0 = dub late."""

    model_config = ConfigDict(extra="allow")

    offset_seconds: float | None = Field(description="How late the dub is, in seconds (for "
                                                     "drift and edits: at the start of the "
                                                     "master); null when nothing matched.",
                                         examples=[0.2345])
    confidence: float = Field(description="Consensus confidence in [0, 1].", examples=[0.97])
    reliable: bool = Field(description="confidence ≥ confidence_threshold.")
    verdict: str = Field(description="in_sync (|offset| ≤ 1 ms), constant_offset, drift, "
                                     "edited, or no_reliable_match.",
                         examples=["constant_offset"])
    reason: str = Field(description="Why this verdict.")
    offset_samples: int | None = Field(description="Offset in samples at the dub's native "
                                                   "rate.", examples=[11256])
    offset_frames: dict[str, float] = Field(description="Offset in frames per frame rate.",
                                            examples=[{"25": 5.86, "29.97": 7.03}])
    timecodes: dict[str, str] = Field(description="Signed timecode per frame rate.",
                                      examples=[{"25": "+00:00:00:05"}])
    polarity_inverted: bool
    agreement: float = Field(description="Share of the evidence that agrees with the offset.")
    support: float = Field(description="Share of the windows with sound that follow the "
                                       "fitted offset model.")
    methods: list[MethodResultRead]
    master: AudioInfoRead
    dub: AudioInfoRead
    overlap_seconds: float
    findings: list[str] = Field(default_factory=list,
                                description="Delivery faults noticed (e.g. polarity).")
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    options: dict[str, Any] = Field(default_factory=dict, description="Options as run.")
    engine_version: str = ""
    timeline: dict[str, Any] | None = Field(
        None, description="The offset along the programme: windows, segments, drift (speed "
                          "ratio), edits, with the thresholds used.")
    coverage: dict[str, Any] | None = Field(
        None, description="Which part of the master the dub covers (master_start/end in "
                          "seconds and timecode, covered_fraction, complete) and which it "
                          "lacks (missing: head, tail, inside, each with start/end/duration "
                          "and timecodes), and what the dub holds beyond the master "
                          "(dub_extra). Present when the offset is reliable.")
    placement: dict[str, Any] | None = Field(
        None, description="The whole-programme search: the coarse offset found over every "
                          "lag, its statistic z against the threshold z_threshold "
                          "(significant when cleared), the peak ratio, and the stretch of "
                          "master and dub then analysed (null when the whole tracks were).")


class _AnalysisBase(BaseModel):
    analysis_id: str = Field(examples=[_EXAMPLE_ID])
    status: JobStatus
    label: str | None = None
    batch_id: str | None = None
    master_file: str = Field(description="As submitted.", examples=["show/ep101_master.wav"])
    dub_file: str = Field(description="As submitted.", examples=["show/ep101_de.m4a"])
    progress: ProgressRead
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    elapsed_seconds: float | None = Field(None, description="Run time so far or in total.")
    attempts: int = Field(description="Times a worker started it (> 1 after a re-run).")
    error: ErrorDetail | None = Field(None, description="Why it failed, was cancelled or "
                                                        "interrupted.")
    links: AnalysisLinks


class AnalysisRead(_AnalysisBase):
    """Status, progress, timestamps, and the result when completed or the error when not."""

    request: EffectiveRequest
    result: SyncResultRead | None = Field(None, description="Present once completed.")


class AnalysisSummary(_AnalysisBase):
    """A line of the list: the headline numbers of the result, not all of it."""

    offset_seconds: float | None = Field(None, description="Result's offset (> 0 = dub late).")
    confidence: float | None = None
    verdict: str | None = None


class AnalysisList(BaseModel):
    items: list[AnalysisSummary]
    total: int = Field(description="Number of analyses matching the filters.")
    limit: int
    offset: int
