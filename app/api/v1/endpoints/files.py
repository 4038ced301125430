"""``/api/v1/files``: browse the shared storage, upload, probe, listen (transcoded on the fly)
and download files. Every path must resolve, symlinks included, inside MOUNT_PATH or UPLOAD_DIR
(403 ``path_not_allowed`` otherwise)."""

from __future__ import annotations

import re
from pathlib import Path as FsPath
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from app.api.deps import FileServiceDep
from app.api.v1.downloads import content_disposition
from app.api.v1.links import upload_links
from app.api.v1.schemas.common import ERROR_RESPONSES, MAX_OFFSET
from app.api.v1.schemas.common import error_responses as _errors
from app.api.v1.schemas.files import (
    DirectoryListing,
    ProbeRead,
    UploadDeleted,
    UploadLinks,
    UploadRead,
)
from app.api.v1.uploads import read_file_part
from app.core.errors import AppError, BadRequestError
from app.db.models_files import UploadRow
from app.services.files import FILE_ID_PATTERN, ProxyStream

__all__ = ["router"]

router = APIRouter(prefix="/files", tags=["files"])

FileId = Annotated[str, Path(description="file_YYYYMMDD_HHMMSS_<8 hex>", pattern=FILE_ID_PATTERN,
                             examples=["file_20250101_120000_1a2b3c4d"])]
PathQuery = Annotated[str, Query(min_length=1, max_length=4096,
                                 description="Absolute, or relative to MOUNT_PATH (then "
                                             "UPLOAD_DIR).",
                                 examples=["show/ep101_master.wav"])]
_RANGE = re.compile(r"(\d*)-(\d*)")


def _upload_read(row: UploadRow) -> UploadRead:
    return UploadRead(file_id=row.id, name=row.name, original_name=row.original_name,
                      path=row.path, size_bytes=row.size_bytes, sha256=row.sha256,
                      content_type=row.content_type, created_at=row.created_at,
                      exists=FsPath(row.path).is_file(),
                      probe=None if row.probe is None else ProbeRead.model_validate(row.probe),
                      links=UploadLinks(**upload_links(row.id, row.path)))


class _ProcessStreamResponse(StreamingResponse):
    """Streams a running ffmpeg's output; ffmpeg is ended (killed, reaped, its slot handed
    back) however the response ends: the client went away, an error, or the end of the stream.
    Built with the stream already running, so building it must not fail; if it does anyway,
    the stream is closed before the error goes on."""

    def __init__(self, stream: ProxyStream) -> None:
        self._stream = stream
        try:
            super().__init__(stream.chunks(), media_type=stream.media_type, headers={
                "Content-Disposition": content_disposition(stream.filename, "inline"),
                "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
        except BaseException:
            stream.close_now()
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._stream.close()


def _check_range(value: str | None, size: int) -> None:
    """A Range header FileResponse will serve, else 400/416 in the API's error format."""
    if value is None:
        return
    units, _, spec = value.partition("=")
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if units.strip().lower() != "bytes" or not parts:
        raise BadRequestError(f"Range {value!r}: expected bytes=START-END",
                              code="invalid_range")
    for part in parts:
        match = _RANGE.fullmatch(part)
        if not match or match.groups() == ("", ""):
            raise BadRequestError(f"Range {value!r}: {part!r} is not START-END, START- or "
                                  "-LENGTH", code="invalid_range")
        start, end = match.groups()
        if start and end and int(end) < int(start):
            raise BadRequestError(f"Range {value!r}: {part!r} ends before it starts",
                                  code="invalid_range")
        if start and int(start) >= size:
            raise AppError(f"Range {value!r}: the file has {size} bytes",
                           code="range_not_satisfiable", status_code=416,
                           headers={"Content-Range": f"bytes */{size}"},
                           details={"size_bytes": size})


@router.get(
    "", response_model=DirectoryListing, summary="List a folder",
    description="Folders first, then files, sorted by name (or size, modified), paginated. "
                "Each entry: name, path, type, size, modified time, and whether it is audio or "
                "video by its extension. Hidden files and symlinks leading outside the roots "
                "are not shown.",
    responses=_errors(400, 403, 422),
    openapi_extra={"x-curl-example": "curl -s '{base}/api/v1/files?path=show&limit=50'"},
)
def list_folder(
    service: FileServiceDep,
    path: Annotated[str, Query(max_length=4096, description="Folder: absolute, or relative "
                                                            "to the root ('' = the root).")]
    = "",
    root: Annotated[Literal["mount", "upload"], Query(
        description="Root of a relative path: mount (MOUNT_PATH) or upload (UPLOAD_DIR).")]
    = "mount",
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 200,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Entries to skip.")] = 0,
    sort: Annotated[Literal["name", "size", "modified"], Query()] = "name",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    show_hidden: Annotated[bool, Query(description="Also list names starting with a dot.")]
    = False,
) -> DirectoryListing:
    return DirectoryListing.model_validate(service.list_dir(
        path, root=root, limit=limit, offset=offset, sort=sort, order=order,
        show_hidden=show_hidden))


router.add_api_route("/", list_folder, methods=["GET"], response_model=DirectoryListing,
                     include_in_schema=False)


@router.post(
    "/upload", status_code=status.HTTP_201_CREATED, response_model=UploadRead,
    summary="Upload a file",
    description="multipart/form-data with the file in a field named 'file'. Streamed to "
                "UPLOAD_DIR/<file_id>/<sanitised name>; past MAX_FILE_SIZE the upload stops with "
                "413 and nothing is kept. The file must hold audio (ffprobe): 422 otherwise. "
                "Returns the file_id, the stored path (usable as master_file/dub_file) and a "
                "probe.",
    responses=_errors(400, 413, 415, 422),
    openapi_extra={
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}}}}}},
        "x-curl-example": "curl -s -X POST {base}/api/v1/files/upload -F file=@ep101_de.wav"},
)
async def upload_file(request: Request, service: FileServiceDep) -> UploadRead:
    part = await read_file_part(request, max_file=service.settings.MAX_FILE_SIZE,
                                check_room=service.check_room)
    row = await service.upload(part.filename, part.content_type, part.chunks)
    return _upload_read(row)


@router.get(
    "/probe", response_model=ProbeRead, summary="Probe a file (ffprobe, Dolby flags)",
    description="Container, duration, and each stream's codec, sample rate, channels, layout, "
                "bit depth and language, plus ffprobe's own JSON (raw). Flags E-AC-3, E-AC-3 "
                "with Atmos (JOC: from ffprobe's profile, else read from the bitstream) and "
                "Dolby E (ffprobe's dolby_e codec, else SMPTE 337M bursts in a PCM pair). "
                "deep=false skips the checks that read the first seconds of the streams.",
    responses=_errors(400, 403, 422),
    openapi_extra={"x-curl-example":
                   "curl -s '{base}/api/v1/files/probe?path=show/ep101_de.wav'"},
)
def probe_file(
    service: FileServiceDep, path: PathQuery,
    deep: Annotated[bool, Query(description="Read the first seconds for the Atmos and Dolby E "
                                            "flags.")] = True,
) -> ProbeRead:
    return ProbeRead.model_validate(service.probe(path, deep=deep))


@router.get(
    "/proxy-audio", summary="Listen: the audio transcoded on the fly",
    description="ffmpeg decodes the file (any format it reads, E-AC-3 and Atmos beds included) "
                "and streams a browser-playable file: wav (PCM 16-bit), mp3, opus (Ogg) or aac "
                "(ADTS). start/duration in seconds pick an excerpt; channels is the number of "
                "output channels (default stereo downmix); channel picks one source channel "
                "(e.g. 2 = centre of a 5.1); stream picks the audio stream. ffmpeg stops when "
                "the client disconnects. A Dolby E stream is refused (it would play as noise). "
                "At most PROXY_MAX_CONCURRENT streams transcode at once: beyond, 503 "
                "`proxy_busy` with `Retry-After` (a slot is freed when its stream ends or the "
                "client leaves).",
    response_class=StreamingResponse,
    responses={200: {"description": "The audio.", "content": {
        "audio/mpeg": {}, "audio/wav": {}, "audio/ogg": {}, "audio/aac": {}}},
        **_errors(400, 403, 422, 503)},
    openapi_extra={"x-curl-example":
                   "curl -s -o excerpt.mp3 '{base}/api/v1/files/proxy-audio?path=show/"
                   "ep101_de.wav&format=mp3&start=60&duration=30'"},
)
async def proxy_audio(
    service: FileServiceDep, path: PathQuery,
    format: Annotated[Literal["wav", "mp3", "opus", "aac"], Query(
        description="Output format.")] = "mp3",
    start: Annotated[float, Query(ge=0, le=360000, description="Start, seconds.")] = 0.0,
    duration: Annotated[float | None, Query(gt=0, le=360000,
                                            description="Length, seconds (default: to the "
                                                        "end).")] = None,
    channels: Annotated[int | None, Query(ge=1, le=8, description="Output channels (default "
                                                                  "2, or 1 with channel).")]
    = None,
    channel: Annotated[int | None, Query(ge=0, le=63, description="Play this source channel "
                                                                  "alone.")] = None,
    stream: Annotated[int, Query(ge=0, le=255, description="Audio stream (0 = first).")] = 0,
) -> _ProcessStreamResponse:
    proxy = await service.open_proxy(path, fmt=format, start=start, duration=duration,
                                     channels=channels, channel=channel, stream=stream)
    return _ProcessStreamResponse(proxy)


@router.get(
    "/raw", summary="Download a file (HTTP Range supported)",
    description="The file as it is, with Accept-Ranges, ETag and Last-Modified; Range requests "
                "(one or several ranges, suffix ranges, If-Range) get 206.",
    response_class=FileResponse,
    responses={200: {"description": "The file."}, 206: {"description": "Part of it."},
               416: ERROR_RESPONSES[422] | {"description": "Range not satisfiable."},
               **_errors(400, 403, 422)},
    openapi_extra={"x-curl-example":
                   "curl -s -r 0-1023 '{base}/api/v1/files/raw?path=show/ep101_de.wav' "
                   "-o head.bin"},
)
async def raw_file(request: Request, service: FileServiceDep, path: PathQuery) -> FileResponse:
    file, media_type = await run_in_threadpool(service.raw_file, path)
    response = FileResponse(file, media_type=media_type, headers={
        "Content-Disposition": content_disposition(file.name, "inline")})
    _check_range(request.headers.get("range"), file.stat().st_size)
    return response


@router.get(
    "/{file_id}", response_model=UploadRead, summary="An uploaded file",
    description="Its stored name and path, size, SHA-256, upload time and probe.",
    responses=_errors(404, 422),
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/files/$FILE_ID"},
)
def get_upload(file_id: FileId, service: FileServiceDep) -> UploadRead:
    return _upload_read(service.get_upload(file_id))


@router.delete(
    "/{file_id}", response_model=UploadDeleted, summary="Delete an uploaded file",
    description="Removes the file and its record. 409 file_in_use while a queued or running "
                "analysis uses it, unless force=true.",
    responses=_errors(404, 409, 422),
    openapi_extra={"x-curl-example": "curl -s -X DELETE {base}/api/v1/files/$FILE_ID"},
)
def delete_upload(
    file_id: FileId, service: FileServiceDep,
    force: Annotated[bool, Query(description="Delete even while analyses use it.")] = False,
) -> UploadDeleted:
    row = service.delete_upload(file_id, force=force)
    return UploadDeleted(file_id=row.id, path=row.path)
