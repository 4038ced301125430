"""Reports of finished analyses: the full JSON record, a report a person reads (text, Markdown
or HTML, built from the same document), and search by file pair.

Sign convention: ``offset_seconds > 0`` means the dub is late. The recommendation follows it:
a late dub loses that much from its head; an early dub gets that much silence added.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.core.errors import ConflictError, NotFoundError, public_text, root_labels
from app.db.models import TERMINAL_STATUSES, AnalysisRow, JobStatus, utcnow
from app.db.repository_reports import ReportRepository
from app.engine import ENGINE_VERSION, FRAME_RATES, AudioDecodeError, SyncResult, Verdict
from app.engine.decode import ffmpeg_path, ffprobe_path
from app.engine.start_timecode import clock_of
from app.engine.timeline import Drift, Timeline
from app.engine.wording import qc_pairs, sentence
from app.services.analysis import AnalysisService, qc_of
from app.services.health import tool_version
from app.services.media_info import probe_media
from app.services.plots import (
    envelope_figure,
    envelope_of,
    png_bytes,
    timeline_figure,
    windows_figure,
)
from app.services.text_safety import md_text, one_line

__all__ = ["ReportService", "build_report", "has_conform", "render", "REPORT_VERSION",
           "RATE_KEYS", "PLOT_NAMES", "VERDICT_LABELS"]

_logger = logging.getLogger(__name__)

REPORT_VERSION = "1.0"
#: the plots of an analysis (GET /reports/{analysis_id}/plots/{name}, the HTML report)
PLOT_NAMES: tuple[str, ...] = ("timeline", "windows", "envelope")
RATE_KEYS: tuple[str, ...] = tuple(f"{r:g}" for r in FRAME_RATES)
DEFAULT_FPS = "25"
VERDICT_LABELS: dict[str, str] = {
    Verdict.IN_SYNC: "IN SYNC", Verdict.CONSTANT_OFFSET: "OUT OF SYNC (constant offset)",
    Verdict.DRIFT: "OUT OF SYNC (drift)", Verdict.EDITED: "OUT OF SYNC (edits)",
    Verdict.NO_RELIABLE_MATCH: "NO RELIABLE MATCH"}
#: ITU-R BT.1359 detectability thresholds of audio ahead of / behind the picture, seconds
DETECTABLE_EARLY_SECONDS = 0.045
DETECTABLE_LATE_SECONDS = 0.125


def _ms(seconds: float) -> str:
    return f"{abs(seconds) * 1000:.1f} ms"


def _signed_ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:+.1f} ms"


def _frame_seconds(fps_key: str) -> float:
    from app.engine.timecode import exact_rate

    return float(1 / exact_rate(float(fps_key)))


def _fps_of(master_probe: dict[str, Any] | None) -> str:
    """The master's video frame rate when it is a standard one, else 25."""
    rate = (master_probe or {}).get("video_frame_rate")
    if rate:
        for key in RATE_KEYS:
            if abs(float(key) - rate) < 0.01:
                return key
    return DEFAULT_FPS


# --- recommendation -------------------------------------------------------------------------
def recommend(row: AnalysisRow, fps: str) -> dict[str, Any]:
    """What to do, in plain language: ``action``, a one-line ``summary`` and ``details``."""
    if row.status != JobStatus.COMPLETED or not row.result:
        message = (row.error or {}).get("message", "no result")
        return {"action": "rerun", "summary": f"The analysis did not complete ({row.status}): "
                f"{message}. Fix the cause and run it again.", "details": []}
    r = SyncResult.from_dict(row.result)
    verdict, offset = r.verdict, r.offset_seconds
    frames = (r.offset_frames or {}).get(fps)
    rate = r.dub.sample_rate or 0
    timeline = Timeline.from_dict(r.timeline) if r.timeline else None
    details: list[str] = []
    if r.polarity_inverted:
        details.append("The dub's polarity is inverted: invert it (multiply by -1) when "
                       "re-delivering.")
    confidence = float(r.confidence or 0.0)
    threshold = float((r.options or {}).get("confidence_threshold")
                      or (row.request or {}).get("confidence_threshold") or 0.5)
    if verdict == Verdict.NO_RELIABLE_MATCH or offset is None:
        max_offset = (row.request or {}).get("max_offset_seconds")
        steps = [f"Reason: {r.reason}",
                 "Check that master and dub are the same programme and version, and that the "
                 "right audio stream and channel were analysed.",
                 f"If the offset could exceed ±{max_offset:g} s, run again with a larger "
                 "max_offset_seconds." if max_offset else "",
                 "Listen to both at a few points before accepting the delivery."]
        return {"action": "review", "summary": "No reliable match: the measurement cannot be "
                "trusted, so no correction is suggested.",
                "details": [s for s in steps if s] + details}
    if confidence < max(0.7, threshold):
        details.append(f"Confidence {confidence:.2f} is moderate: spot-check by listening "
                       "before acting.")
    if verdict == "drift":
        drift = (timeline and timeline.drift) or Drift(1.0, 0.0, None, None, 0.0)
        ratio, name = drift.speed_ratio or 1.0, drift.conversion
        end = (offset or 0.0) + (drift.total_seconds or 0.0)
        pace = "faster" if ratio > 1 else "slower"
        summary = (f"The dub runs {pace} than the master ({abs(drift.ppm or 0):.0f}"
                   f" ppm{', the standard ' + name + ' conversion' if name else ''}): the offset "
                   f"goes from {_signed_ms(offset)} at the start to {_signed_ms(end)} at the end. "
                   "A constant shift cannot fix it: conform the dub's speed to the master "
                   f"(re-time by {1 / ratio:.6f}), then measure again.")
        if drift.pitch_changed is True:
            details.append("The dub is a resampled copy (its pitch moved with its speed): "
                           "resample it back, which also restores the pitch.")
        elif drift.pitch_changed is False:
            details.append("The dub was time-stretched (pitch kept): time-stretch it back "
                           "with a high-quality stretcher.")
        return {"action": "conform_speed", "summary": summary, "details": details}
    if verdict == Verdict.EDITED:
        edits = timeline.edits if timeline else []
        clock = clock_of(r.programme_timecode, fps=float(fps))
        points = "; ".join(f"{clock.master(e.master_time_seconds)} ({e.kind} "
                           f"{abs(e.duration_seconds):.3f} s)" for e in edits[:10])
        summary = (f"The dub's cut differs from the master's at {len(edits)} point(s): "
                   f"{points}. Conform the dub segment by segment (insert silence where "
                   "material is missing, remove what was added), then measure again.")
        details.insert(0, f"Offset at the start of the programme: {_signed_ms(offset)}.")
        return {"action": "conform_edits", "summary": summary, "details": details}
    if verdict == Verdict.IN_SYNC:
        return {"action": "none", "summary": "In sync (within 1 ms): no action needed.",
                "details": details}
    late = offset > 0
    samples = abs(int(r.offset_samples or round(offset * rate)))
    fix = (f"remove {_ms(offset)} ({samples} samples at {rate} Hz) from the head of the dub"
           if late else f"add {_ms(offset)} ({samples} samples at {rate} Hz) of silence to the "
           "head of the dub")
    frame_text = f"{abs(frames):.2f} frames at {fps} fps" if frames is not None else ""
    if abs(offset) < _frame_seconds(fps):
        summary = (f"The dub is {_ms(offset)} {'late' if late else 'early'} ({frame_text}): "
                   "less than one frame, within the usual one-frame delivery tolerance. "
                   f"Correcting it is optional: {fix}.")
        action = "optional_shift"
    else:
        summary = (f"The dub is {_ms(offset)} {'late' if late else 'early'} ({frame_text}): "
                   f"out of sync, a reject at most delivery specs. Fix: {fix}.")
        action = "shift"
    if (late and offset >= DETECTABLE_LATE_SECONDS) or (
            not late and -offset >= DETECTABLE_EARLY_SECONDS):
        details.append("Viewers will notice it: beyond the ITU-R BT.1359 detectability "
                       "thresholds (sound 45 ms early or 125 ms late).")
    return {"action": action, "summary": summary, "details": details}


# --- the JSON report -------------------------------------------------------------------------
def _timeline_summary(tl: Timeline, fps: str,
                      programme: dict[str, Any] | None = None) -> dict[str, Any]:
    """The timeline in short; edit and segment timecodes are programme timecode at ``fps``
    (``programme``: the result's programme_timecode record)."""
    clock = clock_of(programme, fps=float(fps))
    edits = [{**asdict(e), "timecode": clock.master(float(e.master_time_seconds))}
             for e in tl.edits]
    segments = [{**asdict(g), "master_start_timecode": clock.master(float(g.master_start_seconds)),
                 "master_end_timecode": clock.master(float(g.master_end_seconds))}
                for g in tl.segments]
    return {"verdict": tl.verdict, "reason": tl.reason, "model": tl.model,
            "offset_at_start_seconds": tl.offset_at_start_seconds, "coverage": tl.coverage,
            "residual_rms_seconds": tl.residual_rms_seconds,
            "residual_max_seconds": tl.residual_max_seconds,
            "window_seconds": tl.window_seconds, "windows": len(tl.windows),
            "windows_by_status": dict(Counter(str(w.status) for w in tl.windows)),
            "segments": segments, "edits": edits,
            "drift": None if tl.drift is None else asdict(tl.drift)}


def _input(row: AnalysisRow, side: str, r: SyncResult | None, probe: dict[str, Any] | None,
           probe_error: str | None) -> dict[str, Any]:
    request = row.request or {}
    path = request.get(f"{side}_path") or getattr(row, f"{side}_file")
    return {"file": request.get(f"{side}_file"), "path": path, "name": Path(path).name,
            "stream": request.get(f"{side}_stream"), "channel": request.get(f"{side}_channel"),
            "analysed": None if r is None else asdict(getattr(r, side)), "probe": probe,
            "probe_error": probe_error}


def build_report(row: AnalysisRow, *, fps: str, probes: dict[str, dict[str, Any] | None],
                 probe_errors: dict[str, str | None], versions: dict[str, Any],
                 qc: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full report of a finished analysis (pure: every input is given; ``qc``: the QC
    gate's verdict, default the result's)."""
    stored = row.result or {}  # methods and qc as stored: keys the typed result lacks
    r = SyncResult.from_dict(stored) if stored else None
    elapsed = (row.finished_at - row.started_at).total_seconds() \
        if row.finished_at and row.started_at else None
    verdict = (r and r.verdict) if row.status == JobStatus.COMPLETED else str(row.status)
    return {
        "report_version": REPORT_VERSION, "generated_at": utcnow().isoformat(),
        "sign_convention": "offset_seconds > 0 means the dub is late",
        "analysis": {"analysis_id": row.id, "status": row.status,
                     "label": (row.request or {}).get("label"), "batch_id": row.batch_id,
                     "created_at": row.created_at.isoformat(),
                     "started_at": row.started_at.isoformat() if row.started_at else None,
                     "finished_at": row.finished_at.isoformat() if row.finished_at else None,
                     "elapsed_seconds": None if elapsed is None else round(elapsed, 3),
                     "attempts": row.attempts},
        "inputs": {side: _input(row, side, r, probes.get(side), probe_errors.get(side))
                   for side in ("master", "dub")},
        "options": row.request,
        "verdict": {"code": verdict, "label": VERDICT_LABELS.get(str(verdict),
                                                                 str(verdict).upper()),
                    "reason": (r and r.reason) or (row.error or {}).get("message")},
        "offset": None if r is None or r.offset_seconds is None else {
            "seconds": r.offset_seconds, "milliseconds": round(r.offset_seconds * 1000.0, 3),
            "samples": r.offset_samples, "sample_rate": r.dub.sample_rate,
            "direction": "late" if r.offset_seconds > 0 else "early" if r.offset_seconds < 0
            else "none", "frames": r.offset_frames or {}, "timecodes": r.timecodes or {},
            "headline_fps": fps},
        "consensus": None if r is None else {
            "offset_seconds": r.offset_seconds, "confidence": r.confidence,
            "reliable": r.reliable,
            "confidence_threshold": (r.options or {}).get("confidence_threshold"),
            "agreement": r.agreement, "support": r.support,
            "polarity_inverted": r.polarity_inverted, "overlap_seconds": r.overlap_seconds},
        "methods": stored.get("methods") or [],
        "timeline": None if r is None or not r.timeline else _timeline_summary(
            Timeline.from_dict(r.timeline), fps, r.programme_timecode),
        "programme_timecode": None if r is None else r.programme_timecode,
        "qc": qc if qc is not None else stored.get("qc"),
        "findings": (r and r.findings) or [],
        "recommendation": recommend(row, fps),
        "timings": (r and r.timings) or {},
        "error": row.error,
        "versions": {**versions, "engine": (r and r.engine_version) or versions.get("engine")},
    }


def has_conform(report: Mapping[str, Any]) -> bool:
    """Whether the report's analysis has conform exports: it completed, with a match."""
    return report["analysis"]["status"] == JobStatus.COMPLETED and \
        report["offset"] is not None and report["verdict"]["code"] != Verdict.NO_RELIABLE_MATCH


def _start_text(side: dict[str, Any] | None) -> str:
    """``10:00:00:00 (file: timecode, format)`` of a programme_timecode side."""
    if not side:
        return "n/a"
    source = side.get("source")
    if source == "file":
        where = f"file: {side.get('tag')}" + (f", {side['where']}" if side.get("where") else "")
    elif source == "request":
        own = side.get("file_timecode")
        where = "request" + (f", the file says {own}" if own else "")
    else:
        where = "none in the file: the clock starts at zero"
    return f"{side.get('timecode')} ({where})"


# --- the human report: one document, three renderings --------------------------------------
@dataclass
class _Section:
    title: str
    pairs: list[tuple[str, str]] = field(default_factory=list)
    table: tuple[list[str], list[list[str]]] | None = None
    paragraphs: list[str] = field(default_factory=list)
    #: (caption, PNG bytes): shown in the HTML rendering, named in the others
    images: list[tuple[str, bytes]] = field(default_factory=list)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _stream_text(info: dict[str, Any] | None) -> str:
    if not info:
        return "n/a"
    layout = f" ({info['channel_layout']})" if info.get("channel_layout") else ""
    return (f"{info.get('container')}, {info.get('codec')}, {info.get('sample_rate')} Hz, "
            f"{info.get('channels')} ch{layout}, {_fmt(info.get('duration_seconds'))} s")


#: captions of the plots (app.services.plots) in the HTML report, in their order
PLOT_CAPTIONS = {
    "timeline": "Offset over the programme: every window, every fitted segment and edit, the "
                "QC tolerance (milliseconds left, frames right, master timecode below).",
    "windows": "The offset measured in each window, and each window's distance from the "
               "fitted model (the offset changes, so no single correlation peak exists).",
    "envelope": "Master vs dub loudness around the largest error and each edit, each file on "
                "its own clock: the lines mark the same moment in both.",
}


def _document(report: dict[str, Any], plots: Mapping[str, bytes] | None = None
              ) -> tuple[str, list[_Section]]:
    a = report["analysis"]
    inputs = report["inputs"]
    title = f"Sync report — {a['label'] or inputs['dub']['name']}"
    sections = []
    verdict = report["verdict"]
    rec = report["recommendation"]
    head = _Section("Verdict", paragraphs=[f"{verdict['label']}: {verdict['reason'] or ''}",
                                           f"Recommendation: {rec['summary']}",
                                           *[d for d in rec["details"] if d]])
    sections.append(head)
    qc = report.get("qc")
    if qc:
        sections.append(_Section("QC", paragraphs=[
            f"{qc.get('status')}: {sentence(str(qc.get('reason') or ''))}"],
            pairs=[p for p in qc_pairs(qc) if p[0] != "Reason"]))
    off = report["offset"]
    if off:
        fps = off["headline_fps"]
        sections.append(_Section("Offset (> 0 = dub late)", pairs=[
            ("Offset", f"{off['milliseconds']:+.3f} ms ({off['seconds']:+.6f} s), dub "
                       f"{off['direction']}"),
            ("Samples", f"{_fmt(off['samples'])} at {_fmt(off['sample_rate'])} Hz"),
            (f"At {fps} fps", f"{_fmt(off['frames'].get(fps), 2)} frames, timecode "
                              f"{off['timecodes'].get(fps, 'n/a')}"),
        ], table=(["Frame rate", "Frames", "Timecode"],
                  [[k, _fmt(off["frames"].get(k), 3), off["timecodes"].get(k, "n/a")]
                   for k in RATE_KEYS])))
    c = report["consensus"]
    if c:
        sections.append(_Section("Confidence", pairs=[
            ("Confidence", f"{_fmt(c['confidence'])} (threshold "
                           f"{_fmt(c['confidence_threshold'], 2)}, "
                           f"{'reliable' if c['reliable'] else 'not reliable'})"),
            ("Agreement of methods", _fmt(c["agreement"])),
            ("Support along the programme", _fmt(c["support"])),
            ("Polarity inverted", _fmt(c["polarity_inverted"])),
            ("Overlap analysed", f"{_fmt(c['overlap_seconds'], 1)} s")]))
    t = report["timeline"]
    if t:
        by_status = ", ".join(f"{k}: {v}" for k, v in t["windows_by_status"].items())
        pairs = [("Model", _fmt(t["model"])), ("Coverage", _fmt(t["coverage"])),
                 ("Windows", f"{t['windows']} of {_fmt(t['window_seconds'], 1)} s ({by_status})"),
                 ("Residual RMS", "n/a" if t["residual_rms_seconds"] is None
                  else f"{t['residual_rms_seconds'] * 1000:.2f} ms")]
        if t["drift"]:
            d = t["drift"]
            pairs.append(("Drift", f"speed ratio {d['speed_ratio']:.6f} ({d['ppm']:+.1f} ppm)"
                                   f"{', ' + d['conversion'] if d.get('conversion') else ''}, "
                                   f"{_signed_ms(d['total_seconds'])} over the programme"))
        sec = _Section("Offset along the programme", pairs=pairs)
        if t["edits"]:
            sec.table = (["Master time", "Timecode", "Edit", "Duration", "Offset before",
                          "Offset after"],
                         [[f"{e['master_time_seconds']:.3f} s", e["timecode"], e["kind"],
                           f"{abs(e['duration_seconds']):.3f} s",
                           _signed_ms(e["offset_before_seconds"]),
                           _signed_ms(e["offset_after_seconds"])] for e in t["edits"]])
        sections.append(sec)
    if plots:
        sections.append(_Section("Plots", images=[(PLOT_CAPTIONS.get(name, name), png)
                                                  for name, png in plots.items()]))
    if report["methods"]:
        sections.append(_Section("Methods", table=(
            ["Method", "Offset", "Confidence", "Peak ratio", "Time"],
            [[m["method"], _signed_ms(m.get("offset_seconds")), _fmt(m.get("confidence")),
              _fmt(m.get("peak_ratio"), 2), f"{_fmt(m.get('elapsed_seconds'), 2)} s"]
             for m in report["methods"]])))
    if report["findings"]:
        sections.append(_Section("Findings", paragraphs=list(report["findings"])))
    programme = report.get("programme_timecode") or {}
    sections.append(_Section("Files", pairs=[
        (f"{side.capitalize()}", f"{inputs[side]['path']}") for side in ("master", "dub")] + [
        (f"{side.capitalize()} analysed", _stream_text(inputs[side]["analysed"]))
        for side in ("master", "dub")] + ([
            (f"{side.capitalize()} start timecode", _start_text(programme.get(side)))
            for side in ("master", "dub")] + [
            ("Programme frame rate", f"{float(programme.get('fps') or 25):g} fps "
                                     f"({programme.get('fps_source')})")]
            if programme else []) + [
        (f"Conform export ({key.split('_', 1)[1]})", link)
        for key, link in report.get("links", {}).items() if key.startswith("conform_")]))
    v = report["versions"]
    sections.append(_Section("Analysis", pairs=[
        ("Analysis id", a["analysis_id"]), ("Status", str(a["status"])),
        ("Batch", _fmt(a["batch_id"])), ("Created", a["created_at"]),
        ("Finished", _fmt(a["finished_at"])), ("Run time", f"{_fmt(a['elapsed_seconds'], 2)} s"),
        ("Methods", ", ".join((report["options"] or {}).get("methods") or [])),
        ("Engine", _fmt(v.get("engine"))), ("ffmpeg", _fmt(v.get("ffmpeg"))),
        ("Report generated", report["generated_at"])]))
    return title, sections


def _text(title: str, sections: list[_Section]) -> str:
    title = one_line(title)  # user text never starts a line of its own
    out = [title, "=" * len(title), ""]
    for s in sections:
        out += [s.title, "-" * len(s.title)]
        out += [one_line(p) for p in s.paragraphs]
        width = max((len(k) for k, _ in s.pairs), default=0)
        out += [f"{k.ljust(width)} : {one_line(v)}" for k, v in s.pairs]
        if s.table:
            headers, rows = s.table
            cells = [[one_line(c) for c in row] for row in rows]
            widths = [max(len(str(x)) for x in col) for col in zip(headers, *cells, strict=True)]
            out.append("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
            out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                    for row in cells]
        out.append("")
    return "\n".join(out)


def _markdown(title: str, sections: list[_Section]) -> str:
    """Every text goes through md_text: user text (labels, paths, messages) is never
    markup."""
    out = [f"# {md_text(title)}", ""]
    for s in sections:
        out += [f"## {md_text(s.title)}", ""]
        out += [f"{md_text(p)}\n" for p in s.paragraphs]
        if s.pairs:
            out += ["| | |", "|---|---|"]
            out += [f"| **{md_text(k)}** | {md_text(v)} |" for k, v in s.pairs]
            out.append("")
        if s.table:
            headers, rows = s.table
            out += ["| " + " | ".join(md_text(h) for h in headers) + " |",
                    "|" + "---|" * len(headers)]
            out += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
            out.append("")
    return "\n".join(out)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
        "color:#222}table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid "
        "#ccc;padding:.25rem .6rem;text-align:left}th{background:#f3f3f3}.verdict{font-size:"
        "1.2rem;font-weight:600}figure{margin:1rem 0}img{max-width:100%}figcaption{color:#555;"
        "font-size:.9rem}")


def _html(title: str, sections: list[_Section]) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(title)}</title><style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    for i, s in enumerate(sections):
        out.append(f"<h2>{e(s.title)}</h2>")
        for j, p in enumerate(s.paragraphs):
            cls = ' class="verdict"' if i == 0 and j == 0 else ""
            out.append(f"<p{cls}>{e(p)}</p>")
        if s.pairs:
            out.append("<table>")
            out += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in s.pairs]
            out.append("</table>")
        if s.table:
            headers, rows = s.table
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>"
                    for row in rows]
            out.append("</table>")
        for caption, png in s.images:  # inline: the page stands alone (and the CSP allows it)
            out.append(f'<figure><img src="data:image/png;base64,'
                       f'{base64.b64encode(png).decode("ascii")}" alt="{e(caption)}">'
                       f"<figcaption>{e(caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def render(report: dict[str, Any], fmt: str, plots: Mapping[str, bytes] | None = None
           ) -> str:
    """The report as ``text``, ``markdown`` or ``html`` (with ``plots``, PNGs by name, shown
    inline in the HTML)."""
    title, sections = _document(report, plots if fmt == "html" else None)
    return {"text": _text, "markdown": _markdown, "html": _html}[fmt](title, sections)


class ReportService:
    """Reports of finished analyses and their search."""

    def __init__(self, settings: Settings, repo: ReportRepository,
                 analyses: AnalysisService) -> None:
        self.settings = settings
        self.repo = repo
        self.analyses = analyses

    @staticmethod
    def _versions() -> dict[str, Any]:
        versions: dict[str, Any] = {"report": REPORT_VERSION, "engine": ENGINE_VERSION,
                                    "service": ENGINE_VERSION}
        try:
            versions["ffmpeg"] = tool_version(ffmpeg_path())
            versions["ffprobe"] = tool_version(ffprobe_path())
        except AudioDecodeError:
            versions["ffmpeg"] = versions["ffprobe"] = None
        return versions

    def _finished(self, analysis_id: str) -> AnalysisRow:
        row = self.analyses.get(analysis_id)
        if row.status not in TERMINAL_STATUSES:
            raise ConflictError(f"analysis {analysis_id} is {row.status}: its report exists "
                                "once it has finished", code="report_not_ready",
                                details={"status": row.status})
        return row

    def report(self, analysis_id: str, *, fps: str | None = None) -> dict[str, Any]:
        """The full JSON report; inputs are probed again when their files still exist."""
        row = self._finished(analysis_id)
        probes: dict[str, dict[str, Any] | None] = {}
        errors: dict[str, str | None] = {}
        for side in ("master", "dub"):
            path = Path((row.request or {}).get(f"{side}_path") or getattr(row, f"{side}_file"))
            try:
                summary = probe_media(path, deep=False)
                summary.pop("raw", None)
                probes[side], errors[side] = summary, None
            except AudioDecodeError as exc:
                shown = {str(path): str(getattr(row, f"{side}_file"))}
                probes[side], errors[side] = None, public_text(
                    str(exc), shown, roots=root_labels(self.settings))
        return build_report(row, fps=fps or _fps_of(probes.get("master")), probes=probes,
                            probe_errors=errors, versions=self._versions(), qc=self._qc(row))

    def _qc(self, row: AnalysisRow) -> dict[str, Any] | None:
        """The result's QC verdict (judged now for a result stored before the QC gate)."""
        r = row.result
        if not r:
            return None
        return r.get("qc") or qc_of(r, row.request or {}, settings=self.settings)

    def formatted(self, report: dict[str, Any], *, fmt: str, fps: str | None = None) -> str:
        """:meth:`report` (with its links) for a person; the HTML one with its plots inline."""
        analysis_id = report["analysis"]["analysis_id"]
        plots = None
        if fmt == "html":
            headline = (report.get("offset") or {}).get("headline_fps") or fps
            plots = {}
            for name in PLOT_NAMES:
                try:
                    plots[name] = self.plot(analysis_id, name, fps=headline)
                except NotFoundError:  # not for this result (or its files are gone)
                    continue
        return render(report, fmt, plots)

    def plot(self, analysis_id: str, name: str, *, fps: str | None = None) -> bytes:
        """A plot of a completed analysis as PNG (app.services.plots), cached under
        OUTPUT_DIR/plots: ``timeline``; ``windows`` (drift and edits); ``envelope`` (master
        vs dub around the largest error and each edit, while both files are there). 404
        ``plot_not_available`` when it does not apply."""
        row = self._finished(analysis_id)
        if name not in PLOT_NAMES:
            raise NotFoundError(f"no plot {name!r}; plots: {list(PLOT_NAMES)}",
                                code="plot_not_available")
        stored = row.result or {}
        r = SyncResult.from_dict(stored) if stored else None
        if row.status != JobStatus.COMPLETED or r is None or r.offset_seconds is None:
            raise NotFoundError(f"analysis {analysis_id} has no offset to plot",
                                code="plot_not_available", details={"plot": name})
        if name == "windows" and r.verdict not in (Verdict.DRIFT, Verdict.EDITED):
            raise NotFoundError("the per-window plot is for drifting or edited dubs; this one "
                                f"is {r.verdict}", code="plot_not_available",
                                details={"plot": name})
        rate = float(fps or (r.programme_timecode or {}).get("fps") or DEFAULT_FPS)
        result = {**stored, "qc": self._qc(row)}
        tolerance = json.dumps((result["qc"] or {}).get("tolerance"), sort_keys=True)
        key = hashlib.sha256(f"{REPORT_VERSION}|{rate:g}|{tolerance}".encode()).hexdigest()[:12]
        cached = self.settings.output_root / "plots" / row.id / f"{name}_{key}.png"
        if cached.is_file():
            return cached.read_bytes()
        if name == "timeline":
            png = png_bytes(timeline_figure(result, fps=rate))
        elif name == "windows":
            png = png_bytes(windows_figure(result, fps=rate))
        else:
            opts = r.options or {}
            try:
                envs = [envelope_of(Path((row.request or {}).get(f"{side}_path")
                                         or getattr(row, f"{side}_file")),
                                    stream=int(opts.get(f"{side}_stream") or 0),
                                    channel=opts.get(f"{side}_channel"))
                        for side in ("master", "dub")]
            except (AudioDecodeError, OSError) as exc:
                raise NotFoundError("the envelope plot needs both files, which cannot be read "
                                    "now", code="plot_not_available",
                                    details={"plot": name}) from exc
            png = png_bytes(envelope_figure(result, envs[0], envs[1], fps=rate))
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{uuid.uuid4().hex}.partial")
        try:
            tmp.write_bytes(png)
            os.replace(tmp, cached)
        finally:
            tmp.unlink(missing_ok=True)
        return png

    def search(self, *, master: str | None, dub: str | None, statuses: Sequence[str],
               batch_id: str | None, limit: int, offset: int
               ) -> tuple[list[dict[str, Any]], int]:
        """Reports for a file pair (substrings of the paths, either optional), newest first."""
        rows, total = self.repo.search(statuses=statuses or sorted(TERMINAL_STATUSES),
                                       master=master, dub=dub, batch_id=batch_id, limit=limit,
                                       offset=offset)
        return [self._summary(r) for r in rows], total

    @staticmethod
    def _summary(row: AnalysisRow) -> dict[str, Any]:
        r = SyncResult.from_dict(row.result) if row.result else None
        offset = None if r is None else r.offset_seconds
        return {"analysis_id": row.id, "status": row.status,
                "label": (row.request or {}).get("label"), "batch_id": row.batch_id,
                "master_file": row.master_file, "dub_file": row.dub_file,
                "created_at": row.created_at, "finished_at": row.finished_at,
                "verdict": None if r is None else r.verdict, "offset_seconds": offset,
                "offset_ms": None if offset is None else round(offset * 1000.0, 3),
                "confidence": None if r is None else r.confidence, "error": row.error}
