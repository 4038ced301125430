"""Schema of ``GET /api/v1/analysis/sync/{analysis_id}/timeline``.

Times in seconds of the master; offsets > 0 mean the dub is late; timecodes at ``fps``:
master-time positions are programme timecode (the master's start timecode + master time),
offsets signed durations.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["TimelineWindowRead", "SegmentRead", "DriftRead", "EditRead", "TimelineRead"]


class TimelineWindowRead(BaseModel):
    start_seconds: float = Field(description="Window start, master time (s).", examples=[30.0])
    end_seconds: float = Field(description="Window end, master time (s).", examples=[40.0])
    start_timecode: str = Field(examples=["00:00:30:00"])
    end_timecode: str = Field(examples=["00:00:40:00"])
    offset_seconds: float | None = Field(description="Local offset (s), > 0 = dub late; null "
                                         "when the window has no confident match.",
                                         examples=[0.2345])
    offset_ms: float | None = Field(examples=[234.5])
    offset_frames: float | None = Field(examples=[5.86])
    confidence: float = Field(ge=0, le=1, examples=[0.93])
    source: str | None = Field(description="gcc (waveform) or features (pitch-robust).",
                               examples=["gcc"])
    status: str = Field(description="ok, weak (no confident match, e.g. dialogue only), "
                        "silence, outside (the dub does not cover it) or outlier.",
                        examples=["ok"])
    residual_seconds: float | None = Field(description="Window offset minus the fitted model.",
                                           examples=[0.00002])


class SegmentRead(BaseModel):
    master_start_seconds: float = Field(examples=[0.0])
    master_end_seconds: float = Field(examples=[40.1])
    master_start_timecode: str = Field(examples=["00:00:00:00"])
    master_end_timecode: str = Field(examples=["00:00:40:02"])
    dub_start_timecode: str | None = Field(None, description="Where the segment starts in the "
                                           "dub, on the dub's own timecode.",
                                           examples=["00:00:00:07"])
    dub_end_timecode: str | None = Field(None, examples=["00:00:40:09"])
    offset_start_seconds: float = Field(description="Offset at the segment's start (s).",
                                        examples=[0.3])
    offset_end_seconds: float = Field(description="Offset at the segment's end (s).",
                                      examples=[0.3])
    offset_start_timecode: str = Field(examples=["00:00:00:07"])
    offset_end_timecode: str = Field(examples=["00:00:00:07"])
    windows: int = Field(description="Windows that support the segment.", examples=[4])


class DriftRead(BaseModel):
    speed_ratio: float = Field(description="Dub speed relative to the master, > 1 when the "
                               "dub runs fast.", examples=[1.0416667])
    ppm: float = Field(description="(speed_ratio − 1)·1e6.", examples=[41666.7])
    conversion: str | None = Field(description="Standard conversion matched: 1000/1001, "
                                   "1001/1000, 25/24, 24/25, 25/23.976, 23.976/25.",
                                   examples=["25/24"])
    pitch_changed: bool | None = Field(description="True: resampled (pitch moved with speed); "
                                       "False: time-stretched (pitch kept).", examples=[True])
    total_seconds: float = Field(description="Offset change over the analysed programme (s).",
                                 examples=[-4.0])
    total_frames: float = Field(examples=[-100.0])
    fitted_speed_ratio: float | None = Field(
        None, description="The windows' own least-squares speed ratio; speed_ratio is the "
        "named conversion's exact ratio where the fit is statistically consistent with it "
        "(within 3 standard errors).", examples=[1.0416701])


class EditRead(BaseModel):
    master_time_seconds: float = Field(description="Where the offset jumps, master time (s).",
                                       examples=[40.1])
    master_timecode: str = Field(examples=["00:00:40:03"])
    kind: str = Field(description="removed (master material missing from the dub), inserted "
                      "(material added to the dub) or replaced (master material swapped in the "
                      "dub for other material, replacement_seconds long).",
                      examples=["removed"])
    duration_seconds: float = Field(description="Of the master material removed or replaced, "
                                    "or of the dub material inserted (s).", examples=[3.0])
    duration_frames: float = Field(examples=[75.0])
    offset_before_seconds: float = Field(examples=[0.3])
    offset_after_seconds: float = Field(examples=[-2.7])
    uncertainty_seconds: float = Field(description="± range of the location.", examples=[0.25])
    replacement_seconds: float = Field(
        0.0, description="replaced only: how long the other material in the dub lasts (s).",
        examples=[0.0])


class TimelineRead(BaseModel):
    """The offset over the whole programme: windows, fitted segments, drift, edits."""

    analysis_id: str = Field(examples=["analysis_20250101_120000_1a2b3c4d"])
    fps: float = Field(description="Frame rate of every timecode and frame count.",
                       examples=[25.0])
    programme_timecode: dict[str, Any] | None = Field(
        None, description="The start timecodes used (master, dub: timecode, seconds, source "
                          "request / file / none) and the programme frame rate.")
    verdict: str = Field(description="in_sync, constant_offset, drift, edited or "
                         "no_reliable_match.", examples=["edited"])
    reason: str = Field(examples=["1 edit(s): 3.000 s removed at 40.13 s"])
    model: str = Field(description="constant, drift, piecewise or none.",
                       examples=["piecewise"])
    offset_at_start_seconds: float | None = Field(examples=[0.3])
    offset_at_start_timecode: str | None = Field(examples=["00:00:00:07"])
    coverage: float = Field(description="Share of the windows with sound that follow the "
                            "model.", examples=[0.83])
    residual_rms_seconds: float | None = Field(examples=[0.00003])
    residual_max_seconds: float | None = Field(examples=[0.0001])
    window_seconds: float = Field(examples=[10.0])
    hop_seconds: float = Field(examples=[10.0])
    thresholds: dict[str, float] = Field(description="Thresholds of the model and verdict.")
    windows: list[TimelineWindowRead]
    segments: list[SegmentRead]
    drift: DriftRead | None
    edits: list[EditRead]
