"""Files on the shared storage and uploads: browse, upload, probe, listen, download.

Every path given to this service goes through the one confinement check
(:func:`app.services.paths.resolve_inside_roots`): resolved with its symlinks, it must lie in
MOUNT_PATH or UPLOAD_DIR, otherwise 403 ``path_not_allowed`` — before anything is revealed about
it. Uploads are streamed to ``UPLOAD_DIR/<file_id>/<sanitised name>`` with MAX_FILE_SIZE
enforced while the bytes arrive; a refused or broken upload leaves no file behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import mimetypes
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
import unicodedata
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import aiofiles
from anyio import to_thread

from app.core.config import Settings
from app.core.errors import (
    AppError,
    ConflictError,
    FileTooLargeError,
    NotFoundError,
    ServiceUnavailableError,
    UnprocessableError,
    public_text,
    root_labels,
)
from app.db.models import utcnow
from app.db.models_files import UploadRow
from app.db.repository_files import UploadRepository
from app.engine import AudioDecodeError, AudioInfo, probe
from app.engine.decode import ffmpeg_path, input_args
from app.services.analysis import _new_id
from app.services.media_info import probe_media
from app.services.paths import ResolvedFile, resolve_inside_roots, resolve_media_path

__all__ = ["FileService", "ProxyStream", "AUDIO_EXTENSIONS", "VIDEO_EXTENSIONS",
           "PROXY_FORMATS", "safe_filename", "FILE_ID_PATTERN"]

_logger = logging.getLogger(__name__)

FILE_ID_PATTERN = r"^file_\d{8}_\d{6}_[0-9a-f]{8}$"
AUDIO_EXTENSIONS = frozenset({
    "wav", "bwf", "w64", "rf64", "flac", "aac", "m4a", "ac3", "eac3", "ec3", "mp3", "mp2",
    "aif", "aiff", "aifc", "caf", "ogg", "oga", "opus", "wma", "mka", "dts", "thd", "mlp",
    "s337m", "pcm", "amr", "ape", "wv", "alac"})
VIDEO_EXTENSIONS = frozenset({
    "mov", "mp4", "m4v", "mxf", "mkv", "webm", "avi", "ts", "m2ts", "mts", "mpg", "mpeg",
    "m2v", "vob", "wmv", "3gp", "gxf", "dv", "flv", "ogv", "y4m", "lxf"})
#: format → (ffmpeg arguments, media type, file extension, most channels)
PROXY_FORMATS: dict[str, tuple[list[str], str, str, int]] = {
    "wav": (["-c:a", "pcm_s16le", "-f", "wav"], "audio/wav", "wav", 8),
    "mp3": (["-c:a", "libmp3lame", "-b:a", "192k", "-f", "mp3"], "audio/mpeg", "mp3", 2),
    "opus": (["-c:a", "libopus", "-b:a", "160k", "-f", "ogg"], "audio/ogg; codecs=opus", "opus",
             8),
    "aac": (["-c:a", "aac", "-b:a", "192k", "-f", "adts"], "audio/aac", "aac", 8),
}
_CHUNK = 64 * 1024
_STALE_PART_SECONDS = 3600.0


def safe_filename(raw: str, *, max_bytes: int = 200) -> str:
    """A file name safe to store: the last path component of ``raw``, NFC, no control
    characters, no leading dots, only letters, digits and ``._-()+, `` (others become ``_``),
    at most ``max_bytes`` UTF-8 bytes with the extension kept; ``upload`` when nothing is left.
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[^\w.\-()+, ]", "_", name)
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r"_{2,}", "_", name).strip(" .")
    if not name.strip("_"):
        name = "upload"
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, dot, ext = name, "", ""
    while len((stem + dot + ext).encode()) > max_bytes and stem:
        stem = stem[:-1]
    return (stem.rstrip(" .") or "upload") + dot + ext


def media_kind(name: str) -> str | None:
    """``audio`` or ``video`` by extension, else None."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return None


def _iso_mtime(st: os.stat_result) -> str:
    return datetime.fromtimestamp(st.st_mtime, UTC).isoformat()


@dataclass
class ProxyStream:
    """A running ffmpeg transcode: its first chunk (already read) and the rest, streamed.

    ``close()`` ends ffmpeg whatever state it is in (the client went away, or the stream ended)
    and hands back its transcode slot (``release``). A stream dropped without ``close()`` (its
    response never sent) is ended the same way when it is garbage-collected, or at exit.
    """

    process: asyncio.subprocess.Process
    first: bytes
    media_type: str
    filename: str
    stderr: IO[bytes]
    closed: bool = field(default=False)
    release: Callable[[], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self._finalizer = weakref.finalize(self, _end_transcode, self.process, self.stderr,
                                           self.release, loop)

    async def chunks(self) -> AsyncIterator[bytes]:
        assert self.process.stdout is not None
        yield self.first
        while True:
            chunk = await self.process.stdout.read(_CHUNK)
            if not chunk:
                break
            yield chunk
        rc = await self.process.wait()
        if rc != 0:
            self.stderr.seek(0)
            _logger.warning("proxy ffmpeg ended with %d: %s", rc,
                            self.stderr.read()[-500:].decode("utf-8", "replace").strip())

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._finalizer.detach() is None:  # already ended by close_now()
            return
        try:
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
            await _drain(self.process)  # reaped, its pipe closed
        finally:
            self.stderr.close()
            if self.release is not None:
                self.release()

    def close_now(self) -> None:
        """``close()`` without waiting: ffmpeg killed (reaped by asyncio's child watcher, its
        pipe drained by a task of the loop), stderr closed, the slot handed back."""
        self.closed = True
        self._finalizer()


#: drains scheduled by _end_transcode (the loop keeps only weak references to tasks)
_DRAINS: set[asyncio.Task[None]] = set()


async def _drain(process: asyncio.subprocess.Process) -> None:
    """Read what a killed ffmpeg had written up to EOF and wait for its exit, so that its
    pipe closes and asyncio's transport finishes now (not at garbage collection, when the
    loop may be closed)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(process.communicate(), 5)


def _drain_soon(process: asyncio.subprocess.Process) -> None:
    task = asyncio.ensure_future(_drain(process))
    _DRAINS.add(task)
    task.add_done_callback(_DRAINS.discard)


def _end_transcode(process: asyncio.subprocess.Process, stderr: IO[bytes],
                   release: Callable[[], None] | None,
                   loop: asyncio.AbstractEventLoop | None) -> None:
    """Kill ffmpeg if it still runs (asyncio's child watcher reaps it), drain its pipe on its
    loop, close its stderr file and hand its slot back. Runs once, for a stream never closed:
    from ``close_now()``, or when the stream is garbage-collected (any thread) or the
    interpreter exits."""
    try:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError, RuntimeError, OSError):
                process.kill()
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to drain
                loop.call_soon_threadsafe(_drain_soon, process)
        stderr.close()
    finally:
        if release is not None:
            release()


class FileService:
    """Browse, upload, probe, transcode and serve files inside MOUNT_PATH and UPLOAD_DIR."""

    def __init__(self, settings: Settings, repo: UploadRepository) -> None:
        self.settings = settings
        self.repo = repo
        self.mount = settings.mount_root
        self.uploads = settings.upload_root
        self.roots = [self.mount, self.uploads]
        self.proxy_max = settings.PROXY_MAX_CONCURRENT
        self._proxy_lock = threading.Lock()
        self._proxies = 0

    def start(self) -> int:
        """Remove partial uploads left by a process that died (untouched for an hour)."""
        removed = 0
        cutoff = time.time() - _STALE_PART_SECONDS
        for part in self.uploads.glob("file_*/.*.part"):
            try:
                if part.stat().st_mtime < cutoff:
                    shutil.rmtree(part.parent, ignore_errors=True)
                    removed += 1
            except OSError:
                continue
        if removed:
            _logger.info("removed %d partial upload(s) left by an earlier process", removed)
        return removed

    # --- paths -------------------------------------------------------------------------------
    def resolve_file(self, raw: str, *, field: str = "path") -> ResolvedFile:
        """An existing readable file inside the roots (any size: browsing is not analysing)."""
        return resolve_media_path(raw, field=field, roots=self.roots, max_size=sys.maxsize)

    # --- listing -----------------------------------------------------------------------------
    def list_dir(self, raw: str, *, root: Literal["mount", "upload"] = "mount",
                 limit: int = 200, offset: int = 0,
                 sort: Literal["name", "size", "modified"] = "name",
                 order: Literal["asc", "desc"] = "asc",
                 show_hidden: bool = False) -> dict[str, Any]:
        """One page of a folder: folders first, then files, sorted; entries whose symlink leads
        outside the roots are left out."""
        base = self.mount if root == "mount" else self.uploads
        folder, folder_root = resolve_inside_roots(raw or ".", field="path", roots=self.roots,
                                                   relative_to=base)
        if not folder.is_dir():
            raise UnprocessableError(f"path {raw!r} is not a folder", code="not_a_directory",
                                     details={"path": raw})
        entries = []
        try:
            scanned = list(os.scandir(folder))
        except PermissionError as exc:
            raise AppError(f"path {raw!r} is not readable by the service",
                           code="file_not_readable", status_code=403,
                           details={"path": raw}) from exc
        for entry in scanned:
            if not show_hidden and entry.name.startswith("."):
                continue
            entries.append(self._entry(entry, folder_root))
        items = [e for e in entries if e is not None]
        key = {"name": lambda e: e["name"].casefold(), "size": lambda e: e["size_bytes"] or 0,
               "modified": lambda e: e["modified"] or ""}[sort]
        items.sort(key=key, reverse=order == "desc")
        items.sort(key=lambda e: e["type"] != "directory")  # stable: folders first
        rel = folder.relative_to(folder_root)
        parent = None if folder == folder_root else str(folder.parent)
        return {"path": str(folder), "root": "mount" if folder_root == self.mount else "upload",
                "relative_path": "" if str(rel) == "." else rel.as_posix(),
                "parent": parent, "items": items[offset:offset + limit], "total": len(items),
                "limit": limit, "offset": offset}

    def _entry(self, entry: os.DirEntry[str], root: Path) -> dict[str, Any] | None:
        try:
            is_link = entry.is_symlink()
            st = entry.stat(follow_symlinks=True)
            if is_link:
                target = Path(entry.path).resolve(strict=True)
                if not any(target == r or target.is_relative_to(r) for r in self.roots):
                    return None  # leads outside: not shown, and refused if asked for
        except OSError:
            return None  # broken link, vanished, unreadable
        is_dir = stat.S_ISDIR(st.st_mode)
        kind = None if is_dir else media_kind(entry.name)
        path = Path(entry.path)
        return {"name": entry.name, "path": str(path),
                "relative_path": path.relative_to(root).as_posix(),
                "type": "directory" if is_dir else "file" if stat.S_ISREG(st.st_mode)
                else "other",
                "size_bytes": None if is_dir else st.st_size, "modified": _iso_mtime(st),
                "symlink": is_link, "media": kind, "is_audio": kind == "audio",
                "is_video": kind == "video"}

    # --- probe -------------------------------------------------------------------------------
    def probe(self, raw: str, *, deep: bool = True) -> dict[str, Any]:
        """ffprobe summary, Dolby flags and the raw ffprobe JSON of a file."""
        file = self.resolve_file(raw)
        try:
            summary = probe_media(file.path, deep=deep)
        except AudioDecodeError as exc:
            shown = {str(file.path): raw}  # ffprobe's words name the resolved path
            raise UnprocessableError(f"path {raw!r}: {public_text(str(exc), shown)}",
                                     code=exc.code, details={
                                         "path": raw,
                                         "stderr": public_text(exc.stderr, shown)}) from exc
        summary["size_bytes"] = file.size
        return summary

    # --- uploads -----------------------------------------------------------------------------
    def check_room(self, size: int) -> None:
        """507 ``insufficient_storage`` when ``size`` bytes do not fit in UPLOAD_DIR."""
        free = shutil.disk_usage(self.uploads).free
        if size > free:
            raise AppError(f"not enough space in UPLOAD_DIR for {size} bytes ({free} free)",
                           code="insufficient_storage", status_code=507,
                           details={"size": size, "free_bytes": free})

    async def upload(self, filename: str, content_type: str | None,
                     chunks: AsyncIterable[bytes]) -> UploadRow:
        """Stream a file to ``UPLOAD_DIR/<file_id>/<safe name>``, probe it, record it.

        413 as soon as the file passes MAX_FILE_SIZE, 422 when it is empty or ffprobe finds no
        audio in it; on any failure (``chunks`` raising included) nothing is kept.
        """
        limit = self.settings.MAX_FILE_SIZE
        file_id = _new_id("file")
        folder = self.uploads / file_id
        final = folder / safe_filename(filename or "upload")
        part = folder / f".{final.name}.part"
        hasher = hashlib.sha256()
        size = 0
        try:
            folder.mkdir(parents=True)
            async with aiofiles.open(part, "wb") as out:
                async for piece in chunks:
                    size += len(piece)
                    if size > limit:
                        raise FileTooLargeError(
                            f"the file is over MAX_FILE_SIZE={limit} bytes; upload stopped "
                            f"and the partial file removed", details={"max_size": limit})
                    hasher.update(piece)
                    await out.write(piece)
            if size == 0:
                raise UnprocessableError("the uploaded file is empty", code="empty_file")
            os.replace(part, final)
            summary = await to_thread.run_sync(self._probe_upload, final)
            row = UploadRow(id=file_id, original_name=filename, name=final.name,
                            path=str(final), size_bytes=size, sha256=hasher.hexdigest(),
                            content_type=content_type, probe=summary, created_at=utcnow())
            await to_thread.run_sync(self.repo.add, row)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _logger.info("upload %s: %s, %d bytes", file_id, final.name, size)
        return row

    @staticmethod
    def _probe_upload(path: Path) -> dict[str, Any]:
        try:
            summary = probe_media(path, deep=True)
        except AudioDecodeError as exc:
            shown = {str(path): path.name}  # not UPLOAD_DIR/<file_id>/...
            raise UnprocessableError(f"ffprobe cannot read the upload: "
                                     f"{public_text(str(exc), shown)}", code=exc.code,
                                     details={"stderr": public_text(exc.stderr, shown)}
                                     ) from exc
        if not summary["audio_streams"]:
            raise UnprocessableError("the upload holds no audio stream (ffprobe found "
                                     f"{[s['type'] for s in summary['streams']]})",
                                     code="no_audio_stream")
        summary.pop("raw", None)
        return summary

    def get_upload(self, file_id: str) -> UploadRow:
        row = self.repo.get(file_id)
        if row is None:
            raise NotFoundError(f"no uploaded file {file_id!r}", code="file_id_not_found",
                                details={"file_id": file_id})
        return row

    def delete_upload(self, file_id: str, *, force: bool = False) -> UploadRow:
        """Remove an uploaded file and its record; 409 while a queued or running analysis
        uses it, unless ``force``."""
        row = self.get_upload(file_id)
        users = self.repo.active_analyses_using(row.path)
        if users and not force:
            raise ConflictError(f"file {file_id} is used by {len(users)} queued or running "
                                "analysis(es); cancel them first or delete with ?force=true",
                                code="file_in_use", details={"analysis_ids": users})
        folder = self.uploads / file_id
        if folder.parent == self.uploads and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
        self.repo.delete(file_id)
        _logger.info("upload %s deleted", file_id)
        return row

    # --- proxy audio -------------------------------------------------------------------------
    def _proxy_plan(self, raw: str, fmt: str, start: float, duration: float | None,
                    channels: int | None, channel: int | None, stream: int
                    ) -> tuple[list[str], str, str]:
        file = self.resolve_file(raw)
        try:
            info: AudioInfo = probe(file.path, stream=stream)
        except AudioDecodeError as exc:
            shown = {str(file.path): raw}
            raise UnprocessableError(f"path {raw!r}: {public_text(str(exc), shown)}",
                                     code=exc.code, details={
                                         "path": raw,
                                         "stderr": public_text(exc.stderr, shown)}) from exc
        args, media_type, ext, max_channels = PROXY_FORMATS[fmt]
        if info.duration_seconds and start >= info.duration_seconds:
            raise UnprocessableError(
                f"start={start:g} s is at or past the end of the stream "
                f"({info.duration_seconds:.3f} s)", code="invalid_parameter",
                details={"field": "start", "duration_seconds": info.duration_seconds})
        if channel is not None and channel >= info.channels:
            raise UnprocessableError(f"channel={channel}: the stream has {info.channels} "
                                     "channel(s)", code="invalid_parameter",
                                     details={"field": "channel", "channels": info.channels})
        out_channels = channels or (1 if channel is not None else min(2, info.channels or 2))
        if out_channels > max_channels:
            raise UnprocessableError(f"channels={out_channels}: {fmt} carries at most "
                                     f"{max_channels}", code="invalid_parameter",
                                     details={"field": "channels", "max": max_channels})
        self._refuse_dolby_e(file.path, stream, channel)
        cmd = [ffmpeg_path(), "-nostdin", "-v", "error"]
        if start > 0:
            cmd += ["-ss", f"{start:.6f}"]
        cmd += [*input_args(file.path), "-map", f"0:a:{stream}", "-vn", "-sn", "-dn"]
        if duration is not None:
            cmd += ["-t", f"{duration:.6f}"]
        if channel is not None:
            cmd += ["-af", f"pan=mono|c0=c{channel}"]
        cmd += ["-ac", str(out_channels), *args, "pipe:1"]
        stem = Path(file.path).stem
        return cmd, media_type, f"{stem}.{ext}"

    @staticmethod
    def _refuse_dolby_e(path: Path, stream: int, channel: int | None) -> None:
        """A Dolby E pair played as PCM is full-scale noise: refuse it with the reason."""
        summary = probe_media(path, deep=True)
        audio = [s for s in summary["streams"] if s["type"] == "audio"]
        if stream >= len(audio) or not audio[stream].get("dolby_e"):
            return
        pair = audio[stream].get("dolby_e_channels")
        if channel is not None and pair is not None and channel not in pair:
            return
        raise UnprocessableError(
            f"audio stream {stream} carries Dolby E ({audio[stream]['dolby_e_evidence']}); "
            "played as PCM it would be loud noise. Pick another channel or stream, or decode "
            "it with a Dolby E decoder first.", code="dolby_e_not_playable",
            details={"stream": stream, "dolby_e_channels": pair})

    @property
    def proxies_open(self) -> int:
        """Proxy transcodes holding a slot now."""
        return self._proxies

    def _take_proxy_slot(self) -> Callable[[], None]:
        """One of the PROXY_MAX_CONCURRENT transcode slots, and the function handing it back
        (idempotent); 503 ``proxy_busy`` with Retry-After when all are taken."""
        with self._proxy_lock:
            if self._proxies >= self.proxy_max:
                raise ServiceUnavailableError(
                    f"{self._proxies} proxy-audio streams are transcoding "
                    f"(PROXY_MAX_CONCURRENT={self.proxy_max}); retry in a few seconds",
                    code="proxy_busy", headers={"Retry-After": "5"},
                    details={"open": self._proxies, "max_concurrent": self.proxy_max})
            self._proxies += 1
        released = False

        def release() -> None:
            nonlocal released
            with self._proxy_lock:
                if not released:
                    released = True
                    self._proxies -= 1

        return release

    async def open_proxy(self, raw: str, *, fmt: str, start: float = 0.0,
                         duration: float | None = None, channels: int | None = None,
                         channel: int | None = None, stream: int = 0) -> ProxyStream:
        """Start ffmpeg transcoding the file to ``fmt`` and read its first chunk, so that a
        file ffmpeg cannot decode gets a 422 with ffmpeg's message instead of an empty 200.

        Takes one of the PROXY_MAX_CONCURRENT slots (503 ``proxy_busy`` beyond), handed back
        when the stream is closed; on any failure here ffmpeg is killed and reaped and the
        slot handed back before the error propagates."""
        release = self._take_proxy_slot()
        try:
            cmd, media_type, filename = await to_thread.run_sync(
                self._proxy_plan, raw, fmt, start, duration, channels, channel, stream)
            stderr = tempfile.TemporaryFile()
            try:
                process = await asyncio.create_subprocess_exec(
                    *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                    stderr=stderr)
            except BaseException:
                stderr.close()
                raise
        except BaseException:
            release()
            raise
        stream_ = ProxyStream(process, b"", media_type, filename, stderr, release=release)
        try:
            assert process.stdout is not None
            first = await process.stdout.read(_CHUNK)
            if not first:
                rc = await process.wait()
                stderr.seek(0)
                message = public_text(stderr.read()[-2000:].decode("utf-8", "replace").strip(),
                                      roots=root_labels(self.settings))
                raise UnprocessableError(
                    f"ffmpeg produced no audio for {raw!r} (exit {rc})"
                    + (f": {message.splitlines()[-1]}" if message else ""),
                    code="audio_decode_error", details={"path": raw, "stderr": message})
        except BaseException:
            await stream_.close()
            raise
        stream_.first = first
        return stream_

    # --- raw ---------------------------------------------------------------------------------
    def raw_file(self, raw: str) -> tuple[Path, str]:
        """The file to send as it is, and its media type (by extension)."""
        file = self.resolve_file(raw)
        media_type = mimetypes.guess_type(file.path.name)[0] or "application/octet-stream"
        return file.path, media_type
