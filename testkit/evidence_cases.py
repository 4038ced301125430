"""Pairs for the decision on evidence: weak shared sound (positives), channel faults of a
5.1 dub, and negatives that share some sound with the master without being it.

Every positive is a real dub: the same M&E re-balanced, EQ'd, compressed and ducked under
dialogue in another language (espeak-ng), with a known true offset (> 0 = dub late).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from .audio_io import write_audio
from .realbed import BedSources, add_effects, find_sources, real_bed
from .speech import dialogue_track
from .transforms import db_to_gain, delay, remix, to_51

__all__ = [
    "FaultCase",
    "SURROUND_FAULTS",
    "weak_bed_case",
    "surround_fault_case",
    "episode_case",
    "loop_case",
    "tone_case",
]

_EQ = [("highpass", 90.0, 0.0, 0.707), ("lowshelf", 220.0, 2.0, 0.707),
       ("peak", 2500.0, 4.0, 1.0), ("highshelf", 8000.0, -5.0, 0.707)]
_COMP = {"threshold_db": -22.0, "ratio": 2.5, "attack_ms": 8.0, "release_ms": 200.0}
#: SMPTE 5.1 order (what ffmpeg calls 5.1): L R C LFE Ls Rs; film order: L C R Ls Rs LFE
SMPTE_51 = ("L", "R", "C", "LFE", "Ls", "Rs")
FILM_ORDER = (0, 2, 1, 4, 5, 3)  # film channel k carries SMPTE channel FILM_ORDER[k]


class FaultCase(NamedTuple):
    """A 5.1 pair: ``fault`` names what was done to the dub; ``channel_offsets`` the true
    offset of each dub channel (seconds, > 0 = late), None where it carries nothing."""

    master_path: Path
    dub_path: Path
    true_offset_seconds: float
    fault: str
    channel_offsets: tuple[float | None, ...]


def _music_only(sources: BedSources) -> BedSources:
    return BedSources(sources.music, ())


def _bed(duration: float, sr: int, seed: int, *, music: BedSources, effects: bool,
         fx_seed: int) -> np.ndarray:
    """Music from ``music`` (no effects), plus an effects layer seeded by ``fx_seed``."""
    bed = real_bed(duration, sr, seed=seed, sources=_music_only(music))
    if effects:
        add_effects(bed, sr, np.random.default_rng([fx_seed, 0xEF]), find_sources().effects)
    return bed


def _dub_mix(bed: np.ndarray, dialogue: np.ndarray, sr: int) -> np.ndarray:
    return remix(bed, dialogue, bed_gain_db=-2.0, dialogue_gain_db=2.0, eq=_EQ, duck_db=5.0,
                 compress=_COMP, sample_rate=sr)


def weak_bed_case(
    workdir: Path, *, seed: int, duration_seconds: float, true_offset_seconds: float,
    me_db: float = -20.0, channels: int = 2, music_replaced: bool = False,
    density: float = 0.7, sample_rate: int = 48000,
) -> tuple[Path, Path]:
    """Master and dub where dialogue dominates: the M&E ``me_db`` dB under its usual level
    (about that far under the dialogue), English in the master, German in the dub.
    ``music_replaced``: the dub's every music cue is other music (only effects are shared).
    ``channels`` 2 or 1 (mono delivery). Returns (master path, dub path)."""
    sr = sample_rate
    src = find_sources()
    g = np.float32(db_to_gain(me_db))
    bed_m = _bed(duration_seconds, sr, seed, music=src.part(0), effects=True, fx_seed=seed)
    bed_d = (_bed(duration_seconds, sr, seed + 31, music=src.part(1), effects=True,
                  fx_seed=seed) if music_replaced else bed_m)
    en = dialogue_track(duration_seconds, sr, language="en", seed=seed, density=density)
    de = dialogue_track(duration_seconds, sr, language="de", seed=seed + 1, density=density)
    master = remix(bed_m * g, en, sample_rate=sr)
    dub = delay(_dub_mix(bed_d * g, de, sr), true_offset_seconds, sr)
    if channels == 1:
        master, dub = master.mean(axis=1, keepdims=True), dub.mean(axis=1, keepdims=True)
    tag = f"weak{-me_db:g}{'_mono' if channels == 1 else ''}{'_nomusic' if music_replaced else ''}"
    return _write(workdir, f"{tag}_s{seed}", master, dub, sr)


#: the channel faults :func:`surround_fault_case` can make
SURROUND_FAULTS = ("centre_late", "lr_swapped", "surround_swapped", "film_order",
                   "inverted", "silent", "none")


def surround_fault_case(
    workdir: Path, fault: str, *, seed: int, duration_seconds: float,
    true_offset_seconds: float, frames_late: int = 2, fps: float = 25.0,
    fault_channel: int = 4, same_language: bool = False, sample_rate: int = 48000,
) -> FaultCase:
    """A 5.1 master (SMPTE order) and a 5.1 dub (other-language dialogue in C, unless
    ``same_language``) delayed by ``true_offset_seconds``, with one channel fault:
    "centre_late" (C ``frames_late`` frames at ``fps`` later than the bed), "lr_swapped",
    "surround_swapped" (Ls/Rs), "film_order" (L C R Ls Rs LFE), "inverted" or "silent"
    (channel ``fault_channel``), "none"."""
    if fault not in SURROUND_FAULTS:
        raise ValueError(f"fault={fault!r}: one of {SURROUND_FAULTS}")
    sr = sample_rate
    src = find_sources()
    bed = _bed(duration_seconds, sr, seed, music=src, effects=True, fx_seed=seed)
    en = dialogue_track(duration_seconds, sr, language="en", seed=seed, density=0.6)
    de = en if same_language else dialogue_track(duration_seconds, sr, language="de",
                                                 seed=seed + 1, density=0.6)
    master = to_51(bed, dialogue=en, sample_rate=sr)
    dub = delay(to_51(bed * np.float32(db_to_gain(-1.5)), dialogue=de, sample_rate=sr),
                true_offset_seconds, sr)
    offsets: list[float | None] = [true_offset_seconds] * 6
    if fault == "centre_late":
        late = frames_late / fps
        dub[:, 2] = delay(dub[:, 2], late, sr)
        offsets[2] = true_offset_seconds + late
    elif fault == "lr_swapped":
        dub = dub[:, [1, 0, 2, 3, 4, 5]]
    elif fault == "surround_swapped":
        dub = dub[:, [0, 1, 2, 3, 5, 4]]
    elif fault == "film_order":
        dub = dub[:, list(FILM_ORDER)]
    elif fault == "inverted":
        dub[:, fault_channel] *= np.float32(-1.0)
    elif fault == "silent":
        dub[:, fault_channel] = 0.0
        offsets[fault_channel] = None
    m, d = _write(workdir, f"surround_{fault}_s{seed}", master, np.ascontiguousarray(dub), sr)
    return FaultCase(m, d, true_offset_seconds, fault, tuple(offsets))


def episode_case(workdir: Path, *, seed: int, duration_seconds: float = 180.0,
                 titles_seconds: float = 40.0, sample_rate: int = 48000) -> tuple[Path, Path]:
    """Two episodes of one series (no true offset): identical opening titles of
    ``titles_seconds``, then different bodies that reuse a 20-s music cue of the other
    episode at another time, and different dialogue."""
    sr = sample_rate
    src = find_sources()
    titles = _bed(titles_seconds, sr, seed + 500, music=src.part(0), effects=True,
                  fx_seed=seed + 500)
    body = duration_seconds - titles_seconds
    a = _bed(body, sr, seed, music=src.part(0), effects=True, fx_seed=seed)
    b = _bed(body, sr, seed + 77, music=src.part(1), effects=True, fx_seed=seed + 77)
    cue = a[int(10 * sr):int(30 * sr)]
    at = int((body - 45.0) * sr)
    b[at:at + cue.shape[0]] = 0.3 * b[at:at + cue.shape[0]] + cue
    en = dialogue_track(duration_seconds, sr, language="en", seed=seed, density=0.5)
    en2 = dialogue_track(duration_seconds, sr, language="en", seed=seed + 9, density=0.5)
    en[: int(titles_seconds * sr)] = 0.0
    en2[: int(titles_seconds * sr)] = 0.0
    master = remix(np.concatenate([titles, a]), en, sample_rate=sr)
    dub = _dub_mix(np.concatenate([titles, b]), en2, sr)
    return _write(workdir, f"episode_s{seed}", master, dub, sr)


def loop_case(workdir: Path, *, seed: int, duration_seconds: float = 60.0,
              bar_seconds: float = 2.0, sample_rate: int = 48000) -> tuple[Path, Path]:
    """A 4-bar music loop repeated through the master, and a different edit of it in the
    dub (the same bars in another order, re-levelled): no true offset."""
    sr = sample_rate
    music = real_bed(4 * bar_seconds + 1.0, sr, seed=seed, sources=_music_only(find_sources()))
    n_bar = int(bar_seconds * sr)
    bars = [music[i * n_bar:(i + 1) * n_bar] for i in range(4)]
    reps = int(np.ceil(duration_seconds / (4 * bar_seconds)))
    rng = np.random.default_rng([seed, 0x100F])
    master = np.concatenate([bars[i] for _ in range(reps) for i in range(4)])
    order = [int(rng.integers(0, 4)) for _ in range(4 * reps)]
    dub = np.concatenate([bars[i] * np.float32(db_to_gain(rng.uniform(-3, 0)))
                          for i in order])
    n = int(duration_seconds * sr)
    return _write(workdir, f"loop_s{seed}", master[:n], dub[:n], sr)


def tone_case(workdir: Path, *, seed: int, duration_seconds: float = 60.0,
              sample_rate: int = 48000) -> tuple[Path, Path]:
    """Line-up tone only: 1 kHz at −18 dBFS in both, the dub's starting 0.25 s later."""
    sr = sample_rate
    t = np.arange(int(duration_seconds * sr)) / sr
    tone = (0.125 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)[:, None]
    tone = np.repeat(tone, 2, axis=1)
    return _write(workdir, f"tone_s{seed}", tone, delay(tone, 0.25, sr), sr)


def _write(workdir: Path, stem: str, master: np.ndarray, dub: np.ndarray, sr: int
           ) -> tuple[Path, Path]:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pm, pd = workdir / f"{stem}_master.wav", workdir / f"{stem}_dub.wav"
    write_audio(pm, master, sr, codec="pcm_s24le")
    write_audio(pd, dub, sr, codec="pcm_s24le")
    return pm, pd
