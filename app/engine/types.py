"""Shared types of the detection engine: options, results, progress and errors.

Sign convention everywhere: ``offset_seconds > 0`` means the dub is *late* — the same
sound occurs ``offset_seconds`` later in the dub than in the master. Repair removes that
much from the dub's head.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from app.engine.errors import (
    AnalysisCancelled,
    AudioDecodeError,
    CancelToken,
    EngineError,
    FormatNotAllowedError,
    ParameterError,
    ToolNotFoundError,
)
from app.engine.timecode import FRAME_RATES

__all__ = [
    "METHOD_NAMES",
    "FRAME_RATES",
    "EngineError",
    "ParameterError",
    "AudioDecodeError",
    "FormatNotAllowedError",
    "ToolNotFoundError",
    "AnalysisCancelled",
    "CancelToken",
    "ProgressEvent",
    "ProgressCallback",
    "Verdict",
    "IN_SYNC_SECONDS",
    "verdict_of",
    "AnalysisOptions",
    "AudioInfo",
    "MethodResult",
    "SyncResult",
]

#: Detection methods the engine knows, in their default order.
METHOD_NAMES: tuple[str, ...] = ("correlation", "mfcc", "onset", "spectral")

class Verdict(StrEnum):
    """The verdict of an analysis (and of its timeline). A ``str``: it compares equal to, and
    formats and serialises (JSON) as, its plain value."""

    IN_SYNC = "in_sync"
    CONSTANT_OFFSET = "constant_offset"
    DRIFT = "drift"
    EDITED = "edited"
    NO_RELIABLE_MATCH = "no_reliable_match"


#: |offset| (s) at or under which a constant offset is "in_sync"
IN_SYNC_SECONDS = 0.001
#: the verdict of each offset model (``Timeline.model``); "constant" splits by the offset
_MODEL_VERDICTS = {"piecewise": Verdict.EDITED, "drift": Verdict.DRIFT,
                   "none": Verdict.NO_RELIABLE_MATCH}


def verdict_of(model: str, offset_seconds: float | None, *, reliable: bool = True) -> Verdict:
    """The one rule from an offset model to a :class:`Verdict`, used by the timeline, the
    pipeline, the pieces and the per-channel pass alike: no reliable match unless
    ``reliable`` (and an offset); "piecewise" edited, "drift" drift; a "constant" model in
    sync when |``offset_seconds``| ≤ :data:`IN_SYNC_SECONDS`, else a constant offset."""
    if not reliable or offset_seconds is None:
        return Verdict.NO_RELIABLE_MATCH
    if model in _MODEL_VERDICTS:
        return _MODEL_VERDICTS[model]
    return Verdict.IN_SYNC if abs(offset_seconds) <= IN_SYNC_SECONDS else \
        Verdict.CONSTANT_OFFSET


def _known(cls: type, d: Mapping[str, Any]) -> dict[str, Any]:
    """The items of ``d`` that name a field of the dataclass ``cls``."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    ``fraction`` is the overall progress in [0, 1]; ``window``/``windows`` count blocks of the
    current stage when it has any; ``estimate`` is the best estimate so far
    (``{"offset_seconds": float, "confidence": float}``) once one exists.
    """

    stage: str
    fraction: float
    message: str
    window: int | None = None
    windows: int | None = None
    estimate: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class AnalysisOptions:
    """Options of one analysis.

    sample_rate: analysis rate in Hz both files are decoded to (mono).
    max_offset_seconds: the search covers offsets in [-max, +max] seconds (≤ 600).
    master_stream / dub_stream: audio stream index among the file's audio streams (0 = first).
    master_channel / dub_channel: channel index to analyse, None = mono downmix.
    confidence_threshold: minimum consensus confidence in [0, 1] for a reliable answer.
    window_seconds / hop_seconds: timeline windows (None = automatic: an eighth of the
    programme within [5, 10] s; hop = window).
    ai_model: embedding model of the ``ai`` method (see ``app.engine.ai``); None = no ai method.
    ai_cache_dir / ai_use_gpu / ai_batch_size: model cache folder, CUDA when present, windows
    per forward pass. speech_weighting: down-weight dialogue (Silero VAD) in the feature
    methods and the ai method. search_whole: first find the dub wherever it lies in the master
    (and the master in the dub) over every lag, then analyse that stretch with the local
    search of ±``max_offset_seconds``; False = the local search alone (an explicit limit).
    frame_rate: the programme's frame rate (fps) of the timecodes; None = a file's timecode
    track rate, else 25. master_start_timecode / dub_start_timecode: the file's start as
    "HH:MM:SS:FF" ("HH:MM:SS;FF" drop-frame), overriding its tags (BWF time_reference,
    MXF/MOV timecode); None = the file's own, else 00:00:00:00 (see app.engine.start_timecode).
    """

    methods: tuple[str, ...] = METHOD_NAMES
    sample_rate: int = 16000
    max_offset_seconds: float = 120.0
    master_stream: int = 0
    dub_stream: int = 0
    master_channel: int | None = None
    dub_channel: int | None = None
    confidence_threshold: float = 0.5
    window_seconds: float | None = None
    hop_seconds: float | None = None
    ai_model: str | None = None
    ai_cache_dir: str = "ai_models"
    ai_use_gpu: bool = False
    ai_batch_size: int = 8
    speech_weighting: bool = False
    search_whole: bool = True
    shared_sound: bool = True
    channel_check: bool = True
    frame_rate: float | None = None
    master_start_timecode: str | None = None
    dub_start_timecode: str | None = None

    def validate(self) -> AnalysisOptions:
        """Return self, or raise :class:`ParameterError` naming the bad value."""
        if self.frame_rate is not None and not 0.0 < self.frame_rate <= 120.0:
            raise ParameterError(f"frame_rate={self.frame_rate}: must be in (0, 120] fps")
        from app.engine.start_timecode import check_start_timecode

        for name in ("master_start_timecode", "dub_start_timecode"):
            try:
                check_start_timecode(getattr(self, name), self.frame_rate)
            except ParameterError as exc:
                raise type(exc)(f"{name}: {exc}") from exc
        if self.ai_model is not None:
            from app.engine.ai.registry import EMBEDDING_MODELS

            if self.ai_model not in EMBEDDING_MODELS:
                raise ParameterError(f"ai_model={self.ai_model!r}: known embedding models "
                                     f"{list(EMBEDDING_MODELS)}")
        if self.ai_batch_size < 1:
            raise ParameterError(f"ai_batch_size={self.ai_batch_size}: must be >= 1")
        if not self.methods:
            raise ParameterError("methods: at least one method is required")
        unknown = [m for m in self.methods if m not in METHOD_NAMES]
        if unknown:
            raise ParameterError(
                f"methods: unknown method(s) {unknown}; known: {list(METHOD_NAMES)}"
            )
        if not 4000 <= self.sample_rate <= 48000:
            raise ParameterError(f"sample_rate={self.sample_rate}: must be in [4000, 48000] Hz")
        if not 0.0 < self.max_offset_seconds <= 600.0:
            raise ParameterError(
                f"max_offset_seconds={self.max_offset_seconds}: must be in (0, 600] s"
            )
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise ParameterError(
                f"confidence_threshold={self.confidence_threshold}: must be in [0, 1]"
            )
        for name in ("window_seconds", "hop_seconds"):
            value = getattr(self, name)
            if value is not None and not 1.0 <= value <= 600.0:
                raise ParameterError(f"{name}={value}: must be in [1, 600] s or None (auto)")
        for name in ("master_stream", "dub_stream"):
            if getattr(self, name) < 0:
                raise ParameterError(f"{name}={getattr(self, name)}: must be >= 0")
        for name in ("master_channel", "dub_channel"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ParameterError(f"{name}={value}: must be >= 0 or None (downmix)")
        return self


@dataclass(frozen=True)
class AudioInfo:
    """What ffprobe says of the analysed stream; durations in seconds, rates in Hz."""

    path: str
    container: str
    codec: str
    sample_rate: int
    channels: int
    channel_layout: str | None
    duration_seconds: float
    stream_index: int
    analysed_seconds: float = 0.0
    #: the start timecode the file's tags carry (app.engine.start_timecode.file_timecode)
    start_timecode: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AudioInfo:
        """An :class:`AudioInfo` back from its ``asdict`` (unknown keys ignored)."""
        return cls(**_known(cls, d))


@dataclass
class MethodResult:
    """Result of one detection method.

    offset_seconds: dub lateness (> 0 = dub late), or None when the method found nothing.
    confidence: in [0, 1].
    peak_height: the (normalised) correlation peak value.
    peak_ratio: peak height over the highest peak outside the main lobe (>= 1).
    search_range_seconds: (min, max) offsets searched.
    """

    method: str
    offset_seconds: float | None
    confidence: float
    peak_height: float
    peak_ratio: float
    search_range_seconds: tuple[float, float]
    resolution_seconds: float
    elapsed_seconds: float = 0.0
    polarity_inverted: bool | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MethodResult:
        """A :class:`MethodResult` back from its ``to_dict()`` (JSON lists become tuples)."""
        kw = _known(cls, d)
        kw["search_range_seconds"] = tuple(kw["search_range_seconds"])
        kw["diagnostics"] = dict(kw.get("diagnostics") or {})
        return cls(**kw)


@dataclass
class SyncResult:
    """The consensus of an analysis.

    verdict: a :class:`Verdict`: "in_sync" (|offset| <= 1 ms), "constant_offset", "drift",
    "edited" or "no_reliable_match"; ``reason`` says why, with the thresholds used.
    offset_seconds: for drift and edits, the offset at the start of the master.
    offset_samples: the offset in samples at the dub's native sample rate.
    offset_frames / timecodes: per frame rate (keys like "25", "29.97").
    support: fraction of the windows with sound that follow the fitted offset model.
    timeline: :class:`app.engine.timeline.Timeline` as a dict (windows, segments, drift, edits).
    coverage: which part of the master the dub covers and which it lacks (head, tail, inside),
    and what the dub holds beyond the master (see :mod:`app.engine.coverage`).
    placement: the whole-programme search (:mod:`app.engine.locate`): where the dub was found,
    the statistic and its threshold, and the stretch analysed.
    programme_timecode: the programme frame rate and each file's start timecode used, with
    its source (request, file tag, none) — see :mod:`app.engine.start_timecode`.
    evidence: what decided the verdict (signal, windows, the decision statistic and its
    false-alarm probability) — see :mod:`app.engine.decision`.
    channels: per-channel offsets, polarity, levels and named channel faults of multichannel
    material — see :mod:`app.engine.channel_check`.
    """

    offset_seconds: float | None
    confidence: float
    reliable: bool
    verdict: Verdict
    reason: str
    offset_samples: int | None
    offset_frames: dict[str, float]
    timecodes: dict[str, str]
    polarity_inverted: bool
    agreement: float
    support: float
    methods: list[MethodResult]
    master: AudioInfo
    dub: AudioInfo
    overlap_seconds: float
    findings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    engine_version: str = ""
    timeline: dict[str, Any] | None = None
    coverage: dict[str, Any] | None = None
    placement: dict[str, Any] | None = None
    programme_timecode: dict[str, Any] | None = None
    evidence: dict[str, Any] | None = None
    channels: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SyncResult:
        """A :class:`SyncResult` back from its ``to_dict()`` (or the stored JSON of it): the
        verdict a :class:`Verdict`, methods and files typed; unknown keys are ignored."""
        kw = _known(cls, d)
        kw["verdict"] = Verdict(kw["verdict"])
        kw["methods"] = [MethodResult.from_dict(m) for m in kw["methods"]]
        kw["master"] = AudioInfo.from_dict(kw["master"])
        kw["dub"] = AudioInfo.from_dict(kw["dub"])
        return cls(**kw)
