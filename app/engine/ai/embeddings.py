"""Embedding sequences of whole tracks (windowed, batched, with GPU out-of-memory fallback) and
their cosine-similarity cross-correlation.

Lag convention as in :mod:`app.engine.xcorr`: lag ``l`` frames means ``dub[t + l] ≈ master[t]``
(the dub is late by ``l`` frames).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from app.engine.ai.backends import Backend, is_out_of_memory
from app.engine.ai.registry import ModelRegistry
from app.engine.methods._feature import local_detrend
from app.engine.types import CancelToken, ParameterError
from app.engine.xcorr import LagCurve, fft_size

__all__ = ["WINDOW_SECONDS", "EmbeddingRun", "window_count", "embed_track", "prepare",
           "cosine_xcorr"]

#: seconds of own audio per embedding window (plus the backend's context on each side)
WINDOW_SECONDS = 10.0
_SR = 16000
_MAX_DIMS = 64


@dataclass
class EmbeddingRun:
    """Result of :func:`embed_track`: ``frames`` (T, D) at ``frame_rate`` frames/s, the device
    that produced them and any warnings (e.g. an out-of-memory fallback to CPU)."""

    frames: np.ndarray
    frame_rate: float
    device: str
    warnings: list[str]


def _window_samples(backend: Backend) -> int:
    return int(round(WINDOW_SECONDS * _SR / backend.hop)) * backend.hop


def window_count(n_samples: int, backend: Backend) -> int:
    """Windows needed for ``n_samples`` samples at 16 kHz."""
    return max(1, int(np.ceil(n_samples / _window_samples(backend))))


def embed_track(
    x16: np.ndarray, *, model: str, registry: ModelRegistry, backend: Backend | None = None,
    on_window: Callable[[int, int], None] | None = None, cancel: CancelToken | None = None,
    first_window: int = 0, total_windows: int | None = None,
) -> EmbeddingRun:
    """Frame embeddings of mono 16 kHz ``x16``: (ceil(n / hop), D) at 16000 / hop frames/s.

    The track is cut into windows of :data:`WINDOW_SECONDS` (plus context), ``batch_size``
    windows per forward pass; ``on_window(i, n)`` after each batch (``i`` counted from
    ``first_window``, of ``total_windows``). A GPU out-of-memory error moves the model to CPU
    with a warning and the batch is run again there.
    """
    be = backend or registry.get(model)
    warnings: list[str] = []
    win = _window_samples(be)
    n = x16.size
    windows = window_count(n, be)
    total = total_windows or windows
    padded = np.zeros(be.left + windows * win + be.right, np.float32)
    padded[be.left : be.left + n] = x16
    keep0 = be.left // be.hop
    per = win // be.hop
    parts: list[np.ndarray] = []
    bs = registry.batch_size
    for start in range(0, windows, bs):
        if cancel is not None:
            cancel.raise_if_cancelled()
        idx = range(start, min(windows, start + bs))
        batch = np.stack([padded[k * win : k * win + be.left + win + be.right] for k in idx])
        try:
            out = be.embed(batch)
        except Exception as exc:
            if be.device == "cpu" or not is_out_of_memory(exc):
                raise
            message = (f"{model}: out of GPU memory on {be.device} ({type(exc).__name__}); "
                       "falling back to CPU for this analysis")
            registry.warn(message)
            warnings.append(message)
            be = registry.get(model, device="cpu")
            out = be.embed(batch)
        if out.shape[1] < keep0 + per:  # a model that returns fewer frames: repeat the last
            extra = np.repeat(out[:, -1:], keep0 + per - out.shape[1], axis=1)
            out = np.concatenate([out, extra], axis=1)
        parts.extend(out[:, keep0 : keep0 + per])
        if on_window is not None:
            on_window(first_window + idx[-1] + 1, total)
    frames = int(np.ceil(n / be.hop))
    emb = np.concatenate(parts)[:frames] if parts else np.zeros((0, be.dim), np.float32)
    return EmbeddingRun(emb.astype(np.float32), _SR / be.hop, be.device, warnings)


def prepare(frames: np.ndarray, *, frame_rate: float, seed: int = 0) -> np.ndarray:
    """Embeddings ready for cosine similarity: projected to at most 64 dimensions (a seeded
    Gaussian projection, which keeps cosines), locally detrended over max(5 frames, 2 s) so only
    what changes in time counts, then each frame L2-normalised."""
    x = np.asarray(frames, np.float32)
    if x.ndim != 2:
        raise ParameterError(f"frames: expected (T, D), got shape {x.shape}")
    if x.shape[1] > _MAX_DIMS:
        rng = np.random.default_rng(seed)
        proj = rng.standard_normal((x.shape[1], _MAX_DIMS)).astype(np.float32)
        x = (x - x.mean(axis=0, keepdims=True)) @ proj
    x = local_detrend(x, frames=max(5, int(round(2.0 * frame_rate))))
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norm, 1e-9)).astype(np.float32)


def cosine_xcorr(
    master: np.ndarray, dub: np.ndarray, *, max_lag: int, min_overlap: int,
    master_weights: np.ndarray | None = None, dub_weights: np.ndarray | None = None,
) -> LagCurve:
    """Weighted mean cosine similarity of unit-norm frames for lags in [-max_lag, max_lag]:

    ``S(l) = Σ_t w_m[t] w_d[t+l] <m[t], d[t+l]> / Σ_t w_m[t] w_d[t+l]``, NaN where fewer than
    ``min_overlap`` frames overlap. Weights default to 1 (speech weights down-weight dialogue).
    """
    tm, td = master.shape[0], dub.shape[0]
    if master.shape[1] != dub.shape[1]:
        raise ParameterError(f"embedding sizes differ: {master.shape[1]} vs {dub.shape[1]}")
    wm = np.ones(tm, np.float32) if master_weights is None else np.asarray(master_weights)
    wd = np.ones(td, np.float32) if dub_weights is None else np.asarray(dub_weights)
    n = fft_size(max(tm, td) + max_lag + 1)
    fm = sfft.rfft(master * wm[:, None], n, axis=0)
    fd = sfft.rfft(dub * wd[:, None], n, axis=0)
    num = sfft.irfft((np.conj(fm) * fd).sum(axis=1), n)
    den = sfft.irfft(np.conj(sfft.rfft(wm, n)) * sfft.rfft(wd, n), n)
    ov = sfft.irfft(np.conj(sfft.rfft(np.ones(tm), n)) * sfft.rfft(np.ones(td), n), n)
    lags = np.arange(-max_lag, max_lag + 1)
    num_l, den_l, ov_l = num[lags % n], den[lags % n], np.rint(ov[lags % n])
    valid = (ov_l >= min_overlap) & (den_l > 1e-6 * max(min_overlap, 1))
    values = np.where(valid, num_l / np.maximum(den_l, 1e-12), np.nan)
    return LagCurve(first_lag=-max_lag, values=values)
