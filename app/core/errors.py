"""One application error family, turned into ``{"error": {"code", "message", "details"}}``.

``AppError`` subclasses carry an HTTP status and a machine-readable ``code``. Request validation
errors, HTTP errors and the engine's own errors (``ParameterError``, ``AudioDecodeError``) are
mapped to the same JSON shape at the API edge, so every client parses one error format.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.engine import AudioDecodeError, EngineError, ParameterError, ToolNotFoundError

__all__ = [
    "AppError",
    "BadRequestError",
    "NotFoundError",
    "ConflictError",
    "PathNotAllowedError",
    "MediaNotFoundError",
    "FileTooLargeError",
    "UnprocessableError",
    "ServiceUnavailableError",
    "RateLimitedError",
    "error_body",
    "is_disk_full",
    "job_error",
    "install_error_handlers",
]

_logger = logging.getLogger(__name__)


class AppError(Exception):
    """Base of the service's errors: an HTTP status, a stable ``code`` and a message."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class BadRequestError(AppError):
    status_code = 400
    code = "bad_request"


class NotFoundError(AppError):
    status_code = 404
    code = "not_found"


class ConflictError(AppError):
    status_code = 409
    code = "conflict"


class PathNotAllowedError(AppError):
    """A path resolves (symlinks followed) outside MOUNT_PATH and UPLOAD_DIR."""

    status_code = 403
    code = "path_not_allowed"


class MediaNotFoundError(AppError):
    """A path inside the allowed roots names no file."""

    status_code = 422
    code = "file_not_found"


class FileTooLargeError(AppError):
    status_code = 413
    code = "file_too_large"


class UnprocessableError(AppError):
    """The request is well formed but asks for something this server cannot do."""

    status_code = 422
    code = "invalid_request"


class ServiceUnavailableError(AppError):
    status_code = 503
    code = "service_unavailable"


class RateLimitedError(AppError):
    status_code = 429
    code = "rate_limited"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message, "details": details}}


def _json(status: int, code: str, message: str, details: Any = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(error_body(code, message, details)), status_code=status,
                        headers=headers)


def engine_error_response(exc: EngineError) -> tuple[int, str, str, Any]:
    """(status, code, message, details) for an engine error raised while handling a request."""
    if is_disk_full(exc):
        return 507, "disk_full", f"no space left on the output disk (OUTPUT_DIR): {exc}", None
    if isinstance(exc, ParameterError):
        return 422, "invalid_parameter", str(exc), None
    if isinstance(exc, ToolNotFoundError):
        return 503, "ffmpeg_unavailable", str(exc), None
    if isinstance(exc, AudioDecodeError):
        return 422, exc.code, str(exc), {"path": exc.path, "stderr": exc.stderr}
    return 500, "engine_error", str(exc), None


#: errno values of a full disk or an exhausted quota
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk / exhausted quota."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DISK_FULL:
            return True
        if isinstance(seen, EngineError) and "No space left on device" in str(
                getattr(seen, "stderr", "") or seen):  # ffmpeg writing a repair
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def job_error(exc: BaseException) -> dict[str, Any]:
    """The stored ``error`` of a job that raised something unexpected: ``disk_full`` for a full
    output disk, else ``internal_error`` with the exception's type and message."""
    if is_disk_full(exc):
        return {"code": "disk_full", "message": f"no space left on the output disk "
                f"(OUTPUT_DIR): {exc}", "details": {"errno": getattr(exc, "errno", None)}}
    return {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}",
            "details": None}


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the one JSON error shape."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return _json(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        summary = "; ".join(
            f"{'.'.join(str(p) for p in d['loc'] if p != 'body') or 'body'}: {d['msg']}"
            for d in details[:5]
        )
        return _json(422, "validation_error", f"invalid request: {summary}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request",
                 413: "request_too_large"}
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's "error parsing the body": not UTF-8 JSON, as invalid as `{not json`
            return _json(422, "validation_error", "invalid request: the body is not valid "
                         f"UTF-8 JSON ({exc.__cause__.reason} at byte {exc.__cause__.start})",
                         [{"loc": ["body"], "msg": "not UTF-8", "type": "json_invalid"}])
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route for {request.method} {request.url.path} (see /api/help)"
        return _json(exc.status_code, code, message, None, getattr(exc, "headers", None))

    @app.exception_handler(EngineError)
    async def _engine(request: Request, exc: EngineError) -> JSONResponse:
        status, code, message, details = engine_error_response(exc)
        return _json(status, code, message, details)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        if is_disk_full(exc):
            _logger.error("disk full on %s %s: %s", request.method, request.url.path, exc)
            return _json(507, "disk_full", "no space left on the output disk (OUTPUT_DIR); "
                         "free some space and try again")
        _logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json(500, "internal_error", "internal server error; see the server log")
