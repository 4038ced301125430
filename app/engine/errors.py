"""The engine's error family and the cancel token (a leaf: it imports nothing of the engine,
so every engine module may import it without a circle). Re-exported by
:mod:`app.engine.types` and :mod:`app.engine`."""

from __future__ import annotations

import threading

__all__ = ["EngineError", "ParameterError", "AudioDecodeError", "FormatNotAllowedError",
           "ToolNotFoundError", "AnalysisCancelled", "CancelToken"]


class EngineError(Exception):
    """Base of every error the engine raises."""


class ParameterError(EngineError, ValueError):
    """A parameter is out of range or of the wrong kind; the message names it."""


class AudioDecodeError(EngineError):
    """ffmpeg/ffprobe could not read a file; carries ffmpeg's own message."""

    #: machine-readable error code the API answers with (HTTP 422)
    code = "audio_decode_error"

    def __init__(self, message: str, *, path: str | None = None, stderr: str = "") -> None:
        self.path = path
        self.stderr = stderr.strip()[-2000:]
        full = message if not self.stderr else f"{message}: {self.stderr.splitlines()[-1]}"
        super().__init__(full)


class FormatNotAllowedError(AudioDecodeError):
    """The file is not a media container ffmpeg may read: a playlist or reference format (HLS,
    DASH, concat, image sequences…) that would make ffmpeg open other files or URLs."""

    code = "format_not_allowed"


class ToolNotFoundError(AudioDecodeError):
    """ffmpeg or ffprobe is not installed (a fault of the machine, not of the file)."""


class AnalysisCancelled(EngineError):
    """Raised between stages when the analysis' :class:`CancelToken` was cancelled."""


class CancelToken:
    """Cooperative cancellation flag, checked by the engine between stages and blocks."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise AnalysisCancelled("analysis cancelled")
