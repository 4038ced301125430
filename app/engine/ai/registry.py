"""The AI model registry: which models exist, whether each is available here and why not, and
the loaded models (each loaded once per device and cached).

No weights are ever downloaded. ``wav2vec2`` and ``yamnet`` load from a directory under the
model cache (``AI_MODEL_CACHE_DIR``); ``basic_pitch`` and ``silero_vad`` load the ONNX files their
installed PyPI packages ship; ``spectral`` needs no weights.

Availability is decided without importing the heavy packages (``importlib.util.find_spec`` and
file checks), so the health check stays fast; a model is imported and loaded on first use.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.engine.errors import ParameterError

__all__ = [
    "MODEL_NAMES",
    "EMBEDDING_MODELS",
    "ModelSpec",
    "ModelStatus",
    "ModelRegistry",
    "ModelUnavailable",
    "get_registry",
    "package_file",
]

_logger = logging.getLogger(__name__)


class ModelUnavailable(ParameterError):
    """The requested model cannot be used here; the message says exactly why."""


@dataclass(frozen=True)
class ModelSpec:
    """What a model is. Rates in Hz / frames per second; sizes in values per frame."""

    name: str
    kind: str  # "embedding" (usable by the ``ai`` method) or "speech_activity"
    description: str
    packages: tuple[str, ...]  # import names needed
    sample_rate_hz: int
    hop_samples: float  # at sample_rate_hz: one frame every hop_samples samples
    embedding_size: int | None
    expected_layout: str
    source: str  # "cache_dir", "package" or "none"

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate_hz / self.hop_samples


SPECS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec(
            "spectral", "embedding",
            "normalised log-mel patch embedding (our own; no weights)",
            (), 16000, 320, 96, "no weights needed", "none"),
        ModelSpec(
            "basic_pitch", "embedding",
            "Spotify basic-pitch note/onset network (ONNX shipped in the basic-pitch package): "
            "88 onset + 88 note posteriors per frame",
            ("onnxruntime", "basic_pitch"), 16000, 160, 176,
            "pip install --no-deps basic-pitch (file basic_pitch/saved_models/icassp_2022/"
            "nmp.onnx)", "package"),
        ModelSpec(
            "wav2vec2", "embedding",
            "wav2vec 2.0 frame embeddings (transformers Wav2Vec2Model), 16 kHz, 50 frames/s",
            ("torch", "transformers"), 16000, 320, None,
            "<AI_MODEL_CACHE_DIR>/wav2vec2/{config.json, model.safetensors or pytorch_model.bin, "
            "preprocessor_config.json} (save_pretrained output), or a Hugging Face cache "
            "<AI_MODEL_CACHE_DIR>/[hub/]models--<org>--wav2vec2-*/snapshots/<rev>/ with the "
            "same files", "cache_dir"),
        ModelSpec(
            "yamnet", "embedding",
            "YAMNet SavedModel (waveform in; scores, 1024-d embeddings, log-mel out), 0.48 s "
            "frames run at 4 phases (8.33 frames/s)", ("tensorflow", "tensorflow_hub"), 16000,
            1920, 1024,
            "<AI_MODEL_CACHE_DIR>/yamnet/saved_model.pb with variables/ (the TF-Hub archive "
            "extracted), or one folder below it", "cache_dir"),
        ModelSpec(
            "silero_vad", "speech_activity",
            "Silero VAD speech probability (ONNX shipped in the silero-vad package), 32 ms frames",
            ("onnxruntime", "silero_vad"), 16000, 512, 1,
            "pip install --no-deps silero-vad (file silero_vad/data/silero_vad.onnx)", "package"),
    )
}
MODEL_NAMES: tuple[str, ...] = tuple(SPECS)
EMBEDDING_MODELS: tuple[str, ...] = tuple(n for n, s in SPECS.items() if s.kind == "embedding")
_PACKAGE_FILES = {"basic_pitch": ("basic_pitch", "saved_models/icassp_2022/nmp.onnx"),
                  "silero_vad": ("silero_vad", "data/silero_vad.onnx")}


def package_file(package: str, relative: str) -> Path | None:
    """The installed file ``relative`` inside ``package``, found without importing it (the
    package's own ``__init__`` may import TensorFlow or torch); None when not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / relative
        if path.is_file():
            return path
    return None


def _has_weights(d: Path, name: str) -> bool:
    if name == "yamnet":
        return (d / "saved_model.pb").is_file()
    return (d / "config.json").is_file() and any(
        (d / f).is_file() for f in ("model.safetensors", "pytorch_model.bin"))


def find_weights(cache_dir: Path, name: str) -> Path | None:
    """The directory the weights of ``name`` load from under ``cache_dir`` (see the spec's
    expected layout), or None."""
    direct = cache_dir / name
    if _has_weights(direct, name):
        return direct
    if direct.is_dir():
        for sub in sorted(direct.iterdir()):
            if sub.is_dir() and _has_weights(sub, name):
                return sub
    if name == "wav2vec2":
        for hub in (cache_dir, cache_dir / "hub"):
            for snap in sorted(hub.glob("models--*wav2vec2*/snapshots/*")):
                if _has_weights(snap, name):
                    return snap
    return None


@dataclass
class ModelStatus:
    """Registry view of one model (``/api/v1/ai/models/{name}``)."""

    name: str
    kind: str
    description: str
    available: bool
    reason: str | None
    load_path: str | None
    expected_layout: str
    device: str
    loaded: bool
    sample_rate_hz: int
    frame_rate_hz: float
    embedding_size: int | None
    packages: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelRegistry:
    """Models of one configuration: ``cache_dir`` for weights, ``use_gpu`` (CUDA when present,
    round-robin over several GPUs), ``batch_size`` windows per forward pass.

    Loaded models are cached per (name, device) for the life of the registry (thread-safe).
    """

    def __init__(self, *, cache_dir: str | Path, use_gpu: bool = False, batch_size: int = 8
                 ) -> None:
        if batch_size < 1:
            raise ParameterError(f"batch_size={batch_size}: must be >= 1")
        self.cache_dir = Path(cache_dir).expanduser()
        self.use_gpu = use_gpu
        self.batch_size = int(batch_size)
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str], Any] = {}
        self._next_gpu = 0
        self.warnings: list[str] = []

    # --- availability -------------------------------------------------------------------------
    def load_path(self, name: str) -> Path | None:
        spec = self.spec(name)
        if spec.source == "cache_dir":
            return find_weights(self.cache_dir, name)
        if spec.source == "package":
            return package_file(*_PACKAGE_FILES[name])
        return None

    @staticmethod
    def spec(name: str) -> ModelSpec:
        try:
            return SPECS[name]
        except KeyError:
            raise ParameterError(f"ai_model={name!r}: unknown model; known: {list(SPECS)}"
                                 ) from None

    def status(self, name: str) -> ModelStatus:
        """Availability of ``name`` and exactly why not (nothing is imported or loaded)."""
        spec = self.spec(name)
        packages = {p: importlib.util.find_spec(p) is not None for p in spec.packages}
        missing = [p for p, ok in packages.items() if not ok]
        path = self.load_path(name)
        reason: str | None = None
        if missing:
            reason = (f"package(s) {missing} not installed (pip install -r requirements-ai.txt"
                      + (" and --no-deps -r requirements-ai-nodeps.txt" if spec.source ==
                         "package" else "") + ")")
        elif spec.source != "none" and path is None:
            where = (f"weights not found in AI_MODEL_CACHE_DIR={str(self.cache_dir)!r}"
                     if spec.source == "cache_dir" else "model file not found in the package")
            reason = f"{where}; expected layout: {spec.expected_layout}"
        size = spec.embedding_size
        if name == "wav2vec2" and path is not None:
            try:
                size = int(json.loads((path / "config.json").read_text())["hidden_size"])
            except (OSError, ValueError, KeyError, TypeError):
                size = None
        return ModelStatus(
            name=name, kind=spec.kind, description=spec.description, available=reason is None,
            reason=reason, load_path=str(path) if path is not None else None,
            expected_layout=spec.expected_layout, device=self.device_preview(name),
            loaded=any(k[0] == name for k in self._loaded), sample_rate_hz=spec.sample_rate_hz,
            frame_rate_hz=round(spec.frame_rate_hz, 4), embedding_size=size, packages=packages)

    def statuses(self, names: tuple[str, ...] | list[str] | None = None) -> list[ModelStatus]:
        return [self.status(n) for n in (names or MODEL_NAMES)]

    # --- devices ------------------------------------------------------------------------------
    def _cuda_count(self, name: str) -> int:
        if not self.use_gpu:
            return 0
        spec = self.spec(name)
        try:
            if "torch" in spec.packages:
                import torch

                return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
            if "tensorflow" in spec.packages:
                import tensorflow as tf

                return len(tf.config.list_physical_devices("GPU"))
            if "onnxruntime" in spec.packages:
                import onnxruntime as ort

                return 1 if "CUDAExecutionProvider" in ort.get_available_providers() else 0
            if name == "spectral" and importlib.util.find_spec("torch") is not None:
                return 0  # numpy only
        except Exception:  # a broken CUDA install: CPU
            return 0
        return 0

    def device_preview(self, name: str) -> str:
        """The device ``name`` runs on (or would run on), without loading heavy packages when
        USE_GPU is off."""
        loaded = [k[1] for k in self._loaded if k[0] == name]
        if loaded:
            return ",".join(sorted(set(loaded)))
        if not self.use_gpu or SPECS[name].source == "none":
            return "cpu"
        if any(importlib.util.find_spec(p) is None for p in self.spec(name).packages):
            return "cpu"
        return "cuda" if self._cuda_count(name) else "cpu"

    def pick_device(self, name: str) -> str:
        """CPU, or the next CUDA device in round-robin order when USE_GPU and one exists."""
        n = self._cuda_count(name)
        if n == 0:
            return "cpu"
        with self._lock:
            index = self._next_gpu % n
            self._next_gpu += 1
        return f"cuda:{index}"

    # --- loading ------------------------------------------------------------------------------
    def get(self, name: str, *, device: str | None = None) -> Any:
        """The loaded backend of ``name`` on ``device`` (default: :meth:`pick_device`), loaded
        on first use and cached. Raises :class:`ModelUnavailable` with the reason."""
        status = self.status(name)
        if not status.available:
            raise ModelUnavailable(f"ai_model={name!r} is unavailable: {status.reason}")
        dev = device or self.pick_device(name)
        key = (name, dev)
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
        from app.engine.ai import backends  # heavy imports happen here, once

        _logger.info("loading AI model %s on %s from %s", name, dev, status.load_path)
        model = backends.load(name, path=Path(status.load_path) if status.load_path else None,
                              device=dev, batch_size=self.batch_size)
        with self._lock:
            return self._loaded.setdefault(key, model)

    def loaded(self) -> list[tuple[str, str]]:
        return list(self._loaded)

    def warn(self, message: str) -> None:
        _logger.warning(message)
        with self._lock:
            self.warnings = [*self.warnings[-19:], message]


@lru_cache(maxsize=8)
def get_registry(cache_dir: str, use_gpu: bool = False, batch_size: int = 8) -> ModelRegistry:
    """The process-wide registry of one configuration (models stay loaded between analyses)."""
    return ModelRegistry(cache_dir=cache_dir, use_gpu=use_gpu, batch_size=batch_size)
