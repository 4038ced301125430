"""Sync Analyzer's signal-processing engine: pure functions on numpy arrays and ffmpeg I/O,
no web imports.

Sign convention: ``offset_seconds > 0`` means the dub is late.
"""

from app.engine.decode import decode, probe, probe_raw
from app.engine.memory import tune_allocator
from app.engine.pipeline import ENGINE_VERSION, analyze_files, analyze_signals
from app.engine.threads import limit_blas_threads
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

limit_blas_threads()  # see app.engine.threads: BLAS's own pool only spins on 2 cores
tune_allocator()  # see app.engine.memory: block temporaries reused, not re-faulted

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
]
