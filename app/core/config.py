"""Settings of the service, read from the environment and ``.env`` (see ``.env.example``).

Every field is typed and carries its unit in its name or description; validators fail at
start-up with a message naming the bad setting.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.engine import METHOD_NAMES

__all__ = ["Settings", "get_settings", "API_PREFIX", "DEFAULT_SECRET_KEY", "AI_METHOD",
           "SETTING_METHODS"]

API_PREFIX = "/api/v1"
DEFAULT_SECRET_KEY = "change-me-in-production"
_logger = logging.getLogger(__name__)

CsvList = Annotated[list[str], NoDecode]

#: the AI method's name in ENABLED_METHODS and a request's ``methods`` (``enable_ai``)
AI_METHOD = "ai"
#: what ENABLED_METHODS may list: the engine's classical methods and the AI method
SETTING_METHODS: tuple[str, ...] = (*METHOD_NAMES, AI_METHOD)


def _split_csv(value: Any) -> Any:
    """``"a, b"`` → ``["a", "b"]``; a JSON-style list string and real lists pass through."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """All settings of the product. Paths may be relative to the working directory."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", validate_default=True
    )

    # --- server -------------------------------------------------------------------------
    PROJECT_NAME: str = "Sync Analyzer"
    DEBUG: bool = Field(False, description="verbose errors and debug logging")
    HOST: str = Field("0.0.0.0", description="interface uvicorn binds to")
    PORT: int = Field(8000, ge=1, le=65535, description="TCP port uvicorn listens on")
    SECRET_KEY: str = Field(DEFAULT_SECRET_KEY, min_length=8, description=(
        "HMAC key of the signed URLs (GET /api/v1/auth/signed-url) that browsers fetch by "
        "themselves: progress streams, audio players, downloads"))
    SIGNED_URL_TTL_SECONDS: int = Field(300, ge=10, le=86400, description=(
        "lifetime of a signed URL in seconds"))
    API_KEY_IN_QUERY: bool = Field(False, description=(
        "legacy: also accept an API key as ?api_key= on GET requests (keys in URLs end up in "
        "proxy and access logs; use signed URLs instead)"))
    ALLOWED_HOSTS: CsvList = Field(default_factory=lambda: ["*"])
    ALLOWED_ORIGINS: CsvList = Field(default_factory=lambda: ["*"])
    API_KEYS: CsvList = Field(default_factory=list, description=(
        "API keys, comma-separated: KEY or sha256:<64 hex> (the key's SHA-256), each optionally "
        "followed by :read (read-only) or :write (read + analyse/repair, the default). "
        "Empty = no authentication"))

    # --- files ----------------------------------------------------------------------------
    MOUNT_PATH: Path = Field(Path("./data/media"), description="shared storage root (read)")
    UPLOAD_DIR: Path = Field(Path("./data/uploads"), description="uploaded files (read/write)")
    OUTPUT_DIR: Path = Field(Path("./data/output"), description="repaired files, reports and "
                             "packages written by the service (nothing is written elsewhere)")
    MAX_FILE_SIZE: int = Field(10 * 1024**3, gt=0, description="bytes")

    # --- analysis -------------------------------------------------------------------------
    ENABLED_METHODS: CsvList = Field(
        default_factory=lambda: list(SETTING_METHODS), description=(
            "methods offered: correlation, mfcc, onset, spectral and ai (the AI method, asked "
            "for per request with enable_ai; its models: ENABLED_AI_MODELS)"))
    ENABLED_AI_MODELS: CsvList = Field(default_factory=list)
    DEFAULT_SAMPLE_RATE: int = Field(16000, ge=4000, le=48000, description="Hz")
    DEFAULT_WINDOW_SIZE: float | None = Field(
        None, ge=1, le=600, description="seconds; empty = automatic (engine's choice)")
    DEFAULT_CONFIDENCE_THRESHOLD: float = Field(0.5, ge=0.0, le=1.0)
    DEFAULT_MAX_OFFSET_SECONDS: float = Field(120.0, gt=0, le=600)

    # --- QC gate (app.engine.qc) -------------------------------------------------------------
    QC_TOLERANCE: str = Field("one_frame", description=(
        "delivery tolerance of requests that give none: a preset (one_frame, ebu_r37, "
        "itu_bt1359) or a JSON object {\"early_ms\": x, \"late_ms\": y} or "
        "{\"early_frames\": x, \"late_frames\": y, \"fps\": f}"))
    QC_WARN_FRACTION: float = Field(0.8, ge=0.0, le=1.0, description=(
        "QC is WARN when the worst offset is within its limit but beyond this fraction of it"))

    # --- AI models --------------------------------------------------------------------------
    AI_MODEL_CACHE_DIR: Path = Field(Path("./ai_models"))
    USE_GPU: bool = False
    AI_BATCH_SIZE: int = Field(8, ge=1, le=1024)

    # --- logging ----------------------------------------------------------------------------
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    LOG_FILE: Path | None = None
    LOG_FORMAT: Literal["json", "text"] = Field(
        "text", description="json: one JSON object a line; text: time level logger key=value")
    LOG_MAX_BYTES: int = Field(10 * 1024 * 1024, ge=1024, description="LOG_FILE rotation size")
    LOG_BACKUP_COUNT: int = Field(5, ge=1, le=1000, description="rotated LOG_FILE copies kept")

    # --- limits -----------------------------------------------------------------------------
    ENABLE_RATE_LIMITING: bool = False
    RATE_LIMIT_PER_MINUTE: int = Field(60, ge=1)
    MAX_REQUEST_BODY: int = Field(1024 * 1024, ge=1024, description=(
        "bytes; largest request body other than a file upload (multipart/form-data, which "
        "MAX_FILE_SIZE bounds)"))

    # --- jobs and storage ---------------------------------------------------------------------
    DATABASE_URL: str = "sqlite:///./data/sync_analyzer.db"
    MAX_WORKERS: int = Field(2, ge=1, le=64)
    WORKER_NICENESS: int = Field(10, ge=0, le=19)
    MAX_QUEUED_JOBS: int = Field(1000, ge=1)
    REPAIR_MAX_PENDING: int = Field(0, ge=0, le=10000, description=(
        "repairs admitted at once (running in the repair pool of MAX_WORKERS threads + "
        "waiting); beyond, 503 repair_queue_full with Retry-After. 0 = 2 x MAX_WORKERS"))
    PROXY_MAX_CONCURRENT: int = Field(4, ge=1, le=1000, description=(
        "proxy-audio transcodes (one ffmpeg each) streaming at once; beyond, 503 proxy_busy "
        "with Retry-After"))
    BATCH_MAX_ITEMS: int = Field(100, ge=1, le=10000)
    JOB_MAX_ATTEMPTS: int = Field(2, ge=1, le=10)
    PROGRESS_DB_INTERVAL_SECONDS: float = Field(0.5, ge=0.0, le=60.0)
    SSE_PING_SECONDS: float = Field(15.0, gt=0.0, le=300.0)
    HEARTBEAT_SECONDS: float = Field(2.0, gt=0.0, le=60.0)
    INSTANCE_STALE_SECONDS: float = Field(30.0, gt=0.0)

    # --- scale-out (issue 10): where analyses run ------------------------------------------
    JOB_BACKEND: Literal["local", "celery"] = Field(
        "local", description="local: this process's thread pool; celery: Celery workers "
        "(celery -A app.worker worker) through the Redis broker CELERY_BROKER_URL")
    CELERY_BROKER_URL: str = Field(
        "redis://localhost:6379/0", description="Redis URL: Celery broker, progress events "
        "(pub/sub), cancel messages and worker heartbeats")
    CELERY_VISIBILITY_TIMEOUT_SECONDS: float = Field(
        3600.0, ge=1.0, description="seconds an unacknowledged task stays with its worker "
        "before the broker hands it to another; must exceed the longest analysis")
    CELERY_TASK_MAX_RETRIES: int = Field(
        3, ge=0, le=20, description="retries of a task that met a broker/database outage")
    CELERY_GPU_QUEUE: str = Field(
        "gpu", min_length=1, description="queue of AI-method analyses (set to 'analysis' "
        "when no GPU worker runs)")

    @field_validator("ALLOWED_HOSTS", "ALLOWED_ORIGINS", "ENABLED_METHODS",
                     "ENABLED_AI_MODELS", "API_KEYS", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("QC_TOLERANCE")
    @classmethod
    def _qc_tolerance(cls, value: str) -> str:
        from app.engine.qc import parse_tolerance

        parse_tolerance(value)  # ToleranceError (a ValueError) names the problem
        return value.strip()

    @field_validator("API_KEYS")
    @classmethod
    def _api_keys(cls, value: list[str]) -> list[str]:
        from app.core.security import parse_api_key

        for i, entry in enumerate(value):
            parse_api_key(entry, index=i)  # ValueError names the entry (never the key itself)
        return value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("ENABLED_METHODS")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        methods = [m.lower() for m in value]
        unknown = [m for m in methods if m not in SETTING_METHODS]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; known: {list(SETTING_METHODS)}")
        if not any(m in METHOD_NAMES for m in methods):
            raise ValueError(f"at least one of {list(METHOD_NAMES)} is required (the ai method "
                             "runs beside them)")
        return list(dict.fromkeys(methods))

    @field_validator("ENABLED_AI_MODELS")
    @classmethod
    def _ai_names(cls, value: list[str]) -> list[str]:
        from app.engine.ai.registry import MODEL_NAMES

        names = list(dict.fromkeys(v.lower() for v in value))
        unknown = [n for n in names if n not in MODEL_NAMES]
        if unknown:
            raise ValueError(f"unknown AI model(s) {unknown}; known: {list(MODEL_NAMES)}")
        return names

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a SQLAlchemy database URL: {value!r}") from exc
        return value

    @field_validator("CELERY_BROKER_URL")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"CELERY_BROKER_URL={value!r}: a Redis URL (redis://host:6379/0) "
                             "is required (the broker also carries progress events)")
        return value

    @model_validator(mode="after")
    def _check_paths(self) -> Settings:
        # MOUNT_PATH is someone else's storage: when configured it must exist. Left at its
        # default (a folder under ./data) it is created at start-up like UPLOAD_DIR.
        if "MOUNT_PATH" in self.model_fields_set and not self.MOUNT_PATH.is_dir():
            raise ValueError(
                f"MOUNT_PATH={str(self.MOUNT_PATH)!r} is not an existing directory "
                "(mount the shared storage there or point MOUNT_PATH at it)"
            )
        for name in ("UPLOAD_DIR", "OUTPUT_DIR", "AI_MODEL_CACHE_DIR"):
            path: Path = getattr(self, name)
            if path.exists() and not path.is_dir():
                raise ValueError(f"{name}={str(path)!r} exists and is not a directory")
        if self.INSTANCE_STALE_SECONDS <= 2 * self.HEARTBEAT_SECONDS:
            raise ValueError("INSTANCE_STALE_SECONDS must exceed twice HEARTBEAT_SECONDS")
        return self

    # --- helpers ------------------------------------------------------------------------------
    @property
    def signing_secret(self) -> str:
        """SECRET_KEY, or (left at its public default) a random key of this process, so that
        signed URLs can never be forged with the default."""
        if self.SECRET_KEY != DEFAULT_SECRET_KEY:
            return self.SECRET_KEY
        return _process_secret()

    @property
    def engine_methods(self) -> list[str]:
        """The enabled classical methods (ENABLED_METHODS without ``ai``), in their order."""
        return [m for m in self.ENABLED_METHODS if m != AI_METHOD]

    @property
    def ai_method_enabled(self) -> bool:
        """Whether ENABLED_METHODS offers the AI method (requests still ask with enable_ai)."""
        return AI_METHOD in self.ENABLED_METHODS

    @property
    def mount_root(self) -> Path:
        """MOUNT_PATH resolved (symlinks followed)."""
        return self.MOUNT_PATH.expanduser().resolve()

    @property
    def upload_root(self) -> Path:
        """UPLOAD_DIR resolved (symlinks followed)."""
        return self.UPLOAD_DIR.expanduser().resolve()

    @property
    def output_root(self) -> Path:
        """OUTPUT_DIR resolved (symlinks followed)."""
        return self.OUTPUT_DIR.expanduser().resolve()

    def ensure_directories(self) -> None:
        """Create the folders the service owns (upload folder, SQLite folder, default mount)."""
        if "MOUNT_PATH" not in self.model_fields_set:
            self.MOUNT_PATH.mkdir(parents=True, exist_ok=True)
        self.UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
        self.OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        database = self.sqlite_path
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        if self.LOG_FILE is not None:
            self.LOG_FILE.parent.mkdir(parents=True, exist_ok=True)

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file of DATABASE_URL, or None for another database or in-memory."""
        from sqlalchemy.engine import make_url

        url = make_url(self.DATABASE_URL)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database)

    def warnings(self) -> list[str]:
        """Settings that work but deserve a warning at start-up."""
        notes = []
        if self.SECRET_KEY == DEFAULT_SECRET_KEY and not self.DEBUG:
            notes.append("SECRET_KEY is the default: set a long random value in production "
                         "(meanwhile signed URLs use a random key of this process, not valid "
                         "on other instances or workers, nor after a restart)")
        if "*" in self.ALLOWED_ORIGINS and not self.DEBUG:
            notes.append("ALLOWED_ORIGINS allows any origin ('*')")
        if self.ENABLED_AI_MODELS and not self.ai_method_enabled:
            notes.append(f"ENABLED_AI_MODELS={self.ENABLED_AI_MODELS} but ENABLED_METHODS does "
                         "not list \"ai\": the AI method is disabled")
        if self.JOB_BACKEND == "celery" and self.sqlite_path is not None:
            notes.append("JOB_BACKEND=celery with a SQLite DATABASE_URL: only workers on this "
                         "machine can share it; use PostgreSQL for several machines")
        return notes


@lru_cache(maxsize=1)
def _process_secret() -> str:
    import secrets

    return secrets.token_hex(32)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()  # type: ignore[call-arg]
