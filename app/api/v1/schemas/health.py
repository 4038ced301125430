"""Schema of ``/api/v1/health``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HealthRead", "HealthStatusRead", "LiveRead", "ComponentStatusRead",
           "SystemComponentHealth"]

Status = Literal["ok", "degraded", "error", "disabled"]


class _Component(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Status = Field(description="ok, degraded (works, needs attention), error, disabled.")


class FfmpegHealth(_Component):
    path: str | None = Field(description="Path of the ffmpeg binary.", examples=["/usr/bin/ffmpeg"])
    version: str | None = Field(description="First line of `ffmpeg -version`.",
                                examples=["ffmpeg version 5.1.6-0+deb12u1"])


class FolderHealth(BaseModel):
    model_config = ConfigDict(extra="allow")

    path: str
    exists: bool
    readable: bool
    writable: bool = Field(description="A file could be created there just now.")
    free_bytes: int | None = None
    total_bytes: int | None = None
    status: Status


class FilesystemHealth(_Component):
    mount: FolderHealth = Field(description="MOUNT_PATH (must be readable).")
    upload: FolderHealth = Field(description="UPLOAD_DIR (must be writable).")
    output: FolderHealth | None = Field(None, description="OUTPUT_DIR (must be writable, with "
                                        "at least 1 MiB free).")


class AiModelsHealth(_Component):
    enabled: list[str] = Field(description="ENABLED_AI_MODELS.")
    cache_dir: str
    cache_dir_exists: bool
    use_gpu: bool
    batch_size: int
    models: list[dict[str, Any]] = Field(description="Per model: name, available, reason.")


class JobsHealth(_Component):
    instance_id: str
    workers: int
    busy: int
    queued_here: int
    running_here: list[str]
    accepting: bool
    subscribers: int = Field(description="Open progress streams.")
    max_workers: int
    backend: Literal["local", "celery"] = Field(
        "local", description="JOB_BACKEND: this process's threads, or Celery workers.")
    broker: dict[str, Any] | None = Field(
        None, description="celery: the Redis broker's url (password hidden), reachable, "
                          "latency_ms or error.")
    workers_seen: list[dict[str, Any]] | None = Field(
        None, description="celery: workers with a live heartbeat (name, hostname, pid, "
                          "queues, concurrency, last_seen_seconds).")
    queue_lengths: dict[str, int] | None = Field(
        None, description="celery: tasks waiting per queue.")
    note: str | None = Field(None, description="Why the status is not ok.")


class JobErrorsHealth(_Component):
    recent: list[dict[str, Any]] = Field(description="Failed or interrupted analyses and "
                                         "workflows of the past hour, newest first: kind, id, "
                                         "status, code, message, finished_at.")
    note: str | None = Field(None, description="The service-side failure (internal_error, "
                                               "disk_full, ffmpeg_unavailable) of the last 15 "
                                               "minutes that makes the status degraded.")


class SystemHealth(BaseModel):
    model_config = ConfigDict(extra="allow")

    cpu_count: int | None
    cpu_percent: float
    load_average: list[float] | None = Field(description="1, 5 and 15-minute load.")
    memory: dict[str, float]
    process: dict[str, int]
    gpu: dict[str, Any] | str = Field(description='GPUs seen through NVML or torch.cuda, or '
                                                  '"none".', examples=["none"])
    python: str
    platform: str


class SystemComponentHealth(SystemHealth):
    """``/health/system``: the system record with its status (always ok: the process
    answers)."""

    status: Status = "ok"


class ComponentStatusRead(BaseModel):
    """A component's status without a (valid) API key while API_KEYS is set."""

    component: str = Field(examples=["ffmpeg"])
    status: Status
    details: str = Field(default="send an API key (X-API-Key) for the component's details",
                         description="Why the details are left out.")


class HealthRead(BaseModel):
    """Overall status (the worst component) and each component's details."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    status: Literal["ok", "degraded", "error"] = Field(
        description="ok, degraded, or error (then the response is 503).")
    components: dict[str, Status] = Field(description="Status of each component.",
                                          examples=[{"database": "ok", "ffmpeg": "ok",
                                                     "ai-models": "disabled",
                                                     "filesystem": "ok", "jobs": "ok"}])
    service: str
    engine_version: str
    uptime_seconds: float
    database: dict[str, Any] = Field(description="url (password hidden), dialect, latency, "
                                                 "journal mode, analyses per status.")
    ffmpeg: FfmpegHealth
    ai_models: AiModelsHealth = Field(alias="ai-models")
    filesystem: FilesystemHealth
    jobs: JobsHealth
    job_errors: JobErrorsHealth | None = Field(None, alias="job-errors")
    system: SystemHealth


class HealthStatusRead(BaseModel):
    """Health without a (valid) API key while API_KEYS is set: the status of the service and
    of each component only — the details (paths, broker, instance, system) need a key."""

    status: Literal["ok", "degraded", "error"] = Field(
        description="ok, degraded, or error (then the response is 503).")
    components: dict[str, Status] = Field(description="Status of each component.")
    service: str
    details: str = Field(default="send an API key (X-API-Key) for the components' details",
                         description="Why the details are left out.")


class LiveRead(BaseModel):
    status: Literal["ok"] = "ok"
