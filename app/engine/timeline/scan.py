"""Window scan: the offset measured window by window along the master (GCC-PHAT on the
mid-rate signals, band-wise flux features as the fallback), tracking the offset as it goes.

Units: window starts/lengths and offsets in seconds (master time; offset > 0 = dub late, in
the warped domain: the dub already resampled onto the master's timeline); signals at
``mid_rate`` Hz (search ranges in samples), features at ``frame_rate`` Hz (frames);
confidences are robust z-scores.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from app.engine.halfrate import Signal
from app.engine.timeline.types import THRESHOLDS, Measured, WindowScan
from app.engine.types import CancelToken
from app.engine.windows import gcc_window, has_content
from app.engine.xcorr import fft_size, parabolic_offset


def _segment_ncc(m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Normalised correlation of a (W, D) master segment against every (W, D) slice of a longer
    (W + L, D) dub segment: values for lags 0..L."""
    w = m.shape[0]
    lags = d.shape[0] - w + 1
    n = fft_size(d.shape[0] + 1)
    acc = np.zeros(n // 2 + 1, dtype=np.complex128)
    for k in range(m.shape[1]):
        acc += np.conj(sfft.rfft(m[:, k], n)) * sfft.rfft(d[:, k], n)
    num = sfft.irfft(acc, n)[:lags]
    e = np.concatenate([[0.0], np.cumsum((d.astype(np.float64) ** 2).sum(axis=1))])
    ed = e[w : w + lags] - e[:lags]
    em = float((m.astype(np.float64) ** 2).sum())
    return num / np.sqrt(np.maximum(em * ed, 1e-12))


@dataclass
class _Raw:
    t0: float
    t1: float
    content: bool
    inside: bool  # the dub covers this window at the predicted offset
    gcc: tuple[float, float] | None  # (offset in warped domain, z)
    feat: tuple[float, float] | None  # (offset in warped domain, z)


def _feature_offset(
    mf: np.ndarray, df: np.ndarray, j0: int, wf: int, pred_frames: int, search_frames: int
) -> tuple[float, float] | None:
    lo = j0 + pred_frames - search_frames
    hi = j0 + wf + pred_frames + search_frames
    if j0 < 0 or j0 + wf > mf.shape[0] or lo < 0 or hi > df.shape[0]:
        return None
    m = mf[j0 : j0 + wf]
    m = m - m.mean(axis=0, keepdims=True)
    d = df[lo:hi]
    d = d - d.mean(axis=0, keepdims=True)
    v = _segment_ncc(m, d)
    i = int(np.argmax(v))
    med = float(np.median(v))
    spread = max(float(np.median(np.abs(v - med))) * 1.4826, 1e-9)
    frac = parabolic_offset(v[i - 1], v[i], v[i + 1]) if 0 < i < v.size - 1 else 0.0
    return pred_frames - search_frames + i + frac, (float(v[i]) - med) / spread


def _feature_geometry(window: float, frame_rate: float, mf: np.ndarray
                      ) -> tuple[int, Callable[[float], int]]:
    """(feature window in frames, first frame of the feature window of a window at t0 s):
    feature windows are at least 20 s, centred on the window (feature correlation needs more
    material than GCC-PHAT to be reliable)."""
    feat_window = max(window, 20.0)
    wf = int(round(feat_window * frame_rate))

    def feature_start(t0: float) -> int:
        j0 = int(round((t0 + window / 2 - feat_window / 2) * frame_rate))
        return int(np.clip(j0, 0, max(mf.shape[0] - wf, 0)))

    return wf, feature_start


def _window_starts(m_mid: Signal, mid_rate: float, window: float, hop: float
                   ) -> np.ndarray:
    duration = m_mid.size / mid_rate
    return np.arange(0.0, max(duration - window, 0.0) + 1e-9, hop)


def scan_at_offset(
    m_mid: Signal, d_mid: Signal, mid_rate: float, mf: np.ndarray, df: np.ndarray,
    frame_rate: float, *, start_offset: float, window: float, hop: float,
    cancel: CancelToken | None = None, on_window: Callable[[int, int], None] | None = None,
) -> WindowScan:
    """Measure every window around ``start_offset`` (true for most windows of most
    programmes) on two threads; the heavy part of the timeline, which may start as soon as a
    coarse offset is known."""
    w, r = int(round(window * mid_rate)), int(round(1.0 * mid_rate))
    wf, feature_start = _feature_geometry(window, frame_rate, mf)
    starts = _window_starts(m_mid, mid_rate, window, hop)
    h0 = round(start_offset, 4)
    p0 = int(round(start_offset * frame_rate))

    def at_start_offset(k: int) -> Measured:
        if cancel is not None:
            cancel.raise_if_cancelled()
        s = int(round(starts[k] * mid_rate))
        g = _gcc_at(m_mid[s : s + w], d_mid, s, h0, r, mid_rate)
        f = _feature_offset(mf, df, feature_start(float(starts[k])), wf, p0,
                            int(round(1.0 * frame_rate)))
        return g, (f[0] / frame_rate, f[1]) if f is not None else None

    first: list[Measured] = []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="windows") as pool:
        for i in range(0, starts.size, 32):
            first.extend(pool.map(at_start_offset, range(i, min(i + 32, starts.size))))
            if on_window is not None:
                on_window(len(first), starts.size)
    return WindowScan(h0, window, hop, first)


def _scan_windows(
    m_mid: Signal, d_mid: Signal, mid_rate: float, mf: np.ndarray, df: np.ndarray,
    frame_rate: float, *, start_offset: float, window: float, hop: float, wide: float,
    cancel: CancelToken | None, on_window: Callable[[int, int], None] | None,
    pre: WindowScan | None = None,
) -> list[_Raw]:
    """Track the offset window by window (warped domain): GCC-PHAT ±1 s around the prediction,
    a wide feature search when that fails, GCC again around what the features found.
    ``pre``: the windows already measured around (nearly) ``start_offset``, if any."""
    w = int(round(window * mid_rate))
    r = int(round(1.0 * mid_rate))
    wf, feature_start = _feature_geometry(window, frame_rate, mf)
    starts = _window_starts(m_mid, mid_rate, window, hop)
    if pre is None or not pre.serves(start_offset, window, hop) or len(pre.first) != starts.size:
        pre = scan_at_offset(m_mid, d_mid, mid_rate, mf, df, frame_rate,
                             start_offset=start_offset, window=window, hop=hop, cancel=cancel,
                             on_window=on_window)
    elif on_window is not None:
        on_window(starts.size, starts.size)
    first, h0 = pre.first, pre.start_offset
    p0 = int(round(h0 * frame_rate))
    pred = start_offset
    recent: list[float] = []
    out: list[_Raw] = []
    for k, t0 in enumerate(starts):
        if cancel is not None:
            cancel.raise_if_cancelled()
        s = int(round(t0 * mid_rate))
        m = m_mid[s : s + w]
        d_lo = int(round((t0 + pred) * mid_rate))
        inside = d_lo >= 0 and d_lo + w <= d_mid.size
        content = inside and has_content(m) and has_content(d_mid[d_lo : d_lo + w])
        gcc: tuple[float, float] | None = None
        feat: tuple[float, float] | None = None
        if content:
            # hypotheses: the robust prediction and the last confident window (which follows
            # an edit at once); the best GCC-PHAT peak wins
            for h in {round(pred, 4), round(recent[-1], 4) if recent else round(pred, 4)}:
                g = (first[k][0] if abs(h - h0) <= WindowScan.REUSE_SECONDS
                     else _gcc_at(m, d_mid, s, h, r, mid_rate))
                if g is not None and (gcc is None or g[1] > gcc[1]):
                    gcc = g
            j0 = feature_start(float(t0))
            if abs(int(round(pred * frame_rate)) - p0) <= 2:
                feat = first[k][1]
            else:
                f = _feature_offset(mf, df, j0, wf, int(round(pred * frame_rate)),
                                    int(round(1.0 * frame_rate)))
                feat = (f[0] / frame_rate, f[1]) if f is not None else None
            if gcc is None or gcc[1] < 1.5 * THRESHOLDS["window_min_zscore"]:
                # weak near the prediction (an edit?): a wide feature search, kept when
                # GCC-PHAT at the full rate confirms it better than what we have
                f = _wide_feature_search(mf, df, j0, wf, pred, wide, frame_rate)
                if f is not None:
                    g = _gcc_at(m, d_mid, s, f[0], int(round(0.03 * mid_rate)), mid_rate)
                    if g is not None and g[1] >= THRESHOLDS["window_min_zscore"] and (
                            gcc is None or g[1] > gcc[1]):
                        gcc = g
                        if feat is None or feat[1] < THRESHOLDS["feature_min_zscore"]:
                            feat = f
        # the prediction follows the median of the last three confident windows, so one
        # mistaken window cannot derail the tracking
        if gcc is not None and gcc[1] >= THRESHOLDS["window_min_zscore"]:
            recent.append(gcc[0])
        elif feat is not None and feat[1] >= THRESHOLDS["feature_min_zscore"]:
            recent.append(feat[0])
        if recent:
            pred = float(np.median(recent[-3:]))
        out.append(_Raw(float(t0), float(t0 + window), content, inside, gcc, feat))
    return out


def _gcc_at(
    m: np.ndarray, d_mid: Signal, s: int, offset: float, search: int, rate: float
) -> tuple[float, float] | None:
    """GCC-PHAT of master window ``m`` (starting at sample ``s``) against the dub around
    ``offset`` seconds ± ``search`` samples: (offset in seconds, z-score), or None off the end."""
    lag = int(round(offset * rate))
    a, b = s + lag - search, s + lag + m.size + search
    if b <= 0 or a >= d_mid.size or min(b, d_mid.size) - max(a, 0) < m.size // 2:
        return None
    seg = d_mid[max(a, 0) : b]
    if a < 0 or b > d_mid.size:  # at the ends of the dub: zero-pad the search range
        seg = np.concatenate([np.zeros(max(0, -a), np.float32), seg,
                              np.zeros(max(0, b - d_mid.size), np.float32)])
    res, z, _ = gcc_window(m, seg, search=search, sample_rate=rate)
    return (lag + res) / rate, z


def _wide_feature_search(
    mf: np.ndarray, df: np.ndarray, j0: int, wf: int, pred: float, wide: float,
    frame_rate: float,
) -> tuple[float, float] | None:
    search = int(round(wide * frame_rate))
    p = int(round(pred * frame_rate))
    lo = max(0, j0 + p - search)
    hi = min(df.shape[0], j0 + wf + p + search)
    if hi - lo <= wf or j0 + wf > mf.shape[0]:
        return None
    m = mf[j0 : j0 + wf] - mf[j0 : j0 + wf].mean(axis=0, keepdims=True)
    d = df[lo:hi] - df[lo:hi].mean(axis=0, keepdims=True)
    v = _segment_ncc(m, d)
    i = int(np.argmax(v))
    med = float(np.median(v))
    spread = max(float(np.median(np.abs(v - med))) * 1.4826, 1e-9)
    frac = parabolic_offset(v[i - 1], v[i], v[i + 1]) if 0 < i < v.size - 1 else 0.0
    return (lo - j0 + i + frac) / frame_rate, (float(v[i]) - med) / spread
