"""The engine's :class:`~app.engine.AnalysisOptions` of a request: one place that fills what
a request leaves out (None) with the server's defaults (``DEFAULT_*`` settings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core.config import Settings
from app.engine import AnalysisOptions

__all__ = ["AI_OPTIONS", "options_for"]

#: options of an enable_ai request, filled in by app.services.ai.AiService.check_request
AI_OPTIONS = ("ai_model", "ai_cache_dir", "ai_use_gpu", "ai_batch_size", "speech_weighting")


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def options_for(request: Mapping[str, Any], settings: Settings) -> AnalysisOptions:
    """The options of an analysis request (an API request's fields or the stored effective
    request, both by the API's names: ``window_size``, ``max_offset_seconds``…).

    A missing or None field takes the server's default: methods ``ENABLED_METHODS`` (without
    ``ai``), ``DEFAULT_SAMPLE_RATE``, ``DEFAULT_MAX_OFFSET_SECONDS``,
    ``DEFAULT_CONFIDENCE_THRESHOLD``, ``DEFAULT_WINDOW_SIZE``; ``search_whole`` defaults to
    "no explicit limit" (the dub is found wherever it lies). The AI options apply only to an
    ``enable_ai`` request whose model is available. Not validated (call ``.validate()``).
    """
    r = request
    limit = r.get("max_offset_seconds")
    return AnalysisOptions(
        methods=tuple(r.get("methods") or settings.engine_methods),
        sample_rate=int(r.get("sample_rate") or settings.DEFAULT_SAMPLE_RATE),
        max_offset_seconds=float(limit or settings.DEFAULT_MAX_OFFSET_SECONDS),
        search_whole=bool(_or(r.get("search_whole"), not limit)),
        master_stream=int(r.get("master_stream") or 0),
        dub_stream=int(r.get("dub_stream") or 0),
        master_channel=r.get("master_channel"), dub_channel=r.get("dub_channel"),
        confidence_threshold=float(_or(r.get("confidence_threshold"),
                                       settings.DEFAULT_CONFIDENCE_THRESHOLD)),
        window_seconds=_or(r.get("window_size"), settings.DEFAULT_WINDOW_SIZE),
        frame_rate=r.get("frame_rate"),
        master_start_timecode=r.get("master_start_timecode"),
        dub_start_timecode=r.get("dub_start_timecode"),
        **{k: r[k] for k in AI_OPTIONS
           if r.get("enable_ai") and not r.get("ai_unavailable") and k in r})
