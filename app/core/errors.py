"""One application error family, turned into ``{"error": {"code", "message", "details"}}``.

``AppError`` subclasses carry an HTTP status and a machine-readable ``code``. Request validation
errors, HTTP errors and the engine's own errors (``ParameterError``, ``AudioDecodeError``) are
mapped to the same JSON shape at the API edge (``app.api.errors``), so every client parses one
error format.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

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
    "paths_as_given",
    "public_text",
    "root_labels",
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


# --- what error bodies may say --------------------------------------------------------------
# An answer (and a stored job error) names a file as the user gave it: never its resolved
# absolute path, where a symlink leads, the roots' absolute paths or the server's PID. The
# server log keeps the details.

#: the PID and thread id in the temporary names of files being written (``.x.partial-PID-TID``)
_TEMP_SUFFIX = re.compile(r"\.partial-\d+-\d+")
_GIVEN_ATTR = "given_paths"


def root_labels(settings: Any) -> dict[str, str]:
    """{absolute root: its setting's name} of MOUNT_PATH, UPLOAD_DIR and OUTPUT_DIR, for
    :func:`public_text` (``settings``: an :class:`app.core.config.Settings`)."""
    return {str(settings.mount_root): "MOUNT_PATH", str(settings.upload_root): "UPLOAD_DIR",
            str(settings.output_root): "OUTPUT_DIR"}


def public_text(text: str, paths: Mapping[str, str] | None = None,
                roots: Mapping[str, str] | None = None) -> str:
    """``text`` fit for an error body: each absolute path of ``paths`` replaced by how the user
    gave it, paths under a root of ``roots`` ({absolute root: label}) made relative to it (the
    root alone by its label), and the PID/thread suffix of temporary file names dropped."""
    if not text:
        return text
    for absolute, shown in sorted((paths or {}).items(), key=lambda kv: -len(kv[0])):
        if absolute:
            text = text.replace(absolute, shown)
            name, shown_name = Path(absolute).name, Path(shown).name
            if name and shown_name and name != shown_name:  # a symlink's target, by name
                text = re.sub(rf"(?<![\w.\-]){re.escape(name)}(?![\w.\-])",
                              shown_name.replace("\\", "\\\\"), text)
    for root, label in sorted((roots or {}).items(), key=lambda kv: -len(kv[0])):
        bare = root.rstrip(os.sep)
        if bare:
            text = text.replace(bare + os.sep, "")
            text = re.sub(re.escape(bare) + r"(?![\w.\-])", label, text)
    return _TEMP_SUFFIX.sub(".partial", text)


@contextlib.contextmanager
def paths_as_given(paths: Mapping[str, str]) -> Iterator[None]:
    """Engine errors (and OSErrors) raised inside the block name the files of ``paths``
    ({resolved path: as the user gave it}) that way in their answer and stored job error (see
    :func:`engine_error_response`, :func:`job_error`)."""
    try:
        yield
    except (EngineError, OSError) as exc:
        known = dict(getattr(exc, _GIVEN_ATTR, None) or {})
        with contextlib.suppress(AttributeError, TypeError):  # inner blocks take precedence
            setattr(exc, _GIVEN_ATTR, {**{str(k): v for k, v in paths.items()}, **known})
        raise


def _named_paths(exc: BaseException) -> dict[str, str]:
    """{absolute path: as shown} for the paths ``exc`` carries: those of
    :func:`paths_as_given`, else the file's name (an engine error's ``path``, an OSError's)."""
    given: dict[str, str] = dict(getattr(exc, _GIVEN_ATTR, None) or {})
    for absolute, shown in list(given.items()):  # the resolved form too (ffmpeg may print it)
        given.setdefault(os.path.realpath(absolute), shown)
    for path in (getattr(exc, "path", None), getattr(exc, "filename", None),
                 getattr(exc, "filename2", None)):
        if isinstance(path, str | Path) and str(path) and str(path) not in given:
            absolute = str(path)
            given[absolute] = given.get(os.path.realpath(absolute)) or _TEMP_SUFFIX.sub(
                "", Path(absolute).name)
    return given


def engine_error_response(exc: EngineError, roots: Mapping[str, str] | None = None
                          ) -> tuple[int, str, str, Any]:
    """(status, code, message, details) for an engine error raised while handling a request
    (or running a job). Files are named as the user gave them (:func:`paths_as_given`), else
    by their name, never by their absolute path (``roots``: see :func:`public_text`)."""
    paths = _named_paths(exc)
    message = public_text(str(exc), paths, roots)
    if is_disk_full(exc):
        return (507, "disk_full", f"no space left on the output disk (OUTPUT_DIR): {message}",
                None)
    if isinstance(exc, ParameterError):
        return 422, "invalid_parameter", message, None
    if isinstance(exc, ToolNotFoundError):
        return 503, "ffmpeg_unavailable", message, None
    if isinstance(exc, AudioDecodeError):
        return 422, exc.code, message, {"path": paths.get(exc.path) if exc.path else None,
                                        "stderr": public_text(exc.stderr, paths, roots)}
    return 500, "engine_error", message, None


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


def job_error(exc: BaseException, roots: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The stored ``error`` of a job that raised something unexpected: ``disk_full`` for a full
    output disk, else ``internal_error`` with the exception's type and message (files named as
    by :func:`engine_error_response`)."""
    message = public_text(str(exc), _named_paths(exc), roots)
    if is_disk_full(exc):
        return {"code": "disk_full", "message": f"no space left on the output disk "
                f"(OUTPUT_DIR): {message}", "details": {"errno": getattr(exc, "errno", None)}}
    return {"code": "internal_error", "message": f"{type(exc).__name__}: {message}",
            "details": None}
