"""Structured logging: LOG_FORMAT (JSON lines or key=value), LOG_LEVEL, LOG_FILE rotation.

Work done for one analysis or workflow runs inside :func:`log_context` (``analysis_id=...``);
a filter copies the context onto every record, so each line of that work carries the id, in the
worker thread and in any thread started with :func:`in_context`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import logging.handlers
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import unquote_plus

from app.core.config import Settings

__all__ = ["configure_logging", "log_context", "current_context", "in_context",
           "ContextFilter", "JsonFormatter", "KeyValueFormatter", "RedactApiKeyFilter",
           "redact_api_keys"]

_HANDLER_MARK = "_sync_analyzer_handler"
_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "log_context", default=None)
P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (e.g. ``analysis_id``) to every log record made inside the block."""
    token = _context.set({**(_context.get() or {}), **{k: str(v) for k, v in fields.items()
                                               if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, str]:
    return dict(_context.get() or {})


def in_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to the current context (for ``threading.Thread(target=...)`` and pools:
    threads do not inherit context variables)."""
    ctx = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.run(fn, *args, **kwargs)

    return run


#: the query parameter a GET request may carry its key in (security.API_KEY_QUERY)
_KEY_PARAM = "api_key"
#: ``name=value`` of a query string (or anywhere in a log line): the name ends at the first
#: ``=`` or ``%3D`` (a name that decodes to ``api_key=<key>``), the value at ``&``, ``;``, ``#``
#: or a space (quotes included: better one character too many masked than one too few). The
#: value is only looked at, not consumed, so a name inside another's value (``/p/x=1?api_key=``)
#: is found too.
_QUERY_PARAM = re.compile(r"(?P<name>[^\s&;?#\"'<>=]+?)(?P<sep>=|%3[dD])(?=(?P<value>[^\s&;#]*))")


def _decoded(name: str) -> str:
    """``name`` percent-decoded (``+`` as a space) until stable (a few rounds at most)."""
    for _ in range(3):
        plain = unquote_plus(name)
        if plain == name:
            break
        name = plain
    return name


def _is_key(match: re.Match[str]) -> bool:
    return (_decoded(match["name"]).lower().endswith(_KEY_PARAM)
            # a format string's placeholder: its argument is masked on its own
            and match["value"] not in ("%s", "%r", "%d"))


def redact_api_keys(text: str) -> str:
    """``text`` with the value of every ``api_key`` query parameter replaced by ``***``.

    Names are compared as the app reads them — percent-decoded (``api%5Fkey``), ``+`` as a
    space — and case-insensitively (``API_KEY``); a name whose ``=`` is encoded
    (``api_key%3D<key>``) is masked after it too."""
    if "=" not in text and "%3" not in text:
        return text
    parts: list[str] = []
    done = 0
    for match in _QUERY_PARAM.finditer(text):
        if match.start() >= done and _is_key(match):
            parts += [text[done:match.end()], "***"]
            done = match.end() + len(match["value"])
    return "".join(parts) + text[done:] if parts else text


class RedactApiKeyFilter(logging.Filter):
    """Masks ``api_key`` query parameters (see :func:`redact_api_keys`) in a record's message
    and arguments (uvicorn's access log prints the query string of GET requests that carry a
    key, which the app accepts in any percent-encoding of its name)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_api_keys(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._arg(v) for k, v in record.args.items()}
        return True

    @staticmethod
    def _arg(value: Any) -> Any:
        if isinstance(value, str):
            return redact_api_keys(value)
        if not (isinstance(value, BaseException) or type(value).__name__ == "URL"):
            return value  # numbers, paths, ...: no query string (and str() may be costly)
        text = str(value)  # a URL object, an exception naming one
        masked = redact_api_keys(text)
        return value if masked == text else masked


class ContextFilter(logging.Filter):
    """Puts the current :func:`log_context` fields on the record (``record.context``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = _context.get() or {}
        return True


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, thread, msg, the context fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"ts": _time(record), "level": record.levelname,
                                 "logger": record.name, "thread": record.threadName,
                                 "msg": record.getMessage()}
        entry.update(getattr(record, "context", {}) or {})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _kv(value: str) -> str:
    return json.dumps(value, ensure_ascii=False) if (not value or any(
        c in value for c in ' "=\n')) else value


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=INFO logger=... thread=... analysis_id=... msg="..."`` (logfmt)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {"ts": _time(record), "level": record.levelname, "logger": record.name,
                  "thread": record.threadName or str(threading.get_ident())}
        fields.update(getattr(record, "context", {}) or {})
        fields["msg"] = record.getMessage()
        line = " ".join(f"{k}={_kv(str(v))}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(settings: Settings) -> None:
    """Configure the ``app`` logger: console always, plus LOG_FILE rotated at LOG_MAX_BYTES
    with LOG_BACKUP_COUNT copies when set.

    Idempotent: calling it again (a second app in the same process) replaces our handlers.
    """
    logger = logging.getLogger("app")
    level = logging.DEBUG if settings.DEBUG else getattr(logging, settings.LOG_LEVEL)
    logger.setLevel(level)
    for handler in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = (JsonFormatter() if settings.LOG_FORMAT == "json"
                                    else KeyValueFormatter())
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if settings.LOG_FILE is not None:
        settings.LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            settings.LOG_FILE, maxBytes=settings.LOG_MAX_BYTES,
            backupCount=settings.LOG_BACKUP_COUNT, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter())
        handler.addFilter(RedactApiKeyFilter())
        setattr(handler, _HANDLER_MARK, True)
        logger.addHandler(handler)
    logger.propagate = False
    for name in ("uvicorn.access", "uvicorn.error"):
        server_logger = logging.getLogger(name)
        if not any(isinstance(f, RedactApiKeyFilter) for f in server_logger.filters):
            server_logger.addFilter(RedactApiKeyFilter())
