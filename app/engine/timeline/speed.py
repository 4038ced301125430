"""Speed search: which standard conversion (or none) the dub went through, and warping the
dub's features or signal onto the master's timeline for a speed ratio.

Units: ratios are the dub's speed relative to the master (> 1 = dub runs fast); feature
sequences are (T, D) frames at ``frame_rate`` Hz; signals are mono samples; offsets are in
seconds (> 0 = dub late), here in the warped domain (the dub resampled onto master time).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np

from app.engine.timeline.types import NAMED_CONVERSIONS, SpeedEstimate
from app.engine.xcorr import normalised_xcorr


def warp_features(x: np.ndarray, ratio: float) -> np.ndarray:
    """Resample a (T, D) frame sequence of the dub onto the master's time axis for a dub speed
    ``ratio`` (frame j of the result is dub frame j / ratio)."""
    if ratio == 1.0:
        return x
    x2 = x if x.ndim == 2 else x[:, None]
    n_out = int(np.floor((x2.shape[0] - 1) * ratio)) + 1
    pos = np.arange(n_out) / ratio
    idx = np.arange(x2.shape[0])
    out = np.stack([np.interp(pos, idx, x2[:, k]) for k in range(x2.shape[1])], axis=1)
    return out.astype(np.float32) if x.ndim == 2 else out[:, 0].astype(np.float32)


def warp_signal(x: np.ndarray, ratio: Fraction) -> np.ndarray:
    """Resample the dub signal so that its timeline matches the master's for dub speed
    ``ratio`` (exact polyphase resampling by ratio.numerator / ratio.denominator)."""
    if ratio == 1:
        return x
    from scipy.signal import resample_poly  # scipy.signal costs ~0.5 s to import: only here

    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def detect_speed(
    master: np.ndarray,
    dub: np.ndarray,
    *,
    frame_rate: float,
    max_offset_seconds: float,
    min_overlap_seconds: float,
) -> SpeedEstimate:
    """Pick the standard conversion (or none) whose warped dub features correlate best with the
    master's. ``master``/``dub`` are (T, D) pitch-robust features (band-wise spectral flux).

    Past 15 minutes the features are averaged over 2 (past 30: 4) frames first: the smallest
    conversion (1000/1001) then still moves the dub's end by 22+ averaged frames, and the
    search costs a half (a quarter)."""
    q = 4 if master.shape[0] > 1800 * frame_rate else 2 if master.shape[0] > 900 * frame_rate \
        else 1
    if q > 1:
        master, dub = _average_frames(master, q), _average_frames(dub, q)
        frame_rate /= q
    max_lag = int(round(max_offset_seconds * frame_rate))
    min_overlap = max(2, int(round(min_overlap_seconds * frame_rate)))
    def score(item: tuple[str | None, Fraction]) -> tuple[float, float, str | None, Fraction]:
        name, ratio = item
        warped = warp_features(dub, float(ratio))
        curve = normalised_xcorr(master, warped, max_lag=max_lag, min_overlap=min_overlap)
        v = np.where(np.isfinite(curve.values), curve.values, -np.inf)
        i = int(np.argmax(v))
        return float(v[i]), (curve.first_lag + i) / frame_rate, name, ratio

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="speed") as pool:
        results = list(pool.map(score, [(None, Fraction(1)), *NAMED_CONVERSIONS.items()]))
    unity = results[0][0]
    best = max(results, key=lambda r: r[0])
    # adopt a conversion only when it clearly beats no conversion at all
    if best[2] is not None and best[0] < max(unity * 1.25, unity + 0.05):
        best = results[0]
    return SpeedEstimate(float(best[3]), best[2], best[1], best[0], unity)


def _average_frames(x: np.ndarray, q: int) -> np.ndarray:
    """Means of ``q`` consecutive frames of (T, D) ``x`` (a trailing partial group dropped)."""
    n = x.shape[0] // q
    return x[: n * q].reshape(n, q, *x.shape[1:]).mean(axis=1, dtype=np.float32)
