"""Offsets as frames and signed SMPTE timecode at the usual frame rates.

Rates 23.976 and 29.97 are the exact NTSC rates 24000/1001 and 30000/1001; 29.97 uses
drop-frame timecode (``;`` before the frames), the others non-drop (``:``).
"""

from __future__ import annotations

from fractions import Fraction

from app.engine.types import FRAME_RATES, ParameterError

__all__ = ["exact_rate", "seconds_to_frames", "seconds_to_timecode", "frames_and_timecodes"]

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
