"""Analyze-and-repair workflows: analysis → decision → repair → verification → package.

A workflow is a job (``app/db/models_workflows.py``; life cycle, recovery and backends in
``app/jobs``, so it runs in the local pool or on a Celery worker); its stage progress is stored
and published on the event bus (Server-Sent Events). Its files live in
``OUTPUT_DIR/workflows/<workflow_id>/`` and nowhere else; each is written under a temporary name
and renamed.

The decision declines to repair, saying why, when the analysis found no reliable match or its
confidence is below ``min_confidence``; it repairs nothing when the largest offset is within
``repair_threshold_ms`` and there is no drift or edit.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.core.errors import (
    NotFoundError,
    ServiceUnavailableError,
    paths_as_given,
)
from app.db.models import TERMINAL_STATUSES, JobStatus, utcnow
from app.db.models_workflows import WorkflowRow
from app.db.repository import Database
from app.db.repository_workflows import WorkflowRepository
from app.engine import (
    ENGINE_VERSION,
    AnalysisOptions,
    ProgressEvent,
    SyncResult,
    Verdict,
    analyze_files,
    probe,
)
from app.engine.channels import analyze_channels
from app.engine.repair import plan_from_result
from app.engine.timeline import Timeline
from app.engine.verify import (
    CONSTANT_TOLERANCE_SECONDS,
    repair_channels,
    repair_dub,
)
from app.jobs.events import Event, EventBus
from app.jobs.lifecycle import JobError, Lifecycle
from app.jobs.runner import CancelReason, JobContext
from app.jobs.stream import StreamMessage, follow, iso, open_stream
from app.services.analysis import AnalysisService, qc_of, to_jsonable
from app.services.conform import conform_files
from app.services.options import options_for
from app.services.paths import resolve_media_path
from app.services.plots import envelope_figure, envelope_of, save_png, windows_figure
from app.services.repair import atomic_write_text, inside
from app.services.requests import FileType, WorkflowRequest
from app.services.workflow_report import (
    build_package,
    correlation_curve,
    plot_correlation,
    plot_timeline,
    render_html,
    render_markdown,
)

__all__ = ["WorkflowService", "WORKFLOW_ID_PATTERN", "STAGES", "decide"]

_logger = logging.getLogger(__name__)

WORKFLOW_ID_PATTERN = r"^workflow_\d{8}_\d{6}_[0-9a-f]{8}$"
STAGES = ("analysis", "decision", "repair", "verification", "package")
#: overall progress fraction at the start of each stage
_STAGE_START = {"analysis": 0.0, "decision": 0.5, "repair": 0.52, "verification": 0.62,
                "package": 0.9}
def _new_id() -> str:
    return f"workflow_{datetime.now(UTC):%Y%m%d_%H%M%S}_{secrets.token_hex(4)}"


def _max_abs_offset(r: SyncResult) -> float:
    """Largest |offset| (s) over the programme: the segments' ends, or the single offset."""
    values = [abs(float(r.offset_seconds or 0.0))]
    for seg in Timeline.from_dict(r.timeline).segments if r.timeline else []:
        values += [abs(seg.offset_start_seconds), abs(seg.offset_end_seconds)]
    return max(values)


def decide(result: dict[str, Any], channels: dict[str, Any] | None, *, auto_repair: bool,
           repair_threshold_ms: float, min_confidence: float) -> dict[str, Any]:
    """What to do with an analysis result: ``action`` repair | none | declined | recommended,
    ``kind`` constant | drift | edits | per_channel | None, and ``reason`` in words."""
    r = SyncResult.from_dict(result)
    verdict, conf = r.verdict, float(r.confidence or 0.0)
    threshold = repair_threshold_ms / 1000.0
    base = {"verdict": verdict, "confidence": conf, "min_confidence": min_confidence,
            "repair_threshold_ms": repair_threshold_ms, "auto_repair": auto_repair,
            "warnings": list((channels or {}).get("findings") or [])}
    if verdict == Verdict.NO_RELIABLE_MATCH or not r.reliable or r.offset_seconds is None:
        return {**base, "action": "declined", "kind": None,
                "reason": "no reliable match between master and dub — they may be unrelated "
                          f"or too different to align ({r.reason}); nothing was repaired"}
    if conf < min_confidence:
        return {**base, "action": "declined", "kind": None,
                "reason": f"confidence {conf:.2f} is below min_confidence {min_confidence:.2f}"
                          "; a repair on weak evidence could make things worse, so nothing was "
                          "repaired"}
    magnitude = _max_abs_offset(r)
    base["max_abs_offset_seconds"] = magnitude
    spread = float(channels.get("spread_seconds") or 0.0) if channels else 0.0
    kind: str | None
    if verdict in (Verdict.DRIFT, Verdict.EDITED) and magnitude > threshold:
        kind = "drift" if verdict == Verdict.DRIFT else "edits"
        why = f"{verdict}: {r.reason}"
    elif channels and channels.get("measured", 0) >= 2 and spread > max(threshold, 0.001):
        kind = "per_channel"
        why = (f"channels differ by up to {spread * 1000:.2f} ms (> "
               f"{max(repair_threshold_ms, 1.0):g} ms): each channel is shifted by its own "
               "offset")
    elif magnitude > threshold:
        kind = "constant"
        why = (f"constant offset {float(r.offset_seconds) * 1000:+.3f} ms exceeds "
               f"repair_threshold_ms {repair_threshold_ms:g}")
    else:
        return {**base, "action": "none", "kind": None,
                "reason": f"largest offset {magnitude * 1000:.3f} ms is within "
                          f"repair_threshold_ms {repair_threshold_ms:g}: in sync, nothing to "
                          "repair"}
    if not auto_repair:
        return {**base, "action": "recommended", "kind": kind,
                "reason": f"{why}; auto_repair is false, so the repair was not run"}
    return {**base, "action": "repair", "kind": kind, "reason": why}


class _Recorder:
    """Stage and progress bookkeeping of one run: stored (throttled) and published."""

    def __init__(self, service: WorkflowService, row: WorkflowRow, ctx: JobContext) -> None:
        self.service = service
        self.id = row.id
        self.ctx = ctx
        self.stages: list[dict[str, Any]] = [
            {"name": n, "status": "pending", "message": "", "started_at": None,
             "finished_at": None} for n in STAGES]
        self.stage = "starting"
        self.last_write = 0.0

    def _stage(self, name: str) -> dict[str, Any]:
        return next(s for s in self.stages if s["name"] == name)

    def begin(self, name: str, message: str) -> None:
        s = self._stage(name)
        s.update(status="running", message=message, started_at=utcnow().isoformat())
        self.stage = name
        self.progress(_STAGE_START[name], message, force=True)

    def end(self, name: str, status: str, message: str) -> None:
        s = self._stage(name)
        s.update(status=status, message=message, finished_at=utcnow().isoformat())
        if s["started_at"] is None:
            s["started_at"] = s["finished_at"]
        self.store(message=message)

    def store(self, **values: Any) -> None:
        self.service.jobs.store(self.id, self.ctx, stages=self.stages, **values)
        self.ctx.token.raise_if_cancelled()

    def progress(self, fraction: float, message: str, *, force: bool = False) -> None:
        self.ctx.token.raise_if_cancelled()
        fraction = round(min(max(fraction, 0.0), 1.0), 4)
        self.service.bus.publish(self.id, {
            "type": "progress", "workflow_id": self.id, "status": JobStatus.RUNNING,
            "stage": self.stage, "fraction": fraction, "percent": round(fraction * 100, 1),
            "message": message, "timestamp": utcnow().isoformat()})
        now = time.monotonic()
        if force or now - self.last_write >= self.service.settings.PROGRESS_DB_INTERVAL_SECONDS:
            self.last_write = now
            self.store(stage=self.stage, fraction=fraction, message=message)

    def engine(self, lo: float, hi: float,
               stages: dict[str, str] | None = None) -> Callable[[ProgressEvent], None]:
        """An engine progress callback mapped into [lo, hi]; engine stages named in ``stages``
        switch the workflow's stage (e.g. the repair's "verify" → "verification")."""

        def cb(e: ProgressEvent) -> None:
            if stages and e.stage in stages and stages[e.stage] != self.stage:
                self.end(self.stage, "done", "done")
                self.begin(stages[e.stage], e.message)
            self.progress(lo + (hi - lo) * e.fraction, e.message)

        return cb


class WorkflowService:
    """Submit, run, follow, download and delete workflows."""

    def __init__(self, settings: Settings, db: Database, bus: EventBus,
                 analyses: AnalysisService) -> None:
        self.settings = settings
        self.repo = WorkflowRepository(db)
        self.bus = bus
        self.analyses = analyses
        self.root = settings.output_root / "workflows"
        self.jobs: Lifecycle[WorkflowRow] = Lifecycle(settings, self.repo, self, bus,
                                                      analyses.instance)
        self.runner = self.jobs.backend
        self._roots = [settings.mount_root, settings.upload_root]
        self._started = False

    @property
    def instance_id(self) -> str:
        return self.analyses.instance_id

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.jobs.start()
        self._started = True

    def stop(self, *, timeout: float = 3.0) -> None:
        """Stop the workers; running workflows go back to the queue for the next start."""
        if self._started:
            self._started = False
            self.jobs.stop(timeout=timeout)

    # --- submission -----------------------------------------------------------------------------
    def submit(self, req: WorkflowRequest) -> WorkflowRow:
        """Check paths and audio, store and queue the workflow."""
        if not self._started:
            raise ServiceUnavailableError("the service is shutting down", code="shutting_down")
        master = resolve_media_path(req.master_file, field="master_file", roots=self._roots,
                                    max_size=self.settings.MAX_FILE_SIZE)
        dub = resolve_media_path(req.dub_file, field="dub_file", roots=self._roots,
                                 max_size=self.settings.MAX_FILE_SIZE)
        with paths_as_given({str(master.path): req.master_file, str(dub.path): req.dub_file}):
            probe(master.path)
            dub_info = probe(dub.path)
        request = {**asdict(req), "master_path": str(master.path),
                   "dub_path": str(dub.path), "dub_channels": dub_info.channels}
        row = WorkflowRow(id=_new_id(), status=JobStatus.QUEUED, episode_name=req.episode_name,
                          master_file=str(master.path), dub_file=str(dub.path), request=request,
                          stage="queued", fraction=0.0, message="queued",
                          stages=[{"name": n, "status": "pending", "message": "",
                                   "started_at": None, "finished_at": None} for n in STAGES],
                          files={}, owner=self.instance_id)
        self.repo.add(row)
        self.runner.submit(row.id)
        _logger.info("workflow %s queued: %s vs %s", row.id, dub.path.name, master.path.name)
        return row

    # --- reads ----------------------------------------------------------------------------------
    def get(self, workflow_id: str) -> WorkflowRow:
        row = self.repo.get(workflow_id)
        if row is None:
            raise NotFoundError(f"no workflow {workflow_id!r}", code="workflow_not_found",
                                details={"workflow_id": workflow_id})
        return row

    def search(self, *, statuses: list[str], limit: int, offset: int
               ) -> tuple[list[WorkflowRow], int]:
        return self.repo.search(statuses=statuses, limit=limit, offset=offset)

    def view(self, row: WorkflowRow) -> dict[str, Any]:
        """The public view (validated by ``WorkflowRead``; sent on SSE)."""
        fraction = float(row.fraction or 0.0)
        result = row.result or {}
        analysis_id = (result.get("analysis") or {}).get("analysis_id")
        return {
            "workflow_id": row.id, "status": row.status, "episode_name": row.episode_name,
            "analysis_id": analysis_id,
            "master_file": row.request.get("master_file", row.master_file),
            "dub_file": row.request.get("dub_file", row.dub_file), "stage": row.stage,
            "fraction": round(fraction, 4), "percent": round(fraction * 100, 1),
            "message": row.message or "", "stages": row.stages or [],
            "outcome": result.get("outcome"), "decision": row.decision,
            "result": result or None,
            "files": list(row.files or {}),  # file types; the API makes them URLs
            "error": row.error, "attempts": row.attempts, "created_at": row.created_at,
            "started_at": row.started_at, "finished_at": row.finished_at,
            "updated_at": row.updated_at, "links": None}  # the API's

    def file(self, workflow_id: str, file_type: FileType) -> Path:
        """The path of one of a workflow's files; 404 when it has none of that type."""
        row = self.get(workflow_id)
        name = (row.files or {}).get(str(file_type))
        if not name:
            raise NotFoundError(
                f"workflow {workflow_id} has no {file_type} file"
                + (f" (outcome: {(row.result or {}).get('outcome')})" if row.result else
                   f" (status: {row.status})"),
                code="file_not_available",
                details={"available": sorted((row.files or {}).keys())})
        path = inside(self.root, workflow_id, name)
        if not path.is_file():
            raise NotFoundError(f"{name} of workflow {workflow_id} is missing on disk",
                                code="file_not_available")
        return path

    # --- delete ---------------------------------------------------------------------------------
    def delete(self, workflow_id: str) -> dict[str, Any]:
        """Cancel (when queued or running), remove the files and the record."""
        row = self.get(workflow_id)
        before = str(row.status)
        if row.status not in TERMINAL_STATUSES:
            if not self.repo.cancel(workflow_id, JobStatus.QUEUED):
                self.repo.cancel(workflow_id, JobStatus.RUNNING)
            ctx = self.runner.cancel(workflow_id, CancelReason.USER)
            if ctx is not None:
                ctx.done.wait(30.0)
        folder = inside(self.root, workflow_id)
        removed = sum(1 for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0
        shutil.rmtree(folder, ignore_errors=True)
        deleted = self.repo.delete(workflow_id)
        self.bus.publish(workflow_id, {"type": "deleted", "final": True,
                                       "workflow_id": workflow_id, "status": "deleted"})
        _logger.info("workflow %s deleted (%s, %d files)", workflow_id, before, removed)
        return {"workflow_id": workflow_id, "deleted": deleted, "status_before": before,
                "files_removed": removed}

    # --- events ---------------------------------------------------------------------------------
    async def stream(self, workflow_id: str) -> AsyncIterator[StreamMessage]:
        """(event, id, data) of a workflow: ``state`` now, every event, then the final one.
        Raises NotFoundError before streaming for an unknown id."""
        sub, row = await open_stream(self.jobs, workflow_id, self.get)
        return follow(self.jobs, sub, row, poll_seconds=1.0,
                      state=lambda r: {"type": "state", **self._jsonable_view(r)},
                      progress=lambda r: {"type": "progress", **self._jsonable_view(r)})

    def _jsonable_view(self, row: WorkflowRow) -> dict[str, Any]:
        return to_jsonable({k: iso(v) for k, v in self.view(row).items()})

    # --- the job (JobHandler) -------------------------------------------------------------------
    def run_job(self, row: WorkflowRow, ctx: JobContext) -> dict[str, Any]:
        """Run the stages, in a worker: the values stored with ``completed``."""
        rec = ctx.state = _Recorder(self, row, ctx)
        given = {row.request[f"{side}_path"]: row.request.get(f"{side}_file")
                 or Path(row.request[f"{side}_path"]).name
                 for side in ("master", "dub") if row.request.get(f"{side}_path")}
        with paths_as_given(given):
            values = self._pipeline(row, rec, ctx)
        return {**values, "stage": "done", "fraction": 1.0, "stages": rec.stages,
                "message": f"done: {values['result']['outcome']}"}

    def ended(self, row: WorkflowRow, ctx: JobContext, status: JobStatus,
              error: JobError) -> dict[str, Any]:
        """The running stage marked failed or cancelled."""
        values: dict[str, Any] = {"stage": str(status), "message": error["message"]}
        if ctx.state is not None:
            for s in ctx.state.stages:
                if s["status"] == "running":
                    s.update(status=str(status), finished_at=utcnow().isoformat())
            values["stages"] = ctx.state.stages
        return values

    def status_event(self, row: WorkflowRow) -> Event:
        return {"type": "status", "workflow_id": row.id, "status": row.status,
                "attempts": row.attempts}

    def final_event(self, row: WorkflowRow) -> Event:
        return {"type": str(row.status), "final": True, **self._jsonable_view(row)}


    def _options(self, req: dict[str, Any]) -> AnalysisOptions:
        # the workflow's own analysis fields; the rest are the server's defaults
        return options_for({k: req.get(k) for k in ("sample_rate", "max_offset_seconds")},
                           self.settings)

    def _pipeline(self, row: WorkflowRow, rec: _Recorder, ctx: JobContext) -> dict[str, Any]:
        req = row.request
        token = ctx.token
        folder = inside(self.root, row.id)
        if folder.exists():  # a re-run after a restart starts clean
            shutil.rmtree(folder)
        (folder / "plots").mkdir(parents=True)
        master, dub = Path(req["master_path"]), Path(req["dub_path"])
        opts = self._options(req)
        fps = float(req.get("frame_rate") or 25.0)
        frame = 1.0 / fps

        # 1. analysis (and per channel)
        rec.begin("analysis", "analysing the downmix")
        per_channel = req.get("per_channel")
        if per_channel is None:
            per_channel = int(req.get("dub_channels") or 1) >= 3
        hi = 0.3 if per_channel else 0.5
        started = utcnow()
        sync = analyze_files(master, dub, options=opts, progress=rec.engine(0.0, hi),
                             cancel=token)
        result = to_jsonable(sync.to_dict())
        # stored as an analysis of its own: the same timeline, reports and result view
        analysis_id = self.analyses.record_completed(
            request={"master_file": req["master_file"], "dub_file": req["dub_file"],
                     "master_path": str(master), "dub_path": str(dub),
                     "label": row.episode_name, "workflow_id": row.id},
            options=opts, result=result, started_at=started)
        channels: dict[str, Any] | None = None
        if per_channel and int(req.get("dub_channels") or 1) > 1:
            rec.progress(hi, "analysing every channel")
            ch = analyze_channels(master, dub, options=opts, progress=rec.engine(hi, 0.5),
                                  cancel=token)
            channels = to_jsonable(ch.to_dict())
            for c in channels["channels"]:
                c.pop("timeline", None)
        rec.end("analysis", "done", f"{result['verdict']}: {result['reason']}")
        rec.store(result={"outcome": None, "analysis": _headline(result, analysis_id)})

        # 2. decision
        rec.begin("decision", "deciding")
        decision = decide(result, channels, auto_repair=bool(req["auto_repair"]),
                          repair_threshold_ms=float(req["repair_threshold_ms"]),
                          min_confidence=float(req["min_confidence"]))
        rec.end("decision", "done", decision["reason"])
        rec.store(decision=decision)

        # 3./4. repair and verification
        repair: dict[str, Any] | None = None
        verification: dict[str, Any] | None = None
        repaired: Path | None = None
        outcome = {"none": "not_needed", "declined": "declined",
                   "recommended": "recommended"}.get(decision["action"], "repaired")
        if decision["action"] == "repair":
            rec.begin("repair", f"repair: {decision['kind']}")
            stem = _stem(req.get("episode_name"), dub)
            if decision["kind"] == "per_channel":
                assert channels is not None
                done = repair_channels(
                    dub, folder / stem, offsets_seconds=channels["repair_offsets_seconds"],
                    master=master, options=opts,
                    match_master_duration=bool(req.get("match_master_duration")),
                    output_format=req.get("output_format", "same"),
                    output_codec=req.get("output_codec"),
                    progress=rec.engine(0.52, 0.9, {"verify": "verification"}), cancel=token)
                assert not isinstance(done, list)
                repair = {"kind": "per_channel", "plan": done.plan, "output": done.output}
                verification = done.channel_verification
                if verification is not None and not verification["passed"]:
                    outcome = "verification_failed"
            else:
                plan = plan_from_result(sync, drift_method=req.get("drift_method", "auto"))
                done = repair_dub(
                    master, dub, folder / stem, plan=plan, options=opts,
                    match_master_duration=bool(req.get("match_master_duration")),
                    output_format=req.get("output_format", "same"),
                    output_codec=req.get("output_codec"),
                    progress=rec.engine(0.52, 0.9, {"verify": "verification"}), cancel=token)
                repair = {"kind": plan.kind, "plan": done.plan, "output": done.output,
                          "notes": done.notes}
                v = done.verification
                if v is not None:
                    tol = CONSTANT_TOLERANCE_SECONDS if plan.kind == "constant" else frame
                    verification = {**v.to_dict(), "passes": len(done.verifications),
                                    "frame_tolerance_seconds": frame}
                    verification["passed"] = bool(v.passed) and (
                        v.max_window_residual_seconds is None
                        or v.max_window_residual_seconds <= max(tol, frame))
                    verification["result"] = to_jsonable(v.result)
                    if not verification["passed"]:
                        outcome = "verification_failed"
            repaired = Path(done.path)
            rec._stage("repair")["message"] = "; ".join(repair["plan"].get("operations", []))
            if rec.stage == "repair":
                rec.end("repair", "done", "; ".join(repair["plan"].get("operations", [])))
                rec.begin("verification", "verified")
            rec.end("verification", "done", (verification or {}).get("reason")
                    or ("passed" if (verification or {}).get("passed") else "checked"))
        else:
            for name in ("repair", "verification"):
                rec.end(name, "skipped", decision["reason"])

        # 5. reports, plots, package
        rec.begin("package", "writing the reports and plots")
        files: dict[str, str] = {}
        if repaired is not None:
            files[FileType.REPAIRED] = repaired.name
        # the QC gate's verdict (tolerance, worst offset and where) for the reports and plots
        qc = qc_of(result, req, settings=self.settings)
        plots = self._plots(folder, master, dub, repaired, {**result, "qc": qc}, verification,
                            decision, fps=fps)
        # the conform export (OTIO, CMX 3600 EDL, FCP XML) of the analysis, for the package
        conform = conform_files(result, folder / "conform", dub_path=str(dub),
                                fps=req.get("frame_rate"),
                                name=f"{row.episode_name} conform" if row.episode_name
                                else None)
        report = {
            "workflow_id": row.id, "episode_name": row.episode_name,
            "generated_at": datetime.now(UTC).isoformat(), "engine_version": ENGINE_VERSION,
            "master_file": req["master_file"], "dub_file": req["dub_file"],
            "master_path": str(master), "dub_path": str(dub), "request": req,
            "analysis": result, "qc": qc, "channels": channels, "decision": decision,
            "repair": repair,
            "verification": verification, "outcome": outcome,
            "plots": [p.name for p in plots],
            "conform": [f"conform/{p.name}" for p in conform]}
        report = to_jsonable(report)
        atomic_write_text(folder / "report.json", json.dumps(report, indent=2, default=str))
        files[FileType.REPORT] = "report.json"
        fmt = req.get("report_format", "html")
        human = folder / ("report.html" if fmt == "html" else "report.md")
        atomic_write_text(human, render_html(report, fps=fps) if fmt == "html"
                          else render_markdown(report, fps=fps))
        files[FileType.FORMATTED] = human.name
        if plots:
            build_package(folder / "plots.zip", {f"plots/{p.name}": p for p in plots},
                          meta={"workflow_id": row.id, "content": "plots"})
            files[FileType.PLOTS] = "plots.zip"
        rec.store(files=dict(files))
        if req.get("create_package", True):
            rec.progress(0.96, "building the package")
            content = {"report.json": folder / "report.json", human.name: human}
            content.update({f"plots/{p.name}": p for p in plots})
            content.update({f"conform/{p.name}": p for p in conform})
            if repaired is not None:
                content[repaired.name] = repaired
            name = f"{_stem(req.get('episode_name'), dub)}_package.zip"
            build_package(folder / name, content,
                          meta={"workflow_id": row.id, "episode_name": row.episode_name,
                                "outcome": outcome, "engine_version": ENGINE_VERSION})
            files[FileType.PACKAGE] = name
        rec.end("package", "done", f"{len(files)} file types ready")
        summary = {"outcome": outcome, "analysis": _headline(result, analysis_id),
                   "repair": {k: v for k, v in (repair or {}).items() if k != "notes"} or None,
                   "verification": {k: v for k, v in (verification or {}).items()
                                    if k != "result"} or None,
                   "channels": channels}
        return {"result": to_jsonable(summary), "decision": decision,
                "files": {str(k): v for k, v in files.items()}}

    def _plots(self, folder: Path, master: Path, dub: Path, repaired: Path | None,
               result: dict[str, Any], verification: dict[str, Any] | None,
               decision: dict[str, Any], *, fps: float) -> list[Path]:
        """The package's evidence: the correlation around a constant offset (and the repaired
        dub's at 0), the offset measured window by window when it changes (drift, edits: no
        single correlation peak exists), the offset over the programme with every segment and
        edit, and master vs dub (and repaired dub) envelopes around the largest error and
        each edit."""
        plots: list[Path] = []
        r = SyncResult.from_dict(result)
        off = r.offset_seconds
        changing = r.verdict in (Verdict.DRIFT, Verdict.EDITED)
        pcm = (".wav", ".flac", ".aiff", ".w64")
        curves = []
        if off is not None and not changing:
            lags, vals = correlation_curve(master, dub, centre_seconds=float(off))
            curves.append((f"before repair: peak at the measured offset {off * 1000:+.3f} ms",
                           lags, vals))
        if repaired is not None and repaired.suffix in pcm:
            lags, vals = correlation_curve(master, repaired, centre_seconds=0.0)
            curves.append(("after repair: peak at 0 ms when in sync", lags, vals))
        if curves:
            plots.append(plot_correlation(folder / "plots" / "correlation.png", curves,
                                          title="GCC-PHAT correlation around the offset"))
        if off is not None and changing:
            plots.append(save_png(windows_figure(result, fps=fps),
                                  folder / "plots" / "windows.png"))
        after = (verification or {}).get("result")
        plots.append(plot_timeline(folder / "plots" / "timeline.png", result, after,
                                   tolerance_seconds=1.0 / fps,
                                   title=f"Offset over the programme — {decision['action']}"))
        if off is not None:
            opts = r.options or {}
            envs = (envelope_of(master, stream=int(opts.get("master_stream") or 0),
                                channel=opts.get("master_channel")),
                    envelope_of(dub, stream=int(opts.get("dub_stream") or 0),
                                channel=opts.get("dub_channel")),
                    envelope_of(repaired) if repaired is not None and repaired.suffix in pcm
                    else None)
            plots.append(save_png(envelope_figure(result, *envs, fps=fps),
                                  folder / "plots" / "envelope.png"))
        return plots

    # --- introspection --------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        r = self.runner.stats()
        return {"workers": r.workers, "busy": r.busy, "queued_here": r.queued}


def _stem(episode: str | None, dub: Path) -> str:
    import re

    base = re.sub(r"[^A-Za-z0-9_-]+", "_", episode or dub.stem).strip("_") or "dub"
    return f"{base}_repaired"


def _headline(result: dict[str, Any], analysis_id: str) -> dict[str, Any]:
    """The analysis in short for the workflow's result: offset, verdict, drift and edits."""
    r = SyncResult.from_dict(result)
    tl = Timeline.from_dict(r.timeline) if r.timeline else None
    return {"analysis_id": analysis_id, "offset_seconds": r.offset_seconds,
            "confidence": r.confidence, "verdict": r.verdict, "reason": r.reason,
            "drift": None if tl is None or tl.drift is None else asdict(tl.drift),
            "edits": None if tl is None else [asdict(e) for e in tl.edits],
            "timecodes": r.timecodes}

