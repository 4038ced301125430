"""Resolution of user-supplied paths inside the allowed roots (MOUNT_PATH, UPLOAD_DIR).

A path is resolved with every symlink followed *before* it is checked, so ``../`` tricks,
absolute paths elsewhere and symlinks pointing out of the roots are all refused the same way.
The check happens before any existence test, so nothing is revealed about files outside.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import (
    BadRequestError,
    FileTooLargeError,
    MediaNotFoundError,
    PathNotAllowedError,
    UnprocessableError,
)

__all__ = ["ResolvedFile", "resolve_inside_roots", "resolve_media_path"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedFile:
    given: str
    path: Path
    size: int
    root: Path


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def resolve_inside_roots(
    raw: str, *, field: str, roots: list[Path], relative_to: Path | None = None,
    shown: str | None = None,
) -> tuple[Path, Path]:
    """Resolve ``raw`` (absolute, or relative to ``relative_to``, else to each root in turn)
    with every symlink followed to an existing path inside ``roots`` (already resolved).

    Returns (resolved path, the root holding it). Raises: BadRequestError (NUL byte),
    PathNotAllowedError (outside the roots; checked before existence), MediaNotFoundError
    (missing). Messages name the path ``shown`` (default ``raw``: as the user gave it).
    """
    shown = raw if shown is None else shown
    details = {"field": field, "path": shown}
    if "\x00" in raw:
        raise BadRequestError(f"{field}: the path contains a NUL byte", code="invalid_path",
                              details=details)
    candidate = Path(raw).expanduser()
    if candidate.is_absolute():
        options = [candidate]
    elif relative_to is not None:
        options = [relative_to / candidate]
    else:
        options = [root / candidate for root in roots]
    resolved: Path | None = None
    try:
        for option in options:
            path = option.resolve(strict=False)
            if not any(_inside(path, root) for root in roots):
                # the answer names the path as given, never where it leads (a symlink's
                # target) nor the roots' absolute paths; the server log keeps both
                _logger.warning("%s %r refused: resolves to %s, outside %s", field, raw, path,
                                [str(r) for r in roots])
                raise PathNotAllowedError(
                    f"{field} {shown!r} is outside the allowed roots (MOUNT_PATH, UPLOAD_DIR)",
                    details={**details, "allowed_roots": ["MOUNT_PATH", "UPLOAD_DIR"]})
            if resolved is None or path.exists():
                resolved = path
            if path.exists():
                break
        assert resolved is not None
        exists = resolved.exists()
    except OSError as exc:  # a name too long, a path through a file, ...: not a usable path
        raise BadRequestError(f"{field}: not a usable path ({exc.strerror})",
                              code="invalid_path", details=details) from exc
    if not exists:
        raise MediaNotFoundError(f"{field} {shown!r} does not exist", details=details)
    root = next(r for r in roots if _inside(resolved, r))
    return resolved, root


def resolve_media_path(
    raw: str, *, field: str, roots: list[Path], max_size: int, shown: str | None = None
) -> ResolvedFile:
    """Resolve ``raw`` (absolute, or relative to the first root, then the others) to an
    existing, readable regular file inside ``roots`` (already resolved) no larger than
    ``max_size`` bytes.

    Raises: BadRequestError (NUL byte), PathNotAllowedError (outside the roots, unreadable),
    MediaNotFoundError (missing), UnprocessableError (not a regular file),
    FileTooLargeError (> max_size). Messages name the path ``shown`` (default ``raw``).
    """
    shown = raw if shown is None else shown
    details = {"field": field, "path": shown}
    resolved, root = resolve_inside_roots(raw, field=field, roots=roots, shown=shown)
    if not resolved.is_file():
        raise UnprocessableError(f"{field} {shown!r} is not a regular file", code="not_a_file",
                                 details=details)
    if not os.access(resolved, os.R_OK):
        raise PathNotAllowedError(f"{field} {shown!r} is not readable by the service",
                                  code="file_not_readable", details=details)
    size = resolved.stat().st_size
    if size > max_size:
        raise FileTooLargeError(
            f"{field} {shown!r} is {size} bytes, over MAX_FILE_SIZE={max_size}",
            details={**details, "size": size, "max_size": max_size})
    return ResolvedFile(given=shown, path=resolved, size=size, root=root)
