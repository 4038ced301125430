"""Per-channel analysis: each channel of a multichannel dub (or each file of a multi-mono set)
measured against the master's matching channel, or the master's downmix.

A 5.1 dub whose centre channel alone is late shows as one channel with its own offset; the
per-channel offsets feed :func:`app.engine.repair.shift_channels`.
Sign convention: ``offset_seconds > 0`` means that channel of the dub is late.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.engine.decode import decode, probe
from app.engine.layouts import CHANNEL_LABELS, SILENT_DBFS, channel_labels
from app.engine.pipeline import IN_SYNC_TOLERANCE_SECONDS, analyze_signals
from app.engine.types import (
    AnalysisOptions,
    AudioInfo,
    CancelToken,
    ParameterError,
    ProgressCallback,
    ProgressEvent,
    Verdict,
    verdict_of,
)
from app.engine.xcorr import parabolic_offset, peak_confidence, peak_stats

__all__ = [
    "CHANNEL_LABELS",
    "ChannelSource",
    "ChannelResult",
    "ChannelAnalysis",
    "channel_labels",
    "channel_sources",
    "analyze_channels",
]

#: rate (Hz) of the low-band method for LFE channels (content below ~120 Hz)
LOWBAND_RATE = 2000
#: a per-channel offset counts as measured only at or above this confidence
MIN_CHANNEL_CONFIDENCE = 0.6


@dataclass(frozen=True)
class ChannelSource:
    """One channel to measure: ``channel`` of audio stream ``stream`` of ``path``."""

    index: int
    label: str
    path: str
    stream: int
    channel: int
    info: AudioInfo


@dataclass
class ChannelResult:
    """One channel's measurement.

    status: "ok" (reliable offset), "unreliable" (no confident match), "silent" (nothing to
    measure). offset_seconds: measured (> 0 = late), None when not ok. repair_offset_seconds:
    what a repair applies: the measured offset, or for a channel that could not be measured
    the median of the measured channels (``inferred`` True). reference: what it was compared
    with ("master channel 2 (C)" or "master downmix"). candidate_offset_seconds: for a channel
    that could not be measured reliably, the engine's best guess (never applied; reported so
    an operator can check a channel that may be off on its own).
    """

    index: int
    label: str
    path: str
    channel: int
    reference: str
    status: str
    offset_seconds: float | None
    offset_samples: int | None
    confidence: float
    verdict: str
    reason: str
    polarity_inverted: bool
    rms_dbfs: float
    repair_offset_seconds: float = 0.0
    inferred: bool = False
    timeline: dict[str, Any] | None = None
    candidate_offset_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChannelAnalysis:
    """Every channel's result and a summary.

    common_offset_seconds: median of the reliable channels' offsets. spread_seconds: max − min
    of them. consistent: spread ≤ 1 ms (one offset fits the whole file).
    """

    channels: list[ChannelResult]
    reference: str
    master: AudioInfo
    common_offset_seconds: float | None
    spread_seconds: float
    consistent: bool
    measured: int
    findings: list[str] = field(default_factory=list)

    def repair_offsets(self) -> list[float]:
        """One repair offset (seconds) per channel, in channel order."""
        return [c.repair_offset_seconds for c in self.channels]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["repair_offsets_seconds"] = self.repair_offsets()
        return d


def channel_sources(dub: str | Path | Sequence[str | Path], *, stream: int = 0
                    ) -> list[ChannelSource]:
    """The channels of one multichannel file, or of a multi-mono set (one file per channel,
    in channel order; each file must be mono)."""
    if isinstance(dub, str | Path):
        info = probe(dub, stream=stream)
        labels = channel_labels(info.channel_layout, info.channels)
        return [ChannelSource(i, labels[i], str(dub), stream, i, info)
                for i in range(info.channels)]
    paths = list(dub)
    if not paths:
        raise ParameterError("dub: at least one file is required")
    out: list[ChannelSource] = []
    labels = channel_labels(None, len(paths))
    for i, p in enumerate(paths):
        info = probe(p, stream=stream)
        if info.channels != 1:
            raise ParameterError(f"multi-mono file {Path(p).name} has {info.channels} "
                                 "channels; each file of a multi-mono set must be mono")
        out.append(ChannelSource(i, labels[i], str(p), stream, 0, info))
    return out


def _rms_dbfs(x: np.ndarray) -> float:
    r = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return 20.0 * float(np.log10(max(r, 1e-10)))


def analyze_channels(
    master: str | Path,
    dub: str | Path | Sequence[str | Path],
    *,
    options: AnalysisOptions | None = None,
    reference: str = "auto",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ChannelAnalysis:
    """Measure each channel of ``dub`` against the master.

    ``reference``: "matching" (dub channel i against master channel i: the master must have as
    many channels), "downmix" (against the master's downmix), or "auto" (matching when the
    channel counts agree, else downmix). The master is decoded once per reference channel;
    each dub channel is decoded at ``options.sample_rate`` and run through the full pipeline.
    """
    opts = (options or AnalysisOptions()).validate()
    if reference not in ("auto", "matching", "downmix"):
        raise ParameterError(f"reference={reference!r}: must be auto, matching or downmix")
    sources = channel_sources(dub, stream=opts.dub_stream)
    info_m = probe(master, stream=opts.master_stream)
    matching = reference == "matching" or (reference == "auto"
                                           and info_m.channels == len(sources))
    if matching and info_m.channels != len(sources):
        raise ParameterError(f"reference='matching' but the master has {info_m.channels} "
                             f"channels and the dub {len(sources)}")
    m_labels = channel_labels(info_m.channel_layout, info_m.channels)
    sr = opts.sample_rate
    n = len(sources)
    masters: dict[int | None, np.ndarray] = {}

    def report(i: int, frac: float, message: str) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(ProgressEvent("channels", round(min((i + frac) / n, 1.0), 4), message,
                                   i + 1, n))

    results: list[ChannelResult] = []
    for src in sources:
        m_ch = src.index if matching else None
        ref = f"master channel {m_ch} ({m_labels[m_ch]})" if m_ch is not None else \
            "master downmix"
        report(src.index, 0.0, f"channel {src.index + 1}/{n} ({src.label}) against {ref}")
        if m_ch not in masters:
            masters[m_ch] = decode(master, sample_rate=sr, stream=opts.master_stream,
                                   channel=m_ch, info=info_m, cancel=cancel)
        d = decode(src.path, sample_rate=sr, stream=src.stream, channel=src.channel,
                   info=src.info, cancel=cancel)
        level = _rms_dbfs(d)
        if level < SILENT_DBFS or _rms_dbfs(masters[m_ch]) < SILENT_DBFS:
            results.append(ChannelResult(src.index, src.label, src.path, src.channel, ref,
                                         "silent", None, None, 0.0, Verdict.NO_RELIABLE_MATCH,
                                         f"silent (RMS {level:.1f} dBFS < {SILENT_DBFS})",
                                         False, round(level, 2)))
            continue
        inner = _sub_progress(progress, src.index, n)
        # an LFE's shared sound is its low band alone: the low-band method measures it, not
        # the shared-sound emphasis (too broad a peak for a millisecond)
        r = analyze_signals(masters[m_ch], d, sample_rate=sr, options=replace(
            opts, shared_sound=src.label != "LFE", channel_check=False),
                            progress=inner, cancel=cancel)
        ok = (r.reliable and r.offset_seconds is not None
              and r.verdict in (Verdict.IN_SYNC, Verdict.CONSTANT_OFFSET)
              and r.confidence >= MIN_CHANNEL_CONFIDENCE)
        off = float(r.offset_seconds) if ok and r.offset_seconds is not None else None
        conf, verdict, reason = float(r.confidence), r.verdict, r.reason
        if not ok and src.label == "LFE":
            low = lowband_offset(master, src, stream=opts.master_stream, master_channel=m_ch,
                                 max_offset_seconds=opts.max_offset_seconds, cancel=cancel)
            if low is not None:
                off, conf = low
                ok = True
                verdict = verdict_of("constant", off)
                reason = (f"low-band correlation at {LOWBAND_RATE} Hz (LFE): {off:+.6f} s, the "
                          f"three thirds of the programme agree; full pipeline: {r.reason}")
        elif not ok and r.reliable and r.verdict in (Verdict.DRIFT, Verdict.EDITED):
            reason = f"{r.verdict}: {r.reason} (per-channel repair shifts only; repair the " \
                     "whole file from its timeline)"
        results.append(ChannelResult(
            src.index, src.label, src.path, src.channel, ref, "ok" if ok else "unreliable",
            off, int(round(off * src.info.sample_rate)) if off is not None else None,
            conf, verdict, reason, bool(r.polarity_inverted),
            round(level, 2), timeline=r.timeline,
            candidate_offset_seconds=None if ok or r.offset_seconds is None
            else float(r.offset_seconds)))
    report(n - 1, 1.0, "channels measured")
    measured = [c.offset_seconds for c in results if c.offset_seconds is not None]
    common = float(np.median(measured)) if measured else None
    spread = float(max(measured) - min(measured)) if measured else 0.0
    findings: list[str] = []
    for c in results:
        if c.offset_seconds is not None:
            c.repair_offset_seconds = c.offset_seconds
        else:
            c.repair_offset_seconds = common if common is not None else 0.0
            c.inferred = True
            cand = c.candidate_offset_seconds
            if c.status == "unreliable" and cand is not None and common is not None and \
                    abs(cand - common) > IN_SYNC_TOLERANCE_SECONDS:
                findings.append(
                    f"check channel {c.index} ({c.label}): no reliable match; its best "
                    f"candidate {cand * 1000:+.2f} ms differs from the others' "
                    f"{common * 1000:+.2f} ms (repaired with the others' offset)")
        if c.polarity_inverted:
            findings.append(f"channel {c.index} ({c.label}): polarity inverted")
        if common is not None and c.offset_seconds is not None and \
                abs(c.offset_seconds - common) > IN_SYNC_TOLERANCE_SECONDS:
            findings.append(f"channel {c.index} ({c.label}) is off by "
                            f"{(c.offset_seconds - common) * 1000:+.2f} ms from the others")
    return ChannelAnalysis(results, "matching" if matching else "downmix", info_m, common,
                           round(spread, 6), spread <= IN_SYNC_TOLERANCE_SECONDS, len(measured),
                           findings)


def lowband_offset(
    master: str | Path, src: ChannelSource, *, stream: int, master_channel: int | None,
    max_offset_seconds: float, cancel: CancelToken | None = None,
) -> tuple[float, float] | None:
    """Offset (s, > 0 = late) and confidence of a band-limited channel (LFE: < 120 Hz) by plain
    normalised cross-correlation at :data:`LOWBAND_RATE` Hz (phase-transform weighting, right
    for full-band audio, would whiten empty bands into noise here), refined by parabolic
    interpolation. Accepted only when the peak stands out (z-score and runner-up ratio) and
    each third of the programme gives the same offset within 1 ms; else None."""
    rate = LOWBAND_RATE
    m = decode(master, sample_rate=rate, stream=stream, channel=master_channel, cancel=cancel)
    d = decode(src.path, sample_rate=rate, stream=src.stream, channel=src.channel,
               info=src.info, cancel=cancel)
    max_lag = int(min(max_offset_seconds, 0.5 * max(m.size, d.size) / rate) * rate)

    def xcorr(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
        a = (a - a.mean()) / max(float(a.std()), 1e-12)
        b = (b - b.mean()) / max(float(b.std()), 1e-12)
        n = 1 << int(np.ceil(np.log2(a.size + b.size)))
        c = np.fft.irfft(np.conj(np.fft.rfft(a, n)) * np.fft.rfft(b, n), n)
        lags = np.concatenate([c[: max_lag + 1], c[n - max_lag :]])
        order = np.concatenate([np.arange(max_lag + 1), np.arange(-max_lag, 0)])
        curve = lags[np.argsort(order)] / min(a.size, b.size)
        stats = peak_stats(curve, exclusion=int(0.02 * rate))
        i = stats.index
        frac = parabolic_offset(curve[i - 1], curve[i], curve[i + 1]) \
            if 0 < i < curve.size - 1 else 0.0
        conf = peak_confidence(stats.zscore, stats.ratio, z_floor=7.0, z_full=14.0)
        return (i - max_lag + frac) / rate, conf, stats.value

    offset, conf, peak = xcorr(m.astype(np.float64), d.astype(np.float64))
    if conf < MIN_CHANNEL_CONFIDENCE or peak < 0.2:
        return None
    third = m.size // 3
    lag = int(round(offset * rate))
    for k in range(3):
        a = m[k * third : (k + 1) * third].astype(np.float64)
        lo = k * third + lag - max_lag
        seg = np.zeros(third + 2 * max_lag)
        src_a, src_b = max(lo, 0), min(lo + seg.size, d.size)
        if src_b - src_a < third // 2:
            continue
        seg[src_a - lo : src_b - lo] = d[src_a:src_b]
        a_n = (a - a.mean()) / max(float(a.std()), 1e-12)
        s_n = seg - seg.mean()
        nfft = 1 << int(np.ceil(np.log2(a.size + seg.size)))
        c = np.fft.irfft(np.conj(np.fft.rfft(a_n, nfft)) * np.fft.rfft(s_n, nfft), nfft)
        c = c[: 2 * max_lag + 1]
        j = int(np.argmax(c))
        frac = parabolic_offset(c[j - 1], c[j], c[j + 1]) if 0 < j < c.size - 1 else 0.0
        local = (lag + j - max_lag + frac) / rate
        if abs(local - offset) > 0.001:
            return None
    return float(offset), float(conf)


def _sub_progress(progress: ProgressCallback | None, i: int, n: int
                  ) -> Callable[[ProgressEvent], None] | None:
    """Map one channel's pipeline progress into the whole per-channel analysis."""
    if progress is None:
        return None

    def inner(e: ProgressEvent) -> None:
        progress(ProgressEvent("channels", round((i + e.fraction) / n, 4),
                               f"channel {i + 1}/{n}: {e.message}", i + 1, n, e.estimate))

    return inner
