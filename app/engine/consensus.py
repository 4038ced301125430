"""Consensus of the detection methods: one offset, one confidence, a verdict.

The methods vote with their confidences; the largest group of methods within ``tolerance``
seconds of each other wins. Its most precise member gives the offset (GCC-PHAT when it is in the
group). The confidence is the group's best confidence, scaled by how much of the total evidence
agrees and by how much of the programme supports the offset (see :mod:`app.engine.windows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.engine.types import MethodResult

__all__ = ["Consensus", "combine", "support_factor", "AGREEMENT_TOLERANCE_SECONDS", "MIN_SUPPORT"]

#: Methods within this many seconds of each other agree (half a frame at 25 fps).
AGREEMENT_TOLERANCE_SECONDS = 0.02
#: Below this share of supporting windows an offset is a partial match, never reliable.
MIN_SUPPORT = 0.5
_SUPPORT_FULL = 0.7
_PRECISION_ORDER = ("correlation", "spectral", "onset", "mfcc")


@dataclass(frozen=True)
class Consensus:
    """offset_seconds (> 0 = dub late) or None; confidence in [0, 1]; agreement: share of the
    methods' total confidence that lies in the winning group; members: its methods."""

    offset_seconds: float | None
    confidence: float
    agreement: float
    members: tuple[str, ...]


def combine(
    results: list[MethodResult], *, tolerance: float = AGREEMENT_TOLERANCE_SECONDS
) -> Consensus:
    """Group the methods' offsets and pick the best-supported group (support not applied)."""
    valid = [r for r in results if r.offset_seconds is not None]
    if not valid:
        return Consensus(None, 0.0, 0.0, ())
    total = sum(max(r.confidence, 1e-3) for r in valid)
    best: list[MethodResult] = []
    best_score = -1.0
    for ref in valid:
        group = [
            r for r in valid
            if abs(r.offset_seconds - ref.offset_seconds) <= tolerance  # type: ignore[operator]
        ]
        score = sum(max(r.confidence, 1e-3) for r in group)
        if score > best_score + 1e-9:
            best, best_score = group, score
    names = tuple(r.method for r in best)
    precise = min(
        best,
        key=lambda r: (
            _PRECISION_ORDER.index(r.method) if r.method in _PRECISION_ORDER else 99,
            -r.confidence,
        ),
    )
    if precise.method == "correlation" and precise.confidence > 0:
        offset = float(precise.offset_seconds)  # type: ignore[arg-type]
    else:
        offsets = np.array([r.offset_seconds for r in best], dtype=float)
        weights = np.array([max(r.confidence, 1e-3) for r in best])
        order = np.argsort(offsets)
        cum = np.cumsum(weights[order])
        offset = float(offsets[order][np.searchsorted(cum, cum[-1] / 2)])
    agreement = best_score / total
    top = max(r.confidence for r in best)
    confidence = top * (0.6 + 0.4 * agreement) if len(valid) > 1 else top
    return Consensus(offset, float(confidence), float(agreement), names)


def support_factor(support: float) -> float:
    """Scale in [0, 1] applied to the confidence: 0 below :data:`MIN_SUPPORT`, 1 from 0.7."""
    if support < MIN_SUPPORT:
        return 0.0
    return float(np.clip(0.5 + 0.5 * (support - MIN_SUPPORT) / (_SUPPORT_FULL - MIN_SUPPORT),
                         0.0, 1.0))
