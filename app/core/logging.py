"""Logging set-up from LOG_LEVEL and LOG_FILE (rotated)."""

from __future__ import annotations

import logging
import logging.handlers

from app.core.config import Settings

__all__ = ["configure_logging"]

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"
_HANDLER_MARK = "_sync_analyzer_handler"


def configure_logging(settings: Settings) -> None:
    """Configure the ``app`` logger: console always, plus LOG_FILE (10 MB × 5) when set.

    Idempotent: calling it again (a second app in the same process) replaces our handlers.
    """
    logger = logging.getLogger("app")
    level = logging.DEBUG if settings.DEBUG else getattr(logging, settings.LOG_LEVEL)
    logger.setLevel(level)
    for handler in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if settings.LOG_FILE is not None:
        handlers.append(logging.handlers.RotatingFileHandler(
            settings.LOG_FILE, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _HANDLER_MARK, True)
        logger.addHandler(handler)
    logger.propagate = False
