"""Edit location: where between two segments of the offset the jump happens, first with
2-s GCC-PHAT windows across the gap, then sharpened with 0.25-s phase-coherence windows, then
to a few milliseconds with 60-ms windows every 2.5 ms (:func:`_fine_split`).

Units: master times, offsets and uncertainties in seconds (offset > 0 = dub late; the dub
signal lives in the warped domain, speed ``s0`` relative to the master); signals at
``rate`` Hz, lags in samples; a removal makes the offset drop, an insertion makes it rise.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from app.engine.halfrate import Signal
from app.engine.timeline.coherence import (
    _rows,
    _segment_offset,
    _segment_slope,
    segment_coherences,
)
from app.engine.timeline.replaced import MIN_SPAN_SECONDS, replaced_span
from app.engine.timeline.types import Edit, Segment
from app.engine.xcorr import fft_size, parabolic_offset


def _locate_edits(
    segments: list[Segment], m_mid: Signal, d_mid: Signal, rate: float, s0: float,
    window: float,
) -> list[Edit]:
    """Place each jump between consecutive segments.

    Across the gap, 2-s windows every 0.25 s are tested against both segments' offsets
    (GCC-PHAT ±0.25 s, the peak within 2 ms of the hypothesis; coarse to fine, measured only
    where the labels change: :func:`_scan_labels`); the edit is the split where
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
        labels = [_scan_labels(centres, left, right, m_mid, d_mid, rate, s0, length)
                  for length in scales]
        removed = max(0.0, _segment_offset(left, centres[0]) - _segment_offset(right, centres[0]))
        # a labelled window may match with up to half its length past the edit
        t_edit, uncertainty = _edit_split(centres, labels, shift=int(round(removed / step)),
                                          reach=max(scales) / 2)
        fine = _refine_split(t_edit, removed, left, right, m_mid, d_mid, rate, s0)
        if fine is not None and fine[1] <= uncertainty:  # sharper where both sides have sound
            t_edit, uncertainty = fine
        span = (replaced_span(t_edit, uncertainty, left, right, m_mid, d_mid, rate, s0)
                if uncertainty >= MIN_SPAN_SECONDS else None)
        if span is not None:
            edits.append(Edit(round(span.start, 3), "replaced", round(span.end - span.start, 6),
                              round(_segment_offset(left, span.start), 6),
                              round(_segment_offset(right, span.start), 6),
                              round(span.uncertainty_seconds, 3),
                              round(span.replacement_seconds, 6)))
            continue
        # a few ms, then finer (their own grid: ``step`` stays the 2-s windows' for the next
        # edit, where a 0.5-ms grid of 2-s windows would cost thousands of times more)
        for fine_length, fine_step in ((0.06, 0.0025), (0.02, 0.0005)):
            finest = _fine_split(t_edit, uncertainty, left, right, m_mid, d_mid, rate, s0,
                                 length=fine_length, step=fine_step)
            if finest is None or finest[1] >= uncertainty:
                break
            t_edit, uncertainty = finest
        before = _segment_offset(left, t_edit)
        after = _segment_offset(right, t_edit)
        jump = after - before
        # an insertion lasts ``jump`` dub seconds; a cut resumes at the master time whose dub
        # time is the cut's: (before − after) / (1 + slope after) master seconds (a drifting
        # dub's lines differ by the slope's share more than the material removed)
        duration = jump if jump > 0 else -jump / max(1.0 + _segment_slope(right), 1e-6)
        edits.append(Edit(round(t_edit, 3), "inserted" if jump > 0 else "removed",
                          round(duration, 6), round(before, 6), round(after, 6),
                          round(uncertainty, 3)))
    return edits


def _scan_labels(
    centres: np.ndarray, left: Segment, right: Segment, m: Signal, d: Signal, rate: float,
    s0: float, length: float, *, stride: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """(is_left, is_right) of ``length``-s windows at ``centres``: the window's GCC-PHAT peak
    lands on that segment's offset with z ≥ 4 and above the other's. Every ``stride``-th
    window first; the windows between two measured ones are measured too unless both match
    the same segment, in which case they take its label (inside a run of one segment's
    matches a window's label cannot move the split: every split near the edit counts it
    alike). Unlabelled stretches are measured in full: a lone match there may be where one
    segment's material ends."""
    n = centres.size
    lab = np.zeros(n, np.int8)  # 0: neither, 1: left, 2: right

    def measure(idx: np.ndarray) -> None:
        # the highest peak of ±0.25 s landing within 2 ms of a hypothesis is itself
        # strong evidence (about 1 % by chance), so a modest z-score is enough here
        zl, zr = _hypotheses_z(centres[idx], [left, right], m, d, rate, s0, length)
        lab[idx] = np.where((zl >= 4.0) & (zl > zr), 1, np.where((zr >= 4.0) & (zr > zl), 2, 0))

    known = np.unique(np.r_[np.arange(0, n, max(stride, 1)), n - 1])
    measure(known)
    a, b = known[:-1], known[1:]
    same = (lab[a] == lab[b]) & (lab[a] != 0)
    inner = [np.arange(i + 1, j) for i, j in zip(a[~same], b[~same], strict=True) if j > i + 1]
    if inner:
        measure(np.concatenate(inner))
    filled = lab.copy()
    for i, j in zip(a[same], b[same], strict=True):
        filled[i + 1 : j] = lab[i]
    return (filled == 1).astype(float), (filled == 2).astype(float)


def _hypothesis_z(centres: np.ndarray, seg: Segment, m_mid: Signal, d_mid: Signal,
                  rate: float, s0: float, length: float) -> np.ndarray:
    """z-score of the GCC-PHAT peak of windows centred at ``centres`` (``length`` s) when it
    lies within 2 ms of the segment's offset; 0 otherwise."""
    return _hypotheses_z(centres, [seg], m_mid, d_mid, rate, s0, length)[0]


def _hypotheses_z(centres: np.ndarray, segs: list[Segment], m_mid: Signal, d_mid: Signal,
                  rate: float, s0: float, length: float) -> list[np.ndarray]:
    """:func:`_hypothesis_z` for each of ``segs`` at once: windows stacked and transformed
    together (one FFT pass per batch), each master window's spectrum shared by every
    hypothesis; the same GCC-PHAT as :func:`~app.engine.windows.gcc_window` per window
    (±0.25 s, 40 Hz up, z against the robust spread of the GCC's magnitude)."""
    n = int(round(length * rate))
    search = int(round(0.25 * rate))
    nfft = fft_size(n + 2 * search + 1)
    low_bin = max(1, int(nfft * 40 / rate))
    starts = np.round((centres - length / 2) * rate).astype(np.int64)
    out = [np.zeros(centres.size) for _ in segs]
    valid = np.flatnonzero((starts >= 0) & (starts + n <= m_mid.size))
    batch = max(4, (1 << 21) // nfft)  # ~16 MB of complex64 spectra per batch
    for i in range(0, valid.size, batch):
        idx = valid[i : i + batch]
        spec_m = np.conj(sfft.rfft(_rows(m_mid, starts[idx], n), nfft, axis=1))
        for z, seg in zip(out, segs, strict=True):
            c = centres[idx]
            warped = (c + _segment_offset(seg, c)) * s0 - c  # d lives in the warped domain
            lag = np.round(warped * rate).astype(np.int64)
            a = starts[idx] + lag - search
            b = a + n + 2 * search
            ok = (b > 0) & (a < d_mid.size) & (
                np.minimum(b, d_mid.size) - np.maximum(a, 0) >= n // 2)
            if not ok.any():
                continue
            sel = np.flatnonzero(ok)
            cross = spec_m[sel] * sfft.rfft(_rows(d_mid, a[sel], n + 2 * search), nfft, axis=1)
            mag = np.abs(cross)
            white = np.where(mag > 1e-20, cross / np.maximum(mag, 1e-20), 0.0).astype(
                cross.dtype)
            white[:, :low_bin] = 0.0
            g = np.abs(sfft.irfft(white, nfft, axis=1)[:, : 2 * search + 1])
            peak = np.argmax(g, axis=1)
            for r in range(sel.size):
                k = int(peak[r])
                frac = 0.0
                if 0 < k < g.shape[1] - 1:
                    frac = parabolic_offset(float(g[r, k - 1]), float(g[r, k]),
                                            float(g[r, k + 1]))
                j = sel[r]
                if abs((lag[j] + k - search + frac) / rate - warped[j]) > 0.002:
                    continue
                med = float(np.median(g[r]))
                spread = max(float(np.median(np.abs(g[r] - med))) * 1.4826, 1e-12)
                z[idx[j]] = (float(g[r, k]) - med) / spread
    return out


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
    zl, zr = (segment_coherences(m, d, centres, seg, rate, s0, length) for seg in (left, right))
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
    at least half a window (``reach``, seconds), and out to any rival split more than 2 s
    away that misplaces at most one window more (ambiguous evidence: repeating music)."""
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
        t, half = lo, hi - lo + reach
    else:
        t, half = 0.5 * (lo + hi), 0.5 * (hi - lo) + reach
    # a rival split nearly as good (one misplaced window more) away from the best range:
    # the evidence is ambiguous there (music repeating across the edit), so the truth may
    # lie at either; the uncertainty reaches it
    rivals = [boundary(int(i)) for i in np.flatnonzero(err <= err.min() + 1.0)]
    far = [abs(b - t) for b in rivals if b < lo - 2.0 or b > hi + 2.0]
    if far:
        half = max(half, max(far) + reach)
    return t, half


def _fine_split(
    t0: float, uncertainty: float, left: Segment, right: Segment, m: Signal, d: Signal,
    rate: float, s0: float, *, length: float = 0.06, step: float = 0.0025,
) -> tuple[float, float] | None:
    """The edit to a few milliseconds: phase coherence of 60-ms windows every 2.5 ms under
    each segment's offset, on the axis where both hypotheses hold right up to the edit (master
    time for an insertion, dub time for a removal, whose master material resumes later). The
    split maximises the evidence difference summed on each side (no threshold: every window
    counts); the uncertainty is the range of splits whose evidence falls short of the best's
    by less than two standard deviations of chance over the windows between them (at least
    a quarter of a window). None when the evidence is too weak
    to sharpen (the coarser estimate stands)."""
    before0, after0 = _segment_offset(left, t0), _segment_offset(right, t0)
    removal = after0 < before0
    if uncertainty > 8.0:
        return None
    reach = max(uncertainty, 0.1) + length  # the whole range the truth may lie in
    # the axis: master time (insertion) or dub time (removal), centred on the coarse split
    x0 = t0 + before0 if removal else t0
    xs = np.arange(x0 - reach, x0 + reach + 1e-9, step)
    rows = []
    for seg in (left, right):
        t = xs - _segment_offset(seg, xs) if removal else xs  # master time of the window
        if removal:
            t = xs - _segment_offset(seg, t)
        rows.append(segment_coherences(m, d, t, seg, rate, s0, length))
    diff = rows[0] - rows[1]  # > 0 where the earlier segment's offset explains the sound
    if not np.isfinite(diff).all() or float(np.abs(diff).sum()) == 0.0:
        return None
    # score[i]: split before window i: sum(diff[:i]) - sum(diff[i:])
    c = np.concatenate([[0.0], np.cumsum(diff)])
    score = 2.0 * c - c[-1]
    best = int(np.argmax(score))
    # windows overlap length/step times: the noise of a sum of k windows grows as
    # sqrt(k * length / step) standard deviations of one window's difference
    # a split k windows from the best loses 2·sum(diff over those k); by chance that sum
    # spreads as sigma·sqrt(k·length/step): splits losing less than 2 of those are kept
    # (sigma: the windows' spread about each side's own mean, i.e. the noise, not the change)
    if best < 2 or best > diff.size - 2:
        return None
    sigma = float(np.sqrt(0.5 * (np.var(diff[:best]) + np.var(diff[best:]))))
    corr = length / step  # windows per window length: the noise's correlation length
    k = np.maximum(np.abs(np.arange(score.size) - best), 1).astype(float)
    loss = (score[best] - score) / (2.0 * max(sigma, 1e-12) * np.sqrt(k * np.minimum(k, corr)))
    near = np.flatnonzero(loss < 2.0)
    lo, hi = int(near.min()), int(near.max())
    if min(lo, best) <= 1 or max(hi, best) >= xs.size - 1:
        return None  # the best split (or its range) reaches the edge: no clear change inside
    def at(i: int) -> float:
        i = min(max(i, 1), xs.size - 1)
        return 0.5 * float(xs[i - 1] + xs[i])

    split_x = at(best)
    # at least a quarter window: the half-rate signal, the window taper and the ms rounding
    # of the report each cost a few samples
    half = max(step, 0.25 * length, 0.5 * (at(hi) - at(lo)))
    t_edit = split_x - before0 if removal else split_x
    return t_edit, half
