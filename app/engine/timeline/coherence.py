"""Phase coherence at an exact lag, and the offset lines of segments: the measurements the
edit location and the replaced-span test share.

Units: master times and offsets in seconds (offset > 0 = dub late); signals at ``rate`` Hz,
lags and starts in samples.
"""

from __future__ import annotations

from typing import overload

import numpy as np
from scipy import fft as sfft

from app.engine.halfrate import Signal
from app.engine.timeline.types import Segment


def _segment_slope(seg: Segment) -> float:
    """d(offset)/d(master time) of a segment's line (s/s)."""
    span = max(seg.master_end_seconds - seg.master_start_seconds, 1e-9)
    return (seg.offset_end_seconds - seg.offset_start_seconds) / span


@overload
def _segment_offset(seg: Segment, t: float) -> float: ...
@overload
def _segment_offset(seg: Segment, t: np.ndarray) -> np.ndarray: ...
def _segment_offset(seg: Segment, t: float | np.ndarray) -> float | np.ndarray:
    """Offset (s) of a segment's line at master time(s) ``t`` (extrapolated beyond it)."""
    return seg.offset_start_seconds + _segment_slope(seg) * (t - seg.master_start_seconds)


def _span(x: Signal, a: int, b: int) -> np.ndarray:
    """Samples ``a .. b`` of ``x`` as float32, zeros where that range leaves the signal."""
    lo, hi = max(a, 0), min(b, x.size)
    if lo == a and hi == b:
        return np.asarray(x[a:b], dtype=np.float32)
    out = np.zeros(b - a, np.float32)
    if lo < hi:
        out[lo - a : hi - a] = x[lo:hi]
    return out


def _rows(x: Signal, starts: np.ndarray, n: int) -> np.ndarray:
    """(len(starts), n) windows of ``x`` starting at sample ``starts`` (zero-padded off the
    ends), sliced from one span of the signal (a :class:`HalfRate` decimates it once)."""
    a = int(starts.min())
    span = _span(x, a, int(starts.max()) + n)
    return span[(starts - a)[:, None] + np.arange(n)[None, :]]


def _coherence(m: Signal, d: Signal, lag: float, s: int, n: int, rate: float
               ) -> float:
    """Phase coherence (mean cosine of the whitened cross-spectrum, 40 Hz to 0.45·rate) of
    master samples ``s .. s+n`` with the dub ``lag`` samples (fractional) later: ~0 ± 1/√bins
    for unrelated sound, clearly positive where the two share material at exactly that lag."""
    return float(_coherences(m, d, np.array([lag]), np.array([s]), n, rate)[0])


def _coherences(m: Signal, d: Signal, lags: np.ndarray, starts: np.ndarray, n: int,
                rate: float) -> np.ndarray:
    """:func:`_coherence` of many windows at once: master samples ``starts[i] ..
    starts[i]+n`` against the dub ``lags[i]`` samples (fractional) later; 0 where either
    window leaves its signal."""
    out = np.zeros(lags.size)
    li = np.floor(lags).astype(np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    ok = np.flatnonzero((starts >= 0) & (starts + n <= m.size) & (starts + li >= 0)
                        & (starts + li + n <= d.size))
    if ok.size == 0:
        return out
    win = np.hanning(n).astype(np.float32)
    k = np.arange(n // 2 + 1)
    lo, hi = max(1, int(40 * n / rate)), int(0.45 * n)
    batch = max(8, (1 << 21) // n)
    for i in range(0, ok.size, batch):
        j = ok[i : i + batch]
        cross = (np.conj(sfft.rfft(_rows(m, starts[j], n) * win, axis=1))
                 * sfft.rfft(_rows(d, starts[j] + li[j], n) * win, axis=1))
        # undo the fractional part of the lag
        cross *= np.exp(2j * np.pi * k[None, :] * (lags[j] - li[j])[:, None] / n)
        band = cross[:, lo:hi]
        out[j] = np.mean(band.real / np.maximum(np.abs(band), 1e-20), axis=1)
    return out


def segment_coherences(m: Signal, d: Signal, centres: np.ndarray, seg: Segment, rate: float,
                       s0: float, length: float, delta: float = 0.0) -> np.ndarray:
    """:func:`_coherences` of ``length``-s master windows centred at master times ``centres``
    with the dub at the segment's offset line (+ ``delta`` s), the dub in the warped domain
    (speed ``s0``)."""
    n = int(round(length * rate))
    off = _segment_offset(seg, centres) + delta
    lags = ((centres + off) * s0 - centres) * rate
    starts = np.round((centres - length / 2) * rate).astype(np.int64)
    return _coherences(m, d, lags, starts, n, rate)
