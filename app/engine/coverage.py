"""Which part of the master the dub covers, which it lacks, and what it adds.

From the offset model (sign convention: offset > 0 = dub late; dub time = master time +
offset): the dub's first sample lies at master time ``-offset_start`` and its last at
``dub_seconds - offset_end``. The master before the first is missing at the head, after the
last at the tail; material the timeline found removed is missing inside. A dub that starts
before the master (offset > 0) or runs past its end carries material beyond the programme
(a slate, a longer head, a tail), reported as ``dub_extra``. Times in seconds, with timecodes
at ``fps`` (25 unless the caller knows the programme's rate); with a ``clock``
(:class:`~app.engine.start_timecode.ProgrammeClock`), master spans are programme timecode
(the master's start + master time) and ``dub_extra`` spans the dub's own timecode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.engine.start_timecode import ProgrammeClock
from app.engine.timeline import Timeline

__all__ = ["coverage_of", "coverage_findings", "MISSING_MIN_SECONDS"]

#: shorter gaps at the head or tail are codec/edit rounding, not missing programme (seconds)
MISSING_MIN_SECONDS = 0.1


def _span(part: str, start: float, end: float, tc: Callable[[float], str | None]
          ) -> dict[str, Any]:
    return {"part": part, "start_seconds": round(start, 3), "end_seconds": round(end, 3),
            "duration_seconds": round(end - start, 3),
            "start_timecode": tc(start), "end_timecode": tc(end)}


def coverage_of(master_seconds: float, dub_seconds: float, offset_start: float,
                offset_end: float | None = None, timeline: Timeline | None = None,
                fps: float = 25.0, clock: ProgrammeClock | None = None) -> dict[str, Any]:
    """The coverage record of a dub whose offset is ``offset_start`` where it begins and
    ``offset_end`` where it ends (default: the same), with ``timeline``'s edits; timecodes
    on ``clock`` (default: from 00:00:00:00 at ``fps``)."""
    clock = clock or ProgrammeClock(fps=fps)
    fps = clock.fps
    m_tc, d_tc = clock.master, clock.dub
    end_offset = offset_start if offset_end is None else offset_end
    a = min(max(0.0, -offset_start), master_seconds)
    b = max(min(master_seconds, dub_seconds - end_offset), a)
    missing: list[dict[str, Any]] = []
    if a >= MISSING_MIN_SECONDS:
        missing.append(_span("head", 0.0, a, m_tc))
    removed = 0.0
    inserted = 0.0
    for e in (timeline.edits if timeline is not None else []):
        if e.kind in ("removed", "replaced"):
            missing.append(_span("inside", e.master_time_seconds,
                                 e.master_time_seconds + e.master_missing_seconds, m_tc))
            if e.kind == "replaced":  # the dub holds other material in its place
                missing[-1]["replaced_by_seconds"] = round(e.replacement_seconds, 3)
            removed += e.master_missing_seconds
        inserted += e.dub_added_seconds
    if master_seconds - b >= MISSING_MIN_SECONDS:
        missing.append(_span("tail", b, master_seconds, m_tc))
    extra: list[dict[str, Any]] = []
    head_extra = max(0.0, offset_start)
    if head_extra >= MISSING_MIN_SECONDS:
        extra.append(_span("head", 0.0, min(head_extra, dub_seconds), d_tc))
    tail_from = master_seconds + end_offset  # dub time of the master's last sample
    if dub_seconds - tail_from >= MISSING_MIN_SECONDS:
        extra.append(_span("tail", max(tail_from, 0.0), dub_seconds, d_tc))
    covered = max(0.0, b - a - removed)
    return {
        "master_seconds": round(master_seconds, 3), "dub_seconds": round(dub_seconds, 3),
        "master_start_seconds": round(a, 3), "master_end_seconds": round(b, 3),
        "master_start_timecode": m_tc(a),
        "master_end_timecode": m_tc(b),
        "covered_seconds": round(covered, 3),
        "covered_fraction": round(covered / master_seconds, 4) if master_seconds > 0 else 0.0,
        "complete": not missing, "missing": missing,
        "missing_seconds": round(sum(m["duration_seconds"] for m in missing), 3),
        "dub_extra": extra, "inserted_seconds": round(inserted, 3), "fps": fps,
    }


def coverage_findings(cov: dict[str, Any]) -> list[str]:
    """Plain-words findings for missing programme and extra dub material."""
    out = []
    for m in cov["missing"]:
        where = {"head": "at the head", "tail": "at the tail", "inside": "inside"}[m["part"]]
        other = m.get("replaced_by_seconds")
        out.append(f"programme missing {where}: the dub lacks master {m['start_timecode']}–"
                   f"{m['end_timecode']} ({m['duration_seconds']:.3f} s)"
                   + (f", replaced by {other:.3f} s of other material" if other else ""))
    for x in cov["dub_extra"]:
        out.append(f"the dub holds {x['duration_seconds']:.3f} s beyond the master at its "
                   f"{x['part']} (dub {x['start_timecode']}–{x['end_timecode']})")
    return out
