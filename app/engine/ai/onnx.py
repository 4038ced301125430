"""onnxruntime sessions, shared by the ONNX backends (:mod:`.backends`) and Silero VAD
(:mod:`.vad`); onnxruntime itself is imported only when a session is made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["onnx_providers", "onnx_session"]


def onnx_providers(device: str) -> list[str]:
    """onnxruntime execution providers for ``device`` ("cpu" or "cuda[:i]")."""
    import onnxruntime as ort

    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def onnx_session(path: Path, device: str) -> Any:
    """An onnxruntime session on ``path`` (two intra-op threads: the shared machines have 2)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=onnx_providers(device))
