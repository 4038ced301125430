"""The QC gate: a delivery tolerance and a PASS / WARN / FAIL verdict on a result.

Pure functions on the result dict (``SyncResult.to_dict()``); no web imports.

Sign convention: offset > 0 = dub (audio) late, < 0 = dub early. A tolerance is asymmetric:
``early_ms`` is how early the dub may be, ``late_ms`` how late (both ≥ 0). Presets:

- ``one_frame``: ±1 frame at the programme's frame rate (25 fps unless given);
- ``ebu_r37``: EBU R37, audio at most 40 ms early and 60 ms late;
- ``itu_bt1359``: ITU-R BT.1359 acceptability, at most 45 ms early and 125 ms late.

A result is judged on the whole timeline: the worst offset over the covered programme (each
segment's offset line at its start and end; the single offset without a timeline), relative
to the limit on its side, and the programme material the dub lacks (any → FAIL). WARN: the worst
is within its limit but beyond ``warn_fraction`` of it. Offsets and limits are compared as
shown, rounded to 0.1 ms, so the reason never contradicts the figures it quotes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.engine.start_timecode import ProgrammeClock, clock_of
from app.engine.types import ParameterError, Verdict

__all__ = ["PRESETS", "DEFAULT_TOLERANCE", "DEFAULT_FPS", "DEFAULT_WARN_FRACTION", "Tolerance",
           "ToleranceError", "parse_tolerance", "judge"]

#: preset name → (early_ms, late_ms); None = one frame each way at the programme's rate
PRESETS: dict[str, tuple[float, float] | None] = {
    "one_frame": None,
    "ebu_r37": (40.0, 60.0),
    "itu_bt1359": (45.0, 125.0),
}
DEFAULT_TOLERANCE = "one_frame"
DEFAULT_FPS = 25.0
DEFAULT_WARN_FRACTION = 0.8
#: bounds of a custom tolerance
MAX_MS = 10_000.0
MAX_FRAMES = 250.0
MAX_FPS = 120.0
#: decisions and reasons use offsets and limits rounded to this many decimals of a ms
_DIGITS = 1
NO_MATCH_REASON = "no reliable match: sync cannot be confirmed"
_MS_KEYS = {"early_ms", "late_ms"}
_FRAME_KEYS = {"early_frames", "late_frames"}


class ToleranceError(ParameterError):
    """A tolerance that is not a preset name nor a valid early/late pair."""


@dataclass(frozen=True)
class Tolerance:
    """How early (``early_ms``) and how late (``late_ms``) the dub may be; ``fps`` when the
    tolerance was given in frames (or is the ``one_frame`` preset)."""

    name: str
    early_ms: float
    late_ms: float
    fps: float | None = None

    @property
    def label(self) -> str:
        """How the reason names it: ``one_frame at 25 fps``, ``ebu_r37``, ``custom``."""
        return f"{self.name} at {self.fps:g} fps" if self.fps is not None else self.name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "early_ms": round(self.early_ms, 3),
                "late_ms": round(self.late_ms, 3), "fps": self.fps}


def _number(key: str, value: Any, *, high: float, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToleranceError(f"tolerance {key}={value!r}: a number is required")
    x = float(value)
    if not math.isfinite(x) or x < 0 or (positive and x == 0) or x > high:
        bound = f"> 0 and ≤ {high:g}" if positive else f"between 0 and {high:g}"
        raise ToleranceError(f"tolerance {key}={value!r}: must be {bound}")
    return x


def _fps(value: Any) -> float:
    return _number("fps", value, high=MAX_FPS, positive=True)


def parse_tolerance(spec: Any = None, *, fps: float | None = None) -> Tolerance:
    """A :class:`Tolerance` from a preset name, a JSON object text, a mapping
    (``{"early_ms", "late_ms"}`` or ``{"early_frames", "late_frames"[, "fps"]}``) or a
    Tolerance. ``fps``: the programme's frame rate (default 25) for ``one_frame`` and frames
    given without their own ``fps``. Raises :class:`ToleranceError` naming the problem."""
    rate = DEFAULT_FPS if fps is None else _fps(fps)
    if spec is None:
        spec = DEFAULT_TOLERANCE
    if isinstance(spec, Tolerance):
        return spec
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{"):
            try:
                spec = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ToleranceError(f"tolerance {text!r}: not valid JSON ({exc.msg})") from exc
        else:
            name = text.lower()
            if name not in PRESETS:
                raise ToleranceError(f"tolerance {text!r}: unknown preset; known: "
                                     f"{list(PRESETS)}, or an object with early_ms/late_ms "
                                     "or early_frames/late_frames")
            limits = PRESETS[name]
            if limits is None:
                frame_ms = 1000.0 / rate
                return Tolerance(name, frame_ms, frame_ms, rate)
            return Tolerance(name, *limits)
    if not isinstance(spec, Mapping):
        raise ToleranceError(f"tolerance {spec!r}: a preset name or an object is required")
    keys = {str(k) for k in spec}
    unknown = sorted(keys - _MS_KEYS - _FRAME_KEYS - {"fps"})
    if unknown:
        raise ToleranceError(f"tolerance: unknown field(s) {unknown}; use early_ms/late_ms or "
                             "early_frames/late_frames (with fps)")
    if keys >= _MS_KEYS and not keys & (_FRAME_KEYS | {"fps"}):
        return Tolerance("custom", _number("early_ms", spec["early_ms"], high=MAX_MS),
                         _number("late_ms", spec["late_ms"], high=MAX_MS))
    if keys >= _FRAME_KEYS and not keys & _MS_KEYS:
        rate = _fps(spec["fps"]) if "fps" in keys else rate
        early = _number("early_frames", spec["early_frames"], high=MAX_FRAMES)
        late = _number("late_frames", spec["late_frames"], high=MAX_FRAMES)
        return Tolerance("custom", early * 1000.0 / rate, late * 1000.0 / rate, rate)
    raise ToleranceError("tolerance: give both early_ms and late_ms, or both early_frames and "
                         "late_frames (optionally fps), not a mix")


# --- the verdict ----------------------------------------------------------------------------
def _r(ms: float) -> float:
    return round(ms, _DIGITS) + 0.0  # + 0.0: no "-0.0"


def _phrase(ms: float) -> str:
    """``180.0 ms late`` / ``12.5 ms early`` / ``0.0 ms`` of a rounded offset."""
    if ms > 0:
        return f"{ms:.1f} ms late"
    if ms < 0:
        return f"{-ms:.1f} ms early"
    return "0.0 ms"


def _points(result: Mapping[str, Any]) -> list[tuple[float | None, float]]:
    """(master time or None, offset in s) along the covered programme."""
    segments = (result.get("timeline") or {}).get("segments") or []
    points: list[tuple[float | None, float]] = []
    for g in segments:
        for t_key, o_key in (("master_start_seconds", "offset_start_seconds"),
                             ("master_end_seconds", "offset_end_seconds")):
            t, o = g.get(t_key), g.get(o_key)
            if isinstance(o, int | float) and math.isfinite(o):
                points.append((float(t) if isinstance(t, int | float) else None, float(o)))
    if not points and isinstance(result.get("offset_seconds"), int | float):
        start = (result.get("coverage") or {}).get("master_start_seconds")
        points.append((float(start) if isinstance(start, int | float) else 0.0,
                       float(result["offset_seconds"])))
    return points


def _fps_of(result: Mapping[str, Any], tolerance: Tolerance, fps: float | None) -> float:
    if fps is not None:
        return _fps(fps)
    if tolerance.fps is not None:
        return tolerance.fps
    cov_fps = (result.get("coverage") or {}).get("fps")
    return float(cov_fps) if isinstance(cov_fps, int | float) and cov_fps > 0 else DEFAULT_FPS


def _missing_clause(missing: list[Mapping[str, Any]], clock: ProgrammeClock) -> str:
    parts = []
    for m in missing:
        start, end = float(m.get("start_seconds", 0.0)), float(m.get("end_seconds", 0.0))
        parts.append(f"{m.get('part', 'inside')} {clock.master(start)}–"
                     f"{clock.master(end)} ({end - start:.1f} s)")
    return "programme missing from the dub: " + ", ".join(parts)


def judge(result: Mapping[str, Any], tolerance: Any = None,
          warn_fraction: float = DEFAULT_WARN_FRACTION, *, fps: float | None = None
          ) -> dict[str, Any]:
    """The QC verdict of ``result`` against ``tolerance`` (anything :func:`parse_tolerance`
    reads; default ``one_frame``). ``fps``: the programme's frame rate, for ``one_frame`` and
    the timecodes (default: the tolerance's, else the coverage's, else 25). Timecodes are
    programme timecode: the result's ``programme_timecode`` master start + master time.

    Returns ``{"status": "PASS"|"WARN"|"FAIL", "tolerance", "warn_fraction",
    "worst_offset_ms", "worst_at_master_seconds", "worst_at_timecode", "offset_start_ms",
    "offset_end_ms", "max_abs_offset_ms", "max_abs_at_master_seconds",
    "max_abs_at_timecode", "missing", "fps", "reason"}`` (offsets in ms, > 0 = dub late,
    rounded to 0.1 ms)."""
    if isinstance(warn_fraction, bool) or not isinstance(warn_fraction, int | float) or \
            not 0.0 <= warn_fraction <= 1.0:
        raise ToleranceError(f"warn_fraction={warn_fraction!r}: must be between 0 and 1")
    tol = parse_tolerance(tolerance, fps=fps)
    rate = _fps_of(result, tol, fps)
    # master positions as programme timecode (the master's start timecode + master time)
    clock = clock_of(result.get("programme_timecode"), fps=rate)
    missing = list((result.get("coverage") or {}).get("missing") or [])
    qc: dict[str, Any] = {
        "status": "FAIL", "tolerance": tol.to_dict(), "warn_fraction": float(warn_fraction),
        "worst_offset_ms": None, "worst_at_master_seconds": None, "worst_at_timecode": None,
        "offset_start_ms": None, "offset_end_ms": None, "max_abs_offset_ms": None,
        "max_abs_at_master_seconds": None, "max_abs_at_timecode": None,
        "missing": [{"part": m.get("part"), "start_seconds": m.get("start_seconds"),
                     "end_seconds": m.get("end_seconds")} for m in missing],
        "fps": rate, "reason": NO_MATCH_REASON}
    points = _points(result)
    reliable = result.get("reliable", True) is not False and \
        result.get("verdict") != Verdict.NO_RELIABLE_MATCH and \
        isinstance(result.get("offset_seconds"), int | float)
    if not reliable or not points:
        return qc

    early, late = _r(tol.early_ms), _r(tol.late_ms)
    rounded = [(t, _r(o * 1000.0)) for t, o in points]

    def ratio(ms: float) -> float:
        limit = late if ms > 0 else early
        if ms == 0:
            return 0.0
        return abs(ms) / limit if limit > 0 else math.inf

    # the worst point relative to its side's limit (ties: the larger |offset|, then earliest)
    w_i = max(range(len(rounded)), key=lambda i: (ratio(rounded[i][1]), abs(rounded[i][1]),
                                                   -i))
    m_i = max(range(len(rounded)), key=lambda i: (abs(rounded[i][1]), -i))
    worst_t, worst = rounded[w_i]
    max_t, max_abs = rounded[m_i]

    def tc(t: float | None) -> str | None:
        return None if t is None else clock.master(t)

    qc.update(worst_offset_ms=worst, worst_at_master_seconds=None if worst_t is None
              else round(worst_t, 3), worst_at_timecode=tc(worst_t),
              offset_start_ms=rounded[0][1], offset_end_ms=rounded[-1][1],
              max_abs_offset_ms=abs(max_abs), max_abs_at_master_seconds=None if max_t is None
              else round(max_t, 3), max_abs_at_timecode=tc(max_t))

    side = "late" if worst > 0 else "early"
    limit = late if worst > 0 else early
    constant = len({o for _, o in rounded}) == 1
    where = "throughout" if constant or worst_t is None else f"at {tc(worst_t)}"
    what = f"dub {_phrase(worst)} {where}"
    named = f"({tol.label})"
    r = ratio(worst)
    if r > 1.0:
        status = "FAIL"
        clause = f"{what}, over the {side} limit of {limit:.1f} ms {named}"
    elif worst == 0:
        status = "PASS"
        clause = (f"{what}, within the limits of {early:.1f} ms early and {late:.1f} ms late "
                  f"{named}")
    elif r > warn_fraction:
        status = "WARN"
        clause = (f"{what}, within the {side} limit of {limit:.1f} ms {named} but beyond "
                  f"{warn_fraction:.0%} of it")
    else:
        status = "PASS"
        clause = f"{what}, within the {side} limit of {limit:.1f} ms {named}"
    if not constant:
        clause += (f"; from {_phrase(rounded[0][1])} at the start to "
                   f"{_phrase(rounded[-1][1])} at the end")
    if missing:
        status = "FAIL"
        clause = f"{_missing_clause(missing, clock)}; {clause}"
    qc.update(status=status, reason=clause)
    return qc
