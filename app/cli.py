"""Command line: ``python -m app analyze MASTER DUB [--methods ...] [--tolerance ...] [--json]``.

Prints the offset, then the headline that drift and edits cannot hide (offset at the start →
at the end, the largest |offset| and where) and the QC verdict against the tolerance."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from app.engine import (
    METHOD_NAMES,
    AnalysisOptions,
    EngineError,
    ProgressEvent,
    analyze_files,
    tune_process,
)
from app.engine.qc import DEFAULT_WARN_FRACTION, ToleranceError, judge, parse_tolerance
from app.engine.start_timecode import clock_of
from app.engine.types import SyncResult

__all__ = ["main", "format_result", "format_qc"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="measure how late DUB is against MASTER (> 0 = dub late)")
    a.add_argument("master")
    a.add_argument("dub")
    a.add_argument("--methods", nargs="+", default=list(METHOD_NAMES), choices=METHOD_NAMES,
                   help="detection methods (default: all)")
    a.add_argument("--sample-rate", type=int, default=16000, help="analysis rate in Hz")
    a.add_argument("--max-offset", type=float, default=None,
                   help="limit the search to offsets within ±this many seconds (≤ 600); "
                        "default: the dub is found wherever it lies, then measured within "
                        "±120 s of that place")
    a.add_argument("--master-stream", type=int, default=0, help="audio stream index (0 = first)")
    a.add_argument("--dub-stream", type=int, default=0)
    a.add_argument("--master-channel", type=int, default=None, help="channel (default: downmix)")
    a.add_argument("--dub-channel", type=int, default=None)
    a.add_argument("--confidence-threshold", type=float, default=0.5)
    a.add_argument("--window", type=float, default=None,
                   help="timeline window in seconds (default: automatic)")
    a.add_argument("--hop", type=float, default=None, help="timeline hop in seconds")
    a.add_argument("--timeline", action="store_true",
                   help="print the offset window by window, the drift and the edits")
    a.add_argument("--fps", type=float, default=None,
                   help="the programme's frame rate: printed timecodes, one_frame tolerance "
                        "(default: a file's timecode track rate, else 25)")
    a.add_argument("--master-start-timecode", default=None, metavar="HH:MM:SS:FF",
                   help="the master's start timecode (default: its BWF time_reference or "
                        "MXF/MOV timecode, else 00:00:00:00); ';FF' = drop-frame")
    a.add_argument("--dub-start-timecode", default=None, metavar="HH:MM:SS:FF",
                   help="the dub's start timecode (default: the file's own)")
    a.add_argument("--tolerance", type=_tolerance_arg,
                   default=os.environ.get("QC_TOLERANCE") or "one_frame",
                   help="QC tolerance: one_frame (default, or $QC_TOLERANCE), ebu_r37, "
                        "itu_bt1359, or JSON such as '{\"early_ms\": 40, \"late_ms\": 60}'")
    a.add_argument("--warn-fraction", type=float, default=DEFAULT_WARN_FRACTION,
                   help="QC is WARN beyond this fraction of a limit (default 0.8)")
    a.add_argument("--strict", action="store_true",
                   help="exit with status 1 when the QC verdict is FAIL")
    a.add_argument("--json", action="store_true", help="print the full result as JSON")
    a.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def _tolerance_arg(value: str) -> str:
    try:
        parse_tolerance(value)
    except ToleranceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def format_qc(qc: dict[str, Any]) -> list[str]:
    """The headline lines: offset start → end, the largest |offset| and where, the QC verdict."""
    lines = []
    if qc.get("offset_start_ms") is not None:
        lines += [f"headline     {qc['offset_start_ms']:+.1f} ms at the start → "
                  f"{qc['offset_end_ms']:+.1f} ms at the end (> 0 = dub late)",
                  f"max |offset| {qc['max_abs_offset_ms']:.1f} ms at "
                  f"{qc['max_abs_at_timecode']}"]
    lines.append(f"qc           {qc['status']}: {qc['reason']}")
    return lines


def format_result(r: SyncResult, qc: dict[str, Any] | None = None) -> str:
    """Human-readable summary of a result (with its QC verdict when given)."""
    lines = [f"verdict      {r.verdict}  ({r.reason})"]
    if r.offset_seconds is not None:
        ms = r.offset_seconds * 1000
        late = "late" if r.offset_seconds > 0 else "early"
        lines += [
            f"offset       {r.offset_seconds:+.6f} s = {ms:+.3f} ms (dub {late}), "
            f"{r.offset_samples:+d} samples at {r.dub.sample_rate} Hz",
            "frames       " + "  ".join(f"{k}: {v:+.2f}" for k, v in r.offset_frames.items()),
            "timecode     " + "  ".join(f"{k}: {v}" for k, v in r.timecodes.items()),
        ]
    if qc is not None:
        lines += format_qc(qc)
    lines.append(f"confidence   {r.confidence:.3f}  agreement {r.agreement:.2f}  "
                 f"support {r.support:.2f}")
    for f in r.findings:
        lines.append(f"finding      {f}")
    lines.append("methods:")
    for m in r.methods:
        off = f"{m.offset_seconds:+.6f} s" if m.offset_seconds is not None else "none"
        lines.append(f"  {m.method:<12} {off:>16}  confidence {m.confidence:.3f}  "
                     f"ratio {m.peak_ratio:.2f}")
    lines.append(f"durations    master {r.master.analysed_seconds:.2f} s, dub "
                 f"{r.dub.analysed_seconds:.2f} s, overlap {r.overlap_seconds:.2f} s")
    return "\n".join(lines)


def format_timeline(r: SyncResult, *, fps: float | None = None) -> str:
    """The timeline: model, drift, edits, then one line per window (programme timecodes at
    ``fps``, default the programme's rate)."""
    tl = r.timeline
    if tl is None:
        return "timeline     none (no offset found)"
    clock = clock_of(r.programme_timecode, fps=fps)
    fps = clock.fps

    def tc(t: float, _fps: float) -> str | None:
        return clock.master(t)
    lines = [f"timeline     {tl['verdict']}: {tl['reason']}",
             f"model        {tl['model']}, coverage {tl['coverage']:.0%}, window "
             f"{tl['window_seconds']:g} s, hop {tl['hop_seconds']:g} s"]
    if tl["drift"]:
        d = tl["drift"]
        pitch = {True: "pitch changed", False: "pitch kept", None: "pitch unknown"}
        lines.append(f"drift        speed ratio {d['speed_ratio']:.6f} ({d['ppm']:+.1f} ppm)"
                     f"{', ' + d['conversion'] if d['conversion'] else ''}, "
                     f"{pitch[d['pitch_changed']]}, {d['total_seconds'] * 1000:+.1f} ms total")
    for e in tl["edits"]:
        lines.append(f"edit         {tc(e['master_time_seconds'], fps)} "
                     f"({e['master_time_seconds']:.2f} s): {e['duration_seconds']:.3f} s "
                     f"{e['kind']}")
    lines.append(f"windows      (master timecode at {fps:g} fps, offset ms, confidence, status)")
    for w in tl["windows"]:
        off = f"{w['offset_seconds'] * 1000:+10.2f}" if w["offset_seconds"] is not None else \
            f"{'-':>10}"
        lines.append(f"  {tc(w['start_seconds'], fps)} {off}  {w['confidence']:.2f}  "
                     f"{w['status']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tune_process()  # BLAS threads and allocator thresholds (app.engine.tuning)
    options = AnalysisOptions(
        methods=tuple(args.methods), sample_rate=args.sample_rate,
        max_offset_seconds=args.max_offset or 120.0, search_whole=args.max_offset is None,
        master_stream=args.master_stream,
        dub_stream=args.dub_stream, master_channel=args.master_channel,
        dub_channel=args.dub_channel, confidence_threshold=args.confidence_threshold,
        window_seconds=args.window, hop_seconds=args.hop, frame_rate=args.fps,
        master_start_timecode=args.master_start_timecode,
        dub_start_timecode=args.dub_start_timecode,
    )

    def show(event: ProgressEvent) -> None:
        if not args.quiet:
            print(f"[{event.fraction * 100:5.1f}%] {event.stage}: {event.message}",
                  file=sys.stderr)

    try:
        result = analyze_files(args.master, args.dub, options=options, progress=show)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = result.to_dict()
    try:
        programme = data.get("programme_timecode") or {}
        fps = args.fps if args.fps is not None or programme.get("fps_source") == "default" \
            else programme.get("fps")
        qc = judge(data, args.tolerance, args.warn_fraction, fps=fps)
    except ToleranceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**data, "qc": qc}, indent=2))
    else:
        print(format_result(result, qc))
        if args.timeline:
            print(format_timeline(result, fps=args.fps))
    return 1 if args.strict and qc["status"] == "FAIL" else 0
