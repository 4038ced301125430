"""Synthetic music-and-effects beds: seeded, non-periodic, generated cue by cue."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, oaconvolve, sosfilt

__all__ = ["synth_bed", "synth_bed_blocks", "Cue", "plan_cues"]

_TAIL_SECONDS = 3.0  # reverb / release tails carried into the next cue
_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}


@dataclass(frozen=True)
class Cue:
    """One musical cue of a synthetic bed; times in seconds, tempo in BPM."""

    index: int
    start: float
    length: float
    tempo: float
    root_midi: int
    scale: str
    quiet: bool
    seed: int


def plan_cues(duration_seconds: float, *, seed: int) -> list[Cue]:
    """Seeded cue list covering ``duration_seconds`` (cue lengths 8–40 s, ~12 % quiet)."""
    rng = np.random.default_rng([seed, 0xC0E])
    cues: list[Cue] = []
    t = 0.0
    i = 0
    while t < duration_seconds:
        length = float(min(rng.uniform(8.0, 40.0), duration_seconds - t))
        if duration_seconds - t - length < 4.0:
            length = duration_seconds - t
        cues.append(
            Cue(
                index=i,
                start=t,
                length=length,
                tempo=float(rng.uniform(68, 150)),
                root_midi=int(rng.integers(40, 56)),
                scale=str(rng.choice(list(_SCALES))),
                quiet=bool(rng.random() < 0.12) and i > 0,
                seed=int(rng.integers(0, 2**31)),
            )
        )
        t += length
        i += 1
    return cues


def _midi_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69.0) / 12.0)


def _adsr(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    env = np.ones(n, np.float32)
    a = min(n, max(1, int(attack * sr)))
    r = min(n - a, max(1, int(release * sr)))
    env[:a] = np.linspace(0.0, 1.0, a, dtype=np.float32)
    if r > 0:
        env[n - r :] *= np.linspace(1.0, 0.0, r, dtype=np.float32) ** 2
    return env


class _Renderer:
    """Renders one cue into a mono-per-voice stereo buffer (n, 2)."""

    def __init__(self, cue: Cue, sr: int, rng: np.random.Generator) -> None:
        self.cue, self.sr, self.rng = cue, sr, rng
        self.n = int(round(cue.length * sr)) + int(_TAIL_SECONDS * sr)
        self.buf = np.zeros((self.n, 2), np.float32)

    def add(self, start_s: float, sig: np.ndarray, pan: float, gain: float) -> None:
        i0 = int(round(start_s * self.sr))
        if i0 >= self.n or i0 < 0:
            return
        seg = sig[: self.n - i0] * np.float32(gain)
        th = (pan + 1.0) * np.pi / 4.0
        self.buf[i0 : i0 + len(seg), 0] += seg * np.float32(np.cos(th))
        self.buf[i0 : i0 + len(seg), 1] += seg * np.float32(np.sin(th))

    def tone(
        self,
        freq: float,
        dur: float,
        *,
        harmonics: int,
        attack: float,
        release: float,
        vibrato: float = 0.0,
        bright: float = 0.5,
    ) -> np.ndarray:
        n = max(1, int(dur * self.sr))
        t = np.arange(n, dtype=np.float32) / np.float32(self.sr)
        phase = np.float32(2 * np.pi * freq) * t
        if vibrato > 0:
            rate = self.rng.uniform(4.5, 6.5)
            depth = vibrato * 2 * np.pi * freq / (2 * np.pi * rate)
            phase += np.float32(depth) * np.sin(np.float32(2 * np.pi * rate) * t).astype(np.float32)
        phase += np.float32(self.rng.uniform(0, 2 * np.pi))
        out = np.zeros(n, np.float32)
        for h in range(1, harmonics + 1):
            if freq * h > self.sr * 0.45:
                break
            out += np.sin(phase * np.float32(h)) * np.float32(bright ** (h - 1) / h)
        return out * _adsr(n, self.sr, attack, release)


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal(n, dtype=np.float32)


def _render_cue(cue: Cue, sr: int) -> np.ndarray:
    rng = np.random.default_rng(cue.seed)
    r = _Renderer(cue, sr, rng)
    scale = _SCALES[cue.scale]
    beat = 60.0 / cue.tempo
    bar = 4 * beat
    level = 0.08 if cue.quiet else 1.0
    n_bars = int(np.ceil(cue.length / bar))
    # Chord progression: degrees drawn per bar pair, pads with vibrato.
    degrees = rng.choice([0, 1, 2, 3, 4, 5, 6], size=n_bars)
    bars_per_chord = int(rng.integers(1, 3))
    lead_density = 0.0 if cue.quiet else rng.uniform(0.2, 0.7)
    drums = (not cue.quiet) and rng.random() < 0.8
    for b in range(n_bars):
        t0 = b * bar
        if t0 >= cue.length:
            break
        if b % bars_per_chord == 0:
            deg = int(degrees[b])
            notes = [scale[(deg + k) % 7] + 12 * ((deg + k) // 7) for k in (0, 2, 4)]
            dur = min(bar * bars_per_chord, cue.length - t0) + 0.6
            for k, semi in enumerate(notes):
                f = _midi_hz(cue.root_midi + 12 + semi)
                sig = r.tone(
                    f,
                    dur,
                    harmonics=4,
                    attack=rng.uniform(0.05, 0.4),
                    release=0.5,
                    vibrato=0.004,
                    bright=0.45,
                )
                r.add(t0, sig, pan=(k - 1) * 0.5, gain=0.05 * level)
            bass = r.tone(
                _midi_hz(cue.root_midi + notes[0]),
                dur,
                harmonics=3,
                attack=0.01,
                release=0.3,
                bright=0.6,
            )
            r.add(t0, bass, pan=0.0, gain=0.09 * level)
        for s in range(8):  # eighth-note grid: lead plucks and drums
            ts = t0 + s * beat / 2 + rng.normal(0, 0.004)
            if ts >= cue.length or ts < 0:
                continue
            if rng.random() < lead_density / 2:
                semi = scale[int(rng.integers(0, 7))] + 12 * int(rng.integers(1, 3))
                sig = r.tone(
                    _midi_hz(cue.root_midi + 12 + semi),
                    rng.uniform(0.15, 0.6),
                    harmonics=6,
                    attack=0.004,
                    release=0.25,
                    bright=0.7,
                )
                r.add(ts, sig, pan=rng.uniform(-0.7, 0.7), gain=0.06 * rng.uniform(0.6, 1.0))
            if not drums:
                continue
            vel = rng.uniform(0.6, 1.0)
            if (s in (0, 4) and rng.random() < 0.95) or rng.random() < 0.08:
                n = int(0.35 * sr)
                tt = np.arange(n, dtype=np.float32) / sr
                sweep = 50 + 90 * np.exp(-tt * 30)
                kick = np.sin(2 * np.pi * np.cumsum(sweep) / sr).astype(np.float32)
                r.add(ts, kick * np.exp(-tt * 9).astype(np.float32), 0.0, 0.25 * vel)
            if (s in (2, 6) and rng.random() < 0.9) or rng.random() < 0.05:
                n = int(0.25 * sr)
                tt = np.arange(n, dtype=np.float32) / sr
                sn = _noise(rng, n) * np.exp(-tt * 18).astype(np.float32)
                sn += np.sin(2 * np.pi * 190 * tt).astype(np.float32) * np.exp(-tt * 30)
                r.add(ts, sn, rng.uniform(-0.2, 0.2), 0.09 * vel)
            if rng.random() < 0.85:
                n = int(0.06 * sr)
                hat = np.diff(_noise(rng, n + 1)) * np.exp(-np.arange(n) / (0.012 * sr))
                r.add(ts, hat.astype(np.float32), rng.uniform(-0.5, 0.5), 0.04 * vel)
    # Effects: swells, impacts, sweeps at random times.
    n_fx = rng.poisson(cue.length / 12.0)
    for _ in range(n_fx):
        ts = rng.uniform(0, cue.length)
        kind = rng.integers(0, 3)
        if kind == 0:  # noise swell through a lowpass
            dur = rng.uniform(1.0, 4.0)
            n = int(dur * sr)
            sos = butter(2, rng.uniform(800, 6000), fs=sr, output="sos")
            sig = sosfilt(sos, _noise(rng, n)).astype(np.float32)
            sig *= np.linspace(0, 1, n, dtype=np.float32) ** 2
        elif kind == 1:  # impact: low boom + crack
            n = int(1.5 * sr)
            tt = np.arange(n, dtype=np.float32) / sr
            sig = np.sin(2 * np.pi * (40 + 60 * np.exp(-tt * 8)) * tt).astype(np.float32)
            sig *= np.exp(-tt * 3).astype(np.float32)
            sig[: int(0.05 * sr)] += _noise(rng, int(0.05 * sr)) * 0.7
        else:  # pitched sweep
            dur = rng.uniform(0.5, 2.5)
            n = int(dur * sr)
            tt = np.arange(n, dtype=np.float32) / sr
            f0, f1 = rng.uniform(200, 3000, size=2)
            f = f0 * (f1 / f0) ** (tt / dur)
            sig = np.sin(2 * np.pi * np.cumsum(f) / sr).astype(np.float32) * _adsr(n, sr, 0.1, 0.3)
        r.add(ts, sig, rng.uniform(-0.8, 0.8), rng.uniform(0.05, 0.2) * max(level, 0.3))
    # Room: short decaying-noise reverb per channel (decorrelates L/R).
    rt = rng.uniform(0.15, 0.5)
    nir = int(rt * sr)
    decay = np.exp(-np.arange(nir) / (rt * sr / 6.9)).astype(np.float32)
    out = r.buf
    for ch in range(2):
        ir = _noise(rng, nir) * decay * np.float32(0.02)
        ir[0] = 1.0
        out[:, ch] = oaconvolve(out[:, ch], ir)[: r.n]
    return out


def synth_bed_blocks(
    duration_seconds: float, sample_rate: int, *, seed: int, channels: int = 2
) -> Iterator[np.ndarray]:
    """Yield the bed of :func:`synth_bed` cue by cue as float32 (n_i, channels) blocks.

    Memory stays at one cue (≤ 43 s); concatenating the blocks equals :func:`synth_bed`.
    """
    if channels not in (1, 2, 6):
        raise ValueError(f"channels={channels}: must be 1, 2 or 6")
    total = int(round(duration_seconds * sample_rate))
    carry = np.zeros((0, 2), np.float32)
    done = 0
    for cue in plan_cues(duration_seconds, seed=seed):
        buf = _render_cue(cue, sample_rate)
        k = len(carry)
        buf[:k] += carry
        n = min(int(round((cue.start + cue.length) * sample_rate)) - done, total - done)
        block, carry = buf[:n], buf[n:].copy()
        done += n
        yield _shape(block, channels)
    if done < total:
        yield _shape(np.zeros((total - done, 2), np.float32), channels)


def _shape(stereo: np.ndarray, channels: int) -> np.ndarray:
    if channels == 2:
        return stereo
    if channels == 1:
        return stereo.mean(axis=1, keepdims=True)
    from .transforms import to_51

    return to_51(stereo)


def synth_bed(
    duration_seconds: float, sample_rate: int, *, seed: int, channels: int = 2
) -> np.ndarray:
    """A synthetic music-and-effects bed, float32 (n, channels), n = duration·rate.

    Cues of 8–40 s with their own tempo, key and scale: chord pads with vibrato, bass,
    plucked leads, kick/snare/hat patterns with random variations and humanised timing,
    noise swells, impacts and pitched sweeps, quiet passages, and a short room reverb.
    Every cue draws from its own seeded generator, so nothing repeats over any length.
    ``channels``: 1, 2 or 6 (5.1 via :func:`testkit.transforms.to_51`).
    """
    blocks = list(synth_bed_blocks(duration_seconds, sample_rate, seed=seed, channels=channels))
    return np.concatenate(blocks, axis=0) if blocks else np.zeros((0, channels), np.float32)
