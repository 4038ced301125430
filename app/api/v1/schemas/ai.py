"""Schemas of ``/api/v1/ai/models``: the AI model registry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AiModelRead", "AiModelList"]


class AiModelRead(BaseModel):
    """One model: whether it can run here, where it loads from, on which device, and why not."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "wav2vec2", "kind": "embedding", "available": False, "enabled": True,
        "reason": "weights not found in AI_MODEL_CACHE_DIR='./ai_models'; expected layout: "
                  "<AI_MODEL_CACHE_DIR>/wav2vec2/{config.json, model.safetensors, ...}",
        "load_path": None, "device": "cpu", "frame_rate_hz": 50.0, "embedding_size": None}]})

    name: str = Field(description="Model name, as used in ai_model and ENABLED_AI_MODELS.",
                      examples=["basic_pitch"])
    kind: str = Field(description="embedding (usable by the ai method) or speech_activity.")
    description: str
    available: bool = Field(description="Packages installed and weights found.")
    enabled: bool = Field(description="Listed in ENABLED_AI_MODELS.")
    usable_by_ai_method: bool
    reason: str | None = Field(description="Why unavailable: a package not installed, or the "
                                           "weights not found with the expected layout.")
    load_path: str | None = Field(description="Directory or file the weights load from.")
    expected_layout: str = Field(description="Where the weights must be.")
    device: str = Field(description="cpu, cuda or cuda:i (the device(s) it is loaded on).")
    loaded: bool = Field(description="Loaded in this process (models are loaded once).")
    sample_rate_hz: int = Field(description="Input sample rate, Hz.")
    frame_rate_hz: float = Field(description="Embedding frames per second.")
    embedding_size: int | None = Field(description="Values per frame (None until known).")
    packages: dict[str, bool] = Field(description="Python packages it needs: installed?")


class AiModelList(BaseModel):
    """Every model the engine knows, enabled ones first: ``{"items": [...], "total": n}``."""

    items: list[AiModelRead]
    total: int
    cache_dir: str = Field(description="AI_MODEL_CACHE_DIR.")
    use_gpu: bool = Field(description="USE_GPU.")
    batch_size: int = Field(description="AI_BATCH_SIZE: windows per forward pass.")
    warnings: list[str] = Field(description="Recent device warnings (e.g. out of GPU memory, "
                                            "fell back to CPU).")
