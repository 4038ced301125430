"""Model fit: the windows' offsets split into segments with one common slope (drift), fitted
by weighted least squares, snapped to a named conversion where consistent, and the verdict.

Units: master times and offsets in seconds (offset > 0 = dub late), converted here from the
warped domain back to the dub's own timeline; slopes in s/s (speed ratio = 1 / (1 + slope),
> 1 = dub runs fast), ppm = (ratio − 1)·1e6; signals at ``mid_rate`` Hz.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from app.engine.halfrate import Signal
from app.engine.timeline.edits import _locate_edits
from app.engine.timeline.scan import _Raw
from app.engine.timeline.types import (
    NAMED_CONVERSIONS,
    THRESHOLDS,
    Drift,
    Segment,
    Timeline,
    TimelineWindow,
)
from app.engine.types import Verdict, verdict_of
from app.engine.wording import constant_words, edits_words, signed_ms, speed_words


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


#: the most a window's confidence may be when neither a neighbour nor a second method
#: confirms its offset
UNCONFIRMED_MAX_CONFIDENCE = 0.8
_CONFIRM_SECONDS = 0.005


def _cap_unconfirmed(windows: list[TimelineWindow], raws: list[_Raw], to_dub: Callable[
        [float, float], float]) -> None:
    """A window keeps a confidence above :data:`UNCONFIRMED_MAX_CONFIDENCE` only when a
    neighbouring window on the model (previous or next) or the feature method in the same
    window gives its offset within 5 ms; ``windows`` and ``raws`` are index-aligned."""
    for i, w in enumerate(windows):
        if w.status != "ok" or w.offset_seconds is None or \
                w.confidence <= UNCONFIRMED_MAX_CONFIDENCE:
            continue
        near = [windows[j] for j in (i - 1, i + 1) if 0 <= j < len(windows)]
        by_neighbour = any(n.status == "ok" and n.offset_seconds is not None and abs(
            n.offset_seconds - w.offset_seconds) <= _CONFIRM_SECONDS for n in near)
        feat = raws[i].feat
        mid = 0.5 * (raws[i].t0 + raws[i].t1)
        by_features = feat is not None and feat[1] >= THRESHOLDS["feature_min_zscore"] and \
            abs(to_dub(mid, feat[0]) - w.offset_seconds) <= _CONFIRM_SECONDS
        if not (by_neighbour or by_features):
            w.confidence = UNCONFIRMED_MAX_CONFIDENCE


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
    empty = Timeline(Verdict.NO_RELIABLE_MATCH, "", "none", None, 0.0, None, None,
                     window_seconds, hop_seconds, windows, [], [], None)
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
    _cap_unconfirmed(windows, raws, to_dub)

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
        left.master_end_seconds = round(e.master_time_seconds, 3)
        # a replaced span belongs to neither: the later segment resumes after it
        right.master_start_seconds = round(e.master_time_seconds + (
            e.duration_seconds if e.kind == "replaced" else 0.0), 3)

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
        verdict, reason, model = (Verdict.NO_RELIABLE_MATCH,
                                  f"only {coverage:.0%} of the windows with sound follow one "
                                  "offset model", "none")
    elif len(edits) > max(2.0, THRESHOLDS["max_edits_per_minute"] * minutes):
        verdict, reason, model = (Verdict.NO_RELIABLE_MATCH,
                                  f"{len(edits)} jumps in {span:.0f} s: the dub matches the "
                                  "master only piecewise (re-ordered material?)", "none")
    elif edits:
        model, reason = "piecewise", edits_words(edits)
    elif is_drift:
        model = "drift"
        reason = (f"the dub {speed_words(ratio, ppm, name)}: its offset changes by "
                  f"{signed_ms(total)} over the programme")
    else:
        model = "constant"
        reason = constant_words(start or 0.0, coverage)
    if model != "none":
        verdict = verdict_of(model, start or 0.0)
        if verdict == Verdict.IN_SYNC:
            reason = "constant offset within 1 ms of zero"
    drift_out = drift if is_drift else None
    return Timeline(verdict, reason, model, start, round(coverage, 4), round(rms, 6),
                    round(mx, 6), window_seconds, hop_seconds, windows, segments, edits,
                    drift_out)
