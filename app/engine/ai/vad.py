"""Speech activity (Silero VAD, the ONNX model the ``silero-vad`` package ships) and the
weights that down-weight dialogue in the detection methods.

Why: a dub's dialogue is another language, so frames where someone speaks carry evidence that
differs between master and dub, while the music-and-effects bed is shared. Multiplying a
method's frame features by ``1 - strength * p(speech)`` lets the shared bed decide.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from app.engine.ai.onnx import onnx_session
from app.engine.errors import ParameterError
from app.engine.features import FeatureSet

__all__ = ["SileroVad", "VAD_FRAME_RATE", "speech_weights", "weight_features",
           "resample_to_16k"]

#: Silero VAD frames per second at 16 kHz (512-sample chunks).
VAD_FRAME_RATE = 16000 / 512


def resample_to_16k(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 ``x`` at ``sample_rate`` Hz resampled to 16 kHz (polyphase)."""
    if sample_rate == 16000:
        return np.asarray(x, np.float32)
    from math import gcd

    from scipy import signal as sps

    g = gcd(16000, int(sample_rate))
    return sps.resample_poly(x, 16000 // g, int(sample_rate) // g).astype(np.float32)


class SileroVad:
    """Silero VAD through onnxruntime. The model is stateful (a 2×B×128 state and 64 samples of
    context per stream); the signal is cut into up to ``batch`` streams run side by side (state
    reset at each cut, which costs a fraction of a second of warm-up per stream)."""

    name = "silero_vad"
    chunk = 512
    context = 64

    def __init__(self, path: Path, device: str = "cpu", *, batch_size: int = 8) -> None:
        self.device = device
        self.batch_size = batch_size
        self.session = onnx_session(path, device)

    def speech_probability(self, x: np.ndarray, *, sample_rate: int = 16000) -> np.ndarray:
        """Speech probability in [0, 1] per 32 ms frame (``VAD_FRAME_RATE`` frames/s) of mono
        ``x``; frame ``i`` covers samples ``i*512 .. i*512+511`` at 16 kHz."""
        x16 = resample_to_16k(np.asarray(x, np.float32), sample_rate)
        frames = int(np.ceil(x16.size / self.chunk))
        if frames == 0:
            return np.zeros(0, np.float32)
        streams = int(np.clip(np.ceil(frames / (30 * VAD_FRAME_RATE)), self.batch_size, 256))
        streams = max(1, min(streams, frames))
        per = int(np.ceil(frames / streams))
        padded = np.zeros(streams * per * self.chunk, np.float32)
        padded[: x16.size] = x16
        chunks = padded.reshape(streams, per, self.chunk)
        state = np.zeros((2, streams, 128), np.float32)
        ctx = np.zeros((streams, self.context), np.float32)
        sr = np.array(16000, dtype=np.int64)
        out = np.zeros((streams, per), np.float32)
        for i in range(per):
            inp = np.concatenate([ctx, chunks[:, i]], axis=1)
            prob, state = self.session.run(None, {"input": inp, "state": state, "sr": sr})
            out[:, i] = np.asarray(prob).reshape(-1)
            ctx = inp[:, -self.context :]
        return out.reshape(-1)[:frames]


def speech_weights(prob: np.ndarray, *, n_frames: int, frame_rate: float,
                   strength: float = 0.85, smooth_seconds: float = 0.25) -> np.ndarray:
    """Weights in [1 - strength, 1] for ``n_frames`` frames at ``frame_rate`` frames/s from
    a speech probability at :data:`VAD_FRAME_RATE`: ``1 - strength * p`` with ``p`` max-pooled
    over ``smooth_seconds`` (speech onsets/offsets are covered too)."""
    if not 0.0 <= strength <= 1.0:
        raise ParameterError(f"strength={strength}: must be in [0, 1]")
    p = np.asarray(prob, np.float32)
    if p.size == 0:
        return np.ones(n_frames, np.float32)
    k = max(1, int(round(smooth_seconds * VAD_FRAME_RATE)))
    if k > 1:
        from scipy.ndimage import maximum_filter1d

        p = maximum_filter1d(p, size=k, mode="nearest")
    t = (np.arange(n_frames) + 0.5) / frame_rate
    src = (np.arange(p.size) + 0.5) / VAD_FRAME_RATE
    return (1.0 - strength * np.interp(t, src, p)).astype(np.float32)


def weight_features(fs: FeatureSet, weights: np.ndarray) -> FeatureSet:
    """A copy of ``fs`` whose onset, flux and MFCC frames are scaled by ``weights`` (T,):
    onset/flux (non-negative) multiplied, MFCC deviations from their mean multiplied."""
    w = np.asarray(weights, np.float32)
    if w.shape[0] != fs.mel.shape[0]:
        raise ParameterError(f"weights: {w.shape[0]} frames for {fs.mel.shape[0]} feature frames")
    out = copy.copy(fs)
    out.onset = (fs.onset * w).astype(np.float32)
    out.flux = (fs.flux * w[:, None]).astype(np.float32)
    mean = fs.mfcc.mean(axis=0, keepdims=True)
    out.mfcc = (mean + (fs.mfcc - mean) * w[:, None]).astype(np.float32)
    return out
