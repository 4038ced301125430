"""``onset``: cross-correlation of onset-strength envelopes.

Onsets of the shared music-and-effects bed line up even when the dialogue is another language.
"""

from __future__ import annotations

from app.engine.features import FeatureSet
from app.engine.methods._feature import detect_on_features, local_detrend
from app.engine.types import MethodResult

__all__ = ["detect"]


def detect(
    master: FeatureSet, dub: FeatureSet, *, max_offset_seconds: float, min_overlap_seconds: float
) -> MethodResult:
    """Offset from the mean positive log-mel flux (onset strength), detrended over 0.5 s."""
    frames = max(3, int(master.frame_rate / 2))
    return detect_on_features(
        "onset",
        local_detrend(master.onset, frames=frames),
        local_detrend(dub.onset, frames=frames),
        frame_rate=master.frame_rate,
        max_offset_seconds=max_offset_seconds,
        min_overlap_seconds=min_overlap_seconds,
    )
