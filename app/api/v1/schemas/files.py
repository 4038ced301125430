"""Schemas of ``/api/v1/files``: listing, probe, uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FileEntry", "DirectoryListing", "StreamRead", "ProbeFlags", "ProbeRead",
           "UploadLinks", "UploadRead", "UploadDeleted"]


class FileEntry(BaseModel):
    name: str = Field(examples=["ep101_master.wav"])
    path: str = Field(description="Absolute path (usable as master_file/dub_file).",
                      examples=["/mnt/programmes/show/ep101_master.wav"])
    relative_path: str = Field(description="Path inside its root.",
                               examples=["show/ep101_master.wav"])
    type: str = Field(description="directory, file or other.", examples=["file"])
    size_bytes: int | None = Field(None, description="Files only.")
    modified: str | None = Field(None, description="Last modification, UTC ISO 8601.")
    symlink: bool = Field(description="The entry is a symbolic link (inside the roots).")
    media: str | None = Field(None, description="audio or video by extension, else null.")
    is_audio: bool
    is_video: bool


class DirectoryListing(BaseModel):
    path: str = Field(description="The folder listed, resolved.")
    root: str = Field(description="mount (MOUNT_PATH) or upload (UPLOAD_DIR).")
    relative_path: str = Field(description="The folder inside its root ('' = the root).")
    parent: str | None = Field(None, description="The parent folder, null at a root.")
    items: list[FileEntry]
    total: int = Field(description="Entries in the folder (after hiding).")
    limit: int
    offset: int


class StreamRead(BaseModel):
    """One stream as ffprobe sees it, plus the Dolby flags of audio streams."""

    model_config = ConfigDict(extra="allow")

    index: int | None = Field(None, description="ffprobe's stream index.")
    type: str = Field(description="audio, video, subtitle, data.")
    audio_index: int | None = Field(None, description="Index among audio streams (what "
                                                      "master_stream/dub_stream take).")
    codec: str | None = Field(None, examples=["eac3"])
    profile: str | None = None
    language: str | None = Field(None, examples=["deu"])
    sample_rate: int | None = None
    channels: int | None = None
    channel_layout: str | None = Field(None, examples=["5.1(side)"])
    bit_depth: int | None = None
    eac3: bool | None = Field(None, description="Dolby Digital Plus (E-AC-3).")
    atmos: bool | None = Field(None, description="E-AC-3 carrying Dolby Atmos (JOC): true or "
                                                 "false when it could be read, null "
                                                 "otherwise.")
    atmos_evidence: str | None = None
    dolby_e: bool | None = Field(None, description="Dolby E (SMPTE 337M) found in this "
                                                   "stream.")
    dolby_e_evidence: str | None = None
    dolby_e_channels: list[int] | None = Field(None, description="The channel pair carrying "
                                                                 "it.")


class ProbeFlags(BaseModel):
    eac3: bool
    atmos: bool | None
    dolby_e: bool


class ProbeRead(BaseModel):
    """ffprobe summarised, with the Dolby flags and ffprobe's own JSON (``raw``)."""

    model_config = ConfigDict(extra="allow")

    path: str | None = None
    name: str | None = None
    container: str | None = Field(None, examples=["wav"])
    container_long_name: str | None = None
    duration_seconds: float | None = None
    size_bytes: int | None = None
    bit_rate: int | None = None
    audio_streams: int
    video_streams: int
    video_frame_rate: float | None = None
    start_timecode: dict[str, Any] | None = Field(
        None, description="The start timecode the file's tags carry: BWF time_reference "
                          "(samples since midnight), or the MXF/MOV timecode (label and the "
                          "track's fps); null when none.",
        examples=[{"tag": "timecode", "timecode": "10:00:00:00", "fps": 25.0,
                   "where": "format"}])
    streams: list[StreamRead]
    flags: ProbeFlags
    raw: dict[str, Any] | None = Field(None, description="ffprobe -show_format "
                                                         "-show_streams, as JSON.")


class UploadLinks(BaseModel):
    self: str
    raw: str
    proxy: str
    probe: str


class UploadRead(BaseModel):
    file_id: str = Field(examples=["file_20250101_120000_1a2b3c4d"])
    name: str = Field(description="Stored (sanitised) file name.")
    original_name: str = Field(description="The name the client sent.")
    path: str = Field(description="Where it is stored: use it as master_file/dub_file.")
    size_bytes: int
    sha256: str
    content_type: str | None = None
    created_at: datetime
    exists: bool = Field(description="The file is still on disk.")
    probe: ProbeRead | None = None
    links: UploadLinks


class UploadDeleted(BaseModel):
    file_id: str
    deleted: bool = True
    path: str
