"""Window primitives of the timeline: GCC-PHAT of one window around an expected offset,
silence detection and the automatic window length.

The timeline (:mod:`app.engine.timeline`) uses them to check that an offset holds across the
programme — a partial match, such as a dub built from the master's music cues in another
order, agrees in only a few windows.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from app.engine.methods.correlation import whiten
from app.engine.xcorr import fft_size, parabolic_offset

__all__ = ["gcc_window", "has_content", "window_seconds_for"]

_SILENCE_RMS = 10 ** (-60 / 20)


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
    windows find music's beat period as often as the true local offset). A clip under 16 s
    gets windows of a sixth of it (at least 1 s): each window that agrees within ±tol
    multiplies the chance of an accidental match by tol / 1 s (:mod:`app.engine.decision`),
    so six short windows can confirm a clip where three long ones cannot."""
    if duration_seconds < 16.0:
        return float(max(1.0, duration_seconds / 6.0))
    return float(np.clip(duration_seconds / 8.0, 5.0, 10.0))
