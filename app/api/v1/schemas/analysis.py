"""Schemas of ``/api/v1/analysis``: submit, read, list, batch.

Sign convention: ``offset_seconds > 0`` means the dub is late.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.api.v1.schemas.common import ErrorDetail
from app.db.models import JobStatus
from app.engine import METHOD_NAMES
from app.engine.qc import PRESETS, ToleranceError, parse_tolerance
from app.engine.start_timecode import check_start_timecode
from app.services.requests import AnalysisRequest

__all__ = [
    "AnalysisOptionsIn",
    "ToleranceIn",
    "AnalysisCreate",
    "BatchCreate",
    "analysis_request",
    "Estimate",
    "ProgressRead",
    "AnalysisLinks",
    "AnalysisSubmitted",
    "BatchSubmitted",
    "EffectiveRequest",
    "AudioInfoRead",
    "MethodResultRead",
    "QcRead",
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
        None, min_length=1, max_length=len(METHOD_NAMES) + 1,
        description=f"Detection methods to run, among {list(METHOD_NAMES)} (and enabled by "
                    "ENABLED_METHODS); \"ai\" here is the same as enable_ai. Default: every "
                    "enabled classical method.",
        examples=[["correlation", "onset"]])
    enable_ai: bool = Field(False, description="Also run the AI method (ai_model, or the first "
                                               "embedding model of ENABLED_AI_MODELS). When "
                                               "the model cannot run here (ai not in "
                                               "ENABLED_METHODS, model not enabled or not "
                                               "installed) the analysis still runs: the ai "
                                               "method is listed as unavailable with the "
                                               "reason, and `warnings` says so.")
    ai_model: str | None = Field(None, max_length=64,
                                 description="AI model to use when enable_ai is true: "
                                             "spectral, basic_pitch, wav2vec2 or yamnet "
                                             "(another name is 422 unknown_ai_model).",
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


class ToleranceIn(BaseModel):
    """A delivery tolerance: how early and how late the dub (the audio) may be, in ms or in
    frames (at ``fps``, else the request's ``frame_rate``, else 25)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"early_ms": 40, "late_ms": 60}, {"early_frames": 1, "late_frames": 2, "fps": 25}]})

    early_ms: float | None = Field(None, ge=0, le=10_000,
                                   description="Most the dub may be early, in ms.")
    late_ms: float | None = Field(None, ge=0, le=10_000,
                                  description="Most the dub may be late, in ms.")
    early_frames: float | None = Field(None, ge=0, le=250,
                                       description="Most the dub may be early, in frames.")
    late_frames: float | None = Field(None, ge=0, le=250,
                                      description="Most the dub may be late, in frames.")
    fps: float | None = Field(None, gt=0, le=120, description="Frame rate of the frames.")

    @model_validator(mode="after")
    def _one_pair(self) -> ToleranceIn:
        parse_tolerance(self.model_dump(exclude_none=True))  # ToleranceError: a ValueError
        return self


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
    tolerance: str | ToleranceIn | None = Field(
        None, description="Delivery tolerance the result is judged against (its `qc`): a "
                          f"preset among {list(PRESETS)} (one_frame = ±1 frame at "
                          "frame_rate; ebu_r37 = 40 ms early / 60 ms late; itu_bt1359 = 45 ms "
                          "early / 125 ms late), or early/late limits in ms or frames. "
                          "Default: QC_TOLERANCE.",
        examples=["ebu_r37", {"early_ms": 40, "late_ms": 60}])
    frame_rate: float | None = Field(None, gt=0, le=120,
                                     description="The programme's frame rate, for one_frame, "
                                                 "tolerances in frames and the QC timecodes "
                                                 "(23.976 and 29.97 are the exact NTSC "
                                                 "rates). Default: 25.", examples=[25])
    master_start_timecode: str | None = Field(
        None, max_length=16,
        description="The master's start timecode, \"HH:MM:SS:FF\" or \"HH:MM:SS;FF\" "
                    "(drop-frame, 29.97/59.94 fps), at frame_rate (else the file's "
                    "timecode track rate, else 25; a drop-frame one alone implies 29.97). "
                    "Every master-time timecode shown (segments, edits, coverage, the QC's "
                    "worst offset, the conform export) is this start + master time. "
                    "Default: the file's own (BWF time_reference, MXF/MOV timecode), else "
                    "00:00:00:00; given, it overrides the file's.",
        examples=["10:00:00:00"])
    dub_start_timecode: str | None = Field(
        None, max_length=16,
        description="The dub's start timecode, as master_start_timecode: dub-time "
                    "timecodes (the conform export's source in/out, dub_extra) are this "
                    "start + dub time. Default: the file's own, else 00:00:00:00.",
        examples=["10:00:00:00"])

    @field_validator("master_start_timecode", "dub_start_timecode")
    @classmethod
    def _timecode_syntax(cls, value: str | None) -> str | None:
        check_start_timecode(value)  # TimecodeError (a ValueError): 422 naming the fault
        return value.strip() if value is not None else None

    @field_validator("tolerance")
    @classmethod
    def _known_preset(cls, value: str | ToleranceIn | None) -> str | ToleranceIn | None:
        if isinstance(value, str):
            name = value.strip().lower()
            if name not in PRESETS:
                raise ToleranceError(f"unknown tolerance preset {value!r}; known: "
                                     f"{list(PRESETS)}, or an object with early_ms/late_ms "
                                     "or early_frames/late_frames")
            return name
        return value

    def to_domain(self) -> AnalysisRequest:
        tolerance = self.tolerance  # limits without their nulls, as stored
        if isinstance(tolerance, ToleranceIn):
            tolerance = tolerance.model_dump(exclude_none=True)  # type: ignore[assignment]
        return AnalysisRequest(**{**self.model_dump(exclude={"tolerance"}),
                                  "tolerance": tolerance})


def analysis_request(values: dict[str, Any]) -> AnalysisRequest:
    """A batch row's request checked as a submission (pydantic's ValidationError) → domain."""
    return AnalysisCreate(**values).to_domain()


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
    conform: str | None = Field(
        None, description="GET once completed: the conform export (format=otio, edl or "
                          "fcpxml).",
        examples=[f"/api/v1/analysis/sync/{_EXAMPLE_ID}/conform?format=edl"])


class AnalysisSubmitted(BaseModel):
    analysis_id: str = Field(description="analysis_YYYYMMDD_HHMMSS_<8 hex>.",
                             examples=[_EXAMPLE_ID])
    status: JobStatus = Field(description="queued right after submission.")
    created_at: datetime
    links: AnalysisLinks
    warnings: list[str] = Field(default_factory=list, description=(
        "What will not run as asked (e.g. the ai method, with the reason)."))


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
    tolerance: str | dict[str, float] | None = Field(
        None, description="Delivery tolerance of the QC verdict: preset name or limits (null = "
                          "QC_TOLERANCE, for analyses stored before the QC gate).")
    frame_rate: float | None = Field(None, description="The programme's frame rate (null = "
                                                       "25).")
    workflow_id: str | None = Field(None, description="The analyze-and-repair workflow that "
                                                      "ran this analysis, if one did.")
    master_start_timecode: str | None = Field(None, description="The master's start "
                                                                "timecode as requested (null "
                                                                "= the file's own).")
    dub_start_timecode: str | None = Field(None, description="The dub's start timecode as "
                                                             "requested (null = the file's "
                                                             "own).")
    ai_unavailable: dict[str, Any] | None = Field(
        None, description="enable_ai asked for a model that cannot run here: model, reason, "
                          "expected_layout (the analysis runs the classical methods alone).")
    warnings: list[str] = Field(default_factory=list, description="What does not run as "
                                                                  "asked, and why.")


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
    start_timecode: dict[str, Any] | None = Field(
        None, description="The start timecode the file's tags carry (BWF time_reference, "
                          "MXF/MOV timecode), null when none.")


class MethodResultRead(BaseModel):
    model_config = ConfigDict(extra="allow")

    method: str = Field(examples=["correlation"])
    status: str = Field("ok", description="ok, or unavailable (an ai method that could not "
                                          "run here: `reason` and diagnostics say why and "
                                          "the expected install layout).")
    reason: str | None = Field(None, description="Why the method is unavailable.")
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


class QcRead(BaseModel):
    """The QC gate: the result judged against a delivery tolerance over the whole programme.

    Offsets in ms, > 0 = dub late, rounded to 0.1 ms (the precision the verdict compares)."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="PASS: the worst offset is within its limit; WARN: within "
                                    "it but beyond warn_fraction of it; FAIL: beyond it, "
                                    "programme material missing, or no reliable match.",
                        examples=["PASS"])
    tolerance: dict[str, Any] = Field(description="The tolerance applied: name, early_ms, "
                                                  "late_ms (fps when in frames).",
                                      examples=[{"name": "one_frame", "early_ms": 40.0,
                                                 "late_ms": 40.0, "fps": 25.0}])
    warn_fraction: float | None = Field(None, description="QC_WARN_FRACTION applied.")
    worst_offset_ms: float | None = Field(description="The offset nearest to (or furthest "
                                                      "beyond) its limit, over the covered "
                                                      "programme.", examples=[12.5])
    worst_at_master_seconds: float | None = Field(description="Where it is, in master time.")
    worst_at_timecode: str | None = Field(description="The same as timecode at fps.",
                                          examples=["00:42:10:05"])
    offset_start_ms: float | None = Field(description="Offset where the covered programme "
                                                      "starts.")
    offset_end_ms: float | None = Field(description="Offset where it ends (differs from the "
                                                    "start for drift and edits).")
    max_abs_offset_ms: float | None = Field(description="Largest |offset| over the covered "
                                                        "programme.")
    reason: str = Field(description="Why, in plain words.", examples=[
        "dub 12.5 ms late throughout, within the late limit of 40.0 ms (one_frame at 25 fps)"])


class SyncResultRead(BaseModel):
    """The engine's consensus (``SyncResult.to_dict()``); offset > 0 = dub late."""

    model_config = ConfigDict(extra="allow")

    offset_seconds: float | None = Field(description="How late the dub is, in seconds (for "
                                                     "drift and edits: at the start of the "
                                                     "master); null when nothing matched.",
                                         examples=[0.2345])
    confidence: float = Field(description="Consensus confidence in [0, 1].", examples=[0.97])
    reliable: bool = Field(description="A match: the evidence decided it (evidence.decision: "
                                       "p_false_alarm within the stated rate, a unique "
                                       "alignment, shared programme) and confidence ≥ "
                                       "confidence_threshold, unless the evidence is "
                                       "overwhelming (p_false_alarm ≤ 1e-7).")
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
                          "and timecodes; replaced_by_seconds where the dub holds other "
                          "material in its place), and what the dub holds beyond the master "
                          "(dub_extra). Present when the offset is reliable.")
    placement: dict[str, Any] | None = Field(
        None, description="The whole-programme search: the coarse offset found over every "
                          "lag, its statistic z against the threshold z_threshold "
                          "(significant when cleared), the peak ratio, alternatives (the "
                          "[offset, overlap] seconds of rival placements that match about as "
                          "well — the same music at several places — each analysed exactly "
                          "too), and the stretch of master and dub then analysed (null when "
                          "the whole tracks were).")
    evidence: dict[str, Any] | None = Field(
        None, description="What decided the verdict: signal (mix, shared sound — speech "
                          "de-weighted —, or one channel), and the decision: windows_agreeing "
                          "k of windows_with_sound n within tolerance_seconds, p_window, "
                          "hypotheses H, p_false_alarm = min(1, H·B(k; n, p)) against "
                          "threshold (the stated false-alarm rate), uniqueness (the fit over "
                          "the best other lag) and its runner_up_lag_seconds, shared (share of "
                          "the programme on the model), match, and the failed tests in words "
                          "(reasons).",
        examples=[{"signal": "mix", "decision": {
            "match": True, "windows_agreeing": 11, "windows_with_sound": 12,
            "tolerance_seconds": 5e-05, "p_false_alarm": 1.2e-38, "threshold": 0.0001,
            "uniqueness": 9.8, "shared": 0.92, "reasons": []}}])
    channels: dict[str, Any] | None = Field(
        None, description="Per-channel check of a multichannel dub: reference (matching or "
                          "downmix), per channel its label, status, the master channel it "
                          "carries, offset_seconds, relative_ms and frames against the others, "
                          "polarity_inverted, level_db against its counterpart, correlation "
                          "and z; faults (kind: offset, swapped, film_order, wrong_channel, "
                          "inverted, silent; the channels; the text) and findings in words.")
    warnings: list[str] = Field(default_factory=list, description="What did not run as "
                                                                  "asked (e.g. the ai method, "
                                                                  "with the reason).")
    programme_timecode: dict[str, Any] | None = Field(
        None, description="The programme clock of every timecode shown: fps (and "
                          "fps_source), and per file (master, dub) the start timecode used "
                          "with its source — request, file (tag: time_reference or "
                          "timecode) or none (00:00:00:00) — and the file's own label. "
                          "Offsets stay signed durations.",
        examples=[{"fps": 25.0, "fps_source": "master file timecode", "drop_frame": False,
                   "master": {"timecode": "10:00:00:00", "seconds": 36000.0,
                              "source": "file", "tag": "timecode"},
                   "dub": {"timecode": "00:00:00:00", "seconds": 0.0, "source": "none"}}])
    qc: QcRead | None = Field(
        None, description="The QC verdict (PASS / WARN / FAIL) against the request's "
                          "tolerance (or QC_TOLERANCE; GET ?tolerance= re-judges), on the "
                          "worst offset over the whole programme and the material missing.")


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
    warnings: list[str] = Field(default_factory=list, description="What does not run as "
                                                                  "asked (e.g. an unavailable "
                                                                  "AI model), and why.")


class AnalysisRead(_AnalysisBase):
    """Status, progress, timestamps, and the result when completed or the error when not."""

    request: EffectiveRequest
    result: SyncResultRead | None = Field(None, description="Present once completed.")


class AnalysisSummary(_AnalysisBase):
    """A line of the list: the headline numbers of the result, not all of it."""

    offset_seconds: float | None = Field(None, description="Result's offset (> 0 = dub late) "
                                                           "at the start of the master.")
    confidence: float | None = None
    verdict: str | None = None
    max_abs_offset_ms: float | None = Field(None, description="Largest |offset| over the "
                                                              "programme, in ms.")
    qc_status: str | None = Field(None, description="PASS, WARN or FAIL (see the result's qc).")


class AnalysisList(BaseModel):
    items: list[AnalysisSummary]
    total: int = Field(description="Number of analyses matching the filters.")
    limit: int
    offset: int
