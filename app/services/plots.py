"""Plots a person reads as evidence (PNG through matplotlib's Agg canvas; no pyplot, so no
global state and no lock): the offset over the programme with every segment and edit marked,
the offset measured in each window, and master vs dub (and repaired dub) loudness envelopes
around the largest error and each edit.

The axes cannot mislead: offsets in milliseconds on the left and in frames on the right, never
matplotlib's offset notation (``+2.345e2`` above the ticks), a span of at least one frame either
side of the data (a constant offset is a flat line, not microsecond noise that looks like drift),
master time as programme timecode. Sign convention: offset > 0 = dub late.
"""

from __future__ import annotations

import io
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MultipleLocator, ScalarFormatter

from app.engine.decode import decode
from app.engine.start_timecode import ProgrammeClock, clock_of
from app.engine.timecode import exact_rate
from app.engine.timeline.types import Timeline, TimelineWindow
from app.engine.types import SyncResult, Verdict

__all__ = ["Envelope", "Moment", "envelope_of", "envelope_figure", "evidence_moments",
           "offset_limits", "png_bytes", "save_png", "timeline_figure", "windows_figure",
           "offset_at", "evidence_pngs", "frame_ms"]

_BLUE, _RED, _ORANGE, _GREEN, _GREY = "#1f4e79", "#c00000", "#e07000", "#38761d", "#9aa7b5"
#: tick steps of the timecode axis, seconds
_TC_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
#: analysis rate and hop of the loudness envelopes
ENVELOPE_RATE = 4000
ENVELOPE_HOP_SECONDS = 0.005


def frame_ms(fps: float) -> float:
    """One frame at ``fps`` in milliseconds (23.976 and 29.97 exact)."""
    return float(1000 / exact_rate(fps))


def offset_limits(values_ms: Sequence[float], fps: float, *, margin: float = 0.15
                  ) -> tuple[float, float]:
    """y limits for offsets (ms): the data's range plus ``margin``, and never less than one
    frame either side of its middle."""
    vals = [float(v) for v in values_ms if v is not None and math.isfinite(v)]
    if not vals:
        return -frame_ms(fps), frame_ms(fps)
    lo, hi = min(vals), max(vals)
    half = max((hi - lo) / 2 * (1 + margin), frame_ms(fps))
    mid = (hi + lo) / 2
    return mid - half, mid + half


def _plain(ax: Axes) -> None:
    """Plain tick labels on both axes: no offset notation, no scientific notation."""
    for axis in (ax.xaxis, ax.yaxis):
        if isinstance(axis.get_major_formatter(), ScalarFormatter):
            fmt = ScalarFormatter(useOffset=False)
            fmt.set_scientific(False)
            axis.set_major_formatter(fmt)


def _ms_and_frames(ax: Axes, fps: float, label: str = "offset (ms, > 0 = dub late)") -> None:
    """Milliseconds on the left, frames at ``fps`` on the right, both plain."""
    _plain(ax)
    ax.set_ylabel(label, fontsize=8)
    f = frame_ms(fps)

    def to_frames(ms: Any) -> Any:
        return np.asarray(ms, dtype=float) / f

    def to_ms(frames: Any) -> Any:
        return np.asarray(frames, dtype=float) * f

    sec = ax.secondary_yaxis("right", functions=(to_frames, to_ms))
    fmt = ScalarFormatter(useOffset=False)
    fmt.set_scientific(False)
    sec.yaxis.set_major_formatter(fmt)
    sec.set_ylabel(f"frames at {fps:g} fps", fontsize=8)
    sec.tick_params(labelsize=7)


def _timecode_axis(ax: Axes, clock: ProgrammeClock, start: float, end: float, *,
                   label: bool = True) -> None:
    """x from ``start`` to ``end`` master seconds, ticks labelled in programme timecode."""
    span = max(end - start, 1e-3)
    step = next((s for s in _TC_STEPS if span / s <= 6), _TC_STEPS[-1])
    if span < 2:
        ax.xaxis.set_major_locator(FixedLocator([float(t) for t in np.linspace(start, end, 5)]))
    else:
        ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _: clock.master(float(t)) or ""))
    ax.set_xlim(start, end)
    ax.tick_params(labelsize=7)
    if label:
        ax.set_xlabel(f"master timecode (at {clock.fps:g} fps)", fontsize=8)


#: the timeline of a result without one: no windows, segments or edits
_NO_TIMELINE = Timeline(Verdict.NO_RELIABLE_MATCH, "", "none", None, 0.0, None, None, 0.0, 0.0,
                        [], [], [], None)


def _typed(result: Mapping[str, Any], fps: float = 25.0
           ) -> tuple[SyncResult, Timeline, ProgrammeClock]:
    """A stored result (``SyncResult.to_dict()``) typed, its timeline, its clock at ``fps``."""
    r = SyncResult.from_dict(result)
    tl = Timeline.from_dict(r.timeline) if r.timeline else _NO_TIMELINE
    return r, tl, clock_of(r.programme_timecode, fps=fps)


def _offset_at(r: SyncResult, tl: Timeline, t: float) -> float | None:
    """The fitted offset (s) at master time ``t``: its segment's line, else the result's
    offset."""
    for g in tl.segments:
        a, b = g.master_start_seconds, g.master_end_seconds
        if a <= t <= b:
            k = (t - a) / (b - a) if b > a else 0.0
            return g.offset_start_seconds + k * (g.offset_end_seconds - g.offset_start_seconds)
    return r.offset_seconds


def offset_at(result: Mapping[str, Any], t: float) -> float | None:
    """:func:`_offset_at` of a stored result."""
    r, tl, _ = _typed(result)
    return _offset_at(r, tl, t)


def _duration(r: SyncResult, tl: Timeline) -> float:
    ends = [float(w.end_seconds) for w in tl.windows]
    ends += [float(g.master_end_seconds) for g in tl.segments]
    return max([float(r.master.duration_seconds or 0.0), 1.0, *ends])


def _windows(windows: Sequence[TimelineWindow], status: str = "ok"
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mid times s, offsets ms, confidences) of the windows with ``status``."""
    rows = [(0.5 * (w.start_seconds + w.end_seconds), 1000 * w.offset_seconds, w.confidence)
            for w in windows if w.status == status and w.offset_seconds is not None]
    if not rows:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    t, o, c = zip(*rows, strict=True)
    return np.asarray(t), np.asarray(o), np.asarray(c)


def _checked_windows(after: Mapping[str, Any]) -> list[TimelineWindow]:
    """The windows of a repaired dub's check (a re-analysis' or app.engine.verify's)."""
    return [TimelineWindow(w["start_seconds"], w["end_seconds"], w.get("offset_seconds"),
                           float(w.get("confidence") or 0.0), w.get("source"), w.get("status"))
            for w in (after.get("timeline") or {}).get("windows") or []]


def _tolerance_band(ax: Axes, qc: Mapping[str, Any] | None) -> None:
    tol = (qc or {}).get("tolerance") or {}
    if tol.get("early_ms") is None:
        return
    name = f"{tol.get('name')}" + (f" at {tol['fps']:g} fps" if tol.get("fps") else "")
    ax.axhspan(-float(tol["early_ms"]), float(tol["late_ms"]), color=_GREEN, alpha=0.10, lw=0,
               label=f"tolerance ({name}): {tol['early_ms']:.1f} ms early, "
                     f"{tol['late_ms']:.1f} ms late")


def _mark_edits(ax: Axes, tl: Timeline, clock: ProgrammeClock) -> None:
    """Each edit as a dashed line with what happened there, labelled at the top."""
    for i, e in enumerate(tl.edits):
        t = float(e.master_time_seconds)
        ax.axvline(t, color=_ORANGE, ls="--", lw=1.0, label="edit" if i == 0 else None)
        ax.text(t, 0.98 - 0.12 * (i % 3), f" {e.kind} {abs(float(e.duration_seconds)):.3f}"
                f" s\n {clock.master(t)}", transform=ax.get_xaxis_transform(), fontsize=6.5,
                color=_ORANGE, va="top", ha="left")


def timeline_figure(result: Mapping[str, Any], *, fps: float = 25.0,
                    after: Mapping[str, Any] | None = None, title: str | None = None
                    ) -> Figure:
    """The offset over the programme: every window, every fitted segment (its offsets at both
    ends), every edit, the QC tolerance band (top); the repaired dub's residual window by
    window within ± one frame (bottom, when ``after`` is given)."""
    r, tl, clock = _typed(result, fps)
    end = _duration(r, tl)
    rows = 2 if after is not None else 1
    fig = Figure(figsize=(9, 3.3 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    ax = axes[0]
    t, o, _ = _windows(tl.windows)
    values = list(o)
    ax.plot(t, o, "o", ms=3, color=_BLUE, label="offset measured in a window")
    tw, ow, _ = _windows(tl.windows, "outlier")
    for i, g in enumerate(tl.segments):
        xs = [float(g.master_start_seconds), float(g.master_end_seconds)]
        ys = [1000 * float(g.offset_start_seconds), 1000 * float(g.offset_end_seconds)]
        values += ys
        ax.plot(xs, ys, color=_RED, lw=1.8, label="fitted segment" if i == 0 else None)
        same = abs(ys[1] - ys[0]) < 0.05
        text = f"{ys[0]:+.1f} ms" if same else f"{ys[0]:+.1f} → {ys[1]:+.1f} ms"
        ax.annotate(text if len(tl.segments) == 1 else f"segment {i + 1}: {text}",
                    (sum(xs) / 2, sum(ys) / 2), textcoords="offset points", xytext=(0, 6),
                    ha="center", fontsize=7, color=_RED)
    if not values and r.offset_seconds is not None:
        values.append(1000 * float(r.offset_seconds))
    lo, hi = offset_limits(values, fps)
    if tw.size:
        inside = (ow >= lo) & (ow <= hi)
        ax.plot(tw[inside], ow[inside], "x", ms=4, color=_GREY, label="outlier window")
    qc = result.get("qc")
    _tolerance_band(ax, qc)
    if lo <= 0 <= hi:
        ax.axhline(0, color="#808080", lw=0.6)
    _mark_edits(ax, tl, clock)
    ax.set_ylim(lo, hi)
    _ms_and_frames(ax, fps)
    head = f"{r.verdict}"
    if qc:
        head += f" — QC {qc.get('status')}"
    ax.set_title(title or f"Offset over the programme: {head}", fontsize=9)
    ax.legend(fontsize=6.5, loc="lower right", framealpha=0.8)
    if after is not None:
        ax2 = axes[1]
        t2, o2, _ = _windows(_checked_windows(after))
        f = frame_ms(fps)
        ax2.axhspan(-f, f, color=_GREEN, alpha=0.12, lw=0, label=f"± 1 frame ({f:.1f} ms)")
        ax2.plot(t2, o2, "o", ms=3, color=_GREEN, label="repaired dub, per window")
        ax2.axhline(0, color="#808080", lw=0.6)
        ax2.set_ylim(*offset_limits([*o2, 0.0], fps))
        _ms_and_frames(ax2, fps, "residual (ms)")
        residual = after.get("offset_seconds")
        ax2.set_title(f"After repair: {after.get('verdict')}" + (
            f", residual {1000 * float(residual):+.3f} ms" if residual is not None else ""),
            fontsize=9)
        ax2.legend(fontsize=6.5, loc="lower right", framealpha=0.8)
    for i, a in enumerate(axes):
        _timecode_axis(a, clock, 0.0, end, label=i == rows - 1)
    return fig


def windows_figure(result: Mapping[str, Any], *, fps: float = 25.0) -> Figure:
    """What each window measured, for a dub whose offset changes (drift, edits), where one
    correlation peak over the whole programme does not exist: the window offsets (hollow when
    their confidence is under 0.5) with the fitted model (top), and each window's distance from
    the model (bottom)."""
    r, tl, clock = _typed(result, fps)
    end = _duration(r, tl)
    fig = Figure(figsize=(9, 5.6), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1)
    t, o, c = _windows(tl.windows)
    values = list(o)
    sure = c >= 0.5
    top.plot(t[sure], o[sure], "o", ms=3.5, color=_BLUE, label="window offset")
    top.plot(t[~sure], o[~sure], "o", ms=3.5, mfc="none", color=_BLUE,
             label="window offset, confidence < 0.5")
    for i, g in enumerate(tl.segments):
        ys = [1000 * float(g.offset_start_seconds), 1000 * float(g.offset_end_seconds)]
        values += ys
        top.plot([g.master_start_seconds, g.master_end_seconds], ys, color=_RED, lw=1.2,
                 label="fitted model" if i == 0 else None)
    _mark_edits(top, tl, clock)
    top.set_ylim(*offset_limits(values, fps))
    _ms_and_frames(top, fps)
    window = tl.window_seconds
    top.set_title(f"Offset measured in each window ({window:g} s windows)" if window else
                  "Offset measured in each window", fontsize=9)
    top.legend(fontsize=6.5, loc="lower right", framealpha=0.8)
    resid = [(0.5 * (w.start_seconds + w.end_seconds), 1000 * w.residual_seconds)
             for w in tl.windows if w.status == "ok" and w.residual_seconds is not None]
    rt = np.asarray([r[0] for r in resid])
    ro = np.asarray([r[1] for r in resid])
    bottom.plot(rt, ro, "o", ms=3, color=_BLUE)
    bottom.axhline(0, color="#808080", lw=0.6)
    bottom.set_ylim(*offset_limits([*ro, 0.0], fps))
    _ms_and_frames(bottom, fps, "window − model (ms)")
    bottom.set_title("Distance of each window from the fitted model", fontsize=9)
    _timecode_axis(top, clock, 0.0, end, label=False)
    _timecode_axis(bottom, clock, 0.0, end)
    return fig


# --- envelopes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Envelope:
    """A loudness envelope: RMS level in dB every ``hop_seconds``, from the file's start."""

    db: np.ndarray
    hop_seconds: float = ENVELOPE_HOP_SECONDS

    def between(self, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
        """(times s, dB) of the envelope from ``a`` to ``b`` seconds."""
        i = max(0, int(a / self.hop_seconds))
        j = min(self.db.size, int(math.ceil(b / self.hop_seconds)) + 1)
        if j <= i:
            return np.zeros(0), np.zeros(0)
        return (np.arange(i, j) + 0.5) * self.hop_seconds, self.db[i:j]


def envelope_of(path: str | Path, *, stream: int = 0, channel: int | None = None,
                rate: int = ENVELOPE_RATE, hop_seconds: float = ENVELOPE_HOP_SECONDS
                ) -> Envelope:
    """The loudness envelope of an audio file (decoded at ``rate`` Hz, mono or ``channel``):
    the level of 20 ms windows every ``hop_seconds``."""
    x = decode(path, sample_rate=rate, stream=stream, channel=channel).astype(np.float64)
    hop = max(1, int(round(hop_seconds * rate)))
    n = x.size // hop
    power = np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) if n else np.zeros(0)
    if power.size >= 4:  # 20 ms RMS windows, one every hop
        power = np.convolve(power, np.full(4, 0.25), mode="same")
    return Envelope(10 * np.log10(power + 1e-10), hop / rate)


@dataclass(frozen=True)
class Moment:
    """A place to look at: its label, master time (s) and the half width of the view (s)."""

    label: str
    master_seconds: float
    half_width: float
    #: where the moment lies in the dub, as offsets (s) from it (an edit: before and after)
    dub_offsets: tuple[float, ...] = ()


def _moments(r: SyncResult, tl: Timeline, clock: ProgrammeClock, max_edits: int
             ) -> list[Moment]:
    """:func:`evidence_moments` of a typed result and timeline."""
    end = _duration(r, tl)
    off = r.offset_seconds
    moments: list[Moment] = []
    ends = [(o, at, g.master_start_seconds, g.master_end_seconds) for g in tl.segments
            for o, at in ((g.offset_start_seconds, g.master_start_seconds),
                          (g.offset_end_seconds, g.master_end_seconds))]
    if off is not None:
        if ends and len({round(1000 * e[0], 1) for e in ends}) > 1:
            worst, at, a, b = max(ends, key=lambda e: abs(e[0]))  # first of the largest
            half = min(8.0, max(2.0, abs(worst) + 1.0))
            t = min(max(at, a + half), b - half) if b - a > 2 * half else (a + b) / 2
        else:  # the same offset throughout: the middle of what was measured
            a, b = (ends[0][2], ends[-1][3]) if ends else (0.0, end)
            t = (a + b) / 2
            half = min(8.0, max(2.0, abs(float(off)) + 1.0))
        t = min(max(t, half), max(end - half, half))
        local = _offset_at(r, tl, t) or 0.0
        moments.append(Moment(f"largest error: dub {_phrase(local)} at {clock.master(t)}",
                              t, half, (local,)))
    for e in tl.edits[:max_edits]:
        t, before, after = e.master_time_seconds, e.offset_before_seconds, e.offset_after_seconds
        size = abs(e.duration_seconds)
        half = min(8.0, max(2.0, 1.5 * size, abs(before) + 1.0, abs(after) + 1.0))
        moments.append(Moment(f"{e.kind} {size:.3f} s at "
                              f"{clock.master(t)} (dub {_phrase(before)} before, "
                              f"{_phrase(after)} after)", t, half, (before, after)))
    return moments


def evidence_moments(result: Mapping[str, Any], *, fps: float = 25.0, max_edits: int = 5
                     ) -> list[Moment]:
    """Where to look: the largest error (inside the segment that holds it; the middle of the
    covered programme when the offset is the same throughout), then each edit (at most
    ``max_edits``)."""
    return _moments(*_typed(result, fps), max_edits)


def _phrase(seconds: float) -> str:
    ms = round(1000 * seconds, 1) + 0.0
    return f"{ms:.1f} ms late" if ms > 0 else f"{-ms:.1f} ms early" if ms < 0 else "in sync"


def envelope_figure(result: Mapping[str, Any], master: Envelope, dub: Envelope,
                    repaired: Envelope | None = None, *, fps: float = 25.0,
                    moments: Sequence[Moment] | None = None) -> Figure:
    """Master vs dub (and repaired dub) loudness around each moment, each file on its own
    clock: a late dub's envelope sits to the right of the master's by the offset, a repaired
    one under it. Lines mark the moment in the master and where the model puts it in the dub
    (an edit: before it dotted, after it dashed)."""
    r, tl, clock = _typed(result, fps)
    moments = list(moments if moments is not None else _moments(r, tl, clock, 5))
    fig = Figure(figsize=(9, 2.4 * max(len(moments), 1) + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    if not moments:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no reliable offset: nothing to compare", ha="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    axes = fig.subplots(len(moments), 1, squeeze=False)[:, 0]
    tracks = [("master", master, "#222222", 2.0), ("dub", dub, _ORANGE, 1.0)]
    if repaired is not None:
        tracks.append(("repaired dub", repaired, _GREEN, 0.0))
    for ax, m in zip(axes, moments, strict=True):
        a, b = m.master_seconds - m.half_width, m.master_seconds + m.half_width
        shifts = m.dub_offsets or (_offset_at(r, tl, m.master_seconds) or 0.0,)
        for name, env, colour, base in tracks:
            tt, db = env.between(max(a, 0.0), b)
            if db.size:
                lo, hi = float(np.percentile(db, 2)), float(db.max())
                level = np.clip((db - lo) / max(hi - lo, 1e-6), 0, 1) * 0.9
                ax.plot(tt, base + level, color=colour, lw=0.9, label=name)
            for k, shift in enumerate(shifts if name == "dub" else (0.0,)):
                at = m.master_seconds + shift
                ax.plot([at, at], [base - 0.05, base + 0.95], color=colour, lw=1.4,
                        ls=":" if k == 0 else "--")
        ax.set_yticks([base + 0.45 for _, _, _, base in tracks],
                      [name for name, _, _, _ in tracks], fontsize=7)
        ax.set_ylim(-0.15 if repaired is not None else 0.85, 3.05)
        ax.set_title(f"{m.label}; the lines mark this moment in each file", fontsize=8)
        _timecode_axis(ax, clock, a, b, label=ax is axes[-1])
    return fig


# --- output ---------------------------------------------------------------------------------
def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_png(fig: Figure, path: Path, dpi: int = 110) -> Path:
    """Write the figure as a PNG under a temporary name, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}-{threading.get_ident()}.png")
    try:
        tmp.write_bytes(png_bytes(fig, dpi))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def evidence_pngs(result: Mapping[str, Any], *, fps: float,
                  envelopes: Callable[[], tuple[Envelope, Envelope, Envelope | None]] | None
                  = None, after: Mapping[str, Any] | None = None) -> dict[str, bytes]:
    """The plots of a result as PNG bytes by name: ``timeline``, ``windows`` (drift and edits)
    and ``envelope`` (when ``envelopes`` gives master, dub and repaired envelopes)."""
    typed = SyncResult.from_dict(result)
    out = {"timeline": png_bytes(timeline_figure(result, fps=fps, after=after))}
    if typed.verdict in (Verdict.DRIFT, Verdict.EDITED):
        out["windows"] = png_bytes(windows_figure(result, fps=fps))
    if envelopes is not None and typed.offset_seconds is not None:
        m, d, r = envelopes()
        out["envelope"] = png_bytes(envelope_figure(result, m, d, r, fps=fps))
    return out
