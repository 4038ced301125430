"""``correlation``: generalised cross-correlation with phase transform (GCC-PHAT).

Coarse to fine:

1. :func:`coarse_search` — whole-overlap GCC-PHAT of both tracks decimated to a low rate
   (default 2 kHz) over the full allowed lag range; gives candidates and the peak's prominence.
2. :func:`refine` — block-averaged GCC-PHAT at the full analysis rate around a candidate: the
   normalised cross-spectra of every block of the overlap are summed, whitened, and the peak is
   located below one sample by evaluating the correlation on a fine grid of fractional lags.

Lags: ``l > 0`` means the dub is late (``dub[t + l] ≈ master[t]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from app.engine.types import CancelToken
from app.engine.xcorr import LagCurve, fft_size, parabolic_offset

__all__ = ["Refinement", "coarse_search", "refine", "whiten"]

_EPS = 1e-20


def whiten(cross: np.ndarray, *, low_bin: int = 1, high_bin: int | None = None,
           inplace: bool = False) -> np.ndarray:
    """Phase transform of a cross-spectrum: unit magnitude in [low_bin, high_bin), 0 elsewhere.
    ``inplace`` overwrites ``cross`` (for hour-long spectra: no extra full-size copies)."""
    mag = np.abs(cross)
    if inplace:
        silent = mag <= _EPS
        np.maximum(mag, _EPS, out=mag)
        cross /= mag
        cross[silent] = 0.0
        out = cross
    else:
        out = np.where(mag > _EPS, cross / np.maximum(mag, _EPS), 0.0).astype(cross.dtype)
    out[:low_bin] = 0.0
    if high_bin is not None:
        out[high_bin:] = 0.0
    return out


def coarse_search(master: np.ndarray, dub: np.ndarray, *, max_lag: int) -> LagCurve:
    """Whole-overlap GCC-PHAT of ``master`` and ``dub`` (same rate) for lags in ±``max_lag``
    samples. Values are signed (a negative peak means inverted polarity)."""
    n = fft_size(max(master.size, dub.size) + max_lag + 1)
    fm = sfft.rfft(master.astype(np.float32, copy=False), n, workers=2)
    fd = sfft.rfft(dub.astype(np.float32, copy=False), n, workers=2)
    np.conjugate(fm, out=fm)
    fd *= fm
    del fm
    cross = whiten(fd, low_bin=max(1, n // 400), inplace=True)
    del fd
    circ = sfft.irfft(cross, n, workers=2)
    del cross
    lags = np.arange(-max_lag, max_lag + 1)
    return LagCurve(first_lag=-max_lag, values=circ[lags % n].astype(np.float64))


@dataclass(frozen=True)
class Refinement:
    """Fine GCC-PHAT result around one candidate.

    lag_samples: refined lag in (fractional) samples at the analysis rate; peak: signed peak
    height of the whitened correlation (|peak| ≈ 1 for identical material); ratio: |peak| over
    the highest value elsewhere in the searched residual range; blocks: blocks used.
    """

    lag_samples: float
    peak: float
    ratio: float
    zscore: float
    blocks: int
    search_samples: int


def _block_starts(lo: int, hi: int, block: int, hop: int) -> np.ndarray:
    if hi - lo < block:
        return np.array([lo], dtype=np.int64)
    return np.arange(lo, hi - block + 1, hop, dtype=np.int64)


def refine(
    master: np.ndarray,
    dub: np.ndarray,
    *,
    candidate_lag: int,
    search: int = 256,
    block: int = 32768,
    sample_rate: int,
    cancel: CancelToken | None = None,
    on_block: Callable[[int, int], None] | None = None,
    max_blocks: int | None = None,
    fractional: bool = True,
) -> Refinement | None:
    """Refine ``candidate_lag`` (samples) to a fractional lag by block-averaged GCC-PHAT.

    Every block of the overlap (Hann-windowed, edge to edge) contributes its cross-spectrum,
    normalised by the block's energy so loud passages do not dominate. The sum is whitened and
    the correlation evaluated for residual lags in ±``search`` samples, then on a grid of 1/64
    sample around the best integer lag. Returns None when the overlap is too short.
    """
    lo = max(0, -candidate_lag)
    hi = min(master.size, dub.size - candidate_lag)
    if hi - lo < max(4 * search, sample_rate):
        return None
    block = int(min(block, 1 << int(np.floor(np.log2(hi - lo)))))
    n = fft_size(block + 2 * search)
    window = np.hanning(block).astype(np.float32)
    starts = _block_starts(lo, hi, block, block)  # Hann blocks edge to edge over the overlap
    if max_blocks is not None and starts.size > max_blocks:
        starts = starts[np.linspace(0, starts.size - 1, max_blocks).round().astype(int)]
    acc = np.zeros(n // 2 + 1, dtype=np.complex128)
    used = 0
    # ~1 MB of samples per batch: the batch's temporaries are reused from the heap (8-MB
    # batches were fresh pages each time: 60-min refine 1.0 s, 0.35 s of it page faults)
    batch = max(1, (1 << 20) // (block * 4))
    for first in range(0, starts.size, batch):
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk = starts[first : first + batch]
        if chunk.size > 1 and np.all(np.diff(chunk) == block):  # edge to edge: plain views
            a, b = int(chunk[0]), int(chunk[0]) + chunk.size * block
            mb = master[a:b].reshape(chunk.size, block) * window
            db = dub[a + candidate_lag : b + candidate_lag].reshape(chunk.size, block) * window
        else:
            idx = chunk[:, None] + np.arange(block)[None, :]
            mb = master[idx] * window
            db = dub[idx + candidate_lag] * window
        fm = sfft.rfft(mb, n, axis=1, workers=2)
        fd = sfft.rfft(db, n, axis=1, workers=2)
        em = np.einsum("ij,ij->i", mb, mb, dtype=np.float64)
        ed = np.einsum("ij,ij->i", db, db, dtype=np.float64)
        scale = np.sqrt(em * ed)
        live = scale > 1e-9 * block
        if live.any():
            # sum over the batch of conj(Fm) Fd / scale as one matrix-vector product, in place
            weights = np.where(live, 1.0 / np.maximum(scale, 1e-300), 0.0).astype(np.complex64)
            np.conjugate(fm, out=fm)
            fm *= fd
            acc += weights @ fm
            used += int(live.sum())
        if on_block is not None:
            on_block(min(first + batch, starts.size), starts.size)
    if used == 0:
        return None
    phat = whiten(acc, low_bin=max(1, int(n * 40 / sample_rate)))
    circ = sfft.irfft(phat, n)
    residuals = np.arange(-search, search + 1)
    values = circ[residuals % n]
    best = int(np.argmax(np.abs(values)))
    peak_int = float(values[best])
    sign = 1.0 if peak_int >= 0 else -1.0
    frac = (_fractional_peak(phat, n, float(residuals[best]), sign) if fractional
            else float(residuals[best]))
    peak = float(_eval_corr(phat, n, np.array([frac]))[0])
    mag = np.abs(values)
    masked = mag.copy()
    masked[max(0, best - 3) : best + 4] = 0.0
    second = float(masked.max()) if masked.size else 0.0
    med = float(np.median(mag))
    spread = max(float(np.median(np.abs(mag - med))) * 1.4826, 1e-12)
    return Refinement(
        lag_samples=candidate_lag + frac,
        peak=peak,
        ratio=float(min(abs(peak) / max(second, 1e-12), 100.0)),
        zscore=(abs(peak) - med) / spread,
        blocks=used,
        search_samples=search,
    )


def _eval_corr(phat: np.ndarray, n: int, taus: np.ndarray) -> np.ndarray:
    """Whitened correlation at fractional lags ``taus`` (samples), from its one-sided spectrum."""
    k = np.arange(phat.size)
    weights = np.full(phat.size, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    phase = np.exp(2j * np.pi * np.outer(taus, k) / n)
    return (phase @ (weights * phat)).real / n


def _fractional_peak(phat: np.ndarray, n: int, centre: float, sign: float) -> float:
    """Fractional lag of the correlation peak near integer lag ``centre`` (1/64-sample grid,
    then parabolic interpolation on that grid)."""
    step = 1.0 / 64.0
    taus = centre + np.arange(-64, 65) * step
    vals = sign * _eval_corr(phat, n, taus)
    i = int(np.argmax(vals))
    if 0 < i < vals.size - 1:
        return float(taus[i] + step * parabolic_offset(vals[i - 1], vals[i], vals[i + 1]))
    return float(taus[i])
