"""Channel faults of a multichannel dub, found in every analysis: each dub channel's offset,
polarity and level against its counterpart in the master, and the faults QC rejects most —
one channel late ("centre 2 frames late"), swapped pairs ("Ls and Rs swapped"), a 5.1 in film
order instead of SMPTE order, an inverted or a silent channel.

Cheap by design: a few excerpts spread over the overlap (at the offset the analysis found)
are decoded with all their channels at :data:`RATE` Hz; every dub channel is correlated with
every master channel (shared-sound emphasis first, so a centre with other-language dialogue
still matches on its bed) within ±:data:`MARGIN_SECONDS` of that offset. Decoding each
excerpt's channels together keeps their relative timing exact whatever the codec.
Sign convention: offsets > 0 = that dub channel is late. Units: seconds, dB, Hz.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np
from scipy import fft as sfft

from app.engine.decode import compile_command, media_input
from app.engine.layouts import SILENT_DBFS, channel_labels
from app.engine.shared import emphasise_shared
from app.engine.types import AudioInfo, CancelToken
from app.engine.xcorr import fft_size, parabolic_offset

__all__ = ["RATE", "MARGIN_SECONDS", "ChannelCheck", "check_channels", "FILM_ORDER_51"]

#: analysis rate of the channel check (Hz)
RATE = 8000
#: each channel is searched within ± this many seconds of the programme offset
MARGIN_SECONDS = 1.0
#: a channel counts as measured when its peak stands this many robust deviations out
MIN_Z = 8.0
#: a channel whose offset differs from the others' by more than this is named (seconds)
CHANNEL_TOLERANCE_SECONDS = 0.001
#: another master channel must match this much better than the counterpart to call a swap
SWAP_RATIO = 1.25
_EXCERPTS, _EXCERPT_SECONDS = 4, 12.0
#: film order (L C R Ls Rs LFE): film channel k carries SMPTE channel FILM_ORDER_51[k]
FILM_ORDER_51 = (0, 2, 1, 4, 5, 3)


@dataclass
class ChannelCheck:
    """The per-channel record of an analysis (see :func:`check_channels`).

    reference: "matching" (dub channel i against master channel i) or "downmix";
    channels: per dub channel: label, status ("ok", "weak", "silent"), matched master channel,
    offset_seconds (absolute, > 0 = late), relative_ms (against the others), frames,
    polarity_inverted, level_db (dub − master), correlation, z; faults: typed faults
    (kind, channels, text); findings: the faults in plain words.
    """

    reference: str
    frame_rate: float
    excerpts: list[tuple[float, float]]
    channels: list[dict[str, Any]]
    common_offset_seconds: float | None
    faults: list[dict[str, Any]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _excerpts(path: str | Path, info: AudioInfo, stream: int,
              spans: list[tuple[float, float]], cancel: CancelToken | None
              ) -> list[np.ndarray]:
    """(n, channels) float32 at :data:`RATE` Hz of each (start s, seconds) span (before 0 or
    past the end: zeros), from one ffmpeg process: every span an input of its own seeking
    there, resampled, padded and trimmed to its exact length, the spans concatenated (one
    process instead of one per span: ffmpeg's start-up is most of an excerpt's cost)."""
    sizes = [int(round(seconds * RATE)) for _, seconds in spans]
    out = [np.zeros((n, info.channels), np.float32) for n in sizes]
    leads = [int(round(max(0.0, -start) * RATE)) for start, _ in spans]
    todo = [k for k, n in enumerate(sizes) if leads[k] < n]
    if not todo:
        return out
    parts = []
    for k in todo:
        start, seconds = spans[k]
        n = sizes[k] - leads[k]
        src = media_input(path, ss=f"{max(start, 0.0):.6f}", t=f"{n / RATE + 0.1:.6f}")
        parts.append(src[f"a:{stream}"].filter("aresample", RATE)
                     .filter("apad", whole_len=n).filter("atrim", end_sample=n))
    joined = parts[0] if len(parts) == 1 else ffmpeg.concat(*parts, v=0, a=1)
    cmd = compile_command(ffmpeg.output(joined, "pipe:1", acodec="pcm_f32le", f="f32le"))
    if cancel is not None:
        cancel.raise_if_cancelled()
    proc = subprocess.run(cmd, capture_output=True, timeout=300, check=False)
    if proc.returncode != 0:
        return out
    data = np.frombuffer(proc.stdout, np.float32)
    data = data[: data.size // info.channels * info.channels].reshape(-1, info.channels)
    at = 0
    for k in todo:
        n = sizes[k] - leads[k]
        take = max(0, min(n, data.shape[0] - at))
        out[k][leads[k] : leads[k] + take] = data[at : at + take]
        at += n
    return out


def _rms_db(x: np.ndarray) -> float:
    r = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return 20.0 * float(np.log10(max(r, 1e-10)))


def _spans(offset: float, dur_m: float, dur_d: float) -> list[tuple[float, float]]:
    """Excerpts (master start s, length s) spread over the overlap at ``offset``."""
    a, b = max(0.0, -offset), min(dur_m, dur_d - offset)
    usable = b - a - 2 * MARGIN_SECONDS
    if usable <= 1.0:
        return []
    length = min(_EXCERPT_SECONDS, usable)
    count = int(min(_EXCERPTS, max(1, usable // length)))
    starts = np.linspace(a + MARGIN_SECONDS, b - MARGIN_SECONDS - length, count)
    return [(round(float(s), 3), round(length, 3)) for s in starts]


def check_channels(
    master: str | Path, dub: str | Path, info_m: AudioInfo, info_d: AudioInfo, *,
    offset_seconds: float, master_stream: int = 0, dub_stream: int = 0,
    frame_rate: float = 25.0, cancel: CancelToken | None = None,
) -> ChannelCheck | None:
    """Each channel of a multichannel ``dub`` against the master around ``offset_seconds``
    (the programme's offset, > 0 = dub late). None for a mono dub or no overlap."""
    if info_d.channels < 2:
        return None
    spans = _spans(offset_seconds, info_m.duration_seconds, info_d.duration_seconds)
    if not spans:
        return None
    matching = info_m.channels == info_d.channels
    labels_d = channel_labels(info_d.channel_layout, info_d.channels)
    labels_m = channel_labels(info_m.channel_layout, info_m.channels) if matching else ["mix"]
    n_m, n_d = len(labels_m), info_d.channels
    r = int(round(MARGIN_SECONDS * RATE))
    num: np.ndarray | None = None  # (dub ch, master ch, lags) summed correlation
    e_m, e_d = np.zeros(n_m), np.zeros(n_d)
    lvl_m, lvl_d = np.zeros(n_m), np.zeros(n_d)
    dub_spans = [(start + offset_seconds - MARGIN_SECONDS, length + 2 * MARGIN_SECONDS)
                 for start, length in spans]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="excerpt") as pool:
        masters = pool.submit(_excerpts, master, info_m, master_stream, spans, cancel)
        dubs = pool.submit(_excerpts, dub, info_d, dub_stream, dub_spans, cancel)
        decoded = list(zip(masters.result(), dubs.result(), strict=True))
    for m, d in decoded:
        if not matching:
            m = m.mean(axis=1, keepdims=True)
        lvl_m += np.mean(np.square(m, dtype=np.float64), axis=0)
        lvl_d += np.mean(np.square(d[r:r + m.shape[0]], dtype=np.float64), axis=0)
        em = np.stack([emphasise_shared(m[:, i], sample_rate=RATE) for i in range(n_m)], 1)
        ed = np.stack([emphasise_shared(d[:, j], sample_rate=RATE) for j in range(n_d)], 1)
        size = fft_size(ed.shape[0] + 1)
        fm = sfft.rfft(em.astype(np.float64), size, axis=0)
        fd = sfft.rfft(ed.astype(np.float64), size, axis=0)
        part = np.stack([sfft.irfft(np.conj(fm) * fd[:, [j]], size, axis=0)[: 2 * r + 1].T
                         for j in range(n_d)])
        num = part if num is None else num + part
        e_m += np.sum(np.square(em, dtype=np.float64), axis=0)
        e_d += np.sum(np.square(ed[r:r + em.shape[0]], dtype=np.float64), axis=0)
    assert num is not None
    corr = num / np.sqrt(np.maximum(np.outer(e_d, e_m), 1e-20))[:, :, None]
    mag = np.abs(corr)
    level_m = 10 * np.log10(np.maximum(lvl_m / len(spans), 1e-20))
    level_d = 10 * np.log10(np.maximum(lvl_d / len(spans), 1e-20))

    chans: list[dict[str, Any]] = []
    mapping: list[int | None] = []
    peaks_all = mag.max(axis=2)  # (dub ch, master ch)
    if matching:  # a silent channel carries nothing: it stays where it is labelled
        pinned = peaks_all.copy()
        for q in np.flatnonzero(level_d < SILENT_DBFS):
            pinned[q, :], pinned[:, q], pinned[q, q] = 0.0, 0.0, 1e3
        assigned = _layout(pinned)
    else:
        assigned = [0] * n_d
    for j in range(n_d):
        silent = level_d[j] < SILENT_DBFS
        i = assigned[j]
        curve = mag[j, i]
        k = int(np.argmax(curve))
        med = float(np.median(curve))
        spread = max(float(np.median(np.abs(curve - med))) * 1.4826, 1e-12)
        z = (float(curve[k]) - med) / spread
        frac = parabolic_offset(float(curve[k - 1]), float(curve[k]), float(curve[k + 1])) \
            if 0 < k < curve.size - 1 else 0.0
        rel = (k - r + frac) / RATE
        ok = not silent and z >= MIN_Z
        status = "silent" if silent else ("ok" if ok else "weak")
        mapping.append(i if ok else None)
        chans.append({
            "index": j, "label": labels_d[j], "status": status,
            "master_channel": i, "master_label": labels_m[i],
            "offset_seconds": round(offset_seconds + rel, 6) if ok else None,
            "polarity_inverted": bool(ok and corr[j, i, k] < 0),
            "level_db": round(float(level_d[j] - level_m[i]), 2),
            "rms_dbfs": round(float(level_d[j]), 2),
            "correlation": round(float(curve[k]), 4), "z": round(z, 1)})
    measured = [c["offset_seconds"] for c in chans if c["offset_seconds"] is not None]
    common = float(np.median(measured)) if measured else None
    for c in chans:
        c["relative_ms"] = (None if c["offset_seconds"] is None or common is None
                            else round((c["offset_seconds"] - common) * 1000, 3))
        c["frames"] = (None if c["relative_ms"] is None
                       else round(c["relative_ms"] / 1000 * frame_rate, 2))
    check = ChannelCheck("matching" if matching else "downmix", frame_rate, spans, chans,
                         None if common is None else round(common, 6))
    _faults(check, mapping, labels_d, labels_m, level_m, matching)
    return check


def _layout(peaks: np.ndarray) -> list[int]:
    """Which master channel each dub channel carries: of the usual wirings (as labelled, film
    order, L/R or Ls/Rs swapped, both) and the best one-to-one assignment, the one with the
    largest summed correlation — kept only when it beats the wiring as labelled by
    :data:`SWAP_RATIO` on the channels it moves (a near-mono bed cannot prove a swap)."""
    from scipy.optimize import linear_sum_assignment  # only here: a quarter second to import

    n = peaks.shape[0]
    identity = list(range(n))
    rows, cols = linear_sum_assignment(-peaks)
    best_assignment = [0] * n
    for j, i in zip(rows.tolist(), cols.tolist(), strict=True):
        best_assignment[j] = i
    wirings = [best_assignment]
    if n == 6:
        wirings += [list(FILM_ORDER_51), [1, 0, 2, 3, 4, 5], [0, 1, 2, 3, 5, 4],
                    [1, 0, 2, 3, 5, 4]]
    best, score = identity, -1.0
    for w in wirings:
        moved = [j for j in range(n) if w[j] != j]
        if not moved:
            continue
        new = float(sum(peaks[j, w[j]] for j in moved))
        old = float(sum(peaks[j, j] for j in moved))
        if new >= SWAP_RATIO * old and new - old > score:
            best, score = w, new - old
    return best


def _fault(check: ChannelCheck, kind: str, channels: list[str], text: str,
           **extra: Any) -> None:
    check.faults.append({"kind": kind, "channels": channels, "text": text, **extra})
    check.findings.append(text)


def _faults(check: ChannelCheck, mapping: list[int | None], labels_d: list[str],
            labels_m: list[str], level_m: np.ndarray, matching: bool) -> None:
    """Name the faults: layout (film order, swapped pairs, other wiring), silent, inverted
    and late/early channels."""
    chans = check.channels
    if matching:
        moved = [j for j, i in enumerate(mapping) if i is not None and i != j]
        film = len(mapping) == 6 and all(
            i is None or i == FILM_ORDER_51[j] for j, i in enumerate(mapping)) and \
            sum(1 for j, i in enumerate(mapping) if i is not None and i != j) >= 3
        if film:
            _fault(check, "film_order", labels_d,
                   "the 5.1 is in film order (L C R Ls Rs LFE) instead of SMPTE order "
                   "(L R C LFE Ls Rs)")
        else:
            done: set[int] = set()
            for j in moved:
                i = mapping[j]
                assert i is not None
                if j in done:
                    continue
                if i < len(mapping) and mapping[i] == j:
                    done |= {i, j}
                    a, b = sorted((labels_d[j], labels_d[i]), key=labels_d.index)
                    _fault(check, "swapped", [a, b], f"{a} and {b} swapped")
                else:
                    done.add(j)
                    _fault(check, "wrong_channel", [labels_d[j]],
                           f"{labels_d[j]} carries the master's {labels_m[i]}")
    for c in chans:
        if c["status"] == "silent" and level_m[c["master_channel"]] >= SILENT_DBFS:
            _fault(check, "silent", [c["label"]], f"{c['label']} is silent "
                   f"({c['rms_dbfs']:.0f} dBFS) where the master's {c['master_label']} has "
                   "sound")
        if c["polarity_inverted"]:
            _fault(check, "inverted", [c["label"]], f"{c['label']} polarity inverted")
        rel = c["relative_ms"]
        if rel is not None and abs(rel) > CHANNEL_TOLERANCE_SECONDS * 1000:
            when = "late" if rel > 0 else "early"
            frames = abs(c["frames"] or 0.0)
            fr = f"{frames:.0f} frame{'s' if round(frames) != 1 else ''}" \
                if abs(frames - round(frames)) < 0.05 else f"{frames:.2f} frames"
            _fault(check, "offset", [c["label"]],
                   f"{c['label']} {fr} {when} ({abs(rel):.1f} ms at {check.frame_rate:g} fps) "
                   "against the other channels", relative_ms=rel)
