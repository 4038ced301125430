"""Decoding through ffmpeg/ffprobe.

Every file ffmpeg reads (wav, flac, mp3, aac/m4a, ac3, eac3, and the audio of mov/mp4/mxf/mkv)
is decoded straight to the analysis sample rate as mono float32 through a pipe, so a long
multichannel file never sits in memory at its native rate.

ffmpeg command lines are built with ffmpeg-python (:func:`media_input`,
:func:`compile_command`) and run with subprocess, streaming through pipes. ffprobe's stays
hand-written: ffmpeg-python builds ffmpeg command lines only, and its ``probe()`` runs ffprobe
itself with no timeout.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import ffmpeg
import numpy as np

from app.engine.start_timecode import file_timecode
from app.engine.types import (
    AnalysisCancelled,
    AudioDecodeError,
    AudioInfo,
    CancelToken,
    FormatNotAllowedError,
    ToolNotFoundError,
)

__all__ = ["ffmpeg_path", "ffprobe_path", "probe", "probe_raw", "decode", "input_args",
           "media_input", "compile_command", "MEDIA_DEMUXERS"]

#: The only demuxers ffmpeg/ffprobe may use on a user's file: real media containers and
#: elementary audio streams, each of which reads nothing but its own file. Playlist and
#: reference formats (hls, dash, concat/ffconcat, image2 patterns, tee, ffmetadata, lavfi, …)
#: open further files or URLs named inside the file, a way out of the configured roots: they
#: are refused at probe time (:class:`FormatNotAllowedError`). ``mov`` follows no external data
#: references by default (``enable_drefs`` off).
MEDIA_DEMUXERS: tuple[str, ...] = (
    "wav", "w64", "aiff", "caf", "au", "flac", "wv", "ape", "tta", "mp3", "aac", "loas", "ac3",
    "eac3", "dts", "dtshd", "truehd", "mlp", "amr", "ogg", "mov", "mp4", "m4a", "3gp", "3g2",
    "mj2", "matroska", "webm", "mxf", "mpegts", "mpeg", "avi", "gxf", "asf", "s337m",
)
_FORMAT_WHITELIST = ",".join(MEDIA_DEMUXERS)
_NOT_ON_WHITELIST = re.compile(r"\[(\w+) @ [^]]*\] Format not on whitelist")


def input_args(path: str | Path) -> list[str]:
    """ffmpeg/ffprobe arguments that open ``path`` as a local media file and nothing else: the
    demuxer whitelist, the ``file`` protocol only, and an explicit ``file:`` URL (so a name
    such as ``concat:a|b`` or ``subfile,,…`` is never read as a protocol)."""
    return ["-format_whitelist", _FORMAT_WHITELIST, "-protocol_whitelist", "file",
            "-i", f"file:{Path(path).absolute()}"]


def media_input(path: str | Path, **options: Any) -> Any:
    """An ffmpeg-python input node that opens ``path`` exactly as :func:`input_args` does (the
    demuxer whitelist, the ``file`` protocol only, the explicit ``file:`` URL); ``options`` are
    further input options, as ffmpeg-python's keyword arguments (``ss=5`` gives ``-ss 5``)."""
    return ffmpeg.input(f"file:{Path(path).absolute()}", format_whitelist=_FORMAT_WHITELIST,
                        protocol_whitelist="file", **options)


def compile_command(output: Any, *, overwrite: bool = False) -> list[str]:
    """The argument list of an ffmpeg-python ``output`` node, to run with subprocess: our
    ffmpeg binary and its global options first (no stdin, errors only), then ffmpeg-python's
    inputs and outputs, ``-y`` last when ``overwrite``."""
    return cast(list[str], output.compile(cmd=[ffmpeg_path(), "-nostdin", "-v", "error"],
                                          overwrite_output=overwrite))


def _refused_format(stderr: str, path: str | Path) -> FormatNotAllowedError | None:
    """The error for a file whose demuxer is not a media container (None for other faults)."""
    m = _NOT_ON_WHITELIST.search(stderr)
    if m is None:
        return None
    name = Path(path).name
    return FormatNotAllowedError(
        f"{name} is a {m.group(1)} file, not a media file (playlist and reference formats "
        "would point at other files); only real media containers are read "
        f"({', '.join(MEDIA_DEMUXERS)})", path=str(path))

_READ_CHUNK_BYTES = 1 << 20


def ffmpeg_path() -> str:
    """Path of the ffmpeg binary; raises :class:`AudioDecodeError` when it is missing."""
    path = os.environ.get("FFMPEG_BINARY") or shutil.which("ffmpeg")
    if not path:
        raise ToolNotFoundError("ffmpeg not found on PATH (install it: apt-get install ffmpeg)")
    return path


def ffprobe_path() -> str:
    """Path of the ffprobe binary; raises :class:`AudioDecodeError` when it is missing."""
    path = os.environ.get("FFPROBE_BINARY") or shutil.which("ffprobe")
    if not path:
        raise ToolNotFoundError("ffprobe not found on PATH (install it: apt-get install ffmpeg)")
    return path


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioDecodeError(f"file not found: {p}", path=str(p))
    if not p.is_file():
        raise AudioDecodeError(f"not a regular file: {p}", path=str(p))
    return p


def probe_raw(path: str | Path) -> dict:
    """ffprobe's JSON (format and streams) for ``path``."""
    p = _check_file(path)
    cmd = [
        ffprobe_path(), "-v", "error", "-print_format", "json",
        "-show_format", "-show_streams", *input_args(p),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        refused = _refused_format(proc.stderr, p)
        if refused is not None:
            raise refused
        raise AudioDecodeError(f"ffprobe cannot read {p.name}", path=str(p), stderr=proc.stderr)
    try:
        return json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as exc:  # pragma: no cover - ffprobe always prints JSON
        raise AudioDecodeError(f"ffprobe gave no JSON for {p.name}", path=str(p)) from exc


def probe(path: str | Path, *, stream: int = 0) -> AudioInfo:
    """Describe audio stream number ``stream`` (0 = first audio stream) of ``path``."""
    raw = probe_raw(path)
    audio = [s for s in raw.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio:
        raise AudioDecodeError(f"no audio stream in {Path(path).name}", path=str(path))
    if stream >= len(audio):
        raise AudioDecodeError(
            f"audio stream {stream} requested but {Path(path).name} has {len(audio)}",
            path=str(path),
        )
    s = audio[stream]
    fmt = raw.get("format", {})
    duration = _float(s.get("duration")) or _float(fmt.get("duration")) or 0.0
    return AudioInfo(
        path=str(path),
        container=str(fmt.get("format_name", "")),
        codec=str(s.get("codec_name", "")),
        sample_rate=int(s.get("sample_rate") or 0),
        channels=int(s.get("channels") or 0),
        channel_layout=s.get("channel_layout"),
        duration_seconds=duration,
        stream_index=stream,
        start_timecode=file_timecode(raw, stream=stream),
    )


_SPLIT_MIN_SECONDS = 300.0
_SPLIT_PAD_SECONDS = 2


#: WAV packet size (bytes) for PCM: ffmpeg's WAV demuxer hands out 4 KiB packets by default,
#: ~760 000 of them for a 60-minute 5.1 24-bit master, whose handling cost more CPU than the
#: resampling; 128 KiB packets give the same samples, bit for bit (60 min: 5.0 s -> 3.1 s).
WAV_PACKET_BYTES = 131072


def _input_options(info: AudioInfo) -> dict[str, Any]:
    """ffmpeg input options for ``info``'s file (ffmpeg-python keywords): large packets for PCM
    in a WAV/RF64."""
    if info.codec.startswith("pcm_") and "wav" in info.container.split(","):
        return {"max_size": WAV_PACKET_BYTES}
    return {}


def _command(path: str | Path, *, info: AudioInfo, sample_rate: int, stream: int,
             channel: int | None, start: int = 0, length: int | None = None) -> list[str]:
    """ffmpeg command decoding ``stream`` to mono float32 at ``sample_rate`` on stdout,
    optionally ``length`` seconds from ``start`` (whole seconds; input options, exact for
    PCM)."""
    # swr down-mixes before it resamples, so a 5.1 master costs one channel of resampling
    afilter = f"pan=mono|c0=c{channel}," if channel is not None else ""
    afilter += f"aresample=osr={sample_rate}:ochl=mono:resampler=swr:filter_size=16"
    afilter += ",asetnsamples=n=65536:p=0"  # large writes: far fewer pipe wake-ups
    seek = ({"ss": start} if start else {}) | ({"t": length} if length is not None else {})
    source = media_input(path, **_input_options(info), **seek)[f"a:{stream}"]  # -map 0:a:N
    return compile_command(ffmpeg.output(
        source, "pipe:1", vn=None, sn=None, dn=None, af=afilter, ac=1, ar=sample_rate,
        f="f32le", acodec="pcm_f32le"))


def _pump(proc: subprocess.Popen[bytes], dest: np.ndarray, *, skip: int,
          cancel: CancelToken | None, on_samples: Callable[[int, int], None]
          ) -> tuple[int, int]:
    """Read float32 samples from ``proc``'s stdout: drop the first ``skip``, write the next
    ones into ``dest``, drop what does not fit; ``on_samples(n, written)`` after each read.
    Returns (written, dropped after dest)."""
    assert proc.stdout is not None
    scratch = np.empty(_READ_CHUNK_BYTES // 4, np.float32)
    written = dropped = overflow = 0
    while True:
        if cancel is not None and cancel.cancelled:
            raise AnalysisCancelled("analysis cancelled while decoding")
        if dropped < skip:
            target = scratch[: min(scratch.size, skip - dropped)]
        elif written < dest.size:
            target = dest[written : written + scratch.size]
        else:
            target = scratch
        n = _reader(proc).readinto(target.view(np.uint8).data) // 4
        if not n:
            return written, overflow
        if dropped < skip:
            dropped += n
        elif target is scratch:
            overflow += n
        else:
            written += n
        on_samples(n, written)


HalfDataCallback = Callable[[int, int, np.ndarray], None]


def _half_commands(path: str | Path, *, info: AudioInfo, sample_rate: int, stream: int,
                   channel: int | None, split: int, pad: int) -> list[list[str]]:
    """ffmpeg commands for the halves: [0, split + pad) and [split - pad, end) seconds."""
    def command(start: int, length: int | None) -> list[str]:
        return _command(path, info=info, sample_rate=sample_rate, stream=stream,
                        channel=channel, start=start, length=length)

    return [command(0, split + pad), command(split - pad, None)]


def _decode_halves(halves: list[list[str]], path: str | Path, *, info: AudioInfo,
                   split: int, pad: int, sample_rate: int, cancel: CancelToken | None,
                   on_progress: Callable[[float], None] | None,
                   on_half_data: HalfDataCallback | None = None) -> np.ndarray | None:
    """Two ffmpeg processes decode the two halves of a PCM stream at once, straight into one
    array. Each half runs ``_SPLIT_PAD_SECONDS`` past the join so neither resampler's edge
    reaches it; the padding is dropped. None when the stream is not as long as probed.
    ``on_half_data(k, join, data)``: half ``k`` (0, 1) decoded so far (a view), ``join`` the
    sample where half 1 starts; finally ``(-1, join, x)`` once the whole signal is good."""
    join = split * sample_rate
    out = np.empty(int((info.duration_seconds + 2) * sample_rate), np.float32)
    total = max(info.duration_seconds * sample_rate, 1.0)
    done = [0]
    lock = threading.Lock()

    def count(n: int) -> None:
        with lock:
            done[0] += n
        if on_progress is not None:
            on_progress(min(done[0] / total, 1.0))

    def counter(k: int, dest: np.ndarray) -> Callable[[int, int], None]:
        def on_samples(n: int, written: int) -> None:
            count(n)
            if on_half_data is not None and written:
                on_half_data(k, join, dest[:written])
        return on_samples

    jobs = [(halves[0], out[:join], 0), (halves[1], out[join:], pad * sample_rate)]
    results: list[tuple[int, int, int, str]] = [(0, 0, 0, "")] * 2
    errors: list[BaseException] = []

    def run(k: int) -> None:
        argv, dest, skip = jobs[k]
        with tempfile.TemporaryFile() as err_file:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err_file,
                                    bufsize=_READ_CHUNK_BYTES)
            assert proc.stdout is not None
            _widen_pipe(proc.stdout.fileno())
            try:
                written, overflow = _pump(proc, dest, skip=skip, cancel=cancel,
                                          on_samples=counter(k, dest))
                rc = proc.wait()
            except BaseException as exc:
                errors.append(exc)
                return
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
            err_file.seek(0)
            results[k] = (written, overflow, rc, err_file.read()[-8000:].decode("utf-8",
                                                                                 "replace"))

    threads = [threading.Thread(target=run, args=(k,), name=f"decode-half-{k}")
               for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    for _, _, rc, stderr in results:
        if rc != 0:
            raise _refused_format(stderr, path) or AudioDecodeError(
                f"ffmpeg cannot decode {Path(path).name}", path=str(path), stderr=stderr)
    (first, _, _, _), (second, extra, _, stderr) = results
    if first < join or extra:
        # the probed duration was off (should not happen for PCM): the caller decodes in one go
        return None
    x = out[: join + second]
    _make_finite(x)
    if on_half_data is not None:
        on_half_data(-1, join, x)
    return x


def _make_finite(x: np.ndarray) -> None:
    """Replace NaN/±inf samples (a corrupt float stream) in place. A sum is finite when every
    sample is, so clean audio costs one fast pass (``nan_to_num`` alone makes four)."""
    if not np.isfinite(np.sum(x)):
        np.nan_to_num(x, copy=False)


def _reader(proc: subprocess.Popen[bytes]) -> io.BufferedReader:
    """ffmpeg's stdout as the buffered reader Popen made of it (bufsize > 0)."""
    return cast(io.BufferedReader, proc.stdout)


def _widen_pipe(fd: int) -> None:
    """Ask Linux for a 1 MiB pipe buffer (fewer, larger reads); harmless where refused."""
    try:
        import fcntl

        fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError):
        pass


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


#: elementary-stream demuxers (no index): ffprobe estimates their duration from the bitrate
#: and the file size, so a truncated file simply declares less; no completeness check there.
#: Inside a container with an index (MP4/MOV, Matroska, MXF, WAV…) the duration is declared
#: by the container, whatever the codec (AAC, AC-3, E-AC-3 included), and is checked.
_ESTIMATED_DURATION = frozenset({"mp3", "mp2", "aac", "adts", "loas", "ac3", "eac3", "dts",
                                 "dtshd", "truehd", "mlp", "amr"})


def check_complete(path: str | Path, declared: float, container: str, decoded_seconds: float,
                   stderr: str) -> None:
    """Raise AudioDecodeError when far less audio decoded than the file declares
    (``declared`` s; a truncated or corrupt file: ffmpeg stops early without failing): short
    by more than max(1 s, 5 %). Skipped for elementary streams (``container``, ffprobe's
    format name), whose declared duration is only an estimate."""
    if not declared or set(container.split(",")) <= _ESTIMATED_DURATION:
        return
    if decoded_seconds < declared - max(1.0, 0.05 * declared):
        raise AudioDecodeError(
            f"{Path(path).name} is truncated or corrupt: it declares {declared:.3f} s of "
            f"audio but only {decoded_seconds:.3f} s could be decoded", path=str(path),
            stderr=stderr)


def decode(
    path: str | Path,
    *,
    sample_rate: int,
    stream: int = 0,
    channel: int | None = None,
    info: AudioInfo | None = None,
    cancel: CancelToken | None = None,
    on_progress: Callable[[float], None] | None = None,
    on_data: Callable[[np.ndarray], None] | None = None,
    parallel: bool = False,
    on_half_data: HalfDataCallback | None = None,
) -> np.ndarray:
    """Decode one audio stream to mono float32 at ``sample_rate`` Hz.

    ``channel`` None downmixes every channel to mono (ffmpeg's standard matrix); an index picks
    that channel alone. ``on_progress`` receives the decoded fraction (0..1, from the probed
    duration) after each chunk and ``on_data`` everything decoded so far (a view, to start
    work on it while decoding goes on); ``cancel`` is checked per chunk. ``parallel`` lets a
    long PCM stream (where seeking is sample-exact) decode as two halves in two ffmpeg
    processes at once (``on_data`` is then not called; ``on_half_data`` follows each half, see
    :func:`_decode_halves`, and is called with ``-1`` at the end only if the halves were
    used). Returns shape (n,) float32.
    Raises :class:`AudioDecodeError` with ffmpeg's message when the file cannot be decoded.
    """
    info = info or probe(path, stream=stream)
    if channel is not None and channel >= info.channels:
        raise AudioDecodeError(
            f"channel {channel} requested but {Path(path).name} has {info.channels} channels",
            path=str(path),
        )
    if (parallel and info.codec.startswith("pcm_") and on_data is None
            and info.duration_seconds >= _SPLIT_MIN_SECONDS):
        split = int(info.duration_seconds // 2)  # whole seconds: the join is an exact sample
        pad = _SPLIT_PAD_SECONDS
        halves = _decode_halves(
            _half_commands(path, info=info, sample_rate=sample_rate, stream=stream,
                           channel=channel, split=split, pad=pad),
            path, info=info, split=split, pad=pad, sample_rate=sample_rate, cancel=cancel,
            on_progress=on_progress, on_half_data=on_half_data)
        if halves is not None:
            return halves
    cmd = _command(path, info=info, sample_rate=sample_rate, stream=stream, channel=channel)
    expected_samples = max(info.duration_seconds, 1.0) * sample_rate
    buf = np.empty(int(expected_samples * 1.02) + sample_rate, dtype=np.float32)
    filled_bytes = 0
    # stderr goes to a file: a corrupt input can print more than a pipe holds and would
    # otherwise block ffmpeg (and us) forever
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err_file,
                                bufsize=_READ_CHUNK_BYTES)
        assert proc.stdout is not None
        _widen_pipe(proc.stdout.fileno())
        try:
            while True:
                if cancel is not None and cancel.cancelled:
                    raise AnalysisCancelled("analysis cancelled while decoding")
                if filled_bytes + _READ_CHUNK_BYTES > buf.nbytes:
                    grown = np.empty(buf.size * 2, dtype=np.float32)
                    grown.view(np.uint8)[:filled_bytes] = buf.view(np.uint8)[:filled_bytes]
                    buf = grown
                view = buf.view(np.uint8).data[filled_bytes : filled_bytes + _READ_CHUNK_BYTES]
                # a buffered reader fills the whole chunk (ffmpeg writes small packets)
                n = _reader(proc).readinto(view)
                if not n:
                    break
                filled_bytes += n
                if on_progress is not None:
                    on_progress(min(filled_bytes / 4 / max(expected_samples, 1), 1.0))
                if on_data is not None:
                    on_data(buf[: filled_bytes // 4])
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        err_file.seek(0)
        stderr = err_file.read()[-8000:].decode("utf-8", "replace")
    filled = filled_bytes // 4
    if rc != 0:
        raise _refused_format(stderr, path) or AudioDecodeError(
            f"ffmpeg cannot decode {Path(path).name}", path=str(path), stderr=stderr)
    if filled == 0:
        raise AudioDecodeError(f"no audio decoded from {Path(path).name}", path=str(path),
                               stderr=stderr)
    check_complete(path, info.duration_seconds, info.container, filled / sample_rate, stderr)
    out = buf[:filled]
    _make_finite(out)
    return out
