"""Dub transformations: exact delays, remixing (gain/EQ/compression), noise, edits, 5.1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import fft as sfft
from scipy.signal import butter, resample_poly, sosfilt, sosfiltfilt

__all__ = [
    "delay",
    "biquad",
    "equalize",
    "compress",
    "duck",
    "remix",
    "add_noise",
    "invert_polarity",
    "change_gain",
    "replace_cue",
    "shuffle_cues",
    "take_part",
    "to_51",
    "downmix_stereo",
    "resample",
    "crossfade_concat",
    "splice",
    "db_to_gain",
    "rms_db",
]

EqBand = tuple[str, float, float, float]  # (kind, freq Hz, gain dB, Q)


def db_to_gain(db: float) -> float:
    """Amplitude factor of ``db`` decibels."""
    return float(10.0 ** (db / 20.0))


def rms_db(x: np.ndarray) -> float:
    """RMS level of ``x`` in dBFS (−inf-safe: floor −200 dB)."""
    r = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return 20.0 * np.log10(max(r, 1e-10))


def delay(x: np.ndarray, seconds: float, sample_rate: int) -> np.ndarray:
    """Delay ``x`` (n,) or (n, ch) by ``seconds``; the output keeps the input's length.

    Positive: the content starts later (zeros prepended, the tail is cut). Negative: the
    content starts earlier (the head is removed, zeros appended). The integer part is an
    exact sample shift; a fractional part is applied as an exact band-limited FFT phase
    shift (linear phase ``exp(-j·2πf·τ)``, zero padded so nothing wraps around).
    """
    x = np.asarray(x)
    n = x.shape[0]
    d = seconds * sample_rate
    whole = int(np.floor(d))
    frac = d - whole
    if frac > 1e-9:
        x = _frac_delay(x, frac)
    out = np.zeros_like(x)
    if whole >= 0:
        if whole < n:
            out[whole:] = x[: n - whole]
    elif -whole < n:
        out[: n + whole] = x[-whole:]
    return out


def _frac_delay(x: np.ndarray, frac: float) -> np.ndarray:
    """Delay by ``frac`` (0 < frac < 1) samples with an FFT phase shift, same length."""
    n = x.shape[0]
    pad = 4096
    m = sfft.next_fast_len(n + 2 * pad, real=True)
    freqs = np.fft.rfftfreq(m)
    ph = np.exp(-2j * np.pi * freqs * frac)
    if m % 2 == 0:
        ph[-1] = np.cos(np.pi * frac)  # Nyquist bin must stay real
    cols = x[:, None] if x.ndim == 1 else x
    out = np.empty(cols.shape, dtype=x.dtype)
    for c in range(cols.shape[1]):
        buf = np.zeros(m, np.float64)
        buf[pad : pad + n] = cols[:, c]
        y = sfft.irfft(sfft.rfft(buf, workers=-1) * ph, n=m, workers=-1)
        out[:, c] = y[pad : pad + n]
    return out[:, 0] if x.ndim == 1 else out


def biquad(kind: str, freq: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """RBJ-cookbook biquad as an SOS row; kinds: peak, lowshelf, highshelf, highpass, lowpass."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2 * np.pi * freq / sample_rate
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2 * q)
    if kind == "peak":
        b = [1 + alpha * a, -2 * cw, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cw, 1 - alpha / a]
    elif kind in ("lowshelf", "highshelf"):
        s = 2 * np.sqrt(a) * alpha
        sg = 1 if kind == "lowshelf" else -1
        b = [
            a * ((a + 1) - sg * (a - 1) * cw + s),
            sg * 2 * a * ((a - 1) - sg * (a + 1) * cw),
            a * ((a + 1) - sg * (a - 1) * cw - s),
        ]
        den = [
            (a + 1) + sg * (a - 1) * cw + s,
            -sg * 2 * ((a - 1) + sg * (a + 1) * cw),
            (a + 1) + sg * (a - 1) * cw - s,
        ]
    elif kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        den = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        den = [1 + alpha, -2 * cw, 1 - alpha]
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    return np.concatenate([np.array(b) / den[0], np.array(den) / den[0]])[None, :]


def equalize(
    x: np.ndarray, bands: Sequence[EqBand], sample_rate: int, *, zero_phase: bool = True
) -> np.ndarray:
    """Apply biquad ``bands`` [(kind, Hz, dB, Q), ...] along axis 0.

    ``zero_phase`` (default) runs the cascade forwards and backwards with half the gain per
    pass, so the EQ adds no delay and the ground-truth offset stays exact; ``False`` gives a
    minimum-phase EQ (real desks), whose small frequency-dependent group delay (≲ 1 ms)
    then adds to the true offset.
    """
    if not bands:
        return x
    half = 0.5 if zero_phase else 1.0
    sos = np.concatenate([biquad(k, f, g * half, q, sample_rate) for k, f, g, q in bands])
    if zero_phase:
        y = sosfiltfilt(sos, x, axis=0)
    else:
        y = sosfilt(sos, x, axis=0)
    return y.astype(np.float32)


def compress(
    x: np.ndarray,
    sample_rate: int,
    *,
    threshold_db: float = -24.0,
    ratio: float = 3.0,
    attack_ms: float = 10.0,
    release_ms: float = 150.0,
    makeup_db: float = 0.0,
) -> np.ndarray:
    """Feed-forward RMS compressor (no look-ahead, so no delay); gain linked across channels.

    The detector runs on 5 ms frames with attack/release smoothing; the gain curve is
    interpolated back to the sample rate.
    """
    x2 = x[:, None] if x.ndim == 1 else x
    hop = max(1, int(0.005 * sample_rate))
    lev = _levels_db(np.square(x2, dtype=np.float32).mean(axis=1), hop)
    target = -np.maximum(lev - threshold_db, 0.0) * (1.0 - 1.0 / ratio)
    g = _smoothed(target, attack_ms, release_ms)
    centres = (np.arange(lev.size) + 0.5) * hop
    gain_db = np.interp(np.arange(len(x2)), centres, g) + makeup_db
    y = x2 * (10.0 ** (gain_db / 20.0)).astype(np.float32)[:, None]
    return (y[:, 0] if x.ndim == 1 else y).astype(np.float32)


def _levels_db(power: np.ndarray, hop: int) -> np.ndarray:
    """Mean ``power`` (n,) over frames of ``hop`` samples (the last zero-padded), in dB."""
    nfr = int(np.ceil(len(power) / hop))
    pw = np.pad(power, (0, nfr * hop - len(power)))
    return 10 * np.log10(pw.reshape(nfr, hop).mean(axis=1) + 1e-12)


def _smoothed(target_db: np.ndarray, attack_ms: float, release_ms: float) -> np.ndarray:
    """One-pole smoothing of per-5-ms gain targets (dB): ``attack_ms`` while the gain falls,
    ``release_ms`` while it recovers."""
    a_att, a_rel = np.exp(-5.0 / attack_ms), np.exp(-5.0 / release_ms)
    g = np.empty(target_db.size)
    cur = 0.0
    for i, t in enumerate(target_db.tolist()):
        coef = a_att if t < cur else a_rel
        cur = coef * cur + (1 - coef) * t
        g[i] = cur
    return g


def duck(
    bed: np.ndarray,
    key: np.ndarray,
    sample_rate: int,
    *,
    depth_db: float = 6.0,
    threshold_db: float = -45.0,
    attack_ms: float = 60.0,
    release_ms: float = 500.0,
) -> np.ndarray:
    """Side-chain ducking: ``bed`` is lowered by up to ``depth_db`` while ``key`` (dialogue,
    (n,) or (n, ch)) is above ``threshold_db`` dBFS RMS; smooth gain, no delay."""
    k = _mono(key)
    hop = max(1, int(0.005 * sample_rate))
    lev = _levels_db(np.square(k, dtype=np.float32), hop)
    g = _smoothed(np.where(lev > threshold_db, -depth_db, 0.0), attack_ms, release_ms)
    centres = (np.arange(lev.size) + 0.5) * hop
    n = min(len(bed), len(k))
    gain = (10.0 ** (np.interp(np.arange(n), centres, g) / 20.0)).astype(np.float32)
    out = bed.astype(np.float32, copy=True)
    out[:n] *= gain[:, None] if bed.ndim == 2 else gain
    return out


_compressor = compress


def _mono(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 1 else x.mean(axis=1)


def remix(
    bed: np.ndarray,
    dialogue: np.ndarray,
    *,
    bed_gain_db: float = 0.0,
    dialogue_gain_db: float = 0.0,
    eq: Sequence[EqBand] | None = None,
    compress: bool | dict[str, float] | None = None,
    duck_db: float = 0.0,
    sample_rate: int = 48000,
    dialogue_pan: float = 0.0,
    zero_phase: bool = True,
) -> np.ndarray:
    """Re-balance a stereo ``bed`` (n, 2) and mono ``dialogue`` (n,) into a stereo mix.

    ``eq`` bands are applied to the bed ([(kind, Hz, dB, Q)], see :func:`equalize`);
    ``compress``: True (3:1 at −24 dB) or kwargs of :func:`compress` to compress the full
    mix; None/False: no compression. ``duck_db`` > 0 ducks the bed under the dialogue
    (:func:`duck`).
    Dialogue is panned (−1 left … +1 right, constant power).
    """
    b = bed * np.float32(db_to_gain(bed_gain_db))
    if eq:
        b = equalize(b, eq, sample_rate, zero_phase=zero_phase)
    d = _mono(dialogue) * np.float32(db_to_gain(dialogue_gain_db))
    if duck_db > 0:
        b = duck(b, d, sample_rate, depth_db=duck_db)
    th = (dialogue_pan + 1.0) * np.pi / 4.0
    n = min(len(b), len(d))
    mix = b[:n].astype(np.float32, copy=True)
    mix[:, 0] += d[:n] * np.float32(np.cos(th) * np.sqrt(2))
    mix[:, 1] += d[:n] * np.float32(np.sin(th) * np.sqrt(2))
    if compress:
        kwargs = compress if isinstance(compress, dict) else {}
        mix = _compressor(mix, sample_rate, **kwargs)
    return mix


def add_noise(
    x: np.ndarray, snr_db: float, seed: int, *, sample_rate: int = 48000, hum_hz: float = 50.0
) -> np.ndarray:
    """Add pinkish noise (plus a little mains hum) at ``snr_db`` below ``x``'s RMS."""
    rng = np.random.default_rng([seed, 0x401])
    shape = x.shape
    white = rng.standard_normal(shape, dtype=np.float32)
    sos = butter(1, 400.0, btype="lowpass", fs=sample_rate, output="sos")
    pink = sosfilt(sos, white, axis=0).astype(np.float32) * 6.0 + white * 0.35
    t = np.arange(shape[0], dtype=np.float32) / np.float32(sample_rate)
    hum = np.sin(2 * np.pi * hum_hz * t) + 0.3 * np.sin(2 * np.pi * 3 * hum_hz * t)
    noise = pink + (hum.astype(np.float32) * 0.3)[:, None] if x.ndim == 2 else pink + hum * 0.3
    sig_rms = 10 ** (rms_db(x) / 20)
    nz_rms = 10 ** (rms_db(noise) / 20)
    gain = sig_rms / nz_rms * 10 ** (-snr_db / 20)
    return (x + noise * np.float32(gain)).astype(np.float32)


def invert_polarity(x: np.ndarray) -> np.ndarray:
    """Multiply by −1."""
    return -x


def change_gain(x: np.ndarray, db: float) -> np.ndarray:
    """Scale by ``db`` decibels."""
    return (x * np.float32(db_to_gain(db))).astype(np.float32)


def _fade(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, np.pi / 2, n, dtype=np.float32)
    return np.sin(t), np.cos(t)  # equal-power fade in, fade out


def crossfade_concat(parts: Sequence[np.ndarray], fade: int) -> np.ndarray:
    """Concatenate arrays (n_i, ch) with equal-power crossfades of ``fade`` samples."""
    out = parts[0].astype(np.float32, copy=True)
    for p in parts[1:]:
        f = min(fade, len(out), len(p))
        if f <= 0:
            out = np.concatenate([out, p])
            continue
        fin, fout = _fade(f)
        shape = (f, 1) if out.ndim == 2 else (f,)
        head = out[-f:] * fout.reshape(shape) + p[:f] * fin.reshape(shape)
        out = np.concatenate([out[:-f], head, p[f:]])
    return out


def splice(parts: Sequence[np.ndarray], sample_rate: int, *, fade_ms: float = 5.0
           ) -> np.ndarray:
    """An editor's butt splice: ``parts`` (n_i, ch) concatenated with a ``fade_ms`` linear
    fade-out/fade-in at every join and no overlap, so the lengths add up exactly (the true
    edit points stay where the parts meet)."""
    n = int(sample_rate * fade_ms / 1000)
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    out = []
    for i, part in enumerate(parts):
        y = np.array(part, dtype=np.float32, copy=True)
        shape = (-1,) + (1,) * (y.ndim - 1)
        if i > 0:
            y[:n] *= ramp[: len(y[:n])].reshape(shape)
        if i < len(parts) - 1:
            y[-n:] *= ramp[::-1][-len(y[-n:]):].reshape(shape)
        out.append(y)
    return np.concatenate(out)


def replace_cue(
    bed: np.ndarray,
    start_seconds: float,
    end_seconds: float,
    replacement: np.ndarray,
    sample_rate: int,
    *,
    fade_seconds: float = 1.0,
) -> np.ndarray:
    """Replace ``bed[start:end]`` with ``replacement`` (other music), crossfaded at both ends."""
    i0, i1 = int(start_seconds * sample_rate), int(end_seconds * sample_rate)
    seg = replacement[: i1 - i0]
    if len(seg) < i1 - i0:
        raise ValueError("replacement is shorter than the replaced section")
    f = int(fade_seconds * sample_rate)
    out = bed.astype(np.float32, copy=True)
    fin, fout = _fade(2 * f)
    w = np.ones(i1 - i0, np.float32)
    w[:f] = fin[:f] ** 2
    w[-f:] = fout[f:] ** 2
    w = w[:, None] if bed.ndim == 2 else w
    out[i0:i1] = bed[i0:i1] * (1 - w) + seg * w
    return out


def shuffle_cues(
    master_bed: np.ndarray,
    cue_seconds: float,
    seed: int,
    *,
    sample_rate: int = 48000,
    fade_seconds: float = 0.5,
) -> np.ndarray:
    """The master's own cues (chunks of ``cue_seconds``) in a seeded new order.

    A false-match trap: every chunk matches the master, each at a different offset. The
    order is a derangement without any two originally adjacent chunks kept adjacent, so no
    constant offset explains more than one chunk. Chunks are joined with equal-power
    crossfades of ``fade_seconds`` (each chunk runs on into its successor's fade); the
    length is kept.
    """
    c = int(cue_seconds * sample_rate)
    k = int(np.ceil(len(master_bed) / c))
    if k < 3:
        raise ValueError("need at least 3 cues to shuffle")
    rng = np.random.default_rng([seed, 0x5FF])
    for _ in range(10000):
        order = rng.permutation(k)
        if np.any(order == np.arange(k)):
            continue
        if np.any(np.diff(order) == 1):
            continue
        break
    else:  # pragma: no cover - a reversed order always qualifies for k >= 3
        order = np.arange(k)[::-1]
    f = int(fade_seconds * sample_rate)
    chunks = [master_bed[i * c : (i + 1) * c + f] for i in order]
    out = crossfade_concat(chunks, f)
    return _fit(out, len(master_bed))


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) >= n:
        return x[:n]
    pad = np.zeros((n - len(x),) + x.shape[1:], x.dtype)
    return np.concatenate([x, pad])


def take_part(
    x: np.ndarray, start_seconds: float, end_seconds: float, sample_rate: int
) -> np.ndarray:
    """``x`` between the two times (seconds); a dub covering only part of the programme."""
    return x[int(round(start_seconds * sample_rate)) : int(round(end_seconds * sample_rate))]


def downmix_stereo(x: np.ndarray) -> np.ndarray:
    """5.1 (L R C LFE Ls Rs) → stereo (ITU-style: L + .707 C + .707 Ls), else pass through."""
    if x.ndim == 2 and x.shape[1] == 6:
        lo = x[:, 0] + 0.707 * x[:, 2] + 0.707 * x[:, 4]
        ro = x[:, 1] + 0.707 * x[:, 2] + 0.707 * x[:, 5]
        return (np.stack([lo, ro], axis=1) * np.float32(0.6)).astype(np.float32)
    return x


def to_51(
    stereo: np.ndarray, *, dialogue: np.ndarray | None = None, sample_rate: int = 48000
) -> np.ndarray:
    """Stereo (n, 2) → 5.1 (n, 6) in L R C LFE Ls Rs order, all zero-phase (no delay).

    Bed: L/R front, a little of L+R in C, low-passed mono (< 120 Hz) in LFE, high-passed
    L/R at −8 dB in Ls/Rs. ``dialogue`` (n,) goes mainly to C (−14 dB spill into L/R).
    """
    L, R = stereo[:, 0], stereo[:, 1]
    mid = 0.5 * (L + R)
    lp = butter(4, 120.0, btype="lowpass", fs=sample_rate, output="sos")
    hp = butter(2, 200.0, btype="highpass", fs=sample_rate, output="sos")
    out = np.empty((len(stereo), 6), np.float32)
    out[:, 0] = L
    out[:, 1] = R
    out[:, 2] = 0.25 * mid
    out[:, 3] = sosfiltfilt(lp, mid) * 0.7
    surr = sosfiltfilt(hp, stereo, axis=0) * db_to_gain(-8.0)
    out[:, 4] = surr[:, 0]
    out[:, 5] = surr[:, 1]
    if dialogue is not None:
        d = _mono(dialogue)[: len(out)]
        out[: len(d), 2] += d * np.float32(1.41)
        out[: len(d), 0] += d * np.float32(0.2)
        out[: len(d), 1] += d * np.float32(0.2)
    return out


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling along axis 0 (linear-phase, delay compensated)."""
    if from_rate == to_rate:
        return x
    g = int(np.gcd(from_rate, to_rate))
    return resample_poly(x, to_rate // g, from_rate // g, axis=0).astype(np.float32)
