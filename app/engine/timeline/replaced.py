"""Replaced spans: master material that the dub swapped for other material (a re-cut scene, a
replaced cue) instead of simply dropping it or adding to it.

Between two segments the earlier offset's matches end at master ``A`` and the later one's begin
at ``B``. A cut leaves ``B − A`` equal to the removed duration and no dub material unplaced; an
insertion the reverse. When both the master (``B − A``) and the dub (``B − A + jump``) hold a
stretch the two offsets do not explain, it is either a cut or insertion whose neighbourhood has
no shared sound, or a replacement. It is called a replacement only on positive evidence:

- the shared sound is dense on both sides (most 0.5-s windows just before ``A`` and just after
  ``B`` match at their offset), so a silent stretch is unlikely by chance;
- the shorter of the two stretches (the dub's for a cut, the master's for an insertion: there
  it holds only the weak flanks) has sound;
- pooled over that stretch, its phase coherence at either offset (split anywhere between the
  two, as weak flanks would be) is no higher than at a dozen unrelated lags.

``A`` and ``B`` are then sharpened to a few milliseconds with 60-ms windows where the shared sound
is strong up to them; their ± also reaches as far as the programme could run on unmatched by
chance at the density of matches seen beside the span (0.77 s at least). Units: master times,
offsets and durations in seconds (offset > 0 = dub late; the dub signal lives in the warped
domain, speed ``s0``); signals at ``rate`` Hz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.engine.halfrate import Signal
from app.engine.timeline.coherence import _segment_offset, _span, segment_coherences
from app.engine.timeline.types import Segment

__all__ = ["ReplacedSpan", "replaced_span"]

#: the least master and dub stretch (s) the two offsets leave unexplained for a replacement
MIN_SPAN_SECONDS = 2.0
#: share of the 0.5-s windows within NEAR_SECONDS of each end that must match their offset
MIN_DENSITY = 0.6
NEAR_SECONDS = 8.0
#: the dub's unplaced stretch against the master at the two offsets: at most this many
#: standard deviations above the same statistic at unrelated lags
MAX_SAME_Z = 3.0
#: its RMS at least this share of the neighbouring dub's (−26 dB): a stretch with sound
MIN_LEVEL = 0.05
_NULL_LAGS = (-6.1, -4.9, -3.7, -2.9, -2.1, -1.3, 1.3, 2.1, 2.9, 3.7, 4.9, 6.1)
_SCAN = (0.5, 0.25)  # window, hop (s) of the matching scan
_FINE = (0.06, 0.0025)  # window, hop (s) of the boundaries


@dataclass(frozen=True)
class ReplacedSpan:
    """Master ``start .. end`` (s) replaced in the dub by ``replacement_seconds`` of other
    material; ``uncertainty_seconds``: ± of the start (the end is sharp where the shared
    sound resumes with the programme)."""

    start: float
    end: float
    replacement_seconds: float
    uncertainty_seconds: float


def _run_end(hits: np.ndarray, *, first: bool) -> int | None:
    """Index of the first (``first``) or last hit that starts (ends) a run of at least 3 of 5
    hits: one stray match inside a gap does not move an end."""
    idx = range(hits.size) if first else range(hits.size - 1, -1, -1)
    for i in idx:
        if not hits[i]:
            continue
        run = hits[i : i + 5] if first else hits[max(0, i - 4) : i + 1]
        if run.sum() >= 3:
            return i
    return None


def _boundary(m: Signal, d: Signal, t0: float, seg: Segment, rate: float, s0: float, *,
              matched_before: bool) -> tuple[float, float]:
    """(time, ±) where the segment's matches end (``matched_before``) or begin, to a few ms
    where its shared sound is strong: 60-ms windows every 2.5 ms within ±1 s of ``t0``; the
    split maximises the coherence above 30 % of its level on the matched side, summed there.
    The ± covers the splits whose sum falls short by less than two standard deviations of
    chance, and the splits at 15 % and 50 % of the level: where the shared sound fades before
    the end, the end is only known that well."""
    length, step = _FINE
    xs = np.arange(t0 - 1.0, t0 + 1.0 + 1e-9, step)
    c = segment_coherences(m, d, xs, seg, rate, s0, length)
    side = c[xs < t0 - 0.15] if matched_before else c[xs > t0 + 0.15]
    level = float(np.median(side)) if side.size else 0.0
    if level <= 0.0:
        return t0, 2.0 * _SCAN[0]
    edges = np.concatenate([[xs[0]], 0.5 * (xs[1:] + xs[:-1]), [xs[-1]]])
    if not matched_before:
        c, edges = c[::-1], edges[::-1]

    def split(share: float) -> tuple[int, np.ndarray, np.ndarray]:
        x = c - share * level
        score = np.concatenate([[0.0], np.cumsum(x)])
        return int(np.argmax(score)), score, x

    best, score, x = split(0.3)
    noise = 0.5 * (np.var(x[: max(best, 1)]) + np.var(x[min(best, x.size - 1) :]))
    sigma = max(float(np.sqrt(noise)), 1e-12)
    corr = length / step
    k = np.maximum(np.abs(np.arange(score.size) - best), 1).astype(float)
    near = np.flatnonzero((score[best] - score) < 2.0 * sigma * np.sqrt(k * np.minimum(k, corr)))
    t = float(edges[best])
    spread = max(abs(float(edges[split(f)[0]]) - t) for f in (0.15, 0.5))
    half = max(0.25 * length, 0.5 * float(np.ptp(edges[near])), spread)
    return t, half


def replaced_span(t0: float, uncertainty: float, left: Segment, right: Segment, m: Signal,
                  d: Signal, rate: float, s0: float) -> ReplacedSpan | None:
    """The replaced span between ``left`` and ``right`` when the coarse edit at ``t0`` (±
    ``uncertainty``) leaves both tracks with material the two offsets do not explain and the
    evidence says it is other material (see the module); None otherwise."""
    before, after = _segment_offset(left, t0), _segment_offset(right, t0)
    jump = after - before
    length, hop = _SCAN
    lo = max(t0 - NEAR_SECONDS - 1.0, length)
    hi = min(t0 + uncertainty + max(0.0, -jump) + NEAR_SECONDS + 1.0, m.size / rate - length)
    centres = np.arange(lo, hi, hop)
    if centres.size < 8:
        return None
    floor = 4.0 / np.sqrt(0.45 * length * rate)  # ~4 standard deviations of unrelated sound
    cl = segment_coherences(m, d, centres, left, rate, s0, length)
    cr = segment_coherences(m, d, centres, right, rate, s0, length)
    is_l, is_r = (cl >= floor) & (cl > cr), (cr >= floor) & (cr > cl)
    i_b = _run_end(is_r & (centres > t0), first=True)
    if i_b is None:
        return None
    i_a = _run_end(is_l & (centres < centres[i_b]), first=False)
    if i_a is None:
        return None
    a, b = centres[i_a] + length / 2, centres[i_b] - length / 2
    master_gap, dub_gap = b - a, b - a + jump
    if master_gap < MIN_SPAN_SECONDS or dub_gap < MIN_SPAN_SECONDS:
        return None
    near_l = (centres > a - NEAR_SECONDS) & (centres < a - length / 2)
    near_r = (centres > b + length / 2) & (centres < b + NEAR_SECONDS)
    if (near_l.sum() < 4 or near_r.sum() < 4 or is_l[near_l].mean() < MIN_DENSITY
            or is_r[near_r].mean() < MIN_DENSITY):
        return None
    # the shorter of the two unexplained stretches holds, for a cut or an insertion, only the
    # weak flanks: the programme at one offset and then the other. Is it that, or other
    # material? (A cut leaves the dub's stretch short, an insertion the master's.)
    on_dub = dub_gap <= master_gap
    x0, span = (a + before, dub_gap) if on_dub else (a, master_gap)
    k = int(span // length)
    xs = x0 + length * (np.arange(k) + 0.5)
    sig, scale = (d, s0) if on_dub else (m, 1.0)

    def level(t0: float, t1: float) -> float:
        x = _span(sig, int(round(t0 * scale * rate)), int(round(t1 * scale * rate)))
        return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0

    around = 0.5 * (level(x0 - NEAR_SECONDS, x0) + level(x0 + span, x0 + span + NEAR_SECONDS))
    if k < 2 or level(x0, x0 + span) < MIN_LEVEL * around:
        return None  # a silent stretch is no evidence of other material
    t_l, t_r = (xs - before, xs - after) if on_dub else (xs, xs)
    same = _split_score(m, d, t_l, t_r, left, right, rate, s0, length, 0.0)
    null = np.array([_split_score(m, d, t_l - dl if on_dub else t_l, t_r - dl if on_dub else t_r,
                                  left, right, rate, s0, length, dl) for dl in _NULL_LAGS])
    z = (same - float(null.mean())) / max(float(null.std()), 1e-12)
    if z > MAX_SAME_Z:
        return None  # the stretch is the programme at one offset or the other: a weak flank
    start, u_a = _boundary(m, d, a, left, rate, s0, matched_before=True)
    end, _ = _boundary(m, d, b, right, rate, s0, matched_before=False)
    # the programme may run on, unmatched, past where its matches end: as far as a run of
    # windows that would all miss by chance (1 %) at the density seen beside the span
    u_a = max(u_a, _run_on(float(is_l[near_l].mean())))
    return ReplacedSpan(start, end, end - start + jump, u_a)


def _run_on(density: float) -> float:
    """Seconds of programme that could follow an end unmatched: the run of 0.5-s windows that
    all miss with probability 1 % when each matches with probability ``density`` (at most
    0.95: no stretch of shared sound is certain to match)."""
    miss = 1.0 - min(density, 0.95)
    return _SCAN[0] * math.log(0.01) / math.log(miss)


def _split_score(m: Signal, d: Signal, t_left: np.ndarray, t_right: np.ndarray,
                 left: Segment, right: Segment, rate: float, s0: float, length: float,
                 delta: float) -> float:
    """max over k of the coherence summed over windows, the first k at master times
    ``t_left`` under the left offset, the rest at ``t_right`` under the right one (each
    offset + ``delta`` s)."""
    cl = segment_coherences(m, d, t_left, left, rate, s0, length, delta)
    cr = segment_coherences(m, d, t_right, right, rate, s0, length, delta)
    score = np.concatenate([[0.0], np.cumsum(cl)]) + np.concatenate(
        [np.cumsum(cr[::-1])[::-1], [0.0]])
    return float(score.max())
