"""Master/dub file pairs with a known true offset (or none), one per kind of difficulty."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .audio_io import codec_delay_samples, write_audio
from .programme import Programme, make_programme
from .realbed import find_sources
from .speech import dialogue_track
from .transforms import (
    add_noise,
    change_gain,
    delay,
    invert_polarity,
    remix,
    replace_cue,
    resample,
    shuffle_cues,
)

__all__ = ["Case", "KINDS", "make_case", "dub_remix", "slate"]


class Case(NamedTuple):
    """A test pair. ``true_offset_seconds`` > 0: the dub is late; None: no true match."""

    master_path: Path
    dub_path: Path
    true_offset_seconds: float | None
    description: str


#: kind → (dub file extension, codec, bitrate, short description)
_DUB_FORMAT: dict[str, tuple[str, str | None, str | None, str]] = {
    "clean": ("wav", "pcm_s24le", None, "same mix, WAV 24-bit"),
    "remix": ("wav", "pcm_s24le", None, "re-mixed/EQ'd/compressed bed + other-language dialogue"),
    "aac": ("m4a", "aac", "96k", "remix as AAC 96k (m4a)"),
    "mp3": ("mp3", "libmp3lame", "64k", "remix as MP3 64k"),
    "ac3": ("ac3", "ac3", "192k", "remix as AC-3 192k (raw, encoder delay compensated)"),
    "sr44k": ("wav", "pcm_s16le", None, "remix resampled to 44.1 kHz, WAV 16-bit"),
    "gain": ("wav", "pcm_s24le", None, "remix at -9 dB"),
    "noise": ("wav", "pcm_s16le", None, "remix + pink noise and hum at SNR 10 dB"),
    "fractional": ("wav", "pcm_s24le", None, "remix, sub-millisecond fractional offset"),
    "negative": ("wav", "pcm_s24le", None, "remix, dub early (negative offset)"),
    "long_offset": ("wav", "pcm_s24le", None, "remix after a bars-and-tone slate + 2-pop head"),
    "surround": ("wav", "pcm_s24le", None, "5.1 master vs stereo remix dub"),
    "polarity": ("wav", "pcm_s24le", None, "remix with inverted polarity"),
    "partial": ("wav", "pcm_s24le", None, "remix covering only 60% of the master"),
    "replaced_cue": ("wav", "pcm_s24le", None, "remix with one music cue replaced by other music"),
    "unrelated": ("wav", "pcm_s24le", None, "a different programme (no true offset)"),
    "shuffled": ("wav", "pcm_s24le", None, "master's own music cues reordered (no true offset)"),
}
KINDS: tuple[str, ...] = tuple(_DUB_FORMAT)
_OTHER_LANGUAGE = {"en": "de", "de": "fr", "fr": "es", "es": "en"}


def dub_remix(
    programme: Programme, dialogue: np.ndarray, *, seed: int, eq_strength: float = 1.0
) -> np.ndarray:
    """A typical dub mix (n, 2): the same M&E re-balanced (bed −4…+2 dB, dialogue −2…+3 dB),
    a seeded zero-phase EQ (HPF, low shelf, presence peak, high shelf), the bed ducked by
    3–8 dB under the new dialogue, and a 2.5:1 compressor.
    """
    rng = np.random.default_rng([seed, 0xD0B])
    s = eq_strength
    eq = [
        ("highpass", float(rng.uniform(50, 110)), 0.0, 0.707),
        ("lowshelf", float(rng.uniform(150, 300)), float(rng.uniform(-4, 3)) * s, 0.707),
        ("peak", float(rng.uniform(1200, 4000)), float(rng.uniform(-5, 5)) * s, 1.0),
        ("highshelf", float(rng.uniform(6000, 10000)), float(rng.uniform(-6, 3)) * s, 0.707),
    ]
    return remix(
        programme.bed,
        dialogue,
        bed_gain_db=float(rng.uniform(-4, 2)),
        dialogue_gain_db=float(rng.uniform(-2, 3)),
        eq=eq,
        compress={"threshold_db": -22.0, "ratio": 2.5, "attack_ms": 8.0, "release_ms": 200.0},
        duck_db=float(rng.uniform(3.0, 8.0)),
        sample_rate=programme.sample_rate,
        dialogue_pan=float(rng.uniform(-0.1, 0.1)),
    )


def slate(seconds: float, sample_rate: int, channels: int = 2) -> np.ndarray:
    """A head of ``seconds``: 1 kHz line-up tone at −20 dBFS until 6 s before the end
    (≥ 0), silence, a one-frame (1/24 s) 1 kHz 2-pop 2 s before the end, silence."""
    n = int(round(seconds * sample_rate))
    out = np.zeros((n, channels), np.float32)
    t = np.arange(n, dtype=np.float32) / np.float32(sample_rate)
    tone = (0.1 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    end_tone = max(0, n - 6 * sample_rate)
    out[:end_tone] = tone[:end_tone, None]
    p0 = n - 2 * sample_rate
    if p0 >= 0:
        p1 = p0 + sample_rate // 24
        out[p0:p1] = tone[p0:p1, None] * np.float32(2.0)
    return out


def _write_dub(
    path: Path,
    x: np.ndarray,
    sample_rate: int,
    ext: str,
    codec: str | None,
    bitrate: str | None,
) -> None:
    """Write, advancing the signal by the codec's measured latency so decoding is exact."""
    lat = codec_delay_samples(ext, codec, bitrate, sample_rate, x.shape[1])
    if lat:
        x = delay(x, -lat / sample_rate, sample_rate)
    write_audio(path, x, sample_rate, codec=codec, bitrate=bitrate)


def make_case(
    kind: str,
    workdir: Path,
    *,
    seed: int,
    duration_seconds: float,
    true_offset_seconds: float,
    bed: str = "synthetic",
    sample_rate: int = 48000,
    language: str = "en",
    dub_language: str | None = None,
    partial_fraction: float = 0.6,
    shuffle_cue_seconds: float = 20.0,  # capped at a quarter of the duration
    **kw: Any,
) -> Case:
    """Write ``<workdir>/<kind>_s<seed>_master.wav`` and the dub; return the :class:`Case`.

    The master is the programme's mix (stereo, 5.1 for "surround") as 24-bit WAV at
    ``sample_rate``. Except for "clean", the dub is the same M&E ``bed`` ("synthetic" or
    "real") re-mixed by :func:`dub_remix` with dialogue in ``dub_language`` (default: another
    language), delayed by ``true_offset_seconds`` (length kept) and then changed per
    ``kind`` (see :data:`KINDS`). "unrelated"/"shuffled" return a true offset of None.
    "negative" requires an offset < 0 and "long_offset" one ≥ 12 s (the head is a slate).
    Extra ``kw`` go to :func:`make_programme` (e.g. ``sources``).
    """
    if kind not in _DUB_FORMAT:
        raise ValueError(f"kind={kind!r}: known kinds {list(KINDS)}")
    if kind == "negative" and true_offset_seconds >= 0:
        raise ValueError("kind 'negative' needs true_offset_seconds < 0")
    if kind == "long_offset" and true_offset_seconds < 12:
        raise ValueError("kind 'long_offset' needs true_offset_seconds >= 12")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sr = sample_rate
    ext, codec, bitrate, what = _DUB_FORMAT[kind]
    sources = kw.pop("sources", None)
    if kind == "unrelated" and bed == "real" and sources is None:
        sources = find_sources().part(0)
    prog = make_programme(
        duration_seconds, sr, seed=seed, language=language, bed=bed, sources=sources, **kw
    )
    dub_lang = dub_language or _OTHER_LANGUAGE.get(language, "de")
    kseed = seed * 1000 + zlib.crc32(kind.encode()) % 1000
    truth: float | None = true_offset_seconds

    master = prog.mix(6 if kind == "surround" else 2)
    master_path = workdir / f"{kind}_s{seed}_master.wav"
    write_audio(master_path, master, sr, codec="pcm_s24le")
    del master

    if kind == "clean":
        dub = prog.mix(2)
    elif kind == "unrelated":
        other_sources = find_sources().part(1) if bed == "real" else None
        other = make_programme(
            duration_seconds,
            sr,
            seed=seed + 7919,
            language=dub_lang,
            bed=bed,
            sources=other_sources,
        )
        dub = dub_remix(other, other.dialogue, seed=kseed)
        truth = None
    else:
        dialogue = dialogue_track(duration_seconds, sr, language=dub_lang, seed=kseed)
        if kind == "shuffled":
            cue_s = min(shuffle_cue_seconds, duration_seconds / 4.0)
            shuffled = shuffle_cues(np.asarray(prog.bed), cue_s, kseed, sample_rate=sr)
            prog = Programme(shuffled, prog.dialogue, sr, prog.language, prog.seed)
            truth = None
        dub = dub_remix(prog, dialogue, seed=kseed)
        if kind == "replaced_cue":
            other = make_programme(
                duration_seconds,
                sr,
                seed=seed + 104729,
                language=language,
                bed=bed,
                sources=sources,
            )
            a, b = 0.4 * duration_seconds, 0.65 * duration_seconds
            mixed = remix(np.asarray(other.bed), np.zeros(len(dub), np.float32), sample_rate=sr)
            dub = replace_cue(dub, a, b, mixed[int(a * sr) :], sr)
            what += f" ({a:.0f}-{b:.0f} s of the master)"
    if truth is not None and kind != "long_offset":
        dub = delay(dub, true_offset_seconds, sr)
    if kind == "long_offset":
        dub = np.concatenate([slate(true_offset_seconds, sr), dub])
    elif kind == "gain":
        dub = change_gain(dub, -9.0)
    elif kind == "noise":
        dub = add_noise(dub, 10.0, kseed, sample_rate=sr)
    elif kind == "polarity":
        dub = invert_polarity(dub)
    elif kind == "partial":
        dub = dub[: int(partial_fraction * len(dub))]
    dub_sr = sr
    if kind == "sr44k":
        dub_sr = 44100
        dub = resample(dub, sr, dub_sr)
    dub_path = workdir / f"{kind}_s{seed}_dub.{ext}"
    _write_dub(dub_path, dub, dub_sr, ext, codec, bitrate)
    off = "none" if truth is None else f"{truth:+.6f} s"
    desc = f"{kind}: {what}; {bed} bed, {language}->{dub_lang}, true offset {off}"
    return Case(master_path, dub_path, truth, desc)
