"""Schemas shared by every resource: the error body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ErrorDetail", "ErrorResponse", "ERROR_RESPONSES", "MAX_OFFSET", "error_responses",
           "AUTH_RESPONSES"]

#: largest page offset of the list endpoints (beyond, the database cannot bind the number)
MAX_OFFSET = 2**31 - 1


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable error code.",
                      examples=["path_not_allowed"])
    message: str = Field(description="What went wrong, naming the bad value.",
                         examples=["master_file '/etc/passwd' is outside MOUNT_PATH and "
                                   "UPLOAD_DIR"])
    details: Any = Field(None, description="Extra structured information (e.g. per-field "
                                           "validation errors), or null.")


class ErrorResponse(BaseModel):
    """Every error the API returns has this shape."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"error": {
        "code": "file_not_found", "message": "master_file 'ep101.wav' does not exist",
        "details": {"field": "master_file", "path": "ep101.wav"}}}]})

    error: ErrorDetail


def _r(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


#: Error responses documented on the endpoints, by status code.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _r("Malformed request (e.g. a path with a NUL byte)."),
    403: _r("A path resolves outside MOUNT_PATH and UPLOAD_DIR, or a file is not readable."),
    404: _r("No analysis with this id."),
    409: _r("The analysis has already finished."),
    413: _r("A file is larger than MAX_FILE_SIZE, or the request body than MAX_REQUEST_BODY."),
    415: _r("The body is not of a type this endpoint reads (e.g. not multipart/form-data)."),
    422: _r("Invalid request: validation error, missing file, unknown or disabled method, "
            "undecodable audio, bad parameter."),
    429: _r("Too many requests (ENABLE_RATE_LIMITING)."),
    503: _r("The job queue is full or the service is shutting down."),
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of an endpoint (FastAPI's ``responses=``)."""
    return {c: ERROR_RESPONSES[c] for c in codes}


#: The 401/403 answers documented on every protected route when keys are configured.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _r("No API key, or not a valid one."),
    403: _r("A read-only key on a write method, or a path outside the allowed roots.")}
