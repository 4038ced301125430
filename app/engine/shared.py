"""Shared-sound emphasis: every time-frequency cell weighted alike, so that the quiet M&E
bed a master and a dub share counts as much as the louder dialogue that differs.

In a dialogue-dominant mix (the M&E 16–25 dB under the dialogue) the waveform
cross-correlation is ruled by the loud speech frames: in another language they only add
noise (and a synthetic or re-used voice adds coincidental peaks at wrong lags). Giving each
short-time Fourier cell unit magnitude (its phase kept) lets the many cells where the bed
dominates — pauses, the bands and instants between the speech harmonics — add up coherently
at the true lag while speech cells average out. The result is a signal with the same time
base (no delay: analysis and synthesis windows are symmetric), so GCC-PHAT on it measures
the same offsets as on the original.

Units: ``sample_rate`` in Hz; ``frame_seconds`` the analysis window (s), hop half of it.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from app.engine.types import CancelToken

__all__ = ["FRAME_SECONDS", "emphasise_shared"]

#: analysis window (s): short enough that a word's gaps are cells of their own
FRAME_SECONDS = 0.032
#: frames transformed per block (bounds the memory of a long programme)
_BLOCK_FRAMES = 4096


def emphasise_shared(x: np.ndarray, *, sample_rate: int, frame_seconds: float = FRAME_SECONDS,
                     cancel: CancelToken | None = None) -> np.ndarray:
    """``x`` (n,) with every STFT cell set to unit magnitude, resynthesised by overlap-add
    (sqrt-Hann windows at 50 % overlap, which sum to one); float32 (n,), same time base.
    Cells more than 80 dB under the block's mean cell level keep their (tiny) level, so
    silence and dither stay quiet."""
    x = np.asarray(x, np.float32)
    n = x.size
    size = max(16, int(round(frame_seconds * sample_rate)) // 2 * 2)
    hop = size // 2
    if n < size:
        return x.copy()
    window = np.sqrt(np.hanning(size + 1)[:-1]).astype(np.float32)  # periodic: COLA at hop
    padded = np.concatenate([np.zeros(hop, np.float32), x, np.zeros(size, np.float32)])
    frames = (padded.size - size) // hop + 1
    view = np.lib.stride_tricks.sliding_window_view(padded, size)[::hop]  # frames, no copy
    out = np.zeros((frames + 1) * hop, np.float32)
    halves = out.reshape(frames + 1, hop)  # frame f covers halves f and f + 1
    for f0 in range(0, frames, _BLOCK_FRAMES):
        if cancel is not None:
            cancel.raise_if_cancelled()
        f1 = min(frames, f0 + _BLOCK_FRAMES)
        spec = sfft.rfft(view[f0:f1] * window, axis=1, workers=-1)
        mag = np.abs(spec)
        floor = max(float(np.sqrt(np.mean(mag**2))) * 1e-4, 1e-20)
        spec /= np.maximum(mag, floor)
        y = sfft.irfft(spec, size, axis=1, workers=-1) * window
        halves[f0:f1] += y[:, :hop]
        halves[f0 + 1:f1 + 1] += y[:, hop:]
    return out[hop:hop + n]
