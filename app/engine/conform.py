"""The conform: the dub's material placed on the master's programme as an edit decision list,
written with OpenTimelineIO (OTIO JSON, and through its adapters CMX 3600 EDL and FCP 7 XML).

From a result (``SyncResult.to_dict()``): the record side is the master's programme (record
timecode = the master's start timecode + master time), the source side the dub file (source
timecode = the dub's start timecode + dub time). Each timeline segment becomes a clip of the
dub whose source range is the dub material that plays there; master material the dub lacks
(head, an edit's removed stretch, tail) becomes a gap; each edit is a marker on the clip that
follows it. A drifting segment's clip carries a ``LinearTimeWarp`` (``time_scalar`` = dub
seconds per master second).

Edit points are whole frames at the programme frame rate (a sub-frame offset is rounded; each
clip's ``metadata["sync_analyzer"]`` keeps the exact seconds). Sign convention: offset > 0 =
dub late (dub time = master time + offset).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opentimelineio as otio

from app.engine.start_timecode import DEFAULT_FPS, clock_of
from app.engine.timecode import exact_rate, is_drop_rate
from app.engine.types import ParameterError, Verdict

__all__ = ["FORMATS", "ConformError", "ConformPiece", "conform_pieces", "build_timeline",
           "write_conform"]

#: format → (OTIO adapter, file extension, media type)
FORMATS: dict[str, tuple[str, str, str]] = {
    "otio": ("otio_json", ".otio", "application/json"),
    "edl": ("cmx_3600", ".edl", "text/plain; charset=utf-8"),
    "fcpxml": ("fcp_xml", ".xml", "application/xml"),
}
#: shorter stretches (s) are rounding between segments, not programme to fill
_MIN_SECONDS = 1e-3


class ConformError(ParameterError):
    """The result cannot be conformed (no offset found) or the format is unknown."""


@dataclass(frozen=True)
class ConformPiece:
    """One stretch of the master's programme, master time [record_start, record_end) s: a
    ``clip`` of the dub (dub time [source_start, source_end) s, offsets at both ends) or a
    ``gap`` (master material the dub lacks: ``part`` head, inside or tail)."""

    kind: str
    record_start_seconds: float
    record_end_seconds: float
    source_start_seconds: float | None = None
    source_end_seconds: float | None = None
    offset_start_seconds: float | None = None
    offset_end_seconds: float | None = None
    part: str | None = None


def _line(seg: Mapping[str, Any]) -> tuple[float, float, float]:
    """(t0, offset at t0, slope) of a segment's offset line."""
    t0, t1 = float(seg["master_start_seconds"]), float(seg["master_end_seconds"])
    o0, o1 = float(seg["offset_start_seconds"]), float(seg["offset_end_seconds"])
    return t0, o0, (o1 - o0) / max(t1 - t0, 1e-9)


def _at(line: tuple[float, float, float], t: float) -> float:
    t0, o0, slope = line
    return o0 + slope * (t - t0)


def _meets(line: tuple[float, float, float], dub_time: float) -> float:
    """Master time t whose dub time t + offset(t) is ``dub_time`` (s)."""
    t0, o0, slope = line
    return (dub_time - o0 + slope * t0) / (1.0 + slope)


def conform_pieces(result: Mapping[str, Any]) -> list[ConformPiece]:
    """The clips and gaps, in master order, that rebuild the master's programme from the dub
    (seconds). Raises :class:`ConformError` when the result has no offset."""
    offset = result.get("offset_seconds")
    if offset is None or result.get("verdict") == Verdict.NO_RELIABLE_MATCH:
        raise ConformError("no reliable match: there is no offset to conform the dub with")
    cov = result.get("coverage") or {}
    tl = result.get("timeline") or {}
    master_seconds = float(cov.get("master_seconds") or (result.get("master") or {}).get(
        "analysed_seconds") or (result.get("master") or {}).get("duration_seconds") or 0.0)
    dub_seconds = float(cov.get("dub_seconds") or (result.get("dub") or {}).get(
        "analysed_seconds") or (result.get("dub") or {}).get("duration_seconds") or 0.0)
    segments = sorted(tl.get("segments") or [], key=lambda g: g["master_start_seconds"])
    if not segments:
        segments = [{"master_start_seconds": 0.0, "master_end_seconds": master_seconds,
                     "offset_start_seconds": offset, "offset_end_seconds": offset}]
    edits = sorted(tl.get("edits") or [], key=lambda e: e["master_time_seconds"])
    lines = [_line(g) for g in segments]
    # where each segment's clip starts and ends in master time
    starts = [float(g["master_start_seconds"]) for g in segments]
    ends = [float(g["master_end_seconds"]) for g in segments]
    starts[0] = max(0.0, _meets(lines[0], 0.0))  # the dub's first sample, in master time
    ends[-1] = min(master_seconds, _meets(lines[-1], dub_seconds))  # its last
    used: set[int] = set()
    for i in range(len(segments) - 1):
        boundary = float(segments[i + 1]["master_start_seconds"])
        near = [k for k in range(len(edits)) if k not in used]
        k = min(near, key=lambda k: abs(edits[k]["master_time_seconds"] - boundary),
                default=None)
        if k is None or abs(edits[k]["master_time_seconds"] - boundary) > max(
                ends[i] - starts[i], ends[i + 1] - starts[i + 1]):
            ends[i] = starts[i + 1] = boundary
            continue
        used.add(k)
        e = edits[k]
        at = float(e["master_time_seconds"])
        ends[i] = at
        starts[i + 1] = at + (float(e["duration_seconds"])
                              if e["kind"] in ("removed", "replaced") else 0.0)
    pieces: list[ConformPiece] = []
    cursor = 0.0
    for i, line in enumerate(lines):
        a, b = max(starts[i], cursor), min(ends[i], master_seconds)
        src_a = a + _at(line, a)
        if src_a < 0:  # the dub starts inside this stretch
            a, src_a = a - src_a, 0.0
        if b - a < _MIN_SECONDS:
            continue
        if a - cursor >= _MIN_SECONDS:
            part = "head" if not pieces else "inside"
            pieces.append(ConformPiece("gap", cursor, a, part=part))
        pieces.append(ConformPiece("clip", a, b, src_a, b + _at(line, b), _at(line, a),
                                   _at(line, b)))
        cursor = b
    if master_seconds - cursor >= _MIN_SECONDS:
        pieces.append(ConformPiece("gap", cursor, master_seconds, part="tail"))
    return pieces


def _reel(name: str) -> str:
    """A CMX 3600 reel name (8 characters, letters and digits) from a file name."""
    return (re.sub(r"[^A-Za-z0-9]", "", Path(name).stem)[:8] or "DUB").upper()


def build_timeline(result: Mapping[str, Any], *, fps: float | None = None,
                   name: str | None = None, dub_path: str | None = None
                   ) -> otio.schema.Timeline:
    """The OTIO timeline of the conform at ``fps`` (default: the programme's rate): one audio
    track of dub clips and gaps on the master's programme, edits as markers, the master's
    start timecode as ``global_start_time``. ``dub_path``: the dub's file (default: the
    result's)."""
    programme = result.get("programme_timecode")
    clock = clock_of(programme, fps=fps)
    rate = float(exact_rate(clock.fps))
    pieces = conform_pieces(result)

    def frames(seconds: float) -> int:
        return int(round(seconds * rate))

    def rt(value: int) -> otio.opentime.RationalTime:
        return otio.opentime.RationalTime(value, rate)

    master_start = frames(clock.master_start_seconds)
    dub_start = frames(clock.dub_start_seconds)
    dub = dict(result.get("dub") or {})
    path = dub_path or dub.get("path") or "dub"
    dub_name = Path(path).name
    master_name = Path(str((result.get("master") or {}).get("path") or "master")).name
    dub_seconds = float((result.get("coverage") or {}).get("dub_seconds") or dub.get(
        "analysed_seconds") or dub.get("duration_seconds") or 0.0)
    url = Path(path).absolute().as_uri() if Path(path).is_absolute() else path
    available = otio.opentime.TimeRange(rt(dub_start), rt(max(frames(dub_seconds), 1)))
    timeline = otio.schema.Timeline(name=name or f"Conform {dub_name} to {master_name}")
    timeline.global_start_time = rt(master_start)
    timeline.metadata["sync_analyzer"] = {
        "sign_convention": "offset_seconds > 0 means the dub is late",
        "fps": clock.fps, "programme_timecode": dict(programme or {}),
        "master": master_name, "dub": dub_name, "verdict": result.get("verdict")}
    track = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    record = master_start  # record position (programme frames) where the next item starts
    clips: list[tuple[ConformPiece, otio.schema.Clip]] = []
    for p in pieces:
        end = frames(clock.master_start_seconds + p.record_end_seconds)
        length = end - record
        if length <= 0:
            continue
        if p.kind == "gap":
            gap = otio.schema.Gap(source_range=otio.opentime.TimeRange(rt(0), rt(length)))
            gap.name = f"missing ({p.part})"
            gap.metadata["sync_analyzer"] = {
                "part": p.part, "master_start_seconds": round(p.record_start_seconds, 6),
                "master_end_seconds": round(p.record_end_seconds, 6)}
            track.append(gap)
        else:
            assert p.source_start_seconds is not None and p.source_end_seconds is not None
            src_in = frames(clock.dub_start_seconds + p.source_start_seconds)
            clip = otio.schema.Clip(
                name=dub_name, media_reference=otio.schema.ExternalReference(
                    target_url=url, available_range=available),
                source_range=otio.opentime.TimeRange(rt(src_in), rt(length)))
            span = p.record_end_seconds - p.record_start_seconds
            scalar = (p.source_end_seconds - p.source_start_seconds) / span
            if abs(scalar - 1.0) > 1e-6:  # drift: the dub runs at another speed
                clip.effects.append(otio.schema.LinearTimeWarp(
                    name="speed", time_scalar=scalar))
            clip.metadata["cmx_3600"] = {"reel": _reel(dub_name)}
            clip.metadata["sync_analyzer"] = {
                "master_start_seconds": round(p.record_start_seconds, 6),
                "master_end_seconds": round(p.record_end_seconds, 6),
                "dub_start_seconds": round(p.source_start_seconds, 6),
                "dub_end_seconds": round(p.source_end_seconds, 6),
                "offset_start_seconds": round(float(p.offset_start_seconds or 0.0), 9),
                "offset_end_seconds": round(float(p.offset_end_seconds or 0.0), 9),
                "speed": round(scalar, 9),
                "master_start_timecode": clock.master(p.record_start_seconds),
                "dub_start_timecode": clock.dub(p.source_start_seconds)}
            track.append(clip)
            clips.append((p, clip))
        record = end
    for e in (result.get("timeline") or {}).get("edits") or []:
        at = float(e["master_time_seconds"])
        after = next((c for p, c in clips if p.record_start_seconds >= at - 1e-3), None)
        if after is None:
            continue
        duration = abs(float(e["duration_seconds"]))
        marker = otio.schema.Marker(
            name=f"{e['kind']} {duration:.3f} s at {clock.master(at)}",
            marked_range=otio.opentime.TimeRange(after.source_range.start_time, rt(0)),
            color=otio.schema.MarkerColor.GREEN if e["kind"] == "inserted"
            else otio.schema.MarkerColor.RED)
        marker.metadata["sync_analyzer"] = {
            "kind": e["kind"], "master_time_seconds": at, "duration_seconds": duration,
            "master_timecode": clock.master(at),
            "uncertainty_seconds": e.get("uncertainty_seconds"),
            "replacement_seconds": e.get("replacement_seconds", 0.0),
            "offset_before_seconds": e.get("offset_before_seconds"),
            "offset_after_seconds": e.get("offset_after_seconds")}
        after.markers.append(marker)
    timeline.tracks.append(track)
    return timeline


def _for_edl(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """The CMX 3600 writer counts record time from the tracks' zero and wants one video
    track: the programme start becomes a leading gap (no event), and an empty video track
    stands beside the audio one."""
    out = copy.deepcopy(timeline)
    start = out.global_start_time
    if start is not None and start.value > 0:
        for track in out.tracks:
            track.insert(0, otio.schema.Gap(source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, start.rate), start)))
        out.global_start_time = otio.opentime.RationalTime(0, start.rate)
    video = otio.schema.Track(name="V", kind=otio.schema.TrackKind.Video)
    video.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, start.rate if start is not None else DEFAULT_FPS),
        out.tracks[0].duration())))
    out.tracks.append(video)
    return out


def write_conform(timeline: otio.schema.Timeline, fmt: str) -> str:
    """The timeline as ``fmt`` text: ``otio`` (OTIO JSON), ``edl`` (CMX 3600) or ``fcpxml``
    (FCP 7 XML). Raises :class:`ConformError` for another format."""
    if fmt not in FORMATS:
        raise ConformError(f"format {fmt!r}: one of {list(FORMATS)}")
    adapter = FORMATS[fmt][0]
    if fmt != "edl":
        return str(otio.adapters.write_to_string(timeline, adapter))
    text = str(otio.adapters.write_to_string(_for_edl(timeline), adapter))
    rate = timeline.global_start_time.rate if timeline.global_start_time is not None \
        else DEFAULT_FPS
    fcm = "FCM: DROP FRAME" if is_drop_rate(rate) else "FCM: NON-DROP FRAME"
    head, sep, rest = text.partition("\n\n")
    if head.startswith("TITLE:") and sep:
        return f"{head}\n{fcm}\n\n{rest}"
    return f"{fcm}\n\n{text}"
