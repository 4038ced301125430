"""Uploaded bodies read at the edge, their size bounded while they arrive (chunked bodies too).

- :func:`read_file_part`: the one part named ``file`` of a ``multipart/form-data`` body,
  streamed; the file service gets a plain name, a content type and the file's bytes.
- :func:`read_csv_body`: a batch CSV, as a multipart field ``file`` or as the body itself.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from app.core.errors import AppError, BadRequestError, FileTooLargeError

__all__ = ["FilePart", "read_file_part", "read_csv_body", "MULTIPART_SLACK"]

_logger = logging.getLogger(__name__)

#: headers and boundaries around the file part, allowed on top of the file's own limit
MULTIPART_SLACK = 1024 * 1024
_CSV_SLACK = 64 * 1024  # boundaries, part headers and small fields around the CSV
_CSV_TYPES = {"text/csv", "text/plain", "application/csv", "application/octet-stream",
              "application/vnd.ms-excel", "text/tab-separated-values"}


@dataclass
class FilePart:
    """The form's file: its client-side name, its declared type and its bytes (the rest of
    the body is read, and checked, while they are consumed)."""

    filename: str
    content_type: str | None
    chunks: AsyncIterator[bytes]


class _FileParser:
    """Streaming multipart parser: the bytes of the part named ``file`` as they arrive."""

    def __init__(self, boundary: bytes) -> None:
        self.pending: list[bytes] = []
        self.filename: str | None = None
        self.content_type: str | None = None
        self.file_seen = False
        self.file_done = False
        self._in_file = False
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end})

    def feed(self, chunk: bytes) -> list[bytes]:
        """Parse ``chunk``; the file's bytes found in it (400 on a malformed body)."""
        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            raise BadRequestError(f"malformed multipart body: {exc}",
                                  code="invalid_multipart") from exc
        pieces, self.pending = self.pending, []
        return pieces

    def _part_begin(self) -> None:
        self._headers = {}
        self._in_file = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if name != "file" or filename is None:
            return
        if self.file_seen:
            raise BadRequestError("one file per upload: the form has several 'file' fields",
                                  code="too_many_files")
        self.file_seen = self._in_file = True
        self.filename = filename.decode("utf-8", "replace")
        ctype = self._headers.get(b"content-type")
        self.content_type = ctype.decode("latin-1")[:255] if ctype else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.pending.append(bytes(data[start:end]))

    def _part_end(self) -> None:
        if self._in_file:
            self.file_done = True
            self._in_file = False


async def _bounded(request: Request, cap: int, too_large: Callable[[int], AppError]
                   ) -> AsyncGenerator[bytes, None]:
    """The body, chunk by chunk, counted as it is read: ``too_large(received)`` is raised as
    soon as more than ``cap`` bytes arrive, so at most ``cap`` + one chunk is ever read."""
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > cap:
                raise too_large(received)
            yield chunk
    except ClientDisconnect:
        _logger.info("upload abandoned by the client after %d bytes", received)
        raise


async def _file_bytes(parser: _FileParser, first: list[bytes],
                      body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The file's bytes to the end of the body; 400 when the body ends inside the file."""
    for piece in first:
        yield piece
    async for chunk in body:
        for piece in parser.feed(chunk):
            yield piece
    parser.parser.finalize()
    if not parser.file_done:
        raise BadRequestError("the multipart body ends inside the file (truncated upload)",
                              code="invalid_multipart")


async def read_file_part(request: Request, *, max_file: int,
                         check_room: Callable[[int], None]) -> FilePart:
    """The field ``file`` of a multipart request, once its headers have arrived.

    415 for another content type; 413 when Content-Length already says the body is too large
    (``check_room`` is then asked about the declared size: 507 when it does not fit); 400 when
    the form has no ``file`` field, several, or is malformed.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise AppError("send the file as multipart/form-data in a field named 'file'",
                       code="unsupported_media_type", status_code=415)
    length = request.headers.get("content-length", "")
    if length.isdigit():
        if int(length) > max_file + MULTIPART_SLACK:
            raise FileTooLargeError(
                f"the upload is {length} bytes, over MAX_FILE_SIZE={max_file}",
                details={"size": int(length), "max_size": max_file})
        check_room(int(length))
    parser = _FileParser(boundary)
    body = _bounded(request, max_file + MULTIPART_SLACK, lambda received: FileTooLargeError(
        f"the request body is over MAX_FILE_SIZE={max_file} bytes (plus {MULTIPART_SLACK} "
        "for the form around the file); upload stopped and the partial file removed",
        details={"max_size": max_file, "received_bytes": received}))
    async for chunk in body:
        first = parser.feed(chunk)
        if parser.file_seen:
            return FilePart(parser.filename or "", parser.content_type,
                            _file_bytes(parser, first, body))
    parser.parser.finalize()
    raise BadRequestError("the form has no file field named 'file'", code="file_missing")


async def read_csv_body(request: Request, *, limit: int) -> tuple[bytes, str | None]:
    """The CSV of the request and its file name: the multipart field ``file``, or the raw body
    (text/csv, no name); 413 ``csv_too_large`` past ``limit`` bytes, 415 for another type."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + _CSV_SLACK:
        raise FileTooLargeError(f"the CSV is {length} bytes; at most {limit} are accepted",
                                code="csv_too_large", details={"max_bytes": limit})
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        body = _bounded(request, limit + _CSV_SLACK, lambda _: FileTooLargeError(
            f"the CSV is over {limit} bytes; upload stopped", code="csv_too_large",
            details={"max_bytes": limit}))
        parser = MultiPartParser(request.headers, body, max_files=1, max_fields=16)
        try:
            form = await parser.parse()  # closes its spooled files itself when it fails
        except MultiPartException as exc:
            raise BadRequestError(f"malformed multipart body: {exc.message}",
                                  code="invalid_multipart") from exc
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise BadRequestError("multipart/form-data needs a field 'file' holding the CSV",
                                      code="csv_missing")
            data = await upload.read(limit + 1)
            filename = upload.filename
        finally:
            await form.close()
    elif content_type in _CSV_TYPES or not content_type:
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > limit:
                break
        data, filename = bytes(buf), None
    else:
        raise AppError(f"Content-Type {content_type!r}: send the CSV as multipart/form-data "
                       "(field 'file') or as text/csv", code="unsupported_media_type",
                       status_code=415)
    if len(data) > limit:
        raise FileTooLargeError(f"the CSV is over {limit} bytes", code="csv_too_large",
                                details={"max_bytes": limit})
    return data, filename
