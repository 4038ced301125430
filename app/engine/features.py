"""Frame features for the feature-based methods: log-mel spectrogram, MFCC, onset strength,
band-wise spectral flux.

All features are computed block-wise on float32 so an hour of audio stays within a few
hundred megabytes. Frames are ``hop_seconds`` apart (default 10 ms); frame ``i`` covers the
samples starting at ``i * hop``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft
from scipy.fft import dct

from app.engine.types import CancelToken, ParameterError

__all__ = ["FeatureSet", "mel_filterbank", "log_mel", "compute_features"]

_BLOCK_FRAMES = 8192


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(
    *, sample_rate: int, n_fft: int, n_mels: int, fmin: float = 60.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular mel filters, shape (n_fft // 2 + 1, n_mels), float32."""
    fmax = min(fmax or sample_rate / 2, sample_rate / 2)
    if not 0 <= fmin < fmax:
        raise ParameterError(f"fmin={fmin}, fmax={fmax}: need 0 <= fmin < fmax")
    mels = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
    hz = _mel_to_hz(mels)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    fb = np.zeros((bins.size, n_mels), dtype=np.float32)
    for m in range(n_mels):
        lo, centre, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (bins - lo) / max(centre - lo, 1e-9)
        down = (hi - bins) / max(hi - centre, 1e-9)
        fb[:, m] = np.clip(np.minimum(up, down), 0.0, None)
    return fb


def log_mel(
    x: np.ndarray,
    *,
    sample_rate: int,
    hop_seconds: float = 0.01,
    n_fft: int | None = None,
    n_mels: int = 40,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Log-mel spectrogram of mono ``x``, shape (frames, n_mels) float32, in dB-like log units.

    Frame ``i`` is the Hann-windowed FFT of ``x[i*hop : i*hop + n_fft]`` (zero-padded at the
    end), with ``hop = round(hop_seconds * sample_rate)`` samples.
    """
    hop = int(round(hop_seconds * sample_rate))
    if hop <= 0:
        raise ParameterError(f"hop_seconds={hop_seconds}: too small for {sample_rate} Hz")
    if n_fft is None:
        n_fft = 1 << int(np.ceil(np.log2(hop * 3.2)))
    n_frames = max(1, int(np.ceil(x.size / hop)))
    padded = np.zeros(n_frames * hop + n_fft, dtype=np.float32)
    padded[: x.size] = x
    window = np.hanning(n_fft).astype(np.float32)
    fb = mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels)
    out = np.empty((n_frames, n_mels), dtype=np.float32)
    strides = (padded.strides[0] * hop, padded.strides[0])
    for start in range(0, n_frames, _BLOCK_FRAMES):
        if cancel is not None:
            cancel.raise_if_cancelled()
        count = min(_BLOCK_FRAMES, n_frames - start)
        frames = np.lib.stride_tricks.as_strided(
            padded[start * hop :], shape=(count, n_fft), strides=strides, writeable=False
        )
        spec = sfft.rfft(frames * window, axis=1, workers=1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        out[start : start + count] = power @ fb
    np.log10(out + 1e-10, out=out)
    out *= 10.0
    return out


@dataclass
class FeatureSet:
    """Frame features of one track at ``frame_rate`` frames per second.

    mel: (T, n_mels) log-mel; mfcc: (T, 13) coefficients 1..13; onset: (T,) onset strength;
    flux: (T, bands) band-wise positive spectral flux; activity: (T,) frame loudness in dB.
    """

    frame_rate: float
    mel: np.ndarray
    mfcc: np.ndarray = field(init=False)
    onset: np.ndarray = field(init=False)
    flux: np.ndarray = field(init=False)
    activity: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        mel = self.mel
        floor = np.percentile(mel, 1, axis=0) if mel.shape[0] > 1 else mel.min(axis=0)
        clamped = np.maximum(mel, floor[None, :])
        self.activity = clamped.max(axis=1)
        self.mfcc = dct(clamped, type=2, axis=1, norm="ortho")[:, 1:14].astype(np.float32)
        diff = np.diff(clamped, axis=0, prepend=clamped[:1])
        pos = np.maximum(diff, 0.0)
        self.onset = pos.mean(axis=1).astype(np.float32)
        n_bands = 8
        edges = np.linspace(0, mel.shape[1], n_bands + 1).astype(int)
        self.flux = np.stack(
            [pos[:, a:b].mean(axis=1) for a, b in zip(edges[:-1], edges[1:], strict=True)],
            axis=1,
        ).astype(np.float32)


def compute_features(
    x: np.ndarray, *, sample_rate: int, hop_seconds: float = 0.01,
    cancel: CancelToken | None = None,
) -> FeatureSet:
    """All frame features of mono ``x`` (float32, ``sample_rate`` Hz); ``cancel`` is checked
    between blocks of frames."""
    mel = log_mel(x, sample_rate=sample_rate, hop_seconds=hop_seconds, cancel=cancel)
    return FeatureSet(frame_rate=1.0 / hop_seconds, mel=mel)
