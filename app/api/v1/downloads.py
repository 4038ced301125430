"""File downloads answered by the API (repaired audio, reports, packages)."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import FileResponse

from app.services.workflows import MEDIA_TYPES

__all__ = ["attachment"]


def attachment(path: Path) -> FileResponse:
    """``path`` as a download named after the file, its media type from its suffix."""
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                        filename=path.name)
