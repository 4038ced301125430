"""The conform export of a finished analysis: its timeline's segments and edits as an edit
decision list (OTIO JSON, CMX 3600 EDL, FCP 7 XML) — see :mod:`app.engine.conform`.

Record side: the master's programme timecode; source side: the dub's own timecode.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.core.errors import ConflictError, UnprocessableError
from app.db.models import AnalysisRow, JobStatus
from app.engine.conform import FORMATS, build_timeline, write_conform
from app.engine.types import SyncResult, Verdict

__all__ = ["FORMATS", "conform_export", "conform_files"]

_logger = logging.getLogger(__name__)


def _usable(row: AnalysisRow) -> dict[str, Any]:
    """The result of ``row``; 409 when it has not completed or found no match."""
    if row.status != JobStatus.COMPLETED:
        raise ConflictError(
            f"analysis {row.id} is {row.status}: its conform export exists once it has "
            "completed", code="analysis_not_completed", details={"status": str(row.status)})
    result = row.result or {}
    if not _has_match(result):
        raise ConflictError(
            f"analysis {row.id} found no reliable match, so there is nothing to conform",
            code="no_match", details={"verdict": result.get("verdict")})
    return result


def _has_match(result: Mapping[str, Any]) -> bool:
    """Whether ``result`` (a stored :class:`SyncResult`) found an offset to conform to."""
    if not result:
        return False
    typed = SyncResult.from_dict(result)
    return typed.offset_seconds is not None and typed.verdict != Verdict.NO_RELIABLE_MATCH


def conform_export(row: AnalysisRow, fmt: str, *, fps: float | None = None
                   ) -> tuple[str, str, str]:
    """(body, file name, media type) of ``row``'s conform in ``fmt`` (otio, edl, fcpxml) at
    ``fps`` (default: the programme's frame rate). 409 (``analysis_not_completed``,
    ``no_match``) without a usable result, 422 for an unknown format."""
    if fmt not in FORMATS:
        raise UnprocessableError(f"format {fmt!r}: one of {list(FORMATS)}",
                                 code="invalid_format", details={"field": "format",
                                                                 "known": list(FORMATS)})
    result = _usable(row)
    request = row.request or {}
    label = request.get("label")
    try:
        timeline = build_timeline(result, fps=fps, dub_path=request.get("dub_path"),
                                  name=f"{label} conform" if label else None)
        body = write_conform(timeline, fmt)
    except Exception as exc:  # ConformError, or an adapter's fault: said plainly, never a 500
        _logger.warning("analysis %s: no %s conform: %s", row.id, fmt, exc)
        raise UnprocessableError(f"the {fmt} conform of analysis {row.id} cannot be written: "
                                 f"{exc}", code="conform_unavailable",
                                 details={"format": fmt}) from exc
    _, ext, media_type = FORMATS[fmt]
    return body, f"{row.id}_conform{ext}", media_type


def conform_files(result: dict[str, Any], folder: Path, *, dub_path: str | None = None,
                  fps: float | None = None, name: str | None = None) -> list[Path]:
    """Write ``conform.otio``, ``conform.edl`` and ``conform.xml`` of ``result`` into
    ``folder`` (for a package); none when it has no match or a format cannot be written."""
    if not _has_match(result):
        return []
    from app.services.repair import atomic_write_text

    written: list[Path] = []
    try:
        timeline = build_timeline(result, fps=fps, dub_path=dub_path, name=name)
    except Exception as exc:  # ConformError, or OTIO's
        _logger.warning("no conform export: %s", exc)
        return []
    folder.mkdir(parents=True, exist_ok=True)
    for fmt, (_, ext, _) in FORMATS.items():
        try:
            text = write_conform(timeline, fmt)
        except Exception as exc:  # an adapter's fault: the package goes without this one
            _logger.warning("no %s conform export: %s", fmt, exc)
            continue
        path = folder / f"conform{ext}"
        atomic_write_text(path, text)
        written.append(path)
    return written
