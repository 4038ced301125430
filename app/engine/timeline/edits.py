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
from app.engine.timeline.scan import _gcc_at
from app.engine.timeline.types import Edit, Segment


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
        for length, step in ((0.06, 0.0025), (0.02, 0.0005)):  # a few ms, then finer
            finest = _fine_split(t_edit, uncertainty, left, right, m_mid, d_mid, rate, s0,
                                 length=length, step=step)
            if finest is None or finest[1] >= uncertainty:
                break
            t_edit, uncertainty = finest
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
    n = int(round(length * rate))
    # the axis: master time (insertion) or dub time (removal), centred on the coarse split
    x0 = t0 + before0 if removal else t0
    xs = np.arange(x0 - reach, x0 + reach + 1e-9, step)
    rows = []
    for seg in (left, right):
        row = np.empty(xs.size)
        for k, x in enumerate(xs):
            t = x - _segment_offset(seg, x) if removal else x  # master time of the window
            if removal:
                t = x - _segment_offset(seg, t)
            lag = (t + _segment_offset(seg, t)) * s0 - t  # d lives in the warped domain
            row[k] = _coherence(m, d, lag * rate, int(round((t - length / 2) * rate)), n, rate)
        rows.append(row)
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
