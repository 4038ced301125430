"""Sync Analyzer's signal-processing engine: pure functions on numpy arrays and ffmpeg I/O,
no web imports.

Sign convention: ``offset_seconds > 0`` means the dub is late.

Importing it leaves the process as it is; entry points call :func:`tune_process` (BLAS
threads, allocator thresholds: :mod:`app.engine.tuning`).
"""

from app.engine.decode import decode, probe, probe_raw
from app.engine.pipeline import ENGINE_VERSION, analyze_files, analyze_signals
from app.engine.tuning import tune_process
from app.engine.types import (
    FRAME_RATES,
    METHOD_NAMES,
    AnalysisCancelled,
    AnalysisOptions,
    AudioDecodeError,
    AudioInfo,
    CancelToken,
    EngineError,
    MethodResult,
    ParameterError,
    ProgressEvent,
    SyncResult,
    ToolNotFoundError,
    Verdict,
)

__all__ = [
    "ENGINE_VERSION",
    "FRAME_RATES",
    "METHOD_NAMES",
    "AnalysisCancelled",
    "AnalysisOptions",
    "AudioDecodeError",
    "AudioInfo",
    "CancelToken",
    "EngineError",
    "MethodResult",
    "ParameterError",
    "ProgressEvent",
    "SyncResult",
    "ToolNotFoundError",
    "Verdict",
    "analyze_files",
    "analyze_signals",
    "decode",
    "probe",
    "probe_raw",
    "tune_process",
]
