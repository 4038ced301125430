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

__all__ = ["AiService"]


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
        """Options of an ``enable_ai`` request, or 422 ``ai_unavailable`` saying exactly why.

        The model defaults to the first enabled embedding model; speech weighting is on when
        Silero VAD is available.
        """
        s = self.settings
        enabled = [m for m in s.ENABLED_AI_MODELS if m in EMBEDDING_MODELS]
        if not enabled:
            raise UnprocessableError(
                "enable_ai: no AI embedding model is enabled on this server (ENABLED_AI_MODELS="
                f"{s.ENABLED_AI_MODELS}; embedding models: {list(EMBEDDING_MODELS)})",
                code="ai_unavailable", details={"enabled": s.ENABLED_AI_MODELS})
        model = (ai_model or enabled[0]).lower()
        if model not in enabled:
            raise UnprocessableError(
                f"ai_model {model!r} is not enabled; enabled: {enabled}",
                code="ai_unavailable", details={"enabled": enabled})
        status = self.registry.status(model)
        if not status.available:
            raise UnprocessableError(
                f"ai_model {model!r} is unavailable: {status.reason}", code="ai_unavailable",
                details={"model": model, "reason": status.reason,
                         "expected_layout": status.expected_layout})
        return {"ai_model": model, "ai_cache_dir": str(s.AI_MODEL_CACHE_DIR),
                "ai_use_gpu": s.USE_GPU, "ai_batch_size": s.AI_BATCH_SIZE,
                "speech_weighting": self.registry.status("silero_vad").available}
