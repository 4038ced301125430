"""Where the dub lies in the master (or the master in the dub), over every possible lag.

The detection methods search a local window of offsets (``max_offset_seconds``, 120 s by
default). A reel, a promo, a clip or a dub with a long head lies minutes or an hour away. This
stage correlates the two tracks' band-wise spectral flux (the feature frames the pipeline has
already computed, averaged down to 25–100 frames/s) at *every* lag at once through the FFT,
so its cost is O(T log T) in the programme length T: for a 3-hour master, well under a second.

Each lag ``k`` (frames; > 0 = dub late) gets the Pearson correlation r of the overlapping
frames, the bands pooled (each band's mean and energy over the overlap from cumulative sums),
and is scored r·√n for its n overlapping frames (r of unrelated material spreads as
1/√n, so short overlaps at the ends do not win by chance). Lags with less than
``min_overlap`` frames of overlap are not scored. The peak's significance is its robust
z-score against all scored lags (median, 1.4826 × MAD), and the placement is kept
only when it clears ``z_threshold`` = √(2 ln N) + 3 for N scored lags (the expected maximum of N
independent standard normals plus 3 σ: a chance peak of unrelated material clears it with
probability well under 10⁻³ even before the lags' correlation is counted) and stands out from
the best peak outside its lobe (``peak_ratio``). A placement is a candidate only: the pipeline
then analyses the overlapping stretch with every method and decides there. When rivals come
within that ratio (the same music used at several places of a long master), each of them is
a candidate too (``alternatives``), and the exact analysis of each stretch decides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import fft as sfft

__all__ = ["Placement", "locate"]

#: frames excluded on each side of the peak when looking for the runner-up (0.5 s at 100 fps)
_LOBE_SECONDS = 0.5
#: the peak must beat the best lag outside its lobe by this ratio (above the median) to stand
#: alone; rivals within it are candidates (at most :data:`MAX_ALTERNATIVES`)
PEAK_RATIO = 1.15
MAX_ALTERNATIVES = 3


@dataclass(frozen=True)
class Placement:
    """The best lag over the whole extent of both tracks.

    offset_seconds: dub lateness at that lag (> 0 = dub late), frame resolution.
    score: mean band correlation at the peak; z: its robust z-score over the scored lags;
    z_threshold: the z it had to clear; peak_ratio: peak score over the best one outside the
    peak's lobe; lags: number of lags scored; overlap_seconds: overlap of the tracks there.
    """

    offset_seconds: float
    score: float
    z: float
    z_threshold: float
    peak_ratio: float
    lags: int
    overlap_seconds: float
    #: (offset s, overlap s) of rival peaks that also clear ``z_threshold`` and come within
    #: :data:`PEAK_RATIO` of this one (the same music at several places of the master)
    alternatives: tuple[tuple[float, float], ...] = ()

    @property
    def significant(self) -> bool:
        return self.z >= self.z_threshold and self.peak_ratio >= PEAK_RATIO

    @property
    def ambiguous(self) -> bool:
        """The peak clears the threshold but rivals match about as well: each is a candidate
        for the exact analysis to decide between."""
        return self.z >= self.z_threshold and bool(self.alternatives) and not self.significant

    def candidates(self) -> list[Placement]:
        """This placement, then each rival as a placement of its own."""
        return [self, *(replace(self, offset_seconds=o, overlap_seconds=ov, alternatives=())
                        for o, ov in self.alternatives)]

    def to_dict(self) -> dict[str, Any]:
        return {"offset_seconds": round(self.offset_seconds, 4), "score": round(self.score, 4),
                "z": round(self.z, 2), "z_threshold": round(self.z_threshold, 2),
                "peak_ratio": round(self.peak_ratio, 3), "lags": self.lags,
                "overlap_seconds": round(self.overlap_seconds, 2),
                "significant": self.significant,
                "alternatives": [[round(o, 4), round(ov, 2)] for o, ov in self.alternatives]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Placement:
        return Placement(float(d["offset_seconds"]), float(d["score"]), float(d["z"]),
                         float(d["z_threshold"]), float(d["peak_ratio"]), int(d["lags"]),
                         float(d["overlap_seconds"]),
                         tuple((float(o), float(ov)) for o, ov in d.get("alternatives") or ()))


#: frames per second of the search by the shorter track's length (s): the flux is averaged
#: down to it. A long overlap holds evidence enough at 25 frames/s (40-ms lags: the local search
#: refines them to the sample); a clip of seconds needs every frame.
SEARCH_RATES = ((60.0, 100.0), (300.0, 50.0), (float("inf"), 25.0))


def _prepare(x: np.ndarray, step: int) -> np.ndarray:
    """(T, bands) flux → log-compressed, averaged over ``step`` frames, standardised float64
    columns."""
    y = np.log1p(np.maximum(np.asarray(x, np.float64), 0.0) * 10.0)
    if y.ndim == 1:
        y = y[:, None]
    n = y.shape[0] // step
    y = y[: n * step].reshape(n, step, y.shape[1]).mean(axis=1)
    y -= y.mean(axis=0)
    sd = y.std(axis=0)
    return y / np.where(sd > 1e-12, sd, 1.0)


def _sums(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per lag, per band: sum and sum of squares of frames a .. b - 1 (cumulative sums)."""
    z = np.zeros((1, x.shape[1]))
    c1 = np.vstack([z, np.cumsum(x, axis=0)])
    c2 = np.vstack([z, np.cumsum(x * x, axis=0)])
    return c1[b] - c1[a], c2[b] - c2[a]


def locate(master_flux: np.ndarray, dub_flux: np.ndarray, *, frame_rate: float,
           min_overlap_seconds: float = 5.0) -> Placement | None:
    """The best placement of ``dub_flux`` against ``master_flux`` over every lag (frames at
    ``frame_rate`` per second); None when the tracks are too short to overlap that long."""
    shorter = min(len(master_flux), len(dub_flux)) / frame_rate
    target = next(r for limit, r in SEARCH_RATES if shorter < limit)
    step = max(1, int(round(frame_rate / target)))
    rate = frame_rate / step
    m, d = _prepare(master_flux, step), _prepare(dub_flux, step)
    tm, td = m.shape[0], d.shape[0]
    min_ov = max(8, int(round(min_overlap_seconds * rate)))
    if min(tm, td) < min_ov:
        return None
    n = sfft.next_fast_len(tm + td, real=True)
    # lag k in (-tm, td): dub frame i + k is master frame i
    lags = np.arange(-(tm - 1), td)
    i0 = np.maximum(0, -lags)                 # first master frame of the overlap
    i1 = np.minimum(tm, td - lags)            # one past the last
    count = (i1 - i0).astype(np.float64)
    ok = count >= min_ov
    # the bands pooled: one inverse transform of the summed cross-spectra
    cross = np.sum(sfft.rfft(d, n, axis=0) * np.conj(sfft.rfft(m, n, axis=0)), axis=1)
    raw = sfft.irfft(cross, n)  # raw[k] = sum_b sum_i d[i + k, b] m[i, b]  (k < 0 at n + k)
    sdm = np.concatenate([raw[n - (tm - 1):], raw[:td]])
    sm, sm2 = _sums(m, i0, i1)
    sd, sd2 = _sums(d, i0 + lags, i1 + lags)
    safe = np.maximum(count, 1.0)[:, None]
    cov = sdm - np.sum(sm * sd / safe, axis=1)
    var_m = np.maximum(np.sum(sm2 - sm * sm / safe, axis=1), 0.0)
    var_d = np.maximum(np.sum(sd2 - sd * sd / safe, axis=1), 0.0)
    var = var_m * var_d
    score = np.where(var > 1e-9, cov / np.sqrt(np.maximum(var, 1e-18)), 0.0)
    # under no match, r of n overlapping frames spreads as 1/sqrt(n): r·sqrt(n) is comparable
    # across lags, so a short overlap at either end cannot win on chance alone
    stat = score * np.sqrt(count)
    scored = stat[ok]
    if scored.size < 16:
        return None
    best = int(np.argmax(np.where(ok, stat, -np.inf)))
    med = float(np.median(scored))
    mad = float(np.median(np.abs(scored - med))) * 1.4826
    z = (float(stat[best]) - med) / max(mad, 1e-9)
    lobe = max(1, int(round(_LOBE_SECONDS * rate)))
    rest = np.where(ok, stat, -np.inf)
    rest[max(0, best - lobe):best + lobe + 1] = -np.inf
    second = float(rest.max()) if np.isfinite(rest).any() else med
    ratio = (float(stat[best]) - med) / max(second - med, 1e-9)
    threshold = float(np.sqrt(2.0 * np.log(max(scored.size, 2)))) + 3.0
    alternatives: list[tuple[float, float]] = []
    while len(alternatives) < MAX_ALTERNATIVES and np.isfinite(rest).any():
        j = int(np.argmax(rest))
        height = float(rest[j]) - med
        if height * PEAK_RATIO < float(stat[best]) - med or height / max(mad, 1e-9) < threshold:
            break
        alternatives.append((float(lags[j]) / rate, float(count[j]) / rate))
        rest[max(0, j - lobe):j + lobe + 1] = -np.inf
    return Placement(offset_seconds=float(lags[best]) / rate, score=float(score[best]),
                     z=z, z_threshold=threshold, peak_ratio=ratio, lags=int(scored.size),
                     overlap_seconds=float(count[best]) / rate,
                     alternatives=tuple(alternatives))
