"""Command line: ``python -m app analyze MASTER DUB [--methods ...] [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from app.engine import METHOD_NAMES, AnalysisOptions, EngineError, ProgressEvent, analyze_files
from app.engine.types import SyncResult

__all__ = ["main", "format_result"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="measure how late DUB is against MASTER (> 0 = dub late)")
    a.add_argument("master")
    a.add_argument("dub")
    a.add_argument("--methods", nargs="+", default=list(METHOD_NAMES), choices=METHOD_NAMES,
                   help="detection methods (default: all)")
    a.add_argument("--sample-rate", type=int, default=16000, help="analysis rate in Hz")
    a.add_argument("--max-offset", type=float, default=120.0,
                   help="search offsets within ±this many seconds (≤ 600)")
    a.add_argument("--master-stream", type=int, default=0, help="audio stream index (0 = first)")
    a.add_argument("--dub-stream", type=int, default=0)
    a.add_argument("--master-channel", type=int, default=None, help="channel (default: downmix)")
    a.add_argument("--dub-channel", type=int, default=None)
    a.add_argument("--confidence-threshold", type=float, default=0.5)
    a.add_argument("--json", action="store_true", help="print the full result as JSON")
    a.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def format_result(r: SyncResult) -> str:
    """Human-readable summary of a result."""
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = AnalysisOptions(
        methods=tuple(args.methods), sample_rate=args.sample_rate,
        max_offset_seconds=args.max_offset, master_stream=args.master_stream,
        dub_stream=args.dub_stream, master_channel=args.master_channel,
        dub_channel=args.dub_channel, confidence_threshold=args.confidence_threshold,
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
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_result(result))
    return 0
