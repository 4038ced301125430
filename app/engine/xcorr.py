"""Cross-correlation over a bounded lag range, peak picking and peak statistics.

Lag convention: lag ``l`` (in frames or samples) means ``dub[t + l] ≈ master[t]``, i.e. the dub
is late by ``l``; this is the engine's sign convention for offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from app.engine.types import ParameterError

__all__ = [
    "LagCurve",
    "PeakStats",
    "fft_size",
    "normalised_xcorr",
    "peak_stats",
    "parabolic_offset",
    "peak_confidence",
]


def fft_size(n: int) -> int:
    """Smallest FFT-friendly length >= n."""
    return int(sfft.next_fast_len(int(n), real=True))


@dataclass
class LagCurve:
    """Correlation values ``values[i]`` at lag ``lags[0] + i`` (frames or samples).

    Invalid lags (overlap too short) hold NaN.
    """

    first_lag: int
    values: np.ndarray

    @property
    def lags(self) -> np.ndarray:
        return np.arange(self.first_lag, self.first_lag + self.values.size)


def _standardise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    out = x - x.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    std = np.sqrt(np.einsum("ij,ij->j", out, out, dtype=np.float64) / max(out.shape[0], 1))
    std[std < 1e-9] = 1.0
    out /= std.astype(np.float32)  # in place: one array per call, not three
    return out


def normalised_xcorr(
    master: np.ndarray,
    dub: np.ndarray,
    *,
    max_lag: int,
    min_overlap: int,
) -> LagCurve:
    """Normalised cross-correlation of two (T, D) or (T,) feature sequences for lags in
    [-max_lag, max_lag], each dimension standardised first and summed.

    Value at lag l = sum_t <m[t], d[t+l]> / sqrt(E_m(l) E_d(l)) over the overlap, in [-1, 1];
    NaN where the overlap is shorter than ``min_overlap`` frames.
    """
    if max_lag < 0 or min_overlap < 1:
        raise ParameterError(f"max_lag={max_lag}, min_overlap={min_overlap}: out of range")
    m = _standardise(master)
    d = _standardise(dub)
    if m.shape[1] != d.shape[1]:
        raise ParameterError(f"feature sizes differ: {m.shape[1]} vs {d.shape[1]}")
    tm, td = m.shape[0], d.shape[0]
    n = fft_size(max(tm, td) + max_lag + 1)
    acc = np.zeros(n // 2 + 1, dtype=np.complex128)
    for k in range(m.shape[1]):
        fm = sfft.rfft(m[:, k], n)
        fd = sfft.rfft(d[:, k], n)
        acc += np.conj(fm) * fd
    circ = sfft.irfft(acc, n)
    lags = np.arange(-max_lag, max_lag + 1)
    raw = circ[lags % n]
    cm = np.concatenate([[0.0], np.cumsum(np.einsum("ij,ij->i", m, m, dtype=np.float64))])
    cd = np.concatenate([[0.0], np.cumsum(np.einsum("ij,ij->i", d, d, dtype=np.float64))])
    lo = np.maximum(0, -lags)
    hi = np.minimum(tm, td - lags)
    overlap = hi - lo
    valid = overlap >= min_overlap
    lo_c = np.clip(lo, 0, tm)
    hi_c = np.clip(hi, 0, tm)
    em = cm[hi_c] - cm[lo_c]
    ed = cd[np.clip(hi + lags, 0, td)] - cd[np.clip(lo + lags, 0, td)]
    denom = np.sqrt(np.maximum(em * ed, 1e-12))
    values = np.where(valid, raw / denom, np.nan)
    return LagCurve(first_lag=-max_lag, values=values)


def parabolic_offset(y_minus: float, y0: float, y_plus: float) -> float:
    """Sub-bin position (in bins, within ±0.5) of a peak from three samples around it."""
    denom = y_minus - 2.0 * y0 + y_plus
    if not np.isfinite(denom) or denom >= 0:
        return 0.0
    return float(np.clip(0.5 * (y_minus - y_plus) / denom, -0.5, 0.5))


@dataclass(frozen=True)
class PeakStats:
    """Statistics of the best peak of a lag curve.

    index: index of the peak in the curve; value: its height; zscore: (peak - median) in units
    of the robust standard deviation of the curve; ratio: (peak - median) / (second - median),
    the second peak being the highest value outside ±exclusion of the first.
    """

    index: int
    value: float
    zscore: float
    ratio: float
    second_index: int | None


def peak_stats(values: np.ndarray, *, exclusion: int, use_abs: bool = False) -> PeakStats:
    """Best peak of ``values`` (of ``|values|`` when ``use_abs``) with its prominence."""
    v = np.abs(values) if use_abs else values
    finite = np.isfinite(v)
    if not finite.any():
        return PeakStats(index=0, value=0.0, zscore=0.0, ratio=1.0, second_index=None)
    vv = np.where(finite, v, -np.inf)
    idx = int(np.argmax(vv))
    pool = v[finite]
    med = float(np.median(pool))
    mad = float(np.median(np.abs(pool - med))) * 1.4826
    spread = max(mad, float(np.std(pool)) * 0.1, 1e-12)
    masked = vv.copy()
    masked[max(0, idx - exclusion) : idx + exclusion + 1] = -np.inf
    second_idx = int(np.argmax(masked)) if np.isfinite(masked).any() else None
    second = float(masked[second_idx]) if second_idx is not None else med
    peak = float(vv[idx])
    ratio = (peak - med) / max(second - med, 1e-12) if second_idx is not None else 100.0
    return PeakStats(
        index=idx,
        value=peak,
        zscore=(peak - med) / spread,
        ratio=float(min(ratio, 100.0)),
        second_index=second_idx,
    )


def peak_confidence(
    zscore: float, ratio: float, *, z_floor: float, z_full: float, r_floor: float = 1.05,
    r_full: float = 1.6,
) -> float:
    """Map a peak's prominence to a confidence in [0, 1].

    Both the z-score (how far above the correlation's noise the peak stands) and the ratio to
    the runner-up (how unambiguous it is) must be high for a high confidence.
    """
    cz = np.clip((zscore - z_floor) / (z_full - z_floor), 0.0, 1.0)
    cr = np.clip((ratio - r_floor) / (r_full - r_floor), 0.0, 1.0)
    return float(np.sqrt(cz * cr))
