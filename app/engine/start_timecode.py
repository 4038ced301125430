"""Programme timecode: where each file's first sample sits on the programme's clock.

A file tells it in its tags, read from ffprobe's JSON at probe time (:func:`file_timecode`):

- BWF (a WAV with a ``bext`` chunk): ``time_reference``, samples since midnight at the
  file's sample rate (an ffprobe format tag);
- MXF: the ``timecode`` format tag (the material package's start timecode);
- MOV/MP4: the ``timecode`` tag of the ``tmcd`` data track (ffmpeg copies it to the video
  stream too), at the track's frame rate.

A request may set a file's start (``master_start_timecode`` / ``dub_start_timecode``): where a
file has none, or to override a wrong one (the request wins; the file's own is kept in the
record). :func:`programme_timecode` resolves both sides and the programme frame rate into
the result's ``programme_timecode`` record; :class:`ProgrammeClock` turns positions into
timecode labels: master time ``t`` (s) → master start + ``t``, dub time → dub start +
dub time. Offsets are durations and are never shifted.

Units: seconds since midnight (start), seconds of the file (positions), frames per second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.engine.timecode import (
    TimecodeError,
    exact_rate,
    frames_to_timecode,
    is_drop_rate,
    parse_timecode,
    seconds_to_timecode,
)

__all__ = ["DEFAULT_FPS", "ProgrammeClock", "file_timecode", "programme_timecode",
           "clock_of", "check_start_timecode", "TimecodeError"]

#: the programme frame rate when neither the request nor a file's timecode track gives one
DEFAULT_FPS = 25.0
_MAX_FPS = 120.0
_DAY_SECONDS = 86400.0


def _rate(value: Any) -> float | None:
    """ffprobe's ``"30000/1001"`` → 29.97…, None for ``0/0`` or nonsense."""
    if not isinstance(value, str) or "/" not in value:
        return None
    num, _, den = value.partition("/")
    try:
        n, d = float(num), float(den)
    except ValueError:
        return None
    if n <= 0 or d <= 0 or not 1.0 <= n / d <= _MAX_FPS:
        return None
    return round(n / d, 3)


def _tags(entry: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (entry.get("tags") or {}).items()}


def file_timecode(raw: Mapping[str, Any], *, stream: int = 0) -> dict[str, Any] | None:
    """The start timecode ``raw`` (ffprobe's ``-show_format -show_streams`` JSON) carries, or
    None. ``stream``: the audio stream analysed (0 = first), whose sample rate counts BWF
    samples.

    Returns ``{"tag": "time_reference", "samples", "sample_rate", "seconds", "where"}`` for a
    BWF, or ``{"tag": "timecode", "timecode": label, "fps": rate or None, "where"}`` for an
    MXF/MOV timecode (``fps``: the timecode or video track's rate when ffprobe tells it)."""
    streams = [s for s in raw.get("streams") or [] if isinstance(s, Mapping)]
    fmt = raw.get("format") or {}
    tags = _tags(fmt)
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    chosen = audio[stream] if 0 <= stream < len(audio) else (audio[0] if audio else {})
    ref = tags.get("time_reference", "").strip()
    if ref.isdigit():
        try:
            sr = int(chosen.get("sample_rate") or 0)
        except (TypeError, ValueError):
            sr = 0
        samples = int(ref)
        if sr > 0 and samples / sr < _DAY_SECONDS:
            return {"tag": "time_reference", "samples": samples, "sample_rate": sr,
                    "seconds": samples / sr, "where": "bext chunk (BWF)"}
    video_rate = next((r for s in streams if s.get("codec_type") == "video"
                       for r in [_rate(s.get("r_frame_rate")) or _rate(s.get("avg_frame_rate"))]
                       if r), None)
    candidates: list[tuple[str, str, float | None]] = []
    if tags.get("timecode"):
        candidates.append((tags["timecode"], "format", video_rate))
    for s in streams:  # the tmcd track first, then video, then the audio stream itself
        if str(s.get("codec_tag_string", "")).lower() == "tmcd" and _tags(s).get("timecode"):
            rate = _rate(s.get("avg_frame_rate")) or _rate(s.get("r_frame_rate")) or video_rate
            candidates.append((_tags(s)["timecode"], f"stream {s.get('index')} (tmcd)", rate))
    for kind in ("video", "audio"):
        for s in streams:
            if s.get("codec_type") == kind and _tags(s).get("timecode"):
                rate = _rate(s.get("r_frame_rate")) if kind == "video" else video_rate
                candidates.append((_tags(s)["timecode"], f"stream {s.get('index')} ({kind})",
                                   rate))
    for label, where, rate in candidates:
        try:
            parse_timecode(label, rate or (29.97 if ";" in label else 60.0))
        except TimecodeError:
            continue  # a tag that is not a timecode at its own rate: the next one
        return {"tag": "timecode", "timecode": label.strip(), "fps": rate, "where": where}
    return None


def _programme_fps(fps: float | None, master: Mapping[str, Any] | None,
                   dub: Mapping[str, Any] | None, requested: tuple[str | None, str | None]
                   ) -> tuple[float, str]:
    """(frame rate, where it comes from): the request's, a file timecode track's, 29.97 for
    a requested drop-frame start, else 25."""
    if fps is not None:
        return float(fps), "request"
    for side, tc in (("master", master), ("dub", dub)):
        if tc and tc.get("fps"):
            return float(tc["fps"]), f"{side} file timecode"
    if any(r and ";" in r for r in requested):
        return 29.97, "drop-frame start timecode"
    return DEFAULT_FPS, "default"


def _resolve(side: str, tag: Mapping[str, Any] | None, requested: str | None,
             fps: float) -> dict[str, Any]:
    """One side's record: timecode label at ``fps``, seconds since midnight, source."""
    rate = exact_rate(fps)
    own = None if not tag else tag.get("timecode") or (
        frames_to_timecode(int(round(float(tag["seconds"]) * rate)), fps))
    if requested is not None:
        try:
            frames, drop = parse_timecode(requested, fps)
        except TimecodeError as exc:
            raise TimecodeError(f"{side}_start_timecode: {exc}") from exc
        return {"timecode": frames_to_timecode(frames, fps, drop=drop),
                "seconds": round(float(frames / rate), 6), "drop_frame": drop,
                "source": "request", "tag": None, "file_timecode": own}
    if tag and tag.get("tag") == "time_reference":
        seconds = float(tag["seconds"])
        return {"timecode": frames_to_timecode(int(round(seconds * rate)), fps),
                "seconds": round(seconds, 6), "drop_frame": is_drop_rate(fps),
                "source": "file", "tag": "time_reference", "where": tag.get("where"),
                "samples": tag.get("samples"), "sample_rate": tag.get("sample_rate"),
                "file_timecode": own}
    if tag and tag.get("timecode"):
        own_fps = float(tag.get("fps") or fps)
        try:
            parsed: tuple[int, bool] | None = parse_timecode(str(tag["timecode"]), own_fps)
        except TimecodeError:
            parsed = None  # not a timecode at the programme rate: as if the file had none
        if parsed is not None:
            frames, drop = parsed
            seconds = float(frames / exact_rate(own_fps))
            shown = (frames_to_timecode(frames, fps, drop=drop)
                     if exact_rate(own_fps) == rate
                     else frames_to_timecode(int(round(seconds * rate)), fps))
            return {"timecode": shown, "seconds": round(seconds, 6),
                    "drop_frame": drop if exact_rate(own_fps) == rate else is_drop_rate(fps),
                    "source": "file", "tag": "timecode", "where": tag.get("where"),
                    "file_fps": tag.get("fps"), "file_timecode": own}
    return {"timecode": frames_to_timecode(0, fps), "seconds": 0.0,
            "drop_frame": is_drop_rate(fps), "source": "none", "tag": None,
            "file_timecode": None}


def programme_timecode(master_tag: Mapping[str, Any] | None, dub_tag: Mapping[str, Any] | None,
                       *, fps: float | None = None, master_start: str | None = None,
                       dub_start: str | None = None) -> dict[str, Any]:
    """The result's ``programme_timecode`` record: the programme frame rate (``fps``, else a
    file's timecode track rate, else 25) and, per side, the start used (``timecode`` at that
    rate, ``seconds`` since midnight, ``source``: "request" / "file" / "none", the tag, the
    file's own label). ``master_start``/``dub_start``: requested starts ("HH:MM:SS:FF", or
    ";FF" drop-frame). Raises :class:`TimecodeError` for a requested start that is not a
    timecode at the programme rate."""
    rate, rate_source = _programme_fps(fps, master_tag, dub_tag, (master_start, dub_start))
    master = _resolve("master", master_tag, master_start, rate)
    dub = _resolve("dub", dub_tag, dub_start, rate)
    return {"fps": rate, "fps_source": rate_source, "drop_frame": bool(master["drop_frame"]),
            "master": master, "dub": dub}


def check_start_timecode(text: str | None, fps: float | None = None) -> None:
    """Raise :class:`TimecodeError` when ``text`` cannot be a start timecode (at ``fps`` when
    given; else its syntax and ranges, drop-frame checked at 29.97)."""
    if text is None:
        return
    parse_timecode(text, fps if fps is not None else (29.97 if ";" in text else 60.0))


@dataclass(frozen=True)
class ProgrammeClock:
    """Positions as programme timecode: master time ``t`` (s) → ``master_start_seconds`` +
    ``t`` on a 24-hour clock at ``fps`` (``drop_frame`` at 29.97/59.94), dub time → the
    dub's start + dub time. With no start (0), negative positions stay signed."""

    fps: float = DEFAULT_FPS
    master_start_seconds: float = 0.0
    dub_start_seconds: float = 0.0
    drop_frame: bool | None = None

    def _label(self, start: float, t: float | None, fps: float | None) -> str | None:
        if t is None:
            return None
        rate = float(fps) if fps is not None else self.fps
        if start == 0.0 and t < 0:
            return seconds_to_timecode(t, rate)
        same = exact_rate(rate) == exact_rate(self.fps)
        frames = int(round((start + float(t)) * exact_rate(rate)))
        return frames_to_timecode(frames, rate, drop=self.drop_frame if same else None)

    def master(self, t: float | None, fps: float | None = None) -> str | None:
        """Programme timecode of master time ``t`` (s), at ``fps`` (default the clock's)."""
        return self._label(self.master_start_seconds, t, fps)

    def dub(self, t: float | None, fps: float | None = None) -> str | None:
        """Timecode of dub time ``t`` (s) on the dub's own clock."""
        return self._label(self.dub_start_seconds, t, fps)


def clock_of(record: Mapping[str, Any] | None, fps: float | None = None) -> ProgrammeClock:
    """The clock of a ``programme_timecode`` record (a result's, or None: no start, ``fps``
    or 25); ``fps`` overrides the record's rate for the labels."""
    if not record:
        return ProgrammeClock(fps=float(fps) if fps is not None else DEFAULT_FPS)
    rate = float(record.get("fps") or DEFAULT_FPS)
    return ProgrammeClock(
        fps=float(fps) if fps is not None else rate,
        master_start_seconds=float((record.get("master") or {}).get("seconds") or 0.0),
        dub_start_seconds=float((record.get("dub") or {}).get("seconds") or 0.0),
        drop_frame=bool(record.get("drop_frame")) if fps is None or
        exact_rate(float(fps)) == exact_rate(rate) else None)
