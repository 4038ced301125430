"""Shared detection on frame-feature sequences (used by ``mfcc``, ``onset``, ``spectral``)."""

from __future__ import annotations

import time

import numpy as np

from app.engine.types import MethodResult
from app.engine.xcorr import normalised_xcorr, parabolic_offset, peak_confidence, peak_stats

__all__ = ["detect_on_features", "local_detrend"]


def local_detrend(x: np.ndarray, *, frames: int) -> np.ndarray:
    """Subtract a centred moving average of ``frames`` frames along axis 0 (removes slow level
    changes such as a re-balanced mix, keeping the events that carry timing); the average is
    over the frames that exist at the ends. Returns (T, D) float32 (D = 1 for 1-D input)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    t = x.shape[0]
    half = max(1, int(frames)) // 2
    idx = np.arange(t)
    lo = np.clip(idx - half, 0, t)
    hi = np.clip(idx + half + 1, 0, t)
    count = (hi - lo).astype(np.float64)
    out = np.empty_like(x)
    # one column at a time, float64 running sums (precision): the temporaries stay a column
    # long (an hour at 100 frames/s: 2.9 MB, reused), not a float64 copy of the whole array
    csum = np.empty(t + 1, np.float64)
    csum[0] = 0.0
    for k in range(x.shape[1]):
        np.cumsum(x[:, k], dtype=np.float64, out=csum[1:])
        mean = csum[hi]
        mean -= csum[lo]
        mean /= count
        np.subtract(x[:, k], mean, out=out[:, k], casting="same_kind")
    return out


def detect_on_features(
    method: str,
    master: np.ndarray,
    dub: np.ndarray,
    *,
    frame_rate: float,
    max_offset_seconds: float,
    min_overlap_seconds: float,
) -> MethodResult:
    """Offset from the normalised cross-correlation of two feature sequences.

    ``master``/``dub``: (T, D) or (T,) frames at ``frame_rate`` frames/s. The peak is refined by
    parabolic interpolation; confidence comes from its z-score and ratio to the runner-up.
    """
    t0 = time.perf_counter()
    max_lag = int(round(max_offset_seconds * frame_rate))
    min_overlap = max(2, int(round(min_overlap_seconds * frame_rate)))
    curve = normalised_xcorr(master, dub, max_lag=max_lag, min_overlap=min_overlap)
    exclusion = max(3, int(round(0.1 * frame_rate)))
    stats = peak_stats(curve.values, exclusion=exclusion)
    v = curve.values
    i = stats.index
    frac = 0.0
    if 0 < i < v.size - 1 and np.isfinite(v[i - 1]) and np.isfinite(v[i + 1]):
        frac = parabolic_offset(float(v[i - 1]), float(v[i]), float(v[i + 1]))
    offset = (curve.first_lag + i + frac) / frame_rate
    confidence = peak_confidence(stats.zscore, stats.ratio, z_floor=6.0, z_full=14.0)
    second = (
        (curve.first_lag + stats.second_index) / frame_rate
        if stats.second_index is not None
        else None
    )
    return MethodResult(
        method=method,
        offset_seconds=float(offset) if np.isfinite(stats.value) else None,
        confidence=confidence,
        peak_height=float(stats.value),
        peak_ratio=float(stats.ratio),
        search_range_seconds=(-max_offset_seconds, max_offset_seconds),
        resolution_seconds=1.0 / frame_rate,
        elapsed_seconds=time.perf_counter() - t0,
        diagnostics={
            "zscore": round(float(stats.zscore), 3),
            "second_peak_offset_seconds": second,
            "frame_rate": frame_rate,
        },
    )
