"""Analyses: validate and submit, the job that runs one, views, streams.

State lives in the database (one row per analysis); live progress goes through the event bus.
Claiming, finishing, cancelling and recovering an analysis is the job life cycle's
(:mod:`app.jobs.lifecycle`); this service is its handler of the ``analysis`` kind.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.config import AI_METHOD, Settings
from app.core.errors import (
    NotFoundError,
    ServiceUnavailableError,
    UnprocessableError,
    engine_error_response,
    paths_as_given,
    public_text,
)
from app.db.jobs import InstanceRepository
from app.db.models import AnalysisRow, JobStatus, utcnow
from app.db.repository import AnalysisRepository, Progress
from app.engine import (
    METHOD_NAMES,
    AnalysisOptions,
    AudioDecodeError,
    AudioInfo,
    EngineError,
    ParameterError,
    ProgressEvent,
    ToolNotFoundError,
    analyze_files,
    probe,
)
from app.engine.qc import DEFAULT_WARN_FRACTION, judge
from app.engine.start_timecode import TimecodeError, programme_timecode
from app.jobs.events import Event, EventBus, Subscription, to_jsonable
from app.jobs.instances import Instance
from app.jobs.lifecycle import JobError, Lifecycle
from app.jobs.runner import JobContext
from app.jobs.stream import StreamMessage, follow, iso, open_stream
from app.services.options import options_for
from app.services.paths import ResolvedFile, resolve_media_path
from app.services.requests import AnalysisRequest

__all__ = ["AnalysisService", "new_analysis_id", "new_batch_id", "ANALYSIS_ID_PATTERN",
           "StreamMessage", "qc_of", "tolerance_spec"]

_logger = logging.getLogger(__name__)

ANALYSIS_ID_PATTERN = r"^analysis_\d{8}_\d{6}_[0-9a-f]{8}$"


def _new_id(prefix: str) -> str:
    return f"{prefix}_{datetime.now(UTC):%Y%m%d_%H%M%S}_{secrets.token_hex(4)}"


def new_analysis_id() -> str:
    """``analysis_YYYYMMDD_HHMMSS_<8 hex>`` (UTC)."""
    return _new_id("analysis")


def new_batch_id() -> str:
    """``batch_YYYYMMDD_HHMMSS_<8 hex>`` (UTC)."""
    return _new_id("batch")


def _progress_of(row: AnalysisRow) -> dict[str, Any]:
    fraction = float(row.progress_fraction or 0.0)
    return {"stage": row.progress_stage, "fraction": round(fraction, 4),
            "percent": round(fraction * 100, 1), "message": row.progress_message or "",
            "window": row.progress_window, "windows": row.progress_windows,
            "estimate": row.progress_estimate}


def tolerance_spec(value: Any) -> str | dict[str, Any]:
    """A tolerance as stored with a request: a preset name, or its limits as a dict (a JSON
    text such as QC_TOLERANCE's is decoded)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            import json

            return dict(json.loads(text))
        return text.lower()
    return dict(value)


def qc_of(result: dict[str, Any], request: dict[str, Any], *,
          settings: Settings | None = None, tolerance: Any = None) -> dict[str, Any]:
    """The QC verdict of a result (app.engine.qc.judge): against ``tolerance`` when given,
    else the request's, else QC_TOLERANCE; at the request's frame_rate; QC_WARN_FRACTION."""
    spec = tolerance if tolerance is not None else request.get("tolerance")
    if spec is None and settings is not None:
        spec = settings.QC_TOLERANCE
    warn = settings.QC_WARN_FRACTION if settings is not None else DEFAULT_WARN_FRACTION
    fps = request.get("frame_rate")
    programme = result.get("programme_timecode") or {}
    if fps is None and programme.get("fps_source") not in (None, "default"):
        fps = programme.get("fps")  # a file's timecode track: the programme's rate
    return to_jsonable(judge(result, spec, warn, fps=fps))


def _result_with_qc(row: AnalysisRow, settings: Settings | None,
                    tolerance: Any) -> dict[str, Any] | None:
    """The stored result, with ``qc`` judged again when ``tolerance`` is given or when it was
    stored without one (before the QC gate)."""
    result = row.result
    if not result or (tolerance is None and "qc" in result):
        return result
    return {**result, "qc": qc_of(result, row.request or {}, settings=settings,
                                  tolerance=tolerance)}


def view_of(row: AnalysisRow, *, full: bool = True, settings: Settings | None = None,
            tolerance: Any = None) -> dict[str, Any]:
    """The public view of an analysis (validated by the API schemas, sent on SSE); a result
    stored without ``qc`` gets it (``settings``: QC_TOLERANCE, QC_WARN_FRACTION), and
    ``tolerance`` judges it again against another tolerance."""
    end = row.finished_at or (utcnow() if row.status == JobStatus.RUNNING else None)
    elapsed = (end - row.started_at).total_seconds() if end and row.started_at else None
    view: dict[str, Any] = {
        "analysis_id": row.id, "status": row.status, "label": row.request.get("label"),
        "batch_id": row.batch_id, "master_file": row.request.get("master_file", row.master_file),
        "dub_file": row.request.get("dub_file", row.dub_file), "progress": _progress_of(row),
        "created_at": row.created_at, "started_at": row.started_at,
        "finished_at": row.finished_at, "updated_at": row.updated_at,
        "elapsed_seconds": round(elapsed, 3) if elapsed is not None else None,
        "attempts": row.attempts, "error": row.error, "links": None,  # the API's
        "warnings": list((row.request or {}).get("warnings") or []),
    }
    result = _result_with_qc(row, settings, tolerance)
    if full:
        view["request"] = row.request
        view["result"] = result
    else:
        result = result or {}
        qc = result.get("qc") or {}
        view.update(offset_seconds=result.get("offset_seconds"),
                    confidence=result.get("confidence"), verdict=result.get("verdict"),
                    max_abs_offset_ms=qc.get("max_abs_offset_ms"), qc_status=qc.get("status"))
    return view


class _ProgressRecorder:
    """Engine progress callback: every event to the bus, throttled writes to the database."""

    START: Progress = ("starting", 0.0, "analysis started", None, None, None)

    def __init__(self, service: AnalysisService, analysis_id: str, ctx: JobContext) -> None:
        self.service = service
        self.analysis_id = analysis_id
        self.ctx = ctx
        self.interval = service.settings.PROGRESS_DB_INTERVAL_SECONDS
        self.last_write = 0.0
        self.last_stage: str | None = None
        self.last: Progress = self.START

    def __call__(self, event: ProgressEvent) -> None:
        estimate = dict(event.estimate) if event.estimate else None
        if estimate:
            estimate = to_jsonable(estimate)
        self.last = (event.stage, float(event.fraction), event.message, event.window,
                     event.windows, estimate)
        self.service.bus.publish(self.analysis_id, {
            "type": "progress", "analysis_id": self.analysis_id, "status": JobStatus.RUNNING,
            "progress": {"stage": event.stage, "fraction": event.fraction,
                         "percent": round(event.fraction * 100, 1), "message": event.message,
                         "window": event.window, "windows": event.windows,
                         "estimate": estimate},
            "timestamp": utcnow().isoformat()})
        now = time.monotonic()
        if event.stage != self.last_stage or now - self.last_write >= self.interval:
            self.last_stage = event.stage
            self.last_write = now
            self.service.jobs.store(self.analysis_id, self.ctx, self.last)


class AnalysisService:
    """Everything the API does with analyses, and the job that runs one."""

    def __init__(self, settings: Settings, repo: AnalysisRepository, bus: EventBus,
                 instance: Instance | None = None) -> None:
        self.settings = settings
        self.repo = repo
        self.bus = bus
        self.instance = instance or Instance(InstanceRepository(repo.db),
                                             settings.INSTANCE_STALE_SECONDS)
        self.jobs: Lifecycle[AnalysisRow] = Lifecycle(settings, repo, self, bus, self.instance)
        self.runner = self.jobs.backend
        self._roots = [settings.mount_root, settings.upload_root]
        self._started = False

    # --- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Register this instance, start the workers and recover unfinished analyses."""
        self.instance.register()
        requeued, interrupted = self.jobs.start()
        self._started = True
        _logger.info("instance %s started: %d workers; %d analyses queued again, %d marked "
                     "interrupted", self.instance_id, self.settings.MAX_WORKERS, requeued,
                     interrupted)

    def stop(self, *, timeout: float = 3.0) -> None:
        """Stop the workers; running analyses go back to the queue for the next start."""
        if not self._started:
            return
        self._started = False
        self.jobs.stop(timeout=timeout)
        try:
            self.instance.remove()
        except Exception:  # pragma: no cover - the database went away first
            _logger.exception("could not unregister instance %s", self.instance_id)

    @property
    def instance_id(self) -> str:
        return self.instance.id

    # --- submission --------------------------------------------------------------------------
    def _resolve(self, raw: str, field: str) -> ResolvedFile:
        return resolve_media_path(raw, field=field, roots=self._roots,
                                  max_size=self.settings.MAX_FILE_SIZE)

    def _effective(self, req: AnalysisRequest) -> dict[str, Any]:
        """The request with every default filled in and every option checked."""
        s = self.settings
        methods = req.methods if req.methods is not None else list(s.engine_methods)
        known = [*METHOD_NAMES, AI_METHOD]
        unknown = [m for m in methods if m not in known]
        if unknown:
            raise UnprocessableError(
                f"unknown method(s) {unknown}; known: {known}",
                code="unknown_method", details={"unknown": unknown, "known": known,
                                                "enabled": s.ENABLED_METHODS})
        # "ai" among the methods is enable_ai (the AI method runs beside the classical ones)
        enable_ai = req.enable_ai or AI_METHOD in methods
        methods = [m for m in methods if m != AI_METHOD]
        if not methods:
            raise UnprocessableError(
                f"methods: the ai method runs beside at least one of {list(METHOD_NAMES)}; "
                "name one too (or leave methods out for every enabled one)",
                code="invalid_parameter", details={"field": "methods"})
        disabled = [m for m in methods if m not in s.ENABLED_METHODS]
        if disabled:
            raise UnprocessableError(
                f"method(s) {disabled} are disabled on this server; enabled: "
                f"{s.ENABLED_METHODS} (ENABLED_METHODS)", code="method_disabled",
                details={"disabled": disabled, "enabled": s.ENABLED_METHODS})
        ai: dict[str, Any] = {}
        warnings: list[str] = []
        if enable_ai:  # 422 only for an unknown model; else runs, maybe without the ai method
            from app.services.ai import AiService, unavailable_warning

            ai = AiService(s).check_request(req.ai_model)
            if "ai_unavailable" in ai:
                warnings.append(unavailable_warning(ai["ai_unavailable"]))
        effective = {
            "master_file": req.master_file, "dub_file": req.dub_file,
            "methods": methods, "enable_ai": enable_ai, "ai_model": req.ai_model, **ai,
            "warnings": warnings,
            "sample_rate": req.sample_rate or s.DEFAULT_SAMPLE_RATE,
            "window_size": req.window_size if req.window_size is not None
            else s.DEFAULT_WINDOW_SIZE,
            "confidence_threshold": req.confidence_threshold
            if req.confidence_threshold is not None else s.DEFAULT_CONFIDENCE_THRESHOLD,
            "max_offset_seconds": req.max_offset_seconds or s.DEFAULT_MAX_OFFSET_SECONDS,
            # no explicit limit: the dub is found wherever it lies (app.engine.locate)
            "search_whole": req.max_offset_seconds is None,
            "master_stream": req.master_stream, "dub_stream": req.dub_stream,
            "master_channel": req.master_channel, "dub_channel": req.dub_channel,
            "label": req.label,
            "tolerance": tolerance_spec(req.tolerance if req.tolerance is not None
                                        else s.QC_TOLERANCE),
            "frame_rate": req.frame_rate,
            "master_start_timecode": req.master_start_timecode,
            "dub_start_timecode": req.dub_start_timecode,
        }
        try:
            options_for(effective, s).validate()
        except ParameterError as exc:
            raise UnprocessableError(str(exc), code="invalid_parameter") from exc
        return effective

    @staticmethod
    def _engine_version() -> str:
        from app.engine import ENGINE_VERSION

        return ENGINE_VERSION

    def _prepare(self, req: AnalysisRequest, *, batch_id: str | None = None) -> AnalysisRow:
        """Validate one request completely (paths, files, options, audio streams) → a row."""
        effective = self._effective(req)
        master = self._resolve(req.master_file, "master_file")
        dub = self._resolve(req.dub_file, "dub_file")
        infos: list[AudioInfo] = []
        for field, file, stream, channel in (
            ("master_file", master, req.master_stream, req.master_channel),
            ("dub_file", dub, req.dub_stream, req.dub_channel),
        ):
            info = self._probe(field, file, stream)
            infos.append(info)
            if channel is not None and channel >= info.channels:
                side = field.split("_")[0]
                raise UnprocessableError(
                    f"{side}_channel={channel}: {file.given!r} has {info.channels} channel(s)",
                    code="invalid_parameter",
                    details={"field": f"{side}_channel", "channels": info.channels})
        _check_start_timecodes(effective, *infos)
        effective["master_path"] = str(master.path)
        effective["dub_path"] = str(dub.path)
        now = utcnow()
        return AnalysisRow(
            id=new_analysis_id(), status=JobStatus.QUEUED, batch_id=batch_id,
            master_file=str(master.path), dub_file=str(dub.path),
            master_name=master.path.name, dub_name=dub.path.name, request=effective,
            progress_stage="queued", progress_fraction=0.0, progress_message="waiting for a "
            "worker", attempts=0, owner=self.instance_id, cancel_requested=False,
            created_at=now, updated_at=now)

    @staticmethod
    def _probe(field: str, file: ResolvedFile, stream: int) -> AudioInfo:
        try:
            return probe(file.path, stream=stream)
        except ToolNotFoundError:
            raise  # the machine's fault, not the file's: 503 ffmpeg_unavailable
        except AudioDecodeError as exc:
            shown = {str(file.path): file.given}  # ffprobe's words name the resolved path
            raise UnprocessableError(
                f"{field} {file.given!r}: {public_text(str(exc), shown)}", code=exc.code,
                details={"field": field, "path": file.given,
                         "stderr": public_text(exc.stderr, shown)}) from exc

    def check_capacity(self, adding: int) -> None:
        """503 (queue_full / shutting_down) when ``adding`` more analyses do not fit."""
        if not self._started:
            raise ServiceUnavailableError("the service is shutting down", code="shutting_down")
        queued = self.runner.stats().queued
        if queued + adding > self.settings.MAX_QUEUED_JOBS:
            raise ServiceUnavailableError(
                f"the queue is full ({queued} analyses waiting, MAX_QUEUED_JOBS="
                f"{self.settings.MAX_QUEUED_JOBS}); retry later", code="queue_full",
                headers={"Retry-After": "30"})

    # --- for other services (batches): the same checks and queue as submit ------------------
    def validate(self, req: AnalysisRequest, *, batch_id: str | None = None) -> AnalysisRow:
        """Check one request as ``submit`` does; returns its row, not yet stored or queued."""
        return self._prepare(req, batch_id=batch_id)

    def enqueue(self, analysis_ids: Sequence[str]) -> None:
        """Queue stored analyses in this instance's job runner."""
        for analysis_id in analysis_ids:
            self.runner.submit(analysis_id)

    def submit(self, req: AnalysisRequest) -> AnalysisRow:
        """Validate, store and queue one analysis (4xx errors are raised before anything runs)."""
        self.check_capacity(1)
        row = self._prepare(req)
        self.repo.add_many([row])
        self.runner.submit(row.id)
        _logger.info("analysis %s queued: %s vs %s", row.id, row.master_name, row.dub_name)
        return row

    def submit_batch(self, items: Sequence[AnalysisRequest], label: str | None = None
                     ) -> tuple[str, list[AnalysisRow]]:
        """Validate every pair first; store and queue all only when all are valid (``label``)."""
        n = len(items)
        if n > self.settings.BATCH_MAX_ITEMS:
            raise UnprocessableError(
                f"items: {n} pairs, at most {self.settings.BATCH_MAX_ITEMS} (BATCH_MAX_ITEMS)",
                code="batch_too_large")
        self.check_capacity(n)
        batch_id = new_batch_id()
        errors: list[dict[str, Any]] = []
        rows: list[AnalysisRow | None] = [None] * n

        def prepare(i: int) -> None:
            item = items[i]
            if label and not item.label:
                item = replace(item, label=label)
            try:
                rows[i] = self._prepare(item, batch_id=batch_id)
            except Exception as exc:  # collected and reported per item below
                errors.append(_item_error(i, exc))

        with ThreadPoolExecutor(max_workers=min(4, n)) as pool:
            list(pool.map(prepare, range(n)))
        if errors:
            errors.sort(key=lambda e: e["index"])
            first = errors[0]
            raise UnprocessableError(
                f"{len(errors)} of {n} items are invalid; nothing was started (item "
                f"{first['index']}: {first['message']})", code="invalid_batch_item",
                details=errors)
        ready = [r for r in rows if r is not None]
        self.repo.add_many(ready)
        for row in ready:
            self.runner.submit(row.id)
        _logger.info("batch %s queued: %d analyses", batch_id, n)
        return batch_id, ready

    def record_completed(self, *, request: dict[str, Any], options: AnalysisOptions,
                         result: dict[str, Any], started_at: datetime) -> str:
        """Store an analysis another job ran itself (an analyze-and-repair workflow) as a
        completed analysis, so it has an ``analysis_id``, a timeline and reports like any other.

        ``request`` holds ``master_file``/``dub_file`` (as submitted), ``master_path``/
        ``dub_path`` (resolved) and optionally ``label`` and ``workflow_id``; ``options`` are
        the engine options it ran with. Returns the new analysis id."""
        effective = {
            "master_file": request["master_file"], "dub_file": request["dub_file"],
            "methods": list(options.methods), "enable_ai": options.ai_model is not None,
            "ai_model": options.ai_model, "sample_rate": options.sample_rate,
            "window_size": options.window_seconds,
            "confidence_threshold": options.confidence_threshold,
            "max_offset_seconds": options.max_offset_seconds,
            "search_whole": options.search_whole,
            "master_stream": options.master_stream, "dub_stream": options.dub_stream,
            "master_channel": options.master_channel, "dub_channel": options.dub_channel,
            "label": request.get("label"), "master_path": request["master_path"],
            "dub_path": request["dub_path"], "workflow_id": request.get("workflow_id"),
            "tolerance": tolerance_spec(request.get("tolerance") or self.settings.QC_TOLERANCE),
            "frame_rate": request.get("frame_rate")}
        if "qc" not in result:
            result = {**result, "qc": qc_of(result, effective, settings=self.settings)}
        now = utcnow()
        verdict = result.get("verdict")
        row = AnalysisRow(
            id=new_analysis_id(), status=JobStatus.COMPLETED,
            master_file=request["master_path"], dub_file=request["dub_path"],
            master_name=Path(request["master_path"]).name,
            dub_name=Path(request["dub_path"]).name, request=effective,
            progress_stage="done", progress_fraction=1.0,
            progress_message=f"verdict: {verdict}", attempts=1, owner=self.instance_id,
            cancel_requested=False, result=result, created_at=started_at,
            started_at=started_at, finished_at=now, updated_at=now)
        self.repo.add_many([row])
        _logger.info("analysis %s recorded (run by %s)", row.id,
                     request.get("workflow_id") or "another job")
        return row.id

    # --- reads ------------------------------------------------------------------------------
    def get(self, analysis_id: str) -> AnalysisRow:
        row = self.repo.get(analysis_id)
        if row is None:
            raise NotFoundError(f"no analysis {analysis_id!r}",
                                code="analysis_not_found", details={"analysis_id": analysis_id})
        return row

    def search(self, *, statuses: Sequence[str], file: str | None, batch_id: str | None,
             limit: int, offset: int) -> tuple[list[AnalysisRow], int]:
        return self.repo.search(statuses=statuses, file=file, batch_id=batch_id, limit=limit,
                              offset=offset)

    # --- cancellation ---------------------------------------------------------------------------
    def cancel(self, analysis_id: str, *, wait_seconds: float = 5.0) -> tuple[AnalysisRow, bool]:
        """Cancel a queued or running analysis (:meth:`Lifecycle.cancel`). Returns (its state,
        whether it has stopped); 409 for one that finished otherwise."""
        self.get(analysis_id)
        stopped = self.jobs.cancel(analysis_id, wait_seconds=wait_seconds)
        return self.get(analysis_id), stopped

    # --- the job (JobHandler) -------------------------------------------------------------------
    def run_job(self, row: AnalysisRow, ctx: JobContext) -> dict[str, Any]:
        """Analyse, in a worker: the result (QC judged) and the final progress."""
        request = row.request
        recorder = ctx.state = _ProgressRecorder(self, row.id, ctx)
        with paths_as_given(_given_paths(request)):
            sync = analyze_files(request["master_path"], request["dub_path"],
                                 options=options_for(request, self.settings),
                                 progress=recorder, cancel=ctx.token)
        result = to_jsonable(sync.to_dict())
        if request.get("ai_unavailable"):  # asked for, could not run: said so, not hidden
            from app.services.ai import unavailable_method

            result["methods"].append(unavailable_method(request["ai_unavailable"]))
        if request.get("warnings"):
            result["warnings"] = list(request["warnings"])
        result["qc"] = qc_of(result, request, settings=self.settings)
        return {"result": result, "progress": ("done", 1.0, f"verdict: {result.get('verdict')}",
                                               None, None, recorder.last[5])}

    def ended(self, row: AnalysisRow, ctx: JobContext, status: JobStatus,
              error: JobError) -> dict[str, Any]:
        last = ctx.state.last if ctx.state else _ProgressRecorder.START
        return {"progress": (str(status), last[1], error["message"], None, None, last[5])}

    def status_event(self, row: AnalysisRow) -> Event:
        return {"type": "status", "analysis_id": row.id, "status": row.status,
                "progress": _progress_of(row), "attempts": row.attempts,
                "timestamp": utcnow().isoformat()}

    def final_event(self, row: AnalysisRow) -> Event:
        return _final_event(row, self.settings)

    # --- streams ------------------------------------------------------------------------------
    async def open_stream(self, analysis_id: str) -> tuple[Subscription, AnalysisRow]:
        """Subscribe to an analysis, *then* read its stored state (404: no subscription)."""
        return await open_stream(self.jobs, analysis_id, self.get)

    def stream(self, sub: Subscription, row: AnalysisRow, *,
               poll_seconds: float = 2.0) -> AsyncIterator[StreamMessage]:
        """The SSE messages of an analysis (:func:`app.jobs.stream.follow`)."""
        return follow(self.jobs, sub, row, state=_jsonable_view, poll_seconds=poll_seconds,
                      progress=lambda r: {"type": "progress", "analysis_id": r.id,
                                          "status": r.status, "progress": _progress_of(r),
                                          "timestamp": iso(r.updated_at)})

    # --- introspection --------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        runner = self.runner.stats()
        return {"instance_id": self.instance_id, "workers": runner.workers, "busy": runner.busy,
                "queued_here": runner.queued, "running_here": runner.running,
                "accepting": self._started and runner.alive,
                "subscribers": self.bus.subscriber_count()}


def _final_event(row: AnalysisRow, settings: Settings | None = None) -> Event:
    return {"type": str(row.status), "final": True, "analysis_id": row.id,
            "status": str(row.status), "progress": _progress_of(row),
            "result": _result_with_qc(row, settings, None), "error": row.error,
            "finished_at": iso(row.finished_at), "timestamp": utcnow().isoformat()}


def _jsonable_view(row: AnalysisRow) -> dict[str, Any]:
    view = view_of(row, full=False)
    return {k: iso(v) for k, v in view.items()} | {"type": "state"}


def _check_start_timecodes(request: dict[str, Any], master: AudioInfo, dub: AudioInfo) -> None:
    """422 ``invalid_timecode`` when a requested start timecode is not one at the programme
    frame rate (the request's, else the files' timecode track's, else 25)."""
    try:
        programme_timecode(master.start_timecode, dub.start_timecode,
                           fps=request.get("frame_rate"),
                           master_start=request.get("master_start_timecode"),
                           dub_start=request.get("dub_start_timecode"))
    except TimecodeError as exc:
        field = str(exc).split(":", 1)[0]
        raise UnprocessableError(str(exc), code="invalid_timecode", details={
            "field": field, "value": request.get(field)}) from exc


def _given_paths(request: dict[str, Any]) -> dict[str, str]:
    """{resolved path: as the user gave it} of an analysis' files, for its error messages."""
    return {request[f"{side}_path"]: request.get(f"{side}_file") or
            Path(request[f"{side}_path"]).name
            for side in ("master", "dub") if request.get(f"{side}_path")}


def _item_error(index: int, exc: Exception) -> dict[str, Any]:
    from app.core.errors import AppError

    if isinstance(exc, AppError):
        return {"index": index, "status": exc.status_code, "code": exc.code,
                "message": exc.message, "details": exc.details}
    if isinstance(exc, EngineError):
        status, code, message, details = engine_error_response(exc)
        return {"index": index, "status": status, "code": code, "message": message,
                "details": details}
    _logger.exception("batch item %d", index)
    return {"index": index, "status": 500, "code": "internal_error", "message": str(exc),
            "details": None}
