"""A programme = M&E bed + dialogue stems, and its mixes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .realbed import BedSources, real_bed
from .speech import dialogue_track
from .synth import synth_bed
from .transforms import remix, to_51

__all__ = ["Programme", "make_programme"]


@dataclass(frozen=True)
class Programme:
    """Stems of one programme at ``sample_rate`` Hz (arrays are read-only).

    bed: music & effects, float32 (n, 2). dialogue: mono float32 (n,).
    """

    bed: np.ndarray
    dialogue: np.ndarray
    sample_rate: int
    language: str
    seed: int
    channels: int = 2

    @property
    def duration_seconds(self) -> float:
        return len(self.bed) / self.sample_rate

    def mix(self, channels: int | None = None) -> np.ndarray:
        """The full mix: stereo (n, 2) or 5.1 (n, 6, dialogue in C); default ``channels``."""
        ch = channels or self.channels
        if ch == 6:
            return to_51(self.bed, dialogue=self.dialogue, sample_rate=self.sample_rate)
        stereo = remix(self.bed, self.dialogue, sample_rate=self.sample_rate)
        if ch == 2:
            return stereo
        if ch == 1:
            return stereo.mean(axis=1, keepdims=True)
        raise ValueError(f"channels={ch}: must be 1, 2 or 6")


@lru_cache(maxsize=2)
def _cached(
    duration_seconds: float,
    sample_rate: int,
    seed: int,
    language: str,
    bed: str,
    channels: int,
    sources: BedSources | None,
) -> Programme:
    if bed == "synthetic":
        b = synth_bed(duration_seconds, sample_rate, seed=seed)
    elif bed == "real":
        b = real_bed(duration_seconds, sample_rate, seed=seed, sources=sources)
    else:
        raise ValueError(f"bed={bed!r}: must be 'synthetic' or 'real'")
    d = dialogue_track(duration_seconds, sample_rate, language=language, seed=seed)
    b.flags.writeable = False
    d.flags.writeable = False
    return Programme(b, d, sample_rate, language, seed, channels)


def make_programme(
    duration_seconds: float,
    sample_rate: int,
    *,
    seed: int,
    language: str = "en",
    bed: str = "synthetic",
    channels: int = 2,
    sources: BedSources | None = None,
) -> Programme:
    """A seeded programme: a ``bed`` ("synthetic" or "real" recordings) and espeak-ng
    dialogue in ``language``; ``channels`` (2 or 6) is the default of :meth:`Programme.mix`.
    The last two programmes are cached (the stems are read-only)."""
    return _cached(
        float(duration_seconds), int(sample_rate), int(seed), language, bed, int(channels), sources
    )
