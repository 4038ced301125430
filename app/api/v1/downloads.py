"""File downloads answered by the API (repaired audio, reports, packages), and the one
``Content-Disposition`` header every download route sends."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi.responses import FileResponse

__all__ = ["attachment", "content_disposition", "MEDIA_TYPES"]

#: Content-Type of a download, by file suffix (else application/octet-stream)
MEDIA_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".aiff": "audio/aiff",
               ".w64": "audio/x-w64", ".m4a": "audio/mp4", ".mp3": "audio/mpeg",
               ".ac3": "audio/ac3", ".eac3": "audio/eac3", ".json": "application/json",
               ".html": "text/html; charset=utf-8", ".md": "text/markdown; charset=utf-8",
               ".zip": "application/zip", ".png": "image/png"}


def _fallback(filename: str) -> str:
    """``filename`` reduced to printable ASCII for ``filename="…"``: anything else, and the
    characters that would end or break the quoted string or the header (``"``, ``\\``, ``;``,
    CR/LF), become ``_``."""
    return "".join(ch if " " <= ch <= "~" and ch not in '"\\;' else "_" for ch in filename)


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A ``Content-Disposition`` value (RFC 6266) naming ``filename``, whatever it holds.

    Always pure ASCII, so building the header never fails: ``filename="…"`` is an ASCII
    fallback, and when the name is not plain safe ASCII, ``filename*=UTF-8''…`` (RFC 5987)
    carries the exact name, percent-encoded (bytes a file system name could not decode are
    encoded as they are)."""
    if disposition not in ("attachment", "inline"):
        raise ValueError(f"disposition {disposition!r}: attachment or inline")
    fallback = _fallback(filename) or "download"
    value = f'{disposition}; filename="{fallback}"'
    if filename and (fallback != filename or "%" in filename):
        encoded = quote(filename.encode("utf-8", "surrogateescape"), safe="")
        value += f"; filename*=UTF-8''{encoded}"
    return value


def attachment(path: Path, *, disposition: str = "attachment") -> FileResponse:
    """``path`` as a download named after the file, its media type from its suffix."""
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                        headers={"Content-Disposition": content_disposition(path.name,
                                                                            disposition)})
