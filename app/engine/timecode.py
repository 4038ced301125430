"""Offsets as frames and signed SMPTE timecode at the usual frame rates.

Rates 23.976 and 29.97 are the exact NTSC rates 24000/1001 and 30000/1001; 29.97 uses
drop-frame timecode (``;`` before the frames), the others non-drop (``:``).
"""

from __future__ import annotations

import re
from fractions import Fraction

from app.engine.errors import ParameterError

__all__ = ["FRAME_RATES", "exact_rate", "seconds_to_frames", "seconds_to_timecode",
           "frames_and_timecodes", "TimecodeError", "is_drop_rate", "parse_timecode",
           "frames_to_timecode"]

#: Frame rates (frames per second) at which offsets are reported.
FRAME_RATES: tuple[float, ...] = (23.976, 24.0, 25.0, 29.97, 30.0)

_NTSC = {23.976: Fraction(24000, 1001), 29.97: Fraction(30000, 1001),
         59.94: Fraction(60000, 1001), 47.952: Fraction(48000, 1001)}


def exact_rate(fps: float) -> Fraction:
    """Exact frame rate for a nominal one (23.976 → 24000/1001)."""
    if fps <= 0:
        raise ParameterError(f"fps={fps}: must be > 0")
    for nominal, exact in _NTSC.items():
        if abs(fps - nominal) < 1e-3:
            return exact
    return Fraction(fps).limit_denominator(1001)


def seconds_to_frames(seconds: float, fps: float) -> float:
    """Signed offset in frames (fractional) at ``fps``."""
    return float(seconds * exact_rate(fps))


def seconds_to_timecode(seconds: float, fps: float) -> str:
    """Signed timecode ``[-]HH:MM:SS:FF`` of ``seconds`` at ``fps`` (rounded to whole frames);
    drop-frame ``HH:MM:SS;FF`` at 29.97 and 59.94."""
    rate = exact_rate(fps)
    sign = "-" if seconds < 0 else ""
    frames = int(round(abs(seconds) * rate))
    nominal = int(round(float(rate)))
    drop = rate.denominator == 1001 and nominal in (30, 60)
    if drop:
        drop_per_min = 2 * (nominal // 30)
        per_10min = nominal * 600 - drop_per_min * 9
        per_min = nominal * 60 - drop_per_min
        tens, rem = divmod(frames, per_10min)
        frames += drop_per_min * 9 * tens
        if rem > drop_per_min:
            frames += drop_per_min * ((rem - drop_per_min) // per_min)
    ff = frames % nominal
    total_seconds = frames // nominal
    hh, rest = divmod(total_seconds, 3600)
    mm, ss = divmod(rest, 60)
    sep = ";" if drop else ":"
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}{sep}{ff:02d}"


def _key(fps: float) -> str:
    return f"{fps:g}"


def frames_and_timecodes(
    seconds: float, rates: tuple[float, ...] = FRAME_RATES
) -> tuple[dict[str, float], dict[str, str]]:
    """Offset in frames and as timecode at each rate, keyed like ``"23.976"``, ``"25"``."""
    frames = {_key(r): round(seconds_to_frames(seconds, r), 4) for r in rates}
    codes = {_key(r): seconds_to_timecode(seconds, r) for r in rates}
    return frames, codes


# --- programme timecode: labels of a clock, not signed offsets ------------------------------
class TimecodeError(ParameterError):
    """A timecode text that is not a valid ``HH:MM:SS:FF`` (``;`` drop-frame) at its rate."""


_TC = re.compile(r"^\s*(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2})\s*$")


def is_drop_rate(fps: float) -> bool:
    """True at 29.97 and 59.94 fps (the rates with drop-frame timecode)."""
    rate = exact_rate(fps)
    return rate.denominator == 1001 and int(round(float(rate))) in (30, 60)


def parse_timecode(text: str, fps: float) -> tuple[int, bool]:
    """(frame count since 00:00:00:00, drop-frame) of a timecode label at ``fps``.

    ``HH:MM:SS:FF`` is non-drop; ``HH:MM:SS;FF`` (or ``.``/``,`` before the frames) is
    drop-frame, valid at 29.97 and 59.94 only, where the labels skipped each minute but every
    tenth (``00:01:00;00``, ``;01``) do not exist. Raises :class:`TimecodeError` naming the
    fault."""
    if not isinstance(text, str):
        raise TimecodeError(f"timecode {text!r}: a text HH:MM:SS:FF is required")
    m = _TC.match(text)
    if m is None:
        raise TimecodeError(f"timecode {text!r}: expected HH:MM:SS:FF (non-drop) or "
                            "HH:MM:SS;FF (drop-frame)")
    hh, mm, ss, sep, ff = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    rate = exact_rate(fps)
    nominal = int(round(float(rate)))
    drop = sep != ":"
    if hh > 23 or mm > 59 or ss > 59:
        raise TimecodeError(f"timecode {text!r}: hours 00-23, minutes and seconds 00-59")
    if ff >= nominal:
        raise TimecodeError(f"timecode {text!r}: frame {ff:02d} does not exist at {fps:g} fps "
                            f"(frames 00-{nominal - 1:02d})")
    if drop and not is_drop_rate(fps):
        raise TimecodeError(f"timecode {text!r}: drop-frame (';') exists at 29.97 and 59.94 "
                            f"fps only, not at {fps:g} fps; use ':' before the frames")
    frames = (hh * 3600 + mm * 60 + ss) * nominal + ff
    if drop:
        per_min = 2 * (nominal // 30)
        if mm % 10 and ss == 0 and ff < per_min:
            raise TimecodeError(f"timecode {text!r}: drop-frame skips frames 00-{per_min - 1:02d} "
                                "of every minute but every tenth; this label does not exist")
        minutes = hh * 60 + mm
        frames -= per_min * (minutes - minutes // 10)
    return frames, drop


def frames_to_timecode(frames: int, fps: float, *, drop: bool | None = None) -> str:
    """Label ``HH:MM:SS:FF`` of frame count ``frames`` (≥ 0) at ``fps``; ``drop`` (default: at
    29.97/59.94) writes drop-frame ``HH:MM:SS;FF``. Hours past 23 wrap (a 24-hour clock)."""
    rate = exact_rate(fps)
    nominal = int(round(float(rate)))
    drop = is_drop_rate(fps) if drop is None else bool(drop and is_drop_rate(fps))
    if drop:
        per_min = 2 * (nominal // 30)
        per_10min = nominal * 600 - per_min * 9
        frames %= per_10min * 6 * 24
        tens, rem = divmod(frames, per_10min)
        frames += per_min * 9 * tens
        if rem > per_min:
            frames += per_min * ((rem - per_min) // (nominal * 60 - per_min))
    else:
        frames %= nominal * 86400
    ff = frames % nominal
    hh, rest = divmod(frames // nominal, 3600)
    mm, ss = divmod(rest, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop else ':'}{ff:02d}"
