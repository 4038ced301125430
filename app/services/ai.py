"""AI models as the service sees them: the registry of this server's settings, the
``/api/v1/ai/models`` views, the health component and the checks of ``enable_ai`` requests."""

from __future__ import annotations

from typing import Any

from app.core.config import Settings
from app.core.errors import NotFoundError, UnprocessableError
from app.engine.ai.registry import (
    EMBEDDING_MODELS,
    MODEL_NAMES,
    ModelRegistry,
    ModelStatus,
    get_registry,
)

__all__ = ["AiService", "unavailable_method", "unavailable_warning"]


class AiService:
    """Registry views for one ``Settings`` (the registry, and so the loaded models, is shared
    by every service built on the same AI_MODEL_CACHE_DIR / USE_GPU / AI_BATCH_SIZE)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry: ModelRegistry = get_registry(
            str(settings.AI_MODEL_CACHE_DIR), settings.USE_GPU, settings.AI_BATCH_SIZE)

    def _view(self, status: ModelStatus) -> dict[str, Any]:
        view = status.to_dict()
        view["enabled"] = status.name in self.settings.ENABLED_AI_MODELS
        view["usable_by_ai_method"] = status.name in EMBEDDING_MODELS
        return view

    def list_models(self) -> dict[str, Any]:
        """Every model the engine knows, enabled ones first."""
        enabled = [n for n in self.settings.ENABLED_AI_MODELS if n in MODEL_NAMES]
        names = enabled + [n for n in MODEL_NAMES if n not in enabled]
        items = [self._view(self.registry.status(n)) for n in names]
        return {"items": items, "total": len(items), "cache_dir": str(self.registry.cache_dir),
                "use_gpu": self.settings.USE_GPU, "batch_size": self.settings.AI_BATCH_SIZE,
                "warnings": list(self.registry.warnings)}

    def get_model(self, name: str) -> dict[str, Any]:
        """One model's status; 404 for a name the engine does not know."""
        key = name.lower()
        if key not in MODEL_NAMES:
            raise NotFoundError(f"AI model {name!r} not found; known: {list(MODEL_NAMES)}",
                                code="ai_model_not_found", details={"known": list(MODEL_NAMES)})
        return self._view(self.registry.status(key))

    def health(self) -> dict[str, Any]:
        """The ``ai-models`` health component: disabled with no enabled model, degraded when an
        enabled model is unavailable (each model says why), ok otherwise."""
        s = self.settings
        models = [self._view(self.registry.status(n)) if n in MODEL_NAMES else
                  {"name": n, "available": False, "reason": "unknown model"}
                  for n in s.ENABLED_AI_MODELS]
        status = "disabled" if not models else (
            "ok" if all(m["available"] for m in models) else "degraded")
        return {"status": status, "enabled": list(s.ENABLED_AI_MODELS),
                "cache_dir": str(s.AI_MODEL_CACHE_DIR),
                "cache_dir_exists": s.AI_MODEL_CACHE_DIR.is_dir(), "use_gpu": s.USE_GPU,
                "batch_size": s.AI_BATCH_SIZE, "loaded": [f"{n}@{d}" for n, d in
                                                         self.registry.loaded()],
                "warnings": list(self.registry.warnings), "models": models}

    def check_request(self, ai_model: str | None) -> dict[str, Any]:
        """Options of an ``enable_ai`` request.

        An unknown model name (or one the ai method cannot use) is a 422 ``unknown_ai_model``.
        A known model that cannot run here — the ai method off in ENABLED_METHODS, the model
        not in ENABLED_AI_MODELS, or not installed — does not refuse the request: the answer
        holds ``ai_unavailable`` (model, exact reason, expected install layout) and the
        classical methods run alone. The model defaults to the first enabled embedding model;
        speech weighting is on when Silero VAD is available.
        """
        s = self.settings
        name = ai_model.strip().lower() if ai_model is not None else None
        if name is not None and name not in EMBEDDING_MODELS:
            what = ("a speech-activity model, not an embedding model the ai method can use"
                    if name in MODEL_NAMES else "an unknown model")
            raise UnprocessableError(
                f"ai_model {ai_model!r} is {what}; known embedding models: "
                f"{list(EMBEDDING_MODELS)}", code="unknown_ai_model",
                details={"field": "ai_model", "known": list(EMBEDDING_MODELS)})
        enabled = [m for m in s.ENABLED_AI_MODELS if m in EMBEDDING_MODELS]
        model = name or (enabled[0] if enabled else None)
        status = self.registry.status(model) if model is not None else None
        reasons: list[str] = []
        if not s.ai_method_enabled:
            reasons.append(f"the ai method is disabled on this server (ENABLED_METHODS="
                           f"{s.ENABLED_METHODS} does not list \"ai\")")
        if model is None:
            reasons.append(f"no AI embedding model is enabled on this server (ENABLED_AI_MODELS="
                           f"{s.ENABLED_AI_MODELS}; embedding models: {list(EMBEDDING_MODELS)})")
        elif model not in enabled:
            reasons.append(f"ai_model {model!r} is not enabled on this server (ENABLED_AI_MODELS="
                           f"{s.ENABLED_AI_MODELS}; add it there)")
        if status is not None and not status.available:
            reasons.append(f"ai_model {model!r} is not installed here: {status.reason}")
        if reasons:
            return {"ai_model": model, "ai_unavailable": {
                "model": model, "reason": "; ".join(reasons),
                "expected_layout": status.expected_layout if status is not None else None,
                "cache_dir": str(s.AI_MODEL_CACHE_DIR)}}
        return {"ai_model": model, "ai_cache_dir": str(s.AI_MODEL_CACHE_DIR),
                "ai_use_gpu": s.USE_GPU, "ai_batch_size": s.AI_BATCH_SIZE,
                "speech_weighting": self.registry.status("silero_vad").available}


def unavailable_warning(info: dict[str, Any]) -> str:
    """The analysis' warning for an AI method that could not run (``ai_unavailable``)."""
    layout, reason = info.get("expected_layout"), str(info.get("reason"))
    return ("the ai method did not run: " + reason
            + (f" (expected install layout: {layout})" if layout and layout not in reason
               else "")
            + "; the classical methods answered alone")


def unavailable_method(info: dict[str, Any]) -> dict[str, Any]:
    """The ``methods`` entry of an AI method that could not run: status ``unavailable``, no
    offset, confidence 0, the reason and install layout in its diagnostics."""
    return {"method": "ai", "status": "unavailable", "offset_seconds": None, "confidence": 0.0,
            "peak_height": 0.0, "peak_ratio": 0.0, "search_range_seconds": [0.0, 0.0],
            "resolution_seconds": 0.0, "elapsed_seconds": 0.0, "polarity_inverted": None,
            "reason": info.get("reason"),
            "diagnostics": {"model": info.get("model"), "reason": info.get("reason"),
                            "expected_layout": info.get("expected_layout"),
                            "cache_dir": info.get("cache_dir")}}
