"""The timeline of a finished analysis as operator-friendly data: every time in seconds and as
timecode at a chosen frame rate, ready to plot. Master-time positions are programme timecode
(the master's start timecode + master time, ``result.programme_timecode``); offsets are signed
durations.

Sign convention: ``offset_seconds > 0`` means the dub is late.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from app.core.errors import ConflictError
from app.db.models import AnalysisRow, JobStatus
from app.engine import SyncResult
from app.engine.start_timecode import clock_of
from app.engine.timecode import seconds_to_frames, seconds_to_timecode
from app.engine.timeline import Timeline

__all__ = ["timeline_view"]


def _tc(seconds: float | None, fps: float) -> str | None:
    return None if seconds is None else seconds_to_timecode(seconds, fps)


def timeline_view(row: AnalysisRow, *, fps: float | None = None) -> dict[str, Any]:
    """Windows, segments, drift and edits of ``row``'s result with timecodes at ``fps``
    (default: the programme's frame rate, else 25).

    Raises :class:`ConflictError` (409) when the analysis has not completed or found no
    offset at all (no timeline to show).
    """
    if row.status != JobStatus.COMPLETED:
        raise ConflictError(
            f"analysis {row.id} is {row.status}: the timeline exists once it has completed",
            code="analysis_not_completed", details={"status": str(row.status)})
    result = SyncResult.from_dict(row.result) if row.result else None
    if result is None or not result.timeline:
        raise ConflictError(f"analysis {row.id} found no offset, so it has no timeline",
                            code="no_timeline",
                            details={"verdict": str(result.verdict) if result else None})
    tl = Timeline.from_dict(result.timeline)
    programme = result.programme_timecode
    fps = float(fps if fps is not None else (programme or {}).get("fps") or 25.0)
    clock = clock_of(programme, fps=fps)
    windows = [
        {
            **asdict(w),
            "start_timecode": clock.master(w.start_seconds),
            "end_timecode": clock.master(w.end_seconds),
            "offset_ms": None if w.offset_seconds is None else round(w.offset_seconds * 1000, 3),
            "offset_frames": None if w.offset_seconds is None else round(
                seconds_to_frames(w.offset_seconds, fps), 3),
        }
        for w in tl.windows
    ]
    segments = [
        {
            **asdict(g),
            "master_start_timecode": clock.master(g.master_start_seconds),
            "master_end_timecode": clock.master(g.master_end_seconds),
            "dub_start_timecode": clock.dub(g.master_start_seconds + g.offset_start_seconds),
            "dub_end_timecode": clock.dub(g.master_end_seconds + g.offset_end_seconds),
            "offset_start_timecode": _tc(g.offset_start_seconds, fps),
            "offset_end_timecode": _tc(g.offset_end_seconds, fps),
        }
        for g in tl.segments
    ]
    edits = [
        {
            **asdict(e),
            "master_timecode": clock.master(e.master_time_seconds),
            "duration_frames": round(seconds_to_frames(e.duration_seconds, fps), 3),
        }
        for e in tl.edits
    ]
    drift = None if tl.drift is None else {
        **asdict(tl.drift),
        "total_frames": round(seconds_to_frames(tl.drift.total_seconds, fps), 3)}
    start = tl.offset_at_start_seconds
    return {
        "analysis_id": row.id,
        "fps": fps,
        "programme_timecode": programme,
        "verdict": tl.verdict,
        "reason": tl.reason,
        "model": tl.model,
        "offset_at_start_seconds": start,
        "offset_at_start_timecode": _tc(start, fps),
        "coverage": tl.coverage,
        "residual_rms_seconds": tl.residual_rms_seconds,
        "residual_max_seconds": tl.residual_max_seconds,
        "window_seconds": tl.window_seconds,
        "hop_seconds": tl.hop_seconds,
        "thresholds": tl.thresholds,
        "windows": windows,
        "segments": segments,
        "drift": drift,
        "edits": edits,
    }
