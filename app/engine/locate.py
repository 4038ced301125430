"""Where the dub lies in the master (or the master in the dub), over every possible lag.

The detection methods search a local window of offsets (``max_offset_seconds``, 120 s by
default). A reel, a promo, a clip or a dub with a long head lies minutes or an hour away. This
stage correlates the two tracks' band-wise spectral flux (the feature frames the pipeline has
already computed, ~100 frames/s) at *every* lag at once through the FFT, so its cost is
O(T log T) in the programme length T: for a 3-hour master, about a second.

Each lag ``k`` (frames; > 0 = dub late) gets the Pearson correlation r of the overlapping
frames, band by band (means and energies of the overlap from cumulative sums), averaged over the
bands, and is scored r·√n for its n overlapping frames (r of unrelated material spreads as
1/√n, so short overlaps at the ends do not win by chance). Lags with less than
``min_overlap`` frames of overlap are not scored. The peak's significance is its robust
z-score against all scored lags (median, 1.4826 × MAD), and the placement is kept
only when it clears ``z_threshold`` = √(2 ln N) + 3 for N scored lags (the expected maximum of N
independent standard normals plus 3 σ: a chance peak of unrelated material clears it with
probability well under 10⁻³ even before the lags' correlation is counted) and stands out from
the best peak outside its lobe (``peak_ratio``). A placement is a candidate only: the pipeline
then analyses the overlapping stretch with every method and decides there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Placement", "locate"]

#: frames excluded on each side of the peak when looking for the runner-up (0.5 s at 100 fps)
_LOBE_SECONDS = 0.5


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

    @property
    def significant(self) -> bool:
        return self.z >= self.z_threshold and self.peak_ratio >= 1.15

    def to_dict(self) -> dict[str, float | int | bool]:
        return {"offset_seconds": round(self.offset_seconds, 4), "score": round(self.score, 4),
                "z": round(self.z, 2), "z_threshold": round(self.z_threshold, 2),
                "peak_ratio": round(self.peak_ratio, 3), "lags": self.lags,
                "overlap_seconds": round(self.overlap_seconds, 2),
                "significant": self.significant}


def _prepare(x: np.ndarray) -> np.ndarray:
    """(T, bands) flux → log-compressed, standardised float64 columns."""
    y = np.log1p(np.maximum(np.asarray(x, np.float64), 0.0) * 10.0)
    if y.ndim == 1:
        y = y[:, None]
    y -= y.mean(axis=0)
    sd = y.std(axis=0)
    return y / np.where(sd > 1e-12, sd, 1.0)


def locate(master_flux: np.ndarray, dub_flux: np.ndarray, *, frame_rate: float,
           min_overlap_seconds: float = 5.0) -> Placement | None:
    """The best placement of ``dub_flux`` against ``master_flux`` over every lag (frames at
    ``frame_rate`` per second); None when the tracks are too short to overlap that long."""
    m, d = _prepare(master_flux), _prepare(dub_flux)
    tm, td = m.shape[0], d.shape[0]
    min_ov = max(8, int(round(min_overlap_seconds * frame_rate)))
    if min(tm, td) < min_ov:
        return None
    n = 1 << int(np.ceil(np.log2(tm + td)))
    # lag k in (-tm, td): dub frame i + k is master frame i
    lags = np.arange(-(tm - 1), td)
    i0 = np.maximum(0, -lags)                 # first master frame of the overlap
    i1 = np.minimum(tm, td - lags)            # one past the last
    count = (i1 - i0).astype(np.float64)
    ok = count >= min_ov
    cm = np.vstack([np.zeros((1, m.shape[1])), np.cumsum(m, axis=0)])
    cm2 = np.vstack([np.zeros((1, m.shape[1])), np.cumsum(m * m, axis=0)])
    cd = np.vstack([np.zeros((1, d.shape[1])), np.cumsum(d, axis=0)])
    cd2 = np.vstack([np.zeros((1, d.shape[1])), np.cumsum(d * d, axis=0)])
    score = np.zeros(lags.size)
    safe = np.maximum(count, 1.0)
    for b in range(m.shape[1]):
        raw = np.fft.irfft(np.fft.rfft(d[:, b], n) * np.conj(np.fft.rfft(m[:, b], n)), n)
        # raw[k] = sum_i d[i + k] m[i]  (k < 0 at n + k)
        sdm = np.concatenate([raw[n - (tm - 1):], raw[:td]])
        sm = cm[i1, b] - cm[i0, b]
        sm2 = cm2[i1, b] - cm2[i0, b]
        sd = cd[i1 + lags, b] - cd[i0 + lags, b]
        sd2 = cd2[i1 + lags, b] - cd2[i0 + lags, b]
        cov = sdm - sm * sd / safe
        var = np.maximum(sm2 - sm * sm / safe, 0.0) * np.maximum(sd2 - sd * sd / safe, 0.0)
        score += np.where(var > 1e-9, cov / np.sqrt(np.maximum(var, 1e-18)), 0.0)
    score /= m.shape[1]
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
    lobe = max(1, int(round(_LOBE_SECONDS * frame_rate)))
    rest = np.where(ok, stat, -np.inf)
    rest[max(0, best - lobe):best + lobe + 1] = -np.inf
    second = float(rest.max()) if np.isfinite(rest).any() else med
    ratio = (float(stat[best]) - med) / max(second - med, 1e-9)
    threshold = float(np.sqrt(2.0 * np.log(max(scored.size, 2)))) + 3.0
    return Placement(offset_seconds=float(lags[best]) / frame_rate, score=float(score[best]),
                     z=z, z_threshold=threshold, peak_ratio=ratio, lags=int(scored.size),
                     overlap_seconds=float(count[best]) / frame_rate)
