"""Time-stretch trial: the dub stretched onto the master's timeline with its pitch kept
(ffmpeg ``atempo``, WSOLA), the stretcher's own shift measured and removed from the windows.

Units: times, shifts and deviations in seconds (shifts and deviations in input time; output
time t carries input t·tempo + shift, tempo = 1 / s0, s0 = dub speed relative to the
master); signals mono at ``rate`` Hz; window offsets in the warped domain (> 0 = dub late).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace

import numpy as np
from scipy import fft as sfft

from app.engine.decode import ffmpeg_path
from app.engine.timeline.scan import _Raw
from app.engine.xcorr import fft_size


@dataclass
class Stretched:
    """The dub time-stretched onto the master's timeline (pitch kept). ``signal`` is moved by
    the stretcher's median shift; ``times`` (s, output) and ``deviation`` (s, input time) give
    its local shift around that median, measured on 100-ms snippets."""

    signal: np.ndarray
    times: np.ndarray
    deviation: np.ndarray

    def deviation_in(self, a: float, b: float) -> float:
        """Median local deviation (s, input time) over output times ``a .. b`` (0 if none)."""
        sel = (self.times >= a) & (self.times < b)
        return float(np.median(self.deviation[sel])) if sel.sum() >= 5 else 0.0


def stretch_to_master(d: np.ndarray, s0: float, rate: float) -> Stretched | None:
    """The dub (mono, ``rate`` Hz, speed ``s0`` relative to the master) time-stretched with its
    pitch kept onto the master's timeline by ffmpeg's ``atempo`` (WSOLA). The stretcher's own
    time shift is measured on its input and output (100-ms snippets every 0.5 s): the signal
    is moved by its median, and the local deviations are kept so that windows measured on it
    can be corrected — no error of ours adds to the dub's. None when ffmpeg fails."""
    tempo = 1.0 / s0  # output time = input time / tempo = input time · s0
    if not 0.5 <= tempo <= 2.0:
        return None
    cmd = [ffmpeg_path(), "-nostdin", "-v", "error", "-f", "f32le", "-ar", str(int(rate)),
           "-ac", "1", "-i", "pipe:0", "-af", f"atempo={tempo:.9f}", "-f", "f32le", "pipe:1"]
    try:
        done = subprocess.run(cmd, input=np.ascontiguousarray(d, np.float32).tobytes(),
                              capture_output=True, check=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return None
    y = np.frombuffer(done.stdout, np.float32).copy()
    times, shifts = stretch_shifts(d, y, tempo, rate, step=0.5)
    if times.size < 20:
        return Stretched(y, times, np.zeros(0))
    shift = float(np.median(shifts))  # output t carries input t·tempo + shift
    lag = int(round(shift / tempo * rate))  # delay the output by shift / tempo to cancel it
    if lag > 0:
        y = np.concatenate([np.zeros(lag, np.float32), y[:-lag]])
    elif lag < 0:
        y = np.concatenate([y[-lag:], np.zeros(-lag, np.float32)])
    return Stretched(y, times + lag / rate, shifts - shift)


def stretch_shifts(x: np.ndarray, y: np.ndarray, tempo: float, rate: float, *,
                   step: float) -> tuple[np.ndarray, np.ndarray]:
    """Local shift of stretched ``y`` against its input ``x``: (output times, shifts), both in
    seconds, where output time t carries input t·tempo + shift. 100-ms snippets every
    ``step`` s, searched ±60 ms, kept where their normalised correlation is >= 0.9."""
    w, reach = int(0.1 * rate), int(0.06 * rate)
    n = fft_size(2 * w + 2 * reach)
    times, shifts = [], []
    for t_out in np.arange(1.0, y.size / rate - 1.0, step):
        s, c = int(t_out * rate), int(t_out * tempo * rate)
        seg, ref = y[s : s + w], x[max(0, c - reach) : c + w + reach]
        if seg.size < w or c - reach < 0 or ref.size < w + 2 * reach or \
                float(np.sqrt(np.mean(seg**2))) < 1e-3:
            continue
        cc = sfft.irfft(np.conj(sfft.rfft(seg, n)) * sfft.rfft(ref, n), n)[: 2 * reach + 1]
        csum = np.concatenate([[0.0], np.cumsum(ref.astype(np.float64) ** 2)])
        energy = (csum[w : w + 2 * reach + 1] - csum[: 2 * reach + 1]) * float(np.sum(seg**2))
        v = cc / np.sqrt(energy + 1e-12)
        k = int(np.argmax(v))
        if v[k] >= 0.9:
            times.append(float(t_out))
            shifts.append((k - reach) / rate)
    return np.array(times), np.array(shifts)


def measure_stretch_shift(x: np.ndarray, y: np.ndarray, tempo: float, rate: float
                          ) -> float | None:
    """Median shift (s, input time) of stretched ``y`` against its input ``x`` (see
    :func:`stretch_shifts`, snippets every 0.25 s); None with fewer than 20 snippets."""
    _, shifts = stretch_shifts(x, y, tempo, rate, step=0.25)
    return float(np.median(shifts)) if shifts.size >= 20 else None


def _corrected(raws: list[_Raw], stretched: Stretched, s0: float) -> list[_Raw]:
    """Windows measured on the stretched dub with our stretcher's local deviation removed:
    its output at t carries input t·tempo + deviation, i.e. a warped offset larger by
    ``s0 · deviation``."""
    if stretched.deviation.size == 0:
        return raws
    out = []
    for r in raws:
        def fix(m: tuple[float, float] | None) -> tuple[float, float] | None:
            if m is None:
                return None
            dev = stretched.deviation_in(r.t0 + m[0], r.t1 + m[0])  # noqa: B023
            return m[0] + s0 * dev, m[1]

        out.append(replace(r, gcc=fix(r.gcc), feat=fix(r.feat)))
    return out
