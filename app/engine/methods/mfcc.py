"""``mfcc``: cross-correlation of MFCC frame sequences (robust to codec, EQ and gain)."""

from __future__ import annotations

from app.engine.features import FeatureSet
from app.engine.methods._feature import detect_on_features, local_detrend
from app.engine.types import MethodResult

__all__ = ["detect"]


def detect(
    master: FeatureSet, dub: FeatureSet, *, max_offset_seconds: float, min_overlap_seconds: float
) -> MethodResult:
    """Offset from MFCCs 1..13, each locally detrended over 1 s (a static EQ shifts MFCCs by a
    constant, which the detrending removes)."""
    frames = int(master.frame_rate)
    return detect_on_features(
        "mfcc",
        local_detrend(master.mfcc, frames=frames),
        local_detrend(dub.mfcc, frames=frames),
        frame_rate=master.frame_rate,
        max_offset_seconds=max_offset_seconds,
        min_overlap_seconds=min_overlap_seconds,
    )
