"""AI models for the ``ai`` method and speech activity (no web imports, no hub downloads).

- :mod:`.registry`: which models exist, availability and why not, loaded models (cached).
- :mod:`.backends`: spectral, wav2vec2, yamnet, basic_pitch embedding backends.
- :mod:`.vad`: Silero VAD speech activity and the weights that down-weight dialogue.
- :mod:`.embeddings`: windowed, batched embedding of a track; cosine cross-correlation.
- :mod:`.method`: the ``ai`` method and the pipeline's AI stage.

Heavy packages (torch, transformers, tensorflow, onnxruntime) are imported only when a model
is loaded, so importing this package is cheap and works without them.
"""

from app.engine.ai.registry import (
    EMBEDDING_MODELS,
    MODEL_NAMES,
    ModelRegistry,
    ModelStatus,
    ModelUnavailable,
    get_registry,
)

__all__ = ["EMBEDDING_MODELS", "MODEL_NAMES", "ModelRegistry", "ModelStatus",
           "ModelUnavailable", "get_registry"]
