"""Match or no reliable match, decided on evidence whose false-alarm probability is stated.

The evidence is the timeline's windows: each window of master time is measured on its own
(GCC-PHAT within ±1 s of the tracked offset, see :mod:`app.engine.timeline.scan`). Against
unrelated material a window's best lag falls anywhere in its search range, so the chance that
it lands within ±``tol`` of a given offset line is ``p = tol / 1 s``. The probability that at
least ``k`` of the ``n`` windows with sound do so is the binomial tail ``B(k; n, p)``; the line
was chosen among ``H`` candidate lines (offsets over the search range in steps of 2·tol, times
the slopes a drift could take, times ten tolerance scales, to the power of the number of
segments), so the implied false-alarm probability is ``min(1, H · B(k; n, p))`` (Bonferroni).
Many windows agreeing on one offset is strong evidence even when each peak is weak; one
loud peak is not. A match also needs:

- **a unique alignment**: the windows' correlation summed at the fitted offsets beats every
  other lag within ±30 s by :data:`MIN_UNIQUENESS` (a tone, a music loop or a repeated cue
  align equally well at several lags: no offset can be claimed from them);
- **shared programme**: the windows on the model cover at least :data:`MIN_SHARED` of the
  shorter track's windows with sound (opening titles or a re-used cue shared by another
  episode are not the programme).

The threshold :data:`FALSE_ALARM_RATE` is the stated rate of false matches per analysis of
unrelated material; ``bench/run.py --evidence`` measures the observed rate over many unrelated
pairs and shows both. Units: seconds, samples at ``rate`` Hz.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import fft as sfft

from app.engine.halfrate import Signal
from app.engine.windows import has_content
from app.engine.xcorr import fft_size

__all__ = ["FALSE_ALARM_RATE", "MIN_UNIQUENESS", "MIN_SHARED", "MIN_TOLERANCE_SECONDS",
           "Decision", "decide",
           "window_false_alarm", "uniqueness", "is_tone"]

#: stated false-alarm probability per analysis of unrelated material (the decision threshold)
FALSE_ALARM_RATE = 1e-4
#: the fitted alignment must beat every other lag (±30 s) by this ratio of summed correlation
MIN_UNIQUENESS = 1.5
#: share of the shorter track's windows with sound that the model must explain
MIN_SHARED = 0.5
#: agreement tolerance floor (s): a window's GCC-PHAT peak at the mid rate (8 kHz), located by
#: parabolic interpolation, is good to a few µs; the fit's largest residual when larger
MIN_TOLERANCE_SECONDS = 5e-5
#: a window searches ±this many seconds around the tracked offset
WINDOW_SEARCH_SECONDS = 1.0
_ALT_SECONDS = 30.0
_CHECK_WINDOWS = 8


@dataclass
class Decision:
    """The decision and the evidence behind it.

    windows_agreeing / windows_with_sound: k and n; tolerance_seconds: the agreement tolerance;
    p_window: chance per window under unrelated material; hypotheses: candidate lines H;
    p_false_alarm: min(1, H·B(k; n, p)); threshold: :data:`FALSE_ALARM_RATE`;
    uniqueness: summed correlation at the fitted offsets over the best other lag (None: not
    measured); shared: windows on the model / windows with sound of the shorter track;
    match: every test passed; reasons: the failed tests in words (empty for a match).
    """

    match: bool
    statistic: str
    windows_agreeing: int
    windows_with_sound: int
    tolerance_seconds: float
    p_window: float
    hypotheses: float
    p_false_alarm: float
    threshold: float
    uniqueness: float | None
    runner_up_lag_seconds: float | None
    shared: float
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def window_false_alarm(k: int, n: int, *, tolerance: float, search_seconds: float,
                       segments: int = 1, drift_seconds: float = 0.0) -> tuple[float, float,
                                                                                 float]:
    """(p per window, hypotheses H, min(1, H·B(k; n, p))) for ``k`` of ``n`` windows within
    ±``tolerance`` s of a line found among offsets over ±``search_seconds``;
    ``drift_seconds``: the offset change the line's slope allows over the programme."""
    tol = max(tolerance, 1e-5)
    p = min(1.0, tol / WINDOW_SEARCH_SECONDS)
    offsets = max(1.0, search_seconds / tol)
    slopes = 1.0 + abs(drift_seconds) / tol
    h = (10.0 * offsets * slopes) ** max(segments, 1)
    tail = binomial_tail(k, n, p)
    return p, h, float(min(1.0, h * tail))


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (scipy.stats' ``binom.sf(k-1,
    n, p)`` without importing scipy.stats, half a second of every process's start-up)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    i = np.arange(k, n + 1, dtype=np.float64)
    # log C(n, i) from log C(n, k), step by step: C(n, i+1) = C(n, i)·(n − i)/(i + 1)
    log_c0 = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    steps = np.log(n - i[:-1]) - np.log(i[:-1] + 1.0)
    log_c = log_c0 + np.concatenate([[0.0], np.cumsum(steps)])
    terms = log_c + i * math.log(p) + (n - i) * math.log1p(-p)
    top = float(terms.max())
    return float(min(1.0, math.exp(top) * float(np.sum(np.exp(terms - top)))))


def _phat_curve(m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """|GCC-PHAT| of master window ``m`` against the longer dub segment ``d``, for the lags
    0 … len(d) − len(m) samples."""
    n = fft_size(d.size + 1)
    cross = np.conj(sfft.rfft(m.astype(np.float64), n)) * sfft.rfft(d.astype(np.float64), n)
    c = sfft.irfft(cross / np.maximum(np.abs(cross), 1e-20), n)[: d.size - m.size + 1]
    return np.abs(c)


def uniqueness(m_mid: Signal, d_mid: Signal, rate: float,
               windows: list[tuple[float, float, float]], *, search_seconds: float = _ALT_SECONDS
               ) -> tuple[float | None, float | None]:
    """(ratio, runner-up lag in s relative to the fit): the windows' correlation curves,
    each centred on its fitted offset, summed; the ratio of the peak at the fit (±2 samples)
    to the best value more than 3 ms away within ±``search_seconds``. ``windows``:
    (start s, end s, offset s) of windows on the model. None when none can be measured."""
    if not windows:
        return None, None
    r = int(round(search_seconds * rate))
    pick = [windows[int(i)] for i in np.linspace(0, len(windows) - 1,
                                                 min(_CHECK_WINDOWS, len(windows)))]
    total: np.ndarray | None = None
    for t0, t1, off in pick:
        s, w = int(round(t0 * rate)), int(round((t1 - t0) * rate))
        m = np.asarray(m_mid[s:s + w], np.float32)
        lag = int(round(off * rate))
        a, b = s + lag - r, s + lag + w + r
        lo, hi = max(a, 0), min(b, d_mid.size)
        if m.size < w or hi - lo < w or not has_content(m):
            continue
        seg = np.zeros(b - a, np.float32)
        seg[lo - a:hi - a] = np.asarray(d_mid[lo:hi], np.float32)
        c = _phat_curve(m, seg)
        total = c if total is None else total + c
    if total is None:
        return None, None
    centre = r
    main = float(total[max(centre - 2, 0):centre + 3].max())
    excl = max(3, int(round(0.003 * rate)))
    other = total.copy()
    other[max(centre - excl, 0):centre + excl + 1] = 0.0
    j = int(np.argmax(other))
    return main / max(float(other[j]), 1e-12), (j - centre) / rate


def is_tone(x: Signal, rate: float) -> bool:
    """True when ``x`` is a steady tone (line-up tone, a hum): 90 % of its power within 1 % of
    the spectrum's bins, averaged over up to 64 Hann-windowed 4096-sample segments spread over
    the signal (sliced, so a long half-rate view is never materialised)."""
    size = 4096
    if x.size < size:
        return False
    starts = np.linspace(0, x.size - size, min(64, x.size // size)).astype(int)
    window = np.hanning(size)
    power = np.zeros(size // 2 + 1)
    for a in starts:
        seg = np.asarray(x[int(a):int(a) + size], np.float64)
        power += np.abs(np.fft.rfft((seg - seg.mean()) * window)) ** 2
    if power.sum() <= 1e-20:
        return False
    p = np.sort(power)[::-1]
    top = max(1, int(0.01 * p.size))
    return bool(p[:top].sum() >= 0.9 * p.sum())


def decide(*, k: int, n: int, shorter_windows: int, tolerance: float, search_seconds: float,
           segments: int, drift_seconds: float, unique: tuple[float | None, float | None],
           tone: bool) -> Decision:
    """The decision from the window counts and the checks (see the module docstring).
    ``shorter_windows``: windows with sound that the shorter track could give."""
    p, h, pfa = window_false_alarm(k, n, tolerance=tolerance, search_seconds=search_seconds,
                                   segments=segments, drift_seconds=drift_seconds)
    shared = k / max(shorter_windows, n, 1)
    ratio, alt = unique
    reasons: list[str] = []
    if tone:
        reasons.append("the material is a steady tone: every period aligns alike")
    if pfa > FALSE_ALARM_RATE:
        reasons.append(f"{k} of {n} windows agree: unrelated material would agree this well "
                       f"with probability {pfa:.2g} (threshold {FALSE_ALARM_RATE:g})")
    if ratio is not None and ratio < MIN_UNIQUENESS:
        reasons.append(f"repeated material: the alignment {alt:+.3f} s away fits "
                       f"{1 / ratio:.0%} as well (needs under {1 / MIN_UNIQUENESS:.0%})")
    if shared < MIN_SHARED:
        reasons.append(f"only {shared:.0%} of the programme follows the offset (titles or "
                       "re-used cues shared with other material are not a match)")
    return Decision(not reasons, "windows agreeing with the offset model (binomial tail, "
                    "Bonferroni over the lines searched)", k, n, round(tolerance, 6),
                    round(p, 6), float(f"{h:.3g}"), float(f"{pfa:.3g}"), FALSE_ALARM_RATE,
                    None if ratio is None else round(ratio, 3),
                    None if alt is None else round(alt, 4), round(shared, 4), reasons)
