"""The handlers that turn every error (``AppError``, request validation, HTTP, engine,
unexpected) into the one JSON error shape of ``app.core.errors``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import (
    AppError,
    engine_error_response,
    error_body,
    is_disk_full,
    root_labels,
)
from app.engine import AudioDecodeError, EngineError

__all__ = ["install_error_handlers"]

_logger = logging.getLogger(__name__)


def _json(status: int, code: str, message: str, details: Any = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    if status == 413:  # the rest of the body is not wanted: close, or uvicorn reads it all
        headers = {**(headers or {}), "Connection": "close"}
    return JSONResponse(jsonable_encoder(error_body(code, message, details)), status_code=status,
                        headers=headers)


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
        settings = getattr(request.app.state, "settings", None)
        status, code, message, details = engine_error_response(
            exc, root_labels(settings) if settings is not None else None)
        if status >= 500 or isinstance(exc, AudioDecodeError):  # the whole story, in the log
            _logger.warning("%s %s: %s: %s", request.method, request.url.path, code, exc)
        return _json(status, code, message, details)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        if is_disk_full(exc):
            _logger.error("disk full on %s %s: %s", request.method, request.url.path, exc)
            return _json(507, "disk_full", "no space left on the output disk (OUTPUT_DIR); "
                         "free some space and try again")
        _logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json(500, "internal_error", "internal server error; see the server log")
