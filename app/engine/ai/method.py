"""The ``ai`` method: embedding sequences of master and dub, cosine-similarity cross-correlation
for a coarse offset, then refinement with the signal methods (spectral-flux features at
100 frames/s, then GCC-PHAT at the analysis rate). Confidence comes from the prominence of the
embedding peak. Speech activity (Silero VAD) down-weights dialogue frames, here and in the
feature methods, when asked.

Sign convention: ``offset_seconds > 0`` = the dub is late.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from app.engine.ai.embeddings import cosine_xcorr, embed_track, prepare, window_count
from app.engine.ai.registry import ModelRegistry, get_registry
from app.engine.ai.vad import (
    VAD_FRAME_RATE,
    SileroVad,
    resample_to_16k,
    speech_weights,
    weight_features,
)
from app.engine.features import FeatureSet
from app.engine.methods import correlation
from app.engine.methods._feature import local_detrend
from app.engine.types import AnalysisOptions, CancelToken, MethodResult, ParameterError
from app.engine.xcorr import normalised_xcorr, parabolic_offset, peak_confidence, peak_stats

__all__ = ["AiStage", "detect", "refine_offset"]

Report = Callable[..., None]


def _shifted_xcorr(m: np.ndarray, d: np.ndarray, *, lag: int, search: int,
                   min_overlap: int) -> tuple[float, float, float] | None:
    """Best lag (frames, fractional) of ``d`` against ``m`` within ``lag ± search``, with the
    peak's z-score and ratio; None when the overlap is too short."""
    if lag >= 0:
        mm, dd = m, d[lag:]
    else:
        mm, dd = m[-lag:], d
    if min(mm.shape[0], dd.shape[0]) < min_overlap + search:
        return None
    curve = normalised_xcorr(mm, dd, max_lag=search, min_overlap=min_overlap)
    stats = peak_stats(curve.values, exclusion=3)
    v, i = curve.values, stats.index
    frac = 0.0
    if 0 < i < v.size - 1 and np.isfinite(v[i - 1]) and np.isfinite(v[i + 1]):
        frac = parabolic_offset(float(v[i - 1]), float(v[i]), float(v[i + 1]))
    return lag + curve.first_lag + i + frac, stats.zscore, stats.ratio


def refine_offset(
    coarse_seconds: float, uncertainty_seconds: float, *, master: np.ndarray, dub: np.ndarray,
    sample_rate: int, master_features: FeatureSet | None, dub_features: FeatureSet | None,
    cancel: CancelToken | None = None,
) -> tuple[float, float, dict[str, Any]]:
    """Refine a coarse offset (seconds) known within ±``uncertainty_seconds`` with the signal
    methods: band-wise spectral flux (100 frames/s) within the uncertainty, then block-averaged
    GCC-PHAT within ±16 ms. Returns (offset seconds, resolution seconds, diagnostics)."""
    diag: dict[str, Any] = {}
    offset, resolution = coarse_seconds, uncertainty_seconds
    if master_features is not None and dub_features is not None:
        rate = master_features.frame_rate
        frames = max(3, int(rate / 2))
        fm = local_detrend(master_features.flux, frames=frames)
        fd = local_detrend(dub_features.flux, frames=frames)
        found = _shifted_xcorr(fm, fd, lag=int(round(coarse_seconds * rate)),
                               search=int(np.ceil(uncertainty_seconds * rate)) + 2,
                               min_overlap=max(2, int(2.0 * rate)))
        if found is not None and found[1] >= 4.0:
            offset, resolution = found[0] / rate, 1.0 / rate
            diag.update(feature_offset_seconds=round(offset, 5),
                        feature_zscore=round(float(found[1]), 2))
    search = int(0.016 * sample_rate) if resolution <= 0.02 else int(min(
        resolution * sample_rate + 0.016 * sample_rate, 0.5 * sample_rate))
    fine = correlation.refine(master, dub, candidate_lag=int(round(offset * sample_rate)),
                              search=search, sample_rate=sample_rate, cancel=cancel,
                              fractional=True)
    if fine is not None and fine.zscore >= 5.0:
        offset, resolution = fine.lag_samples / sample_rate, 1.0 / sample_rate
        diag.update(gcc_phat_zscore=round(float(fine.zscore), 2),
                    gcc_phat_peak=round(float(fine.peak), 5))
    diag["refined_by"] = ("gcc_phat" if "gcc_phat_zscore" in diag else
                          "spectral_flux" if "feature_zscore" in diag else "none")
    return float(offset), float(resolution), diag


def detect(
    master: np.ndarray, dub: np.ndarray, *, sample_rate: int, model: str,
    registry: ModelRegistry, max_offset_seconds: float, min_overlap_seconds: float,
    master_features: FeatureSet | None = None, dub_features: FeatureSet | None = None,
    master_speech: np.ndarray | None = None, dub_speech: np.ndarray | None = None,
    on_window: Callable[[int, int], None] | None = None, cancel: CancelToken | None = None,
) -> MethodResult:
    """Offset of ``dub`` against ``master`` (mono, ``sample_rate`` Hz) with embedding model
    ``model``. ``master_speech``/``dub_speech``: speech probabilities at
    :data:`~app.engine.ai.vad.VAD_FRAME_RATE` to down-weight dialogue (None = no weighting).
    ``on_window(i, n)`` counts embedding windows of both tracks."""
    t0 = time.perf_counter()
    backend = registry.get(model)
    m16 = resample_to_16k(master, sample_rate)
    d16 = resample_to_16k(dub, sample_rate)
    total = window_count(m16.size, backend) + window_count(d16.size, backend)
    run_m = embed_track(m16, model=model, registry=registry, backend=backend,
                        on_window=on_window, cancel=cancel, total_windows=total)
    run_d = embed_track(d16, model=model, registry=registry, backend=backend,
                        on_window=on_window, cancel=cancel,
                        first_window=window_count(m16.size, backend), total_windows=total)
    t_embed = time.perf_counter() - t0
    rate = run_m.frame_rate
    em = prepare(run_m.frames, frame_rate=rate)
    ed = prepare(run_d.frames, frame_rate=rate)
    wm = wd = None
    if master_speech is not None and dub_speech is not None:
        wm = speech_weights(master_speech, n_frames=em.shape[0], frame_rate=rate)
        wd = speech_weights(dub_speech, n_frames=ed.shape[0], frame_rate=rate)
    max_lag = int(np.ceil(max_offset_seconds * rate))
    curve = cosine_xcorr(em, ed, max_lag=max_lag, min_overlap=max(2, int(min_overlap_seconds
                                                                         * rate)),
                         master_weights=wm, dub_weights=wd)
    exclusion = max(2, int(round(0.25 * rate)))
    stats = peak_stats(curve.values, exclusion=exclusion)
    diag: dict[str, Any] = {
        "model": model, "device": run_d.device, "frame_rate": round(rate, 4),
        "embedding_size": int(run_m.frames.shape[1]) if run_m.frames.size else None,
        "windows": total, "embedding_seconds": round(t_embed, 3),
        "speech_weighted": wm is not None, "zscore": round(float(stats.zscore), 3),
        "warnings": run_m.warnings + run_d.warnings,
    }
    if not np.isfinite(stats.value):
        return MethodResult("ai", None, 0.0, 0.0, 1.0, (-max_offset_seconds, max_offset_seconds),
                            1.0 / rate, time.perf_counter() - t0, diagnostics=diag)
    v, i = curve.values, stats.index
    frac = 0.0
    if 0 < i < v.size - 1 and np.isfinite(v[i - 1]) and np.isfinite(v[i + 1]):
        frac = parabolic_offset(float(v[i - 1]), float(v[i]), float(v[i + 1]))
    coarse = (curve.first_lag + i + frac) / rate
    confidence = peak_confidence(stats.zscore, stats.ratio, z_floor=5.0, z_full=12.0)
    # the coarse peak is trusted to ±1.5 frames, and never to less than ±0.25 s: embeddings of
    # global-attention models (wav2vec2) can lean a few frames off the true lag
    offset, resolution, rdiag = refine_offset(
        coarse, max(1.5 / rate, 0.25), master=master, dub=dub, sample_rate=sample_rate,
        master_features=master_features, dub_features=dub_features, cancel=cancel)
    diag.update(coarse_offset_seconds=round(coarse, 5),
                second_peak_offset_seconds=(curve.first_lag + stats.second_index) / rate
                if stats.second_index is not None else None, **rdiag)
    return MethodResult(
        method="ai", offset_seconds=offset, confidence=confidence,
        peak_height=float(stats.value), peak_ratio=float(stats.ratio),
        search_range_seconds=(-max_offset_seconds, max_offset_seconds),
        resolution_seconds=resolution, elapsed_seconds=time.perf_counter() - t0,
        diagnostics=diag)


class AiStage:
    """The pipeline's AI step for one analysis: speech activity of both tracks (when
    ``options.speech_weighting`` or the ai method is on and Silero VAD is available), the
    speech-weighted feature sets for the feature methods, and the ``ai`` method itself."""

    def __init__(self, master: np.ndarray, dub: np.ndarray, master_features: FeatureSet,
                 dub_features: FeatureSet, options: AnalysisOptions, report: Report) -> None:
        self.master, self.dub = master, dub
        self.fm, self.fd = master_features, dub_features
        self.opts = options
        self.report = report
        self.registry = get_registry(options.ai_cache_dir, options.ai_use_gpu,
                                     options.ai_batch_size)
        self.speech: tuple[np.ndarray, np.ndarray] | None = None
        self.vad_seconds = 0.0
        if options.speech_weighting:
            status = self.registry.status("silero_vad")
            if not status.available:
                raise ParameterError(f"speech_weighting: silero_vad unavailable: "
                                     f"{status.reason}")
            t = time.perf_counter()
            report("speech", 0.5, "speech activity (Silero VAD) of master and dub")
            vad: SileroVad = self.registry.get("silero_vad")
            sr = options.sample_rate
            self.speech = (vad.speech_probability(master, sample_rate=sr),
                           vad.speech_probability(dub, sample_rate=sr))
            self.vad_seconds = time.perf_counter() - t

    def features(self) -> tuple[FeatureSet, FeatureSet]:
        """Feature sets for the feature methods: speech-weighted when speech was measured."""
        if self.speech is None:
            return self.fm, self.fd
        rate = self.fm.frame_rate
        wm = speech_weights(self.speech[0], n_frames=self.fm.mel.shape[0], frame_rate=rate)
        wd = speech_weights(self.speech[1], n_frames=self.fd.mel.shape[0], frame_rate=rate)
        return weight_features(self.fm, wm), weight_features(self.fd, wd)

    def speech_share(self) -> dict[str, float]:
        """Share of frames with speech probability > 0.5 in master and dub."""
        if self.speech is None:
            return {}
        return {"master": round(float(np.mean(self.speech[0] > 0.5)), 3),
                "dub": round(float(np.mean(self.speech[1] > 0.5)), 3),
                "vad_frame_rate": VAD_FRAME_RATE}

    def detect(self, *, max_offset_seconds: float, min_overlap_seconds: float) -> MethodResult:
        model = self.opts.ai_model
        if model is None:
            raise ParameterError("ai_model: none chosen")

        def on_window(i: int, n: int) -> None:
            self.report("ai", 0.52 + 0.08 * i / max(n, 1), f"embedding window {i}/{n}",
                        window=i, windows=n)

        self.report("ai", 0.52, f"ai method: loading {model}")
        result = detect(
            self.master, self.dub, sample_rate=self.opts.sample_rate, model=model,
            registry=self.registry, max_offset_seconds=max_offset_seconds,
            min_overlap_seconds=min_overlap_seconds, master_features=self.fm,
            dub_features=self.fd, master_speech=self.speech[0] if self.speech else None,
            dub_speech=self.speech[1] if self.speech else None, on_window=on_window,
            cancel=getattr(self.report, "cancel", None))
        if self.speech is not None:
            result.diagnostics["speech_share"] = self.speech_share()
        return result
