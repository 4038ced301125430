"""Model backends: each turns batches of 16 kHz mono windows into frame embeddings.

Interface of a backend (all at 16 kHz): ``hop`` samples between frames, ``left``/``right``
context samples each window carries besides its ``W`` samples of own audio, ``dim`` values per
frame, ``device``; ``embed(batch)`` maps float32 ``(B, left + W + right)`` to ``(B, F, dim)``
with frame ``i`` starting at sample ``i * hop`` of the window and ``F >= (left + W) / hop``.
The caller keeps frames ``left / hop .. (left + W) / hop`` of each window, so context changes at
window boundaries never line up with the audio.

Heavy packages (torch, transformers, tensorflow, onnxruntime) are imported here only, when a
model is first loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy import signal as sps

from app.engine.ai.onnx import onnx_providers, onnx_session
from app.engine.errors import ParameterError
from app.engine.features import mel_filterbank

__all__ = ["Backend", "SpectralBackend", "Wav2Vec2Backend", "YamnetBackend",
           "BasicPitchBackend", "load", "is_out_of_memory", "onnx_providers",
           "onnx_session"]

SR = 16000


class Backend(Protocol):
    name: str
    device: str
    hop: int
    left: int
    right: int
    dim: int

    def embed(self, batch: np.ndarray) -> np.ndarray: ...


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a GPU out-of-memory error (torch, TensorFlow or onnxruntime)."""
    name = type(exc).__name__
    text = str(exc).lower()
    return name in ("OutOfMemoryError", "ResourceExhaustedError") or "out of memory" in text \
        or "failed to allocate memory" in text


class SpectralBackend:
    """Our own embedding, no weights: 48-band log-mel frames (40 ms window, 20 ms hop), each
    frame's spectral shape (mean over bands removed) and its positive change from the previous
    frame, 96 values per frame at 50 frames/s."""

    name = "spectral"
    hop = 320
    left = 320
    right = 640
    dim = 96

    def __init__(self, device: str = "cpu") -> None:
        self.device = "cpu"
        self.n_fft = 640
        self.window = np.hanning(self.n_fft).astype(np.float32)
        self.fb = mel_filterbank(sample_rate=SR, n_fft=self.n_fft, n_mels=48, fmin=60.0)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        b, n = batch.shape
        frames = (n - self.n_fft) // self.hop + 1
        idx = np.arange(frames)[:, None] * self.hop + np.arange(self.n_fft)[None, :]
        seg = batch[:, idx] * self.window  # (B, F, n_fft)
        spec = np.fft.rfft(seg, axis=2)
        power = (spec.real**2 + spec.imag**2).astype(np.float32) @ self.fb
        logmel = 10.0 * np.log10(power + 1e-10)
        shape = logmel - logmel.mean(axis=2, keepdims=True)
        change = np.maximum(np.diff(logmel, axis=1, prepend=logmel[:, :1]), 0.0)
        return np.concatenate([shape, change], axis=2).astype(np.float32)


class Wav2Vec2Backend:
    """transformers ``Wav2Vec2Model`` + ``Wav2Vec2FeatureExtractor`` from a local directory
    (``local_files_only=True``): last hidden states, 50 frames/s (320-sample hop)."""

    name = "wav2vec2"
    hop = 320
    left = 8000  # 0.5 s of context each side
    right = 8000 + 80  # the conv stack needs 400 samples for its first frame

    def __init__(self, path: Path, device: str) -> None:
        import torch
        from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.torch = torch
        self.device = device
        self.extractor = Wav2Vec2FeatureExtractor.from_pretrained(str(path),
                                                                  local_files_only=True)
        self.model = Wav2Vec2Model.from_pretrained(str(path), local_files_only=True)
        self.model.eval().to(device)
        self.dim = int(self.model.config.hidden_size)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        inputs = self.extractor(list(batch), sampling_rate=SR, return_tensors="pt",
                                padding=False)
        values = inputs["input_values"].to(self.device)
        with self.torch.inference_mode():
            hidden = self.model(values).last_hidden_state
        return hidden.float().cpu().numpy()


class YamnetBackend:
    """A YAMNet SavedModel from a local directory, through tensorflow-hub (``hub.load``), or
    ``tf.saved_model.load`` when tensorflow-hub is missing. YAMNet takes one waveform and
    returns (scores, embeddings, log-mel); the embeddings are picked by shape (the 2-D output
    with 1024 columns, else the widest one with one row per 0.48 s frame)."""

    name = "yamnet"
    phases = 4  # the model is run at 4 start phases 0.12 s apart, frames interleaved
    hop = 7680 // phases  # 0.12 s between interleaved frames (YAMNet's own hop is 0.48 s)
    left = 7680
    right = 15600 + 7680  # one 0.975 s patch past the end, for every phase

    def __init__(self, path: Path, device: str) -> None:
        import tensorflow as tf

        self.tf = tf
        self.device = device
        self.tf_device = "/GPU:" + device.split(":")[1] if device.startswith("cuda:") else (
            "/GPU:0" if device == "cuda" else "/CPU:0")
        try:
            import tensorflow_hub as hub

            self.model = hub.load(str(path))
        except ImportError:
            self.model = tf.saved_model.load(str(path))
        self.dim = 1024

    def _pick(self, outputs: Any, n_samples: int) -> np.ndarray:
        items = list(outputs.values()) if isinstance(outputs, dict) else (
            list(outputs) if isinstance(outputs, list | tuple) else [outputs])
        mats = [np.asarray(t) for t in items if len(getattr(t, "shape", ())) == 2]
        expected = max(1, n_samples // 7680)
        for m in mats:
            if m.shape[1] == 1024:
                return m
        framed = [m for m in mats if abs(m.shape[0] - expected) <= 2]
        if not framed:
            raise ParameterError(f"yamnet: no output shaped (~{expected}, D) among "
                                 f"{[m.shape for m in mats]}")
        return max(framed, key=lambda m: m.shape[1])

    def embed(self, batch: np.ndarray) -> np.ndarray:
        out = []
        with self.tf.device(self.tf_device):
            for wave in batch:
                runs = [self._pick(self.model(self.tf.constant(wave[p * self.hop :],
                                                               self.tf.float32)),
                                   wave.size - p * self.hop) for p in range(self.phases)]
                frames = min(r.shape[0] for r in runs)
                # frame f of phase p starts at p * hop + f * 0.48 s = (f * phases + p) * hop
                out.append(np.stack([r[:frames] for r in runs], axis=1).reshape(
                    frames * self.phases, -1))
        frames = min(m.shape[0] for m in out)
        self.dim = out[0].shape[1]
        return np.stack([m[:frames] for m in out]).astype(np.float32)


class BasicPitchBackend:
    """basic-pitch's ICASSP 2022 network from the ``nmp.onnx`` its package ships, run with
    onnxruntime at 22 050 Hz in its own 2-s windows (30 frames of overlap each side), onset and
    note posteriors (88 + 88) resampled from 86.13 to 100 frames/s."""

    name = "basic_pitch"
    hop = 160
    left = 8000
    right = 8000
    dim = 176
    _RATE = 22050
    _N = 43844  # the model's input length
    _FRAME = 256
    _OVERLAP = 30  # frames dropped at each side of a model window
    _KEEP = 112  # frames kept per model window (172 - 2 * 30)

    def __init__(self, path: Path, device: str) -> None:
        self.device = device
        self.session = onnx_session(path, device)
        self.input = self.session.get_inputs()[0].name
        outs = self.session.get_outputs()
        self.names = [o.name for o in outs]

    def _posteriors(self, x22: np.ndarray) -> np.ndarray:
        pad = self._OVERLAP * self._FRAME
        hop = self._KEEP * self._FRAME
        x = np.concatenate([np.zeros(pad, np.float32), x22, np.zeros(self._N, np.float32)])
        starts = range(0, x22.size + pad, hop)
        windows = np.stack([x[s : s + self._N] for s in starts])[:, :, None]
        outs = self.session.run(None, {self.input: windows.astype(np.float32)})
        by_width = sorted((o for o in outs if o.shape[-1] == 88), key=lambda o: o.ndim)
        onset_note = np.concatenate(by_width[:2], axis=2)  # (windows, 172, 176)
        kept = onset_note[:, self._OVERLAP : self._OVERLAP + self._KEEP]
        return kept.reshape(-1, kept.shape[-1])  # frames at 256/22050 s from t = 0

    def embed(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for wave in batch:
            x22 = sps.resample_poly(wave, 441, 320).astype(np.float32)
            post = self._posteriors(x22)
            t_src = np.arange(post.shape[0]) * self._FRAME / self._RATE
            t_dst = np.arange(wave.size // self.hop) * self.hop / SR
            cols = [np.interp(t_dst, t_src, post[:, k]) for k in range(post.shape[1])]
            out.append(np.sqrt(np.stack(cols, axis=1)))
        return np.stack(out).astype(np.float32)


def load(name: str, *, path: Path | None, device: str, batch_size: int) -> Backend:
    """Load model ``name`` on ``device`` (weights from ``path``)."""
    if name == "spectral":
        return SpectralBackend()
    if path is None:
        raise ParameterError(f"ai_model={name!r}: no weights path")
    if name == "wav2vec2":
        return Wav2Vec2Backend(path, device)
    if name == "yamnet":
        return YamnetBackend(path, device)
    if name == "basic_pitch":
        return BasicPitchBackend(path, device)
    if name == "silero_vad":
        from app.engine.ai.vad import SileroVad

        return SileroVad(path, device, batch_size=batch_size)  # type: ignore[return-value]
    raise ParameterError(f"ai_model={name!r}: no backend")
