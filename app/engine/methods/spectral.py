"""``spectral``: cross-correlation of band-wise spectral flux of the log-mel spectrogram."""

from __future__ import annotations

from app.engine.features import FeatureSet
from app.engine.methods._feature import detect_on_features, local_detrend
from app.engine.types import MethodResult

__all__ = ["detect"]


def detect(
    master: FeatureSet, dub: FeatureSet, *, max_offset_seconds: float, min_overlap_seconds: float
) -> MethodResult:
    """Offset from positive spectral flux in 8 mel bands, each detrended over 0.5 s."""
    frames = max(3, int(master.frame_rate / 2))
    return detect_on_features(
        "spectral",
        local_detrend(master.flux, frames=frames),
        local_detrend(dub.flux, frames=frames),
        frame_rate=master.frame_rate,
        max_offset_seconds=max_offset_seconds,
        min_overlap_seconds=min_overlap_seconds,
    )
