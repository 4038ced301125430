"""The offset across the whole programme: windows, a fitted model (constant, drift, piecewise
with edits) and a verdict.

Time axes: ``t`` is master time in seconds; the offset at ``t`` is ``dub_time(t) - t`` (> 0 =
dub late). The speed ratio ``s`` is the dub's speed relative to the master (> 1 when the dub
runs fast): with drift alone, ``dub_time(t) = a + t / s``. An edit is a jump of the offset:
material removed from the dub makes it drop, material inserted makes it rise.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from functools import partial
from typing import Any

import numpy as np
from scipy import fft as sfft

from app.engine.decode import ffmpeg_path
from app.engine.halfrate import Signal, as_array
from app.engine.types import CancelToken
from app.engine.windows import gcc_window, has_content
from app.engine.xcorr import fft_size, normalised_xcorr, parabolic_offset

__all__ = [
    "NAMED_CONVERSIONS",
    "THRESHOLDS",
    "SpeedEstimate",
    "TimelineWindow",
    "Drift",
    "Segment",
    "Edit",
    "Timeline",
    "detect_speed",
    "warp_signal",
    "warp_features",
    "build_timeline",
    "scan_at_offset",
    "WindowScan",
    "stretch_to_master",
    "measure_stretch_shift",
]

#: Standard speed conversions: name → dub speed relative to the master.
NAMED_CONVERSIONS: dict[str, Fraction] = {
    "1000/1001": Fraction(1000, 1001),
    "1001/1000": Fraction(1001, 1000),
    "25/24": Fraction(25, 24),
    "24/25": Fraction(24, 25),
    "25/23.976": Fraction(25 * 1001, 24000),
    "23.976/25": Fraction(24000, 25 * 1001),
}

#: Thresholds of the model and the verdict (reported with every timeline).
THRESHOLDS: dict[str, float] = {
    "in_sync_seconds": 0.001,
    "edit_jump_seconds": 0.02,
    "drift_min_ppm": 10.0,
    "drift_min_total_seconds": 0.001,
    "drift_min_sigmas": 5.0,
    "named_conversion_tolerance_ppm": 60.0,
    "window_min_zscore": 7.0,
    "feature_min_zscore": 6.0,
    "min_coverage": 0.5,
    "max_edits_per_minute": 0.75,
    # a resampled dub (pitch changed) warped back matches the master sample for sample: its
    # windows sit within ~0.01 ms of the line; a time-stretched one (pitch kept, WSOLA) keeps
    # the stretcher's own jitter of a few ms (median |residual| >= ~0.7 ms on the bench)
    "pitch_changed_max_residual_seconds": 0.0003,
}


@dataclass(frozen=True)
class SpeedEstimate:
    """Result of the speed search: ratio (dub speed / master speed), its name, the dub-side
    offset in the warped domain (seconds) and the feature correlation peak it gave."""

    ratio: float
    name: str | None
    warped_offset_seconds: float
    peak: float
    peak_at_unity: float


@dataclass
class TimelineWindow:
    """One window of master time [start, end) s; offset (> 0 = dub late) or None; confidence
    in [0, 1]; source "gcc" or "features"; status "ok", "weak" (no confident match, e.g.
    dialogue only), "silence", "outside" (the dub does not cover it) or "outlier" (confident
    but off the fitted model)."""

    start_seconds: float
    end_seconds: float
    offset_seconds: float | None
    confidence: float
    source: str | None
    status: str
    residual_seconds: float | None = None


@dataclass
class Drift:
    """speed_ratio: dub speed relative to the master (> 1 = dub runs fast); ppm: (ratio − 1)·1e6;
    conversion: the named standard conversion it matches, if any; pitch_changed: True when the
    dub is a resampled copy (pitch moved with speed), False when time-stretched (pitch kept),
    None when it cannot be told; total_seconds: offset change over the analysed programme;
    fitted_speed_ratio: the windows' own least-squares ratio (speed_ratio is the named
    conversion's exact ratio where the fit is statistically consistent with it)."""

    speed_ratio: float
    ppm: float
    conversion: str | None
    pitch_changed: bool | None
    total_seconds: float
    fitted_speed_ratio: float | None = None


@dataclass
class Segment:
    """A stretch of the programme with one offset line: offsets (s) at its start and end."""

    master_start_seconds: float
    master_end_seconds: float
    offset_start_seconds: float
    offset_end_seconds: float
    windows: int


@dataclass
class Edit:
    """A jump of the offset at ``master_time_seconds``: kind "removed" (material of the master
    missing from the dub) or "inserted" (material added to the dub), ``duration_seconds``;
    ``uncertainty_seconds``: ± range of the location (wide where the gap has no shared
    sound, e.g. dialogue only)."""

    master_time_seconds: float
    kind: str
    duration_seconds: float
    offset_before_seconds: float
    offset_after_seconds: float
    uncertainty_seconds: float = 0.0


@dataclass
class Timeline:
    """The offset over the programme and the verdict: "in_sync", "constant_offset", "drift",
    "edited" or "no_reliable_match"."""

    verdict: str
    reason: str
    model: str
    offset_at_start_seconds: float | None
    coverage: float
    residual_rms_seconds: float | None
    residual_max_seconds: float | None
    window_seconds: float
    hop_seconds: float
    windows: list[TimelineWindow]
    segments: list[Segment]
    edits: list[Edit]
    drift: Drift | None
    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def shifted(self, *, master_seconds: float, offset_seconds: float) -> Timeline:
        """This timeline of a stretch that starts ``master_seconds`` into the master, with
        offsets that lack ``offset_seconds``, expressed on the whole programme: master times
        + ``master_seconds``, offsets + ``offset_seconds``; the verdict between in_sync and
        constant_offset and the reasons that name times or offsets are told again."""
        def t(x: float) -> float:
            return round(x + master_seconds, 6)

        def o(x: float) -> float:
            return round(x + offset_seconds, 9)

        windows = [replace(w, start_seconds=t(w.start_seconds), end_seconds=t(w.end_seconds),
                           offset_seconds=None if w.offset_seconds is None
                           else o(w.offset_seconds)) for w in self.windows]
        segments = [replace(g, master_start_seconds=t(g.master_start_seconds),
                            master_end_seconds=t(g.master_end_seconds),
                            offset_start_seconds=o(g.offset_start_seconds),
                            offset_end_seconds=o(g.offset_end_seconds)) for g in self.segments]
        edits = [replace(e, master_time_seconds=t(e.master_time_seconds),
                         offset_before_seconds=o(e.offset_before_seconds),
                         offset_after_seconds=o(e.offset_after_seconds)) for e in self.edits]
        start = None if self.offset_at_start_seconds is None else \
            o(self.offset_at_start_seconds)
        verdict, reason = self.verdict, self.reason
        if verdict in ("in_sync", "constant_offset") and start is not None:
            if abs(start) <= THRESHOLDS["in_sync_seconds"]:
                verdict, reason = "in_sync", "constant offset within 1 ms of zero"
            else:
                verdict = "constant_offset"
                reason = f"constant offset {start:+.6f} s across {self.coverage:.0%} of the windows"
        elif verdict == "edited":
            reason = f"{len(edits)} edit(s): " + ", ".join(
                f"{e.duration_seconds:.3f} s {e.kind} at {e.master_time_seconds:.2f} s"
                for e in edits)
        return replace(self, verdict=verdict, reason=reason, offset_at_start_seconds=start,
                       windows=windows, segments=segments, edits=edits)

    def offset_at(self, t: float) -> float | None:
        """Model offset (s) at master time ``t`` (s)."""
        if not self.segments:
            return self.offset_at_start_seconds
        seg = self.segments[-1]
        for s in self.segments:
            if t < s.master_end_seconds:
                seg = s
                break
        span = max(seg.master_end_seconds - seg.master_start_seconds, 1e-9)
        slope = (seg.offset_end_seconds - seg.offset_start_seconds) / span
        return seg.offset_start_seconds + slope * (t - seg.master_start_seconds)


# --------------------------------------------------------------------------- speed


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


# --------------------------------------------------------------------------- windows


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


Measured = tuple[tuple[float, float] | None, tuple[float, float] | None]


@dataclass
class WindowScan:
    """Every window measured around one starting offset (warped domain, seconds): per window
    (GCC-PHAT ±1 s, features ±1 s) as (offset, z) or None. Measured once, it serves any later
    tracking whose prediction stays within ``REUSE_SECONDS`` of that offset."""

    start_offset: float
    window: float
    hop: float
    first: list[Measured]

    REUSE_SECONDS = 0.05

    def serves(self, offset: float, window: float, hop: float) -> bool:
        return (self.window == window and self.hop == hop
                and abs(self.start_offset - offset) <= self.REUSE_SECONDS)


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


# --------------------------------------------------------------------------- model


def _segments(t: np.ndarray, o: np.ndarray, jump: float) -> tuple[np.ndarray, float]:
    """Label each window with a segment index (−1 = outlier) and estimate the common slope."""
    # the drift slope is the median slope between neighbouring windows: jumps at edits are
    # few, so they do not move the median
    slope = float(np.median(np.diff(o) / np.maximum(np.diff(t), 1e-9))) if t.size >= 2 else 0.0
    level = o - slope * t
    labels = np.full(t.size, -1)
    seg = 0
    current: list[float] = []
    for i in range(t.size):
        if current and abs(level[i] - float(np.median(current[-3:]))) > jump:
            # a jump: start a new segment unless the next window returns to the current level
            back = i + 1 < t.size and abs(level[i + 1] - float(np.median(current[-3:]))) <= jump
            if back:
                continue  # isolated outlier
            seg += 1
            current = []
        labels[i] = seg
        current.append(float(level[i]))
    # segments with a single window are outliers; renumber the rest consecutively
    counts = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.array([])
    keep = {k for k, c in enumerate(counts) if c >= 2} or ({int(np.argmax(counts))}
                                                           if counts.size else set())
    mapping: dict[int, int] = {}
    prev_level: float | None = None
    for i in range(t.size):
        lab = int(labels[i])
        if lab not in keep:
            labels[i] = -1
            continue
        if lab not in mapping:
            lvl = float(np.median(level[labels == lab]))
            if prev_level is not None and abs(lvl - prev_level) <= jump and mapping:
                mapping[lab] = max(mapping.values())  # same level again: merge
            else:
                mapping[lab] = len(set(mapping.values()))
            prev_level = lvl
        labels[i] = mapping[lab]
    return labels, slope


def _renumber(labels: np.ndarray, level: np.ndarray, jump: float) -> np.ndarray:
    """Drop segments left with fewer than two windows, merge neighbours at the same level and
    number the rest 0, 1, … in time order."""
    out = labels.copy()
    for lab in set(out[out >= 0].tolist()):
        if (out == lab).sum() < 2:
            out[out == lab] = -1
    new_id, prev_lab, prev_level = -1, None, None
    for i in range(out.size):
        lab = int(out[i])
        if lab < 0:
            continue
        if lab != prev_lab:
            lvl = float(np.median(level[labels == lab]))
            if prev_level is None or abs(lvl - prev_level) > jump:
                new_id += 1
            prev_lab, prev_level = lab, lvl
        out[i] = new_id
    return out


def _fit(t: np.ndarray, o: np.ndarray, w: np.ndarray, labels: np.ndarray
         ) -> tuple[np.ndarray, float]:
    """Weighted least squares: one intercept per segment, one common slope."""
    n_seg = int(labels.max()) + 1
    a = np.zeros((t.size, n_seg + 1))
    a[np.arange(t.size), labels] = 1.0
    a[:, -1] = t
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(a * sw[:, None], o * sw, rcond=None)
    return coef[:-1], float(coef[-1])


def _slope_error(t: np.ndarray, w: np.ndarray, resid: np.ndarray, labels: np.ndarray
                 ) -> float:
    """Standard error of the common slope (s/s) from the windows' weighted scatter."""
    centred = t - np.average(t, weights=w)
    sxx = float(np.sum(w * centred**2))
    dof = max(int(t.size) - (int(labels.max()) + 2), 1)
    sigma = float(np.sqrt(np.sum(w * resid**2) / max(float(np.sum(w)), 1e-12) * t.size / dof))
    return sigma / np.sqrt(sxx) if sxx > 0 else float("inf")


def _snap_slope(slope: float, slope_se: float) -> float | None:
    """The exact slope of the standard conversion that ``slope`` (offset change per second of
    master) is statistically consistent with (within 3 standard errors and the naming
    tolerance), else None: a real 25 → 24 fps conversion runs at exactly 25/24, so the
    windows' scatter should not move the fitted ratio off it."""
    for r in NAMED_CONVERSIONS.values():
        exact = 1.0 / float(r) - 1.0  # ratio = 1 / (1 + slope)
        ppm_apart = abs(1.0 / (1.0 + slope) - float(r)) * 1e6
        if ppm_apart <= THRESHOLDS["named_conversion_tolerance_ppm"] and \
                abs(slope - exact) <= 3.0 * slope_se:
            return exact
    return None


def build_timeline(
    m_mid: Signal,
    d_mid: Signal,
    *,
    mid_rate: float,
    master_flux: np.ndarray,
    dub_flux: np.ndarray,
    frame_rate: float,
    speed: SpeedEstimate,
    start_offset_seconds: float,
    m_full: np.ndarray | None = None,
    d_full: np.ndarray | None = None,
    full_rate: float | None = None,
    window_seconds: float,
    hop_seconds: float,
    max_offset_seconds: float,
    cancel: CancelToken | None = None,
    on_window: Callable[[int, int], None] | None = None,
    d_mid_unwarped: Signal | None = None,
    pre: WindowScan | None = None,
) -> Timeline:
    """Windowed offsets, fitted model and verdict.

    ``d_mid``/``dub_flux`` are already warped to the master's timeline by ``speed.ratio``
    (resampled: right for a dub whose pitch moved with its speed);
    ``start_offset_seconds`` is the offset in that warped domain where tracking starts.
    ``m_full``/``d_full`` (at ``full_rate`` Hz, the dub warped too), when given, locate edits
    with the full bandwidth. ``d_mid_unwarped``: the dub as delivered (mid rate); when the
    speed differs, it is also time-stretched onto the master's timeline with its pitch kept
    (the other way a conversion is made) and the windows measured again on that.
    ``pre``: windows already measured (:func:`scan_at_offset`) on these same signals around a
    coarse offset, reused where the tracking stays near it.
    Reported offsets are converted back to the dub's own timeline.
    """
    s0 = speed.ratio
    scan = partial(_scan_windows, mf=master_flux, df=dub_flux, frame_rate=frame_rate,
                   start_offset=start_offset_seconds, window=window_seconds, hop=hop_seconds,
                   wide=min(max_offset_seconds, 30.0), cancel=cancel)
    model = partial(_model, m_mid=m_mid, mid_rate=mid_rate, s0=s0,
                    window_seconds=window_seconds, hop_seconds=hop_seconds)
    raws = scan(m_mid, d_mid, mid_rate, on_window=on_window, pre=pre)
    edit_signals = ((m_full, d_full, full_rate) if m_full is not None and d_full is not None
                    and full_rate else (m_mid, d_mid, mid_rate))
    best = model(raws, feature_mode=False, d_mid=d_mid, edit_signals=edit_signals)
    if s0 == 1.0:
        return best
    # the waveform (GCC-PHAT) model is more precise; another wins only when it explains
    # clearly more of the programme: the time-stretched dub (pitch kept), else the features
    if d_mid_unwarped is not None and best.coverage < 0.9:
        stretched = stretch_to_master(as_array(d_mid_unwarped), s0, mid_rate)
        if stretched is not None:
            y = stretched.signal
            raws_kept = _corrected(scan(m_mid, y, mid_rate, on_window=None), stretched, s0)
            kept = model(raws_kept, feature_mode=False, d_mid=y,
                         edit_signals=(m_mid, y, mid_rate), pitch_kept=True)
            if kept.coverage > best.coverage + 0.1:
                best = kept
    features = model(raws, feature_mode=True, d_mid=d_mid, edit_signals=edit_signals)
    if features.coverage > best.coverage + 0.1:
        best = features
    return best


@dataclass
class Stretched:
    """The dub time-stretched onto the master's timeline (pitch kept). ``signal`` is moved by
    the stretcher's median shift; ``times`` (s, output) and ``deviation`` (s, input time) give
    its local shift around that median, measured on 100-ms snippets."""

    signal: np.ndarray
    times: np.ndarray
    deviation: np.ndarray

    def deviation_in(self, a: float, b: float) -> float:
        """Median local deviation (s, input time) over output times ``a .. b`` (0 if none)."""
        sel = (self.times >= a) & (self.times < b)
        return float(np.median(self.deviation[sel])) if sel.sum() >= 5 else 0.0


def stretch_to_master(d: np.ndarray, s0: float, rate: float) -> Stretched | None:
    """The dub (mono, ``rate`` Hz, speed ``s0`` relative to the master) time-stretched with its
    pitch kept onto the master's timeline by ffmpeg's ``atempo`` (WSOLA). The stretcher's own
    time shift is measured on its input and output (100-ms snippets every 0.5 s): the signal
    is moved by its median, and the local deviations are kept so that windows measured on it
    can be corrected — no error of ours adds to the dub's. None when ffmpeg fails."""
    tempo = 1.0 / s0  # output time = input time / tempo = input time · s0
    if not 0.5 <= tempo <= 2.0:
        return None
    cmd = [ffmpeg_path(), "-nostdin", "-v", "error", "-f", "f32le", "-ar", str(int(rate)),
           "-ac", "1", "-i", "pipe:0", "-af", f"atempo={tempo:.9f}", "-f", "f32le", "pipe:1"]
    try:
        done = subprocess.run(cmd, input=np.ascontiguousarray(d, np.float32).tobytes(),
                              capture_output=True, check=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return None
    y = np.frombuffer(done.stdout, np.float32).copy()
    times, shifts = stretch_shifts(d, y, tempo, rate, step=0.5)
    if times.size < 20:
        return Stretched(y, times, np.zeros(0))
    shift = float(np.median(shifts))  # output t carries input t·tempo + shift
    lag = int(round(shift / tempo * rate))  # delay the output by shift / tempo to cancel it
    if lag > 0:
        y = np.concatenate([np.zeros(lag, np.float32), y[:-lag]])
    elif lag < 0:
        y = np.concatenate([y[-lag:], np.zeros(-lag, np.float32)])
    return Stretched(y, times + lag / rate, shifts - shift)


def stretch_shifts(x: np.ndarray, y: np.ndarray, tempo: float, rate: float, *,
                   step: float) -> tuple[np.ndarray, np.ndarray]:
    """Local shift of stretched ``y`` against its input ``x``: (output times, shifts), both in
    seconds, where output time t carries input t·tempo + shift. 100-ms snippets every
    ``step`` s, searched ±60 ms, kept where their normalised correlation is >= 0.9."""
    w, reach = int(0.1 * rate), int(0.06 * rate)
    n = fft_size(2 * w + 2 * reach)
    times, shifts = [], []
    for t_out in np.arange(1.0, y.size / rate - 1.0, step):
        s, c = int(t_out * rate), int(t_out * tempo * rate)
        seg, ref = y[s : s + w], x[max(0, c - reach) : c + w + reach]
        if seg.size < w or c - reach < 0 or ref.size < w + 2 * reach or \
                float(np.sqrt(np.mean(seg**2))) < 1e-3:
            continue
        cc = sfft.irfft(np.conj(sfft.rfft(seg, n)) * sfft.rfft(ref, n), n)[: 2 * reach + 1]
        csum = np.concatenate([[0.0], np.cumsum(ref.astype(np.float64) ** 2)])
        energy = (csum[w : w + 2 * reach + 1] - csum[: 2 * reach + 1]) * float(np.sum(seg**2))
        v = cc / np.sqrt(energy + 1e-12)
        k = int(np.argmax(v))
        if v[k] >= 0.9:
            times.append(float(t_out))
            shifts.append((k - reach) / rate)
    return np.array(times), np.array(shifts)


def measure_stretch_shift(x: np.ndarray, y: np.ndarray, tempo: float, rate: float
                          ) -> float | None:
    """Median shift (s, input time) of stretched ``y`` against its input ``x`` (see
    :func:`stretch_shifts`, snippets every 0.25 s); None with fewer than 20 snippets."""
    _, shifts = stretch_shifts(x, y, tempo, rate, step=0.25)
    return float(np.median(shifts)) if shifts.size >= 20 else None


def _corrected(raws: list[_Raw], stretched: Stretched, s0: float) -> list[_Raw]:
    """Windows measured on the stretched dub with our stretcher's local deviation removed:
    its output at t carries input t·tempo + deviation, i.e. a warped offset larger by
    ``s0 · deviation``."""
    if stretched.deviation.size == 0:
        return raws
    out = []
    for r in raws:
        def fix(m: tuple[float, float] | None) -> tuple[float, float] | None:
            if m is None:
                return None
            dev = stretched.deviation_in(r.t0 + m[0], r.t1 + m[0])  # noqa: B023
            return m[0] + s0 * dev, m[1]

        out.append(replace(r, gcc=fix(r.gcc), feat=fix(r.feat)))
    return out


def _model(
    raws: list[_Raw], *, feature_mode: bool, m_mid: Signal, d_mid: Signal,
    mid_rate: float, s0: float, window_seconds: float, hop_seconds: float,
    edit_signals: tuple[Signal, Signal, float], pitch_kept: bool = False,
) -> Timeline:
    """Fit the offset model to the windows measured by GCC-PHAT, or by features when
    ``feature_mode``; offsets converted from the warped domain back to the dub's timeline.
    ``pitch_kept``: the windows were measured on the time-stretched dub."""

    def to_dub(t_mid: float, warped: float) -> float:
        return (t_mid + warped) / s0 - t_mid

    windows: list[TimelineWindow] = []
    pts: list[tuple[int, float, float, float]] = []  # (window index, t, offset, weight)
    for raw in raws:
        mid = 0.5 * (raw.t0 + raw.t1)
        if not raw.content:
            status = "silence" if raw.inside else "outside"
            windows.append(TimelineWindow(raw.t0, raw.t1, None, 0.0, None, status))
            continue
        gz = raw.gcc[1] if raw.gcc else 0.0
        fz = raw.feat[1] if raw.feat else 0.0
        if not feature_mode and raw.gcc and gz >= THRESHOLDS["window_min_zscore"]:
            off, src, conf = raw.gcc[0], "gcc", float(np.clip((gz - 5) / 10, 0.2, 1.0))
        elif feature_mode and raw.feat and fz >= THRESHOLDS["feature_min_zscore"]:
            off, src, conf = raw.feat[0], "features", float(np.clip((fz - 4) / 10, 0.1, 0.8))
        else:
            windows.append(TimelineWindow(raw.t0, raw.t1, None, 0.0, None, "weak"))
            continue
        pts.append((len(windows), mid, to_dub(mid, off), conf))
        windows.append(TimelineWindow(raw.t0, raw.t1, round(to_dub(mid, off), 6),
                                      round(conf, 3), src, "ok"))
    content = sum(1 for w in windows if w.status not in ("silence", "outside"))
    # an offset that leaves much of the shorter track outside the other is judged against the
    # windows a full overlap would give (an aligned music cue alone must not pass as a match)
    silent = sum(1 for w in windows if w.status == "silence")
    shorter = min(m_mid.size, d_mid.size) / mid_rate
    possible = int(max(0.0, shorter - window_seconds) // hop_seconds) + 1
    expected = possible * content / max(content + silent, 1)
    content = max(content, int(round(expected)))
    jump = THRESHOLDS["edit_jump_seconds"]
    empty = Timeline("no_reliable_match", "", "none", None, 0.0, None, None, window_seconds,
                     hop_seconds, windows, [], [], None)
    if len(pts) < 3 or content == 0:
        empty.reason = f"only {len(pts)} of {content} windows with sound match the master"
        return empty

    idx = np.array([p[0] for p in pts])
    t = np.array([p[1] for p in pts])
    o = np.array([p[2] for p in pts])
    wt = np.array([p[3] for p in pts])
    labels, _ = _segments(t, o, jump)
    for _ in range(2):  # fit, drop outliers, refit
        use = labels >= 0
        intercepts, slope = _fit(t[use], o[use], wt[use], labels[use])
        pred = np.where(labels >= 0, intercepts[np.clip(labels, 0, None)] + slope * t, np.nan)
        resid = o - pred
        tol = max(0.005, 4.0 * float(np.nanmedian(np.abs(resid[use]))) * 1.4826)
        labels = _renumber(np.where(np.abs(resid) > tol, -1, labels), o - slope * t, jump)
        if (labels >= 0).sum() < 2:
            break
    use = labels >= 0
    if use.sum() < 3:
        empty.reason = "the matching windows do not agree on any offset line"
        return empty
    intercepts, slope = _fit(t[use], o[use], wt[use], labels[use])
    resid = o - (intercepts[np.clip(labels, 0, None)] + slope * t)
    slope_se = _slope_error(t[use], wt[use], resid[use], labels[use])
    fitted_ratio = 1.0 / (1.0 + slope)
    named = _snap_slope(slope, slope_se)
    if named is not None:  # a standard conversion is exact: fit the intercepts under it
        slope = named
        for seg in range(int(labels.max()) + 1):
            sel = use & (labels == seg)
            if sel.any():
                intercepts[seg] = float(np.average(o[sel] - slope * t[sel], weights=wt[sel]))
        resid = o - (intercepts[np.clip(labels, 0, None)] + slope * t)
    for k, i in enumerate(idx):
        windows[i].residual_seconds = round(float(resid[k]), 6)
        if labels[k] < 0:
            windows[i].status = "outlier"

    segments: list[Segment] = []
    for seg in range(int(labels.max()) + 1):
        ts = t[labels == seg]
        if ts.size == 0:
            continue
        a, b = float(ts.min() - window_seconds / 2), float(ts.max() + window_seconds / 2)
        segments.append(Segment(round(max(a, 0.0), 3), round(b, 3),
                                round(float(intercepts[seg] + slope * max(a, 0.0)), 6),
                                round(float(intercepts[seg] + slope * b), 6), int(ts.size)))
    segments.sort(key=lambda s: s.master_start_seconds)
    edits = _locate_edits(segments, *edit_signals, s0, window_seconds)
    # segments meet at the edit points
    for e, (left, right) in zip(edits, zip(segments, segments[1:], strict=False), strict=False):
        left.master_end_seconds = right.master_start_seconds = round(e.master_time_seconds, 3)

    ratio = 1.0 / (1.0 + slope)
    ppm = (ratio - 1.0) * 1e6
    span = float(t[use].max() - t[use].min()) + window_seconds
    total = slope * span
    name = None
    for n, r in NAMED_CONVERSIONS.items():
        if abs(ppm - (float(r) - 1) * 1e6) <= THRESHOLDS["named_conversion_tolerance_ppm"]:
            name = n
    used = [windows[i] for k, i in enumerate(idx) if labels[k] >= 0]
    precise = [abs(w.residual_seconds or 0.0) for w in used if w.source == "gcc"]
    pitch: bool | None = None
    if name is not None or s0 != 1.0:
        pitch = not feature_mode and not pitch_kept and bool(
            len(precise) >= 0.6 * len(used)
            and np.median(precise) < THRESHOLDS["pitch_changed_max_residual_seconds"])
    # the slope must stand out of the windows' scatter: |slope| >= 5 standard errors
    is_drift = (abs(ppm) >= THRESHOLDS["drift_min_ppm"]
                and abs(total) >= THRESHOLDS["drift_min_total_seconds"]
                and abs(slope) >= THRESHOLDS["drift_min_sigmas"] * slope_se)
    drift = Drift(round(float(ratio), 9), round(float(ppm), 2), name, pitch,
                  round(float(total), 6), round(float(fitted_ratio), 9))
    coverage = len(used) / content
    rms = float(np.sqrt(np.mean(resid[use] ** 2)))
    mx = float(np.max(np.abs(resid[use])))
    start = segments[0].offset_start_seconds if segments else None
    minutes = max(span / 60.0, 1.0)
    if coverage < THRESHOLDS["min_coverage"]:
        verdict, reason, model = ("no_reliable_match",
                                  f"only {coverage:.0%} of the windows with sound follow one "
                                  "offset model", "none")
    elif len(edits) > max(2.0, THRESHOLDS["max_edits_per_minute"] * minutes):
        verdict, reason, model = ("no_reliable_match",
                                  f"{len(edits)} jumps in {span:.0f} s: the dub matches the "
                                  "master only piecewise (re-ordered material?)", "none")
    elif edits:
        verdict, model = "edited", "piecewise"
        reason = f"{len(edits)} edit(s): " + ", ".join(
            f"{e.duration_seconds:.3f} s {e.kind} at {e.master_time_seconds:.2f} s" for e in edits)
    elif is_drift:
        verdict, model = "drift", "drift"
        reason = (f"speed ratio {ratio:.6f} ({ppm:+.1f} ppm"
                  + (f", {name}" if name else "") + f"), {total * 1000:+.1f} ms over the programme")
    elif abs(start or 0.0) <= THRESHOLDS["in_sync_seconds"]:
        verdict, model, reason = "in_sync", "constant", "constant offset within 1 ms of zero"
    else:
        verdict, model = "constant_offset", "constant"
        reason = f"constant offset {start:+.6f} s across {coverage:.0%} of the windows"
    drift_out = drift if is_drift else None
    return Timeline(verdict, reason, model, start, round(coverage, 4), round(rms, 6),
                    round(mx, 6), window_seconds, hop_seconds, windows, segments, edits,
                    drift_out)


def _locate_edits(
    segments: list[Segment], m_mid: Signal, d_mid: Signal, rate: float, s0: float,
    window: float,
) -> list[Edit]:
    """Place each jump between consecutive segments.

    Across the gap, 2-s windows every 0.25 s are tested against both segments' offsets
    (GCC-PHAT ±0.25 s, the peak within 2 ms of the hypothesis); the edit is the split where
    the earlier segment's matches end and the later one's begin (for a removal, the removed
    duration later in master time). The uncertainty is half the unlabelled gap around it.
    """
    edits: list[Edit] = []
    scales, step = (2.0,), 0.25
    for left, right in zip(segments, segments[1:], strict=False):
        a = max(0.0, left.master_end_seconds - window)
        b = right.master_start_seconds + window
        centres = np.arange(a + max(scales) / 2, b - max(scales) / 2 + 1e-9, step)
        if centres.size < 4:
            continue
        labels = []
        for length in scales:
            zl = _hypothesis_z(centres, left, m_mid, d_mid, rate, s0, length)
            zr = _hypothesis_z(centres, right, m_mid, d_mid, rate, s0, length)
            # the highest peak of ±0.25 s landing within 2 ms of a hypothesis is itself
            # strong evidence (about 1 % by chance), so a modest z-score is enough here
            labels.append((((zl >= 4.0) & (zl > zr)).astype(float),
                           ((zr >= 4.0) & (zr > zl)).astype(float)))
        removed = max(0.0, _segment_offset(left, centres[0]) - _segment_offset(right, centres[0]))
        t_edit, uncertainty = _edit_split(centres, labels, shift=int(round(removed / step)),
                                          reach=0.5)
        fine = _refine_split(t_edit, removed, left, right, m_mid, d_mid, rate, s0)
        if fine is not None and fine[1] <= uncertainty:  # sharper where both sides have sound
            t_edit, uncertainty = fine
        before = _segment_offset(left, t_edit)
        after = _segment_offset(right, t_edit)
        jump = after - before
        edits.append(Edit(round(t_edit, 3), "inserted" if jump > 0 else "removed",
                          round(abs(jump), 6), round(before, 6), round(after, 6),
                          round(uncertainty, 3)))
    return edits


def _segment_offset(seg: Segment, t: float) -> float:
    """Offset (s) of a segment's line at master time ``t`` (extrapolated beyond it)."""
    span = max(seg.master_end_seconds - seg.master_start_seconds, 1e-9)
    slope = (seg.offset_end_seconds - seg.offset_start_seconds) / span
    return seg.offset_start_seconds + slope * (t - seg.master_start_seconds)


def _hypothesis_z(centres: np.ndarray, seg: Segment, m_mid: Signal, d_mid: Signal,
                  rate: float, s0: float, length: float) -> np.ndarray:
    """z-score of the GCC-PHAT peak of windows centred at ``centres`` (``length`` s) when it
    lies within 2 ms of the segment's offset; 0 otherwise."""
    n = int(round(length * rate))
    search = int(round(0.25 * rate))
    out = np.zeros(centres.size)
    for k, c in enumerate(centres):
        s = int(round((c - length / 2) * rate))
        if s < 0 or s + n > m_mid.size:
            continue
        warped = (c + _segment_offset(seg, c)) * s0 - c  # d_mid lives in the warped domain
        g = _gcc_at(m_mid[s : s + n], d_mid, s, warped, search, rate)
        if g is not None and abs(g[0] - warped) <= 0.002:
            out[k] = g[1]
    return out


def _coherence(m: Signal, d: Signal, lag: float, s: int, n: int, rate: float
               ) -> float:
    """Phase coherence (mean cosine of the whitened cross-spectrum, 40 Hz to 0.45·rate) of
    master samples ``s .. s+n`` with the dub ``lag`` samples (fractional) later: ~0 ± 1/√bins
    for unrelated sound, clearly positive where the two share material at exactly that lag."""
    li = int(np.floor(lag))
    if s < 0 or s + n > m.size or s + li < 0 or s + li + n > d.size:
        return 0.0
    win = np.hanning(n).astype(np.float32)
    cross = np.conj(sfft.rfft(m[s : s + n] * win)) * sfft.rfft(d[s + li : s + li + n] * win)
    k = np.arange(cross.size)
    cross *= np.exp(2j * np.pi * k * (lag - li) / n)  # undo the fractional part of the lag
    band = cross[max(1, int(40 * n / rate)) : int(0.45 * n)]
    return float(np.mean(band.real / np.maximum(np.abs(band), 1e-20)))


def _refine_split(
    t0: float, removed: float, left: Segment, right: Segment, m: Signal, d: Signal,
    rate: float, s0: float, *, length: float = 0.25, step: float = 0.05, reach: float = 2.0,
) -> tuple[float, float] | None:
    """Sharpen an edit found with 2-s windows: 0.25-s windows every 50 ms within ±``reach``
    s of ``t0``, each scored by its phase coherence at exactly each segment's offset (known
    to well under a sample by then), so the share of matching sound in a window no longer
    matters, only which side it matches. None when either side has too few clear windows."""
    n = int(round(length * rate))
    centres = np.arange(t0 - reach, t0 + reach + removed + 1e-9, step)
    floor = 4.0 / np.sqrt(0.45 * n)  # ~4 standard deviations of unrelated sound's coherence
    scores = []
    for seg in (left, right):
        row = []
        for c in centres:
            warped = (c + _segment_offset(seg, c)) * s0 - c  # d lives in the warped domain
            row.append(_coherence(m, d, warped * rate, int(round((c - length / 2) * rate)), n,
                                  rate))
        scores.append(np.array(row))
    zl, zr = scores
    is_left = ((zl >= floor) & (zl > zr)).astype(float)
    is_right = ((zr >= floor) & (zr > zl)).astype(float)
    if is_left.sum() < 5 or is_right.sum() < 5:
        return None
    return _edit_split(centres, [(is_left, is_right)], shift=int(round(removed / step)),
                       reach=0.5 * length)


def _edit_split(centres: np.ndarray, labels: list[tuple[np.ndarray, np.ndarray]], *,
                shift: int, reach: float = 0.5) -> tuple[float, float]:
    """(split time, uncertainty) with the fewest misplaced windows over every scale's
    (is_left, is_right) labels: left matches after the split plus right matches before it,
    the right labels moved ``shift`` grid steps earlier (for a removal the later segment's
    material resumes that much later in master time). The split is the middle of the best
    range (its start when the range is long); the uncertainty is how far the truth may lie,
    at least half a window (``reach``, seconds)."""
    n = centres.size
    err = np.zeros(n + 1)
    for is_left, is_right in labels:
        right = np.zeros(n)
        if shift < n:
            right[: n - shift] = is_right[shift:]
        # err[i]: split between window i-1 and window i (i = 0..n)
        err += is_left.sum() - np.concatenate([[0.0], np.cumsum(is_left)])
        err += np.concatenate([[0.0], np.cumsum(right)])
    best = np.flatnonzero(err == err.min())
    i_lo, i_hi = int(best[0]), int(best[-1])

    def boundary(i: int) -> float:
        if i <= 0:
            return float(centres[0])
        if i >= n:
            return float(centres[-1])
        return 0.5 * float(centres[i - 1] + centres[i])

    lo, hi = boundary(i_lo), boundary(i_hi)
    # labelled windows reach up to half their length (``reach``) past the edit: that is the
    # floor of the uncertainty, on top of the unlabelled range
    if hi - lo > 2.0:
        # a long stretch without evidence: the earlier segment's material runs on up to the
        # edit whether material was removed or inserted, so where its matches end is the
        # better estimate; the other end bounds the uncertainty
        return lo, hi - lo + reach
    return 0.5 * (lo + hi), 0.5 * (hi - lo) + reach
