"""Local offsets of consecutive windows around a global estimate.

Used to check that an offset holds across the programme (a partial match, such as a dub built
from the master's music cues in another order, agrees in only a few windows) and as the basis
of the offset timeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from app.engine.methods.correlation import whiten
from app.engine.types import CancelToken
from app.engine.xcorr import fft_size, parabolic_offset

__all__ = [
    "WindowOffset",
    "gcc_window",
    "has_content",
    "local_offsets",
    "support_fraction",
    "window_seconds_for",
]

_SILENCE_RMS = 10 ** (-60 / 20)


@dataclass(frozen=True)
class WindowOffset:
    """One window: master time span in seconds, local offset in seconds (> 0 = dub late),
    the peak's z-score against the window's correlation noise, and whether both tracks carry
    sound there (not silence)."""

    start_seconds: float
    end_seconds: float
    offset_seconds: float
    zscore: float
    peak: float
    has_content: bool


def local_offsets(
    master: np.ndarray,
    dub: np.ndarray,
    *,
    sample_rate: float,
    global_offset_seconds: float,
    window_seconds: float = 10.0,
    hop_seconds: float | None = None,
    search_seconds: float = 1.0,
    cancel: CancelToken | None = None,
) -> list[WindowOffset]:
    """GCC-PHAT of each master window against the dub around ``global_offset_seconds``.

    Windows of ``window_seconds`` every ``hop_seconds`` (default: the window) cover the part of
    the master that the dub overlaps at the global offset; each is searched ±``search_seconds``.
    """
    w = int(round(window_seconds * sample_rate))
    hop = int(round((hop_seconds or window_seconds) * sample_rate))
    r = int(round(search_seconds * sample_rate))
    lag = int(round(global_offset_seconds * sample_rate))
    lo = max(0, -lag + r)
    hi = min(master.size, dub.size - lag - r)
    if hi - lo < w or w <= 0:
        return []
    starts = np.arange(lo, hi - w + 1, hop)
    out: list[WindowOffset] = []
    for s in starts:
        if cancel is not None:
            cancel.raise_if_cancelled()
        m = master[s : s + w]
        d = dub[s + lag - r : s + lag + w + r]
        residual, z, peak = gcc_window(m, d, search=r, sample_rate=sample_rate)
        out.append(
            WindowOffset(
                start_seconds=s / sample_rate,
                end_seconds=(s + w) / sample_rate,
                offset_seconds=(lag + residual) / sample_rate,
                zscore=z,
                peak=peak,
                has_content=has_content(m) and has_content(d),
            )
        )
    return out


def has_content(x: np.ndarray) -> bool:
    """True when ``x`` is louder than −60 dBFS RMS (not silence)."""
    return bool(x.size) and float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) > _SILENCE_RMS


def gcc_window(
    master: np.ndarray, dub: np.ndarray, *, search: int, sample_rate: float
) -> tuple[float, float, float]:
    """GCC-PHAT of one master window (length w) against a dub segment of length w + 2·search
    that starts ``search`` samples before the expected position.

    Returns (residual lag in fractional samples within ±search, z-score of the peak against the
    correlation's robust spread, signed peak value).
    """
    n = fft_size(dub.size + 1)  # lags 0..2·search never wrap: i + lag < len(dub) <= n
    low_bin = max(1, int(n * 40 / sample_rate))
    cross = np.conj(sfft.rfft(master, n)) * sfft.rfft(dub, n)
    c = sfft.irfft(whiten(cross, low_bin=low_bin), n)[: 2 * search + 1]
    mag = np.abs(c)
    i = int(np.argmax(mag))
    med = float(np.median(mag))
    spread = max(float(np.median(np.abs(mag - med))) * 1.4826, 1e-12)
    frac = 0.0
    if 0 < i < mag.size - 1:
        frac = parabolic_offset(float(mag[i - 1]), float(mag[i]), float(mag[i + 1]))
    return i - search + frac, (float(mag[i]) - med) / spread, float(c[i])


def window_seconds_for(duration_seconds: float) -> float:
    """Window length (seconds) for a programme: an eighth of it, within [5, 10] s (shorter
    windows find music's beat period as often as the true local offset)."""
    return float(np.clip(duration_seconds / 8.0, 5.0, 10.0))


def support_fraction(
    windows: list[WindowOffset],
    *,
    offset_seconds: float,
    possible_windows: int | None = None,
    tolerance_seconds: float = 0.02,
    min_zscore: float = 7.0,
) -> tuple[float, int, int]:
    """(fraction, agreeing, expected): the share of windows whose local peak is confident
    (z >= ``min_zscore``) and within ``tolerance_seconds`` of the offset.

    The denominator is the number of windows with content, or — when the overlap at this offset
    is smaller than the shorter track — ``possible_windows`` (the windows the shorter track
    would give if it overlapped entirely) scaled by the share of windows with content. So an
    offset that aligns only one music cue of the programme gets a small support even when
    that cue fills the little overlap there is.
    """
    informative = [w for w in windows if w.has_content]
    agree = sum(
        1
        for w in informative
        if w.zscore >= min_zscore and abs(w.offset_seconds - offset_seconds) <= tolerance_seconds
    )
    if not informative:
        return 0.0, 0, 0
    expected = len(informative)
    if possible_windows is not None and possible_windows > len(windows):
        expected = int(round(possible_windows * len(informative) / len(windows)))
    return agree / expected, agree, expected
