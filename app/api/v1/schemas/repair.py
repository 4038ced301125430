"""Schemas of ``/api/v1/repair``: per-channel repair and repair from an analysis.

Sign convention: an offset > 0 means the dub (or that channel) is late; repair removes that much
from its head; < 0 pads silence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.services.requests import AnalysisRepairRequest, PerChannelRepairRequest

__all__ = [
    "OutputOptions",
    "PerChannelRepairCreate",
    "AnalysisRepairCreate",
    "RepairOutputRead",
    "RepairRead",
]

_EXAMPLE_ID = "repair_20250101_120000_1a2b3c4d"

OutputFormat = Literal["same", "wav", "flac"]


class OutputOptions(BaseModel):
    """How the repaired audio is written."""

    model_config = ConfigDict(extra="forbid")

    output_format: OutputFormat = Field(
        "same", description="`same`: the dub's own container and codec when it is PCM or FLAC "
                            "(bit depth, sample rate, channels and layout kept); a lossy or "
                            "video source becomes 24-bit WAV, never a second lossy generation. "
                            "`wav` or `flac` force that container.")
    output_codec: str | None = Field(
        None, max_length=32, description="An explicit codec, e.g. `pcm_s16le`, `flac`, or — "
                                         "only when asked — a lossy one (`aac`, `ac3`, "
                                         "`eac3`, `libmp3lame`).", examples=["pcm_s24le"])
    output_bitrate: str | None = Field(None, pattern=r"^\d{2,4}k$",
                                       description="Bitrate of a lossy output_codec.",
                                       examples=["256k"])
    match_master_duration: bool = Field(
        False, description="Trim or pad the tail so the output lasts exactly as long as the "
                           "master (at the dub's sample rate).")
    verify: bool = Field(True, description="Measure the repaired audio against the master "
                                           "again and report the residual (closed loop).")


class PerChannelRepairCreate(OutputOptions):
    """One offset per channel, applied sample-accurately to a multichannel file or to a
    multi-mono set. Without ``offsets_seconds`` each channel is first measured against the
    master's matching channel (or downmix)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"dub_file": "show/ep101_de_51.wav", "master_file": "show/ep101_master_51.wav",
         "offsets_seconds": [0.0, 0.0, 0.12, 0.0, 0.0, 0.0], "match_master_duration": True},
        {"dub_files": ["show/ep101_de_L.wav", "show/ep101_de_R.wav"],
         "master_file": "show/ep101_master.wav"}]})

    dub_file: str | None = Field(None, min_length=1, max_length=4096,
                                 description="One multichannel file (interleaved).",
                                 examples=["show/ep101_de_51.wav"])
    dub_files: list[str] | None = Field(
        None, min_length=1, max_length=64,
        description="A multi-mono set: one mono file per channel, in channel order.")
    master_file: str | None = Field(
        None, min_length=1, max_length=4096,
        description="The master: needed to measure the offsets (when offsets_seconds is "
                    "left out), to verify, and for match_master_duration.",
        examples=["show/ep101_master_51.wav"])
    offsets_seconds: list[float] | None = Field(
        None, min_length=1, max_length=64,
        description="One offset per channel in seconds (> 0: that channel is late, its head "
                    "is removed; < 0: silence is padded). Left out: measured per channel.",
        examples=[[0.0, 0.0, 0.12, 0.0, 0.0, 0.0]])
    reference: Literal["auto", "matching", "downmix"] = Field(
        "auto", description="What each dub channel is measured against: the master's "
                            "matching channel, its downmix, or auto (matching when the "
                            "channel counts agree).")
    max_offset_seconds: float | None = Field(None, gt=0, le=600,
                                             description="Search range ± in seconds when "
                                                         "measuring. Default: server default.")
    output_name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,100}$",
                                    description="Base name of the output file(s) (no folder).",
                                    examples=["ep101_de_51_fixed"])

    @model_validator(mode="after")
    def _one_input(self) -> PerChannelRepairCreate:
        if (self.dub_file is None) == (self.dub_files is None):
            raise ValueError("give exactly one of dub_file (one multichannel file) or "
                             "dub_files (a multi-mono set)")
        if self.offsets_seconds is None and self.master_file is None:
            raise ValueError("without offsets_seconds the master_file is needed to measure "
                             "each channel")
        if self.offsets_seconds is not None and any(abs(o) > 600 for o in self.offsets_seconds):
            raise ValueError("offsets_seconds: each offset must be within ±600 s")
        return self

    def to_domain(self) -> PerChannelRepairRequest:
        return PerChannelRepairRequest(**self.model_dump())


class AnalysisRepairCreate(OutputOptions):
    """Repair the dub of a completed analysis from its result: a constant offset, drift
    (resampled or time-stretched back to the master's clock) or edits (silence where the dub
    lacks material, inserted material removed, 5 ms crossfades)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"analysis_id": "analysis_20250101_120000_1a2b3c4d", "match_master_duration": True}]})

    analysis_id: str = Field(max_length=64, description="A completed analysis.",
                             examples=["analysis_20250101_120000_1a2b3c4d"])
    drift_method: Literal["auto", "resample", "time_stretch"] = Field(
        "auto", description="Drift: `resample` (pitch moved with the speed, restored too), "
                            "`time_stretch` (pitch kept), `auto` (as the analysis found).")
    output_name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,100}$",
                                    description="Base name of the output file (no folder).")

    def to_domain(self) -> AnalysisRepairRequest:
        return AnalysisRepairRequest(**self.model_dump())


class RepairOutputRead(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(description="File name under the repair's folder.",
                      examples=["ep101_de_51_repaired.wav"])
    download: str = Field(description="GET this to download it.")
    codec: str = Field(examples=["pcm_s24le"])
    bits: int = Field(description="Bit depth (0: lossy).", examples=[24])
    sample_rate: int = Field(examples=[48000])
    channels: int = Field(examples=[6])
    channel_layout: str | None = Field(None, examples=["5.1"])
    duration_seconds: float
    size_bytes: int
    sha256: str


class RepairRead(BaseModel):
    """A finished repair: what was applied, the files written and the closed-loop check."""

    model_config = ConfigDict(extra="allow")

    repair_id: str = Field(examples=[_EXAMPLE_ID])
    kind: str = Field(description="per_channel, or for a repair from an analysis: constant, "
                                  "drift or edits.", examples=["per_channel"])
    created_at: datetime
    elapsed_seconds: float
    request: dict[str, Any] = Field(description="The request with paths resolved.")
    channels: list[dict[str, Any]] | None = Field(
        None, description="Per-channel: index, label, offset applied (seconds and samples), "
                          "whether it was measured or inferred.")
    analysis: dict[str, Any] | None = Field(None, description="The per-channel measurement "
                                                              "when offsets were measured.")
    plan: dict[str, Any] | None = Field(None, description="Repair from an analysis: the "
                                                          "operations applied.")
    outputs: list[RepairOutputRead]
    verification: dict[str, Any] | None = Field(
        None, description="The repaired audio measured again against the master: residual "
                          "offset(s), tolerance, passed.")
    links: dict[str, str]
