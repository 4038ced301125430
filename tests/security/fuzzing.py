"""What the fuzz test and ``bench/fuzz.py`` share: the server's settings and the checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.core.config import Settings

__all__ = ["FUZZ_CHECKS", "fuzz_settings", "api_schema"]

#: no 5xx; status code, content type, headers and body as the schema documents them
FUZZ_CHECKS: list[Any] = [not_a_server_error, status_code_conformance,
                          content_type_conformance, response_headers_conformance,
                          response_schema_conformance]


def fuzz_settings(root: Path, media: Path, **overrides: Any) -> Settings:
    """A service on temporary folders under ``root`` reading ``media``; one worker."""
    values: dict[str, Any] = {
        "MOUNT_PATH": media, "UPLOAD_DIR": root / "uploads", "OUTPUT_DIR": root / "output",
        "DATABASE_URL": f"sqlite:///{root / 'fuzz.db'}", "AI_MODEL_CACHE_DIR": root / "models",
        "MAX_WORKERS": 1, "LOG_LEVEL": "WARNING", "HEARTBEAT_SECONDS": 0.5,
        "INSTANCE_STALE_SECONDS": 5.0, "MAX_FILE_SIZE": 50 * 1024 * 1024,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def api_schema(**overrides: Any) -> dict[str, Any]:
    """The OpenAPI schema of the app for these settings (built in-process, no lifespan)."""
    from main import create_app

    settings = Settings(_env_file=None, LOG_LEVEL="WARNING", **overrides)  # type: ignore[call-arg]
    return create_app(settings).openapi()
