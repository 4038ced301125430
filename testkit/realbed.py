"""Music-and-effects beds cut from real recordings shipped by Debian game/sound packages."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .audio_io import probe_audio
from .transforms import crossfade_concat, db_to_gain, resample

__all__ = ["BedSources", "find_sources", "real_bed", "add_effects", "APT_PACKAGES"]

#: Debian packages whose recordings :func:`find_sources` looks for.
APT_PACKAGES: tuple[str, ...] = (
    "pushover-data",
    "tomatoes-data",
    "boswars-data",
    "sound-theme-freedesktop",
)
_MUSIC_GLOBS = (
    "/usr/share/pushover/themes/*.ogg",
    "/usr/share/tomatoes/music/*",
    "/usr/share/games/boswars/intro/*.ogg",
    "/usr/share/games/boswars/music/*.ogg",
)
_EFFECT_GLOBS = (
    "/usr/share/sounds/freedesktop/stereo/*.oga",
    "/usr/share/games/boswars/sounds/**/*.wav",
    "/usr/share/games/boswars/units/**/*.wav",
)
_MUSIC_EXT = {".ogg", ".oga", ".wav", ".flac", ".mp3", ".it", ".mod", ".xm", ".s3m"}


@dataclass(frozen=True)
class BedSources:
    """Recordings to build beds from: music tracks (long) and sound effects (short)."""

    music: tuple[Path, ...]
    effects: tuple[Path, ...]

    def part(self, index: int, parts: int = 2) -> BedSources:
        """Every ``parts``-th file starting at ``index``: disjoint pools for unrelated beds."""
        return BedSources(self.music[index::parts], self.effects[index::parts])


def _glob(patterns: tuple[str, ...]) -> tuple[Path, ...]:
    found: set[Path] = set()
    for pat in patterns:
        root, _, rest = pat.partition("*")
        base = Path(root) if root.endswith("/") else Path(root).parent
        if base.is_dir():
            glob = pat[len(str(base)) + 1 :]
            found.update(p for p in base.glob(glob) if p.is_file())
    return tuple(sorted(p for p in found if p.suffix.lower() in _MUSIC_EXT))


def find_sources() -> BedSources:
    """Installed music and effects (sorted paths); RuntimeError naming the apt packages if
    none are installed."""
    src = BedSources(_glob(_MUSIC_GLOBS), _glob(_EFFECT_GLOBS))
    if not src.music or not src.effects:
        raise RuntimeError(
            "no real recordings found for real_bed(): install them with "
            f"`apt-get install -y {' '.join(APT_PACKAGES)}`"
        )
    return src


@lru_cache(maxsize=512)
def _duration(path: Path) -> float:
    return float(probe_audio(path)["duration"])


def _decode(
    path: Path, sample_rate: int, start: float = 0.0, length: float | None = None
) -> np.ndarray:
    cmd = ["ffmpeg", "-nostdin", "-v", "error"]
    if start > 0:
        cmd += ["-ss", f"{start:.6f}"]
    cmd += ["-i", str(path)]
    if length is not None:
        cmd += ["-t", f"{length:.6f}"]
    cmd += ["-map", "0:a:0", "-f", "f32le", "-ar", str(sample_rate), "-ac", "2", "pipe:1"]
    res = subprocess.run(cmd, capture_output=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg could not decode {path}: {res.stderr.decode()[-500:]}")
    return np.frombuffer(res.stdout, dtype="<f4").reshape(-1, 2).copy()


@lru_cache(maxsize=256)
def _effect(path: Path, sample_rate: int) -> np.ndarray:
    x = _decode(path, sample_rate)
    peak = float(np.abs(x).max()) if x.size else 0.0
    return x / np.float32(peak) if peak > 0 else x


def _pick_excerpt(
    rng: np.random.Generator,
    music: tuple[Path, ...],
    length: float,
    used: dict[Path, list[tuple[float, float]]],
    recent: list[Path],
) -> tuple[Path, float, float]:
    for attempt in range(40):
        path = music[int(rng.integers(0, len(music)))]
        if path in recent[-2:] and len(music) > 2 and attempt < 30:
            continue
        dur = _duration(path)
        ln = min(length, dur - 1.0)
        start = float(rng.uniform(0.0, max(dur - ln - 0.5, 0.0)))
        clash = any(start < e and s < start + ln for s, e in used.get(path, []))
        if not clash or attempt == 39:
            used.setdefault(path, []).append((start, start + ln))
            return path, start, ln
    raise AssertionError("unreachable")


def add_effects(bed: np.ndarray, sample_rate: int, rng: np.random.Generator,
                effects: tuple[Path, ...]) -> np.ndarray:
    """Layer sound effects into the stereo ``bed`` (n, 2) in place, one every ~4 s (pitch
    shifted ±20 %, panned, −20…−4 dB); returns ``bed``."""
    n = len(bed)
    t = float(rng.exponential(4.0))
    while t < n / sample_rate:
        fx = _effect(effects[int(rng.integers(0, len(effects)))], sample_rate)
        ratio = float(rng.uniform(0.8, 1.25))
        fx = resample(fx, int(round(sample_rate * ratio)) // 100 * 100, sample_rate)
        i0 = int(t * sample_rate)
        seg = fx[: n - i0] * np.float32(db_to_gain(rng.uniform(-20, -4)))
        pan = rng.uniform(-1, 1)
        th = (pan + 1) * np.pi / 4
        w = np.array([np.cos(th), np.sin(th)], np.float32) * np.float32(np.sqrt(2))
        bed[i0 : i0 + len(seg)] += seg * w
        t += float(rng.exponential(4.0)) + 0.3
    return bed


def real_bed(
    duration_seconds: float,
    sample_rate: int,
    *,
    seed: int,
    channels: int = 2,
    sources: BedSources | None = None,
) -> np.ndarray:
    """An M&E bed (n, channels) float32 cut from real game music and sound effects.

    Seeded: excerpts of 15–45 s from the installed tracks (no track region used twice),
    each at its own level (−7…0 dB), joined with 1–3 s equal-power crossfades; ~12 % of
    the joins are quiet passages (music ducked by 30 dB for 3–8 s). Sound effects
    (pitch-shifted ±20 %, panned, −20…−4 dB) are layered every ~4 s. ``sources`` defaults
    to :func:`find_sources` (RuntimeError naming the apt packages if none are installed).
    ``channels``: 1, 2 or 6 (5.1 via :func:`testkit.transforms.to_51`).
    """
    src = sources or find_sources()
    if not src.music:
        raise RuntimeError("real_bed: no music sources")
    rng = np.random.default_rng([seed, 0xBED])
    n = int(round(duration_seconds * sample_rate))
    parts: list[np.ndarray] = []
    used: dict[Path, list[tuple[float, float]]] = {}
    recent: list[Path] = []
    total = 0
    fade = 0
    while total < n + 4 * sample_rate:
        length = float(rng.uniform(15.0, 45.0))
        path, start, ln = _pick_excerpt(rng, src.music, length, used, recent)
        recent.append(path)
        x = _decode(path, sample_rate, start, ln) * np.float32(db_to_gain(rng.uniform(-7, 0)))
        if rng.random() < 0.12 and parts:
            q = int(rng.uniform(3.0, 8.0) * sample_rate)
            x[:q] *= np.float32(db_to_gain(-30.0))
        if rng.random() < 0.5:
            x = x[:, ::-1]  # swap sides now and then
        fade = int(rng.uniform(1.0, 3.0) * sample_rate)
        parts.append(np.ascontiguousarray(x))
        total += len(x) - fade
    bed = crossfade_concat(parts, fade)[:n]
    if len(bed) < n:
        bed = np.concatenate([bed, np.zeros((n - len(bed), 2), np.float32)])
    bed = np.ascontiguousarray(bed) * np.float32(0.5)
    if src.effects:
        add_effects(bed, sample_rate, rng, src.effects)
    if channels == 2:
        return bed
    if channels == 1:
        return bed.mean(axis=1, keepdims=True)
    if channels == 6:
        from .transforms import to_51

        return to_51(bed, sample_rate=sample_rate)
    raise ValueError(f"channels={channels}: must be 1, 2 or 6")
