"""Repairs on request: per-channel offsets, or the repair an analysis result calls for.

A repair never runs on the request path: the request submits a repair job (``app/jobs``: the
local pool of MAX_WORKERS threads, or a Celery worker; recovered after a crash like any job) and
awaits its end; at most REPAIR_MAX_PENDING repairs are admitted at once (running + waiting);
beyond that the request is refused at once with 503 and ``Retry-After``. A repair is recorded as
``OUTPUT_DIR/repairs/<repair_id>/repair.json`` beside its files, so it can be read and
downloaded after a restart. Nothing is written outside OUTPUT_DIR; every file is written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anyio import to_thread

from app.core.config import Settings
from app.core.errors import (
    AppError,
    ConflictError,
    NotFoundError,
    ServiceUnavailableError,
    UnprocessableError,
    engine_error_response,
    paths_as_given,
    root_labels,
)
from app.db.models import TERMINAL_STATUSES, JobStatus, utcnow
from app.db.models_repairs import RepairRow
from app.db.repository_repairs import RepairRepository
from app.engine import AnalysisCancelled, AnalysisOptions, CancelToken, EngineError, ParameterError
from app.engine.channel_check import check_channels
from app.engine.channels import analyze_channels, channel_sources
from app.engine.decode import probe
from app.engine.repair import plan_from_result, probe_format, sha256_file
from app.engine.verify import RepairOutcome, repair_channels, repair_dub
from app.jobs.events import Event, to_jsonable
from app.jobs.lifecycle import JobError, Lifecycle, app_error_of
from app.jobs.runner import JobContext
from app.services.analysis import AnalysisService
from app.services.options import options_for
from app.services.paths import resolve_media_path
from app.services.requests import AnalysisRepairRequest, PerChannelRepairRequest, RepairRequest

__all__ = ["RepairService", "REPAIR_ID_PATTERN", "inside", "atomic_write_text"]

_logger = logging.getLogger(__name__)
REPAIR_ID_PATTERN = r"^repair_\d{8}_\d{6}_[0-9a-f]{8}$"
#: {resolved path: as the request gave it} of the files of the repair running in this thread
_GIVEN: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "repair_given_paths", default=None)


def inside(root: Path, *parts: str) -> Path:
    """``root / parts`` resolved, refused (ValueError) when it would leave ``root``."""
    path = root.joinpath(*parts).resolve()
    if path != root and not path.is_relative_to(root):
        raise ValueError(f"{path} is outside {root}")
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` under a temporary name beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}-{threading.get_ident()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "dub"


class RepairService:
    """Per-channel repairs and repairs from analysis results (jobs), with their records."""

    def __init__(self, settings: Settings, analyses: AnalysisService) -> None:
        self.settings = settings
        self.analyses = analyses
        self.root = settings.output_root / "repairs"
        self.repo = RepairRepository(analyses.repo.db)
        self.bus = analyses.bus
        self.jobs: Lifecycle[RepairRow] = Lifecycle(settings, self.repo, self, self.bus,
                                                    analyses.instance)
        self._admitted = 0
        self._admit_lock = threading.Lock()
        self.max_pending = settings.REPAIR_MAX_PENDING or 2 * settings.MAX_WORKERS
        self._roots = [settings.mount_root, settings.upload_root]

    def start(self) -> None:
        self.jobs.start()

    def stop(self, *, timeout: float = 3.0) -> None:
        self.jobs.stop(timeout=timeout)

    # --- admission ----------------------------------------------------------------------------
    async def run(self, fn: Callable[..., dict[str, Any]], req: RepairRequest) -> dict[str, Any]:
        """Submit a repair job (``fn``: ``per_channel`` or ``from_analysis``) and await its
        record; refused with 503 + ``Retry-After`` when ``max_pending`` repairs are already
        admitted. A repair whose client went away still finishes (and is recorded)."""
        with self._admit_lock:
            if self._admitted >= self.max_pending:
                raise ServiceUnavailableError(
                    f"{self._admitted} repairs are running or waiting (REPAIR_MAX_PENDING="
                    f"{self.max_pending}); retry in a few seconds",
                    code="repair_queue_full", headers={"Retry-After": "5"},
                    details={"admitted": self._admitted, "max_pending": self.max_pending})
            self._admitted += 1
        done = asyncio.ensure_future(self._submit_and_wait(fn.__name__, req))
        done.add_done_callback(lambda _f: self._release())
        return await asyncio.shield(done)

    async def _submit_and_wait(self, kind: str, req: RepairRequest) -> dict[str, Any]:
        now = utcnow()
        row = RepairRow(id=f"repair_{now:%Y%m%d_%H%M%S}_{secrets.token_hex(4)}",
                        status=JobStatus.QUEUED, owner=self.analyses.instance_id,
                        request={"kind": kind, "body": asdict(req)},
                        message="waiting for a worker", created_at=now, updated_at=now)
        sub = self.bus.subscribe(row.id)  # before it can end
        try:
            await to_thread.run_sync(self.repo.add, row)
            self.jobs.backend.submit(row.id)
            while row.status not in TERMINAL_STATUSES:
                with contextlib.suppress(TimeoutError):
                    while not (await asyncio.wait_for(sub.get(), timeout=1.0)).get("final"):
                        pass
                found: RepairRow | None = await to_thread.run_sync(self.repo.get, row.id)
                row = found or row
        finally:
            self.bus.unsubscribe(sub)
        if row.status != JobStatus.COMPLETED or row.result is None:
            raise app_error_of(row.error or {"code": str(row.status), "message": row.message})
        return row.result

    def _release(self) -> None:
        with self._admit_lock:
            self._admitted -= 1

    # --- the job (JobHandler) -----------------------------------------------------------------
    def run_job(self, row: RepairRow, ctx: JobContext) -> dict[str, Any]:
        """Run the repair; its record is the result. Errors are the request's (HTTP status)."""
        kind, body = row.request["kind"], row.request["body"]
        given: dict[str, str] = {}
        token = _GIVEN.set(given)
        try:
            with paths_as_given(given):
                if kind == "per_channel":
                    record = self.per_channel(PerChannelRepairRequest(**body), row.id, ctx.token)
                else:
                    record = self.from_analysis(AnalysisRepairRequest(**body), row.id,
                                                ctx.token)
        except EngineError as exc:  # the answer the request would have had
            if isinstance(exc, AnalysisCancelled):
                raise
            status, code, message, details = engine_error_response(exc, root_labels(
                self.settings))
            raise AppError(message, code=code, details=details, status_code=status) from exc
        finally:
            _GIVEN.reset(token)
        return {"result": record, "stage": "done", "fraction": 1.0, "message": "repaired"}

    def ended(self, row: RepairRow, ctx: JobContext, status: JobStatus,
              error: JobError) -> dict[str, Any]:
        return {"stage": str(status), "message": error["message"]}

    def status_event(self, row: RepairRow) -> Event:
        return {"type": "status", "repair_id": row.id, "status": row.status,
                "attempts": row.attempts}

    def final_event(self, row: RepairRow) -> Event:
        return {"type": str(row.status), "final": True, "repair_id": row.id,
                "status": str(row.status)}

    # --- helpers --------------------------------------------------------------------------
    def _resolve(self, raw: str, field: str, shown: str | None = None) -> Path:
        path = resolve_media_path(raw, field=field, roots=self._roots,
                                  max_size=self.settings.MAX_FILE_SIZE, shown=shown).path
        given = _GIVEN.get()
        if given is not None:  # the repair's engine errors name it so (see _named)
            given[str(path)] = shown or raw
        return path

    def _folder(self, repair_id: str) -> Path:
        """The repair's folder, empty (a re-run after a crash starts clean)."""
        folder = inside(self.root, repair_id)
        _remove_tree(folder)
        folder.mkdir(parents=True)
        return folder

    def _options(self, max_offset_seconds: float | None = None, *, master_stream: int = 0,
                 dub_stream: int = 0) -> AnalysisOptions:
        """The server's default options; a repair measures the dub wherever it lies (a given
        ``max_offset_seconds`` is the local search around it, not a limit)."""
        return options_for({"max_offset_seconds": max_offset_seconds, "search_whole": True,
                            "master_stream": master_stream, "dub_stream": dub_stream},
                           self.settings)

    def _output(self, path: str) -> dict[str, Any]:
        """Describe one written file (probed again: what is on disk, not what was asked)."""
        p = Path(path)
        fmt = probe_format(p)
        return {"name": p.name, "codec": fmt.codec, "bits": fmt.bits,
                "sample_rate": fmt.sample_rate, "channels": fmt.channels,
                "channel_layout": fmt.channel_layout, "duration_seconds": fmt.duration_seconds,
                "size_bytes": p.stat().st_size, "sha256": sha256_file(p)}

    def _save(self, folder: Path, record: dict[str, Any]) -> dict[str, Any]:
        record = to_jsonable(record)
        atomic_write_text(folder / "repair.json", json.dumps(record, indent=2, default=str))
        return record

    # --- per channel --------------------------------------------------------------------------
    def per_channel(self, req: PerChannelRepairRequest, repair_id: str,
                    cancel: CancelToken | None = None) -> dict[str, Any]:
        """Validate, (measure,) repair, verify; returns the stored record."""
        dub: Path | list[Path]
        if req.dub_file is not None:
            dub = self._resolve(req.dub_file, "dub_file")
        else:
            assert req.dub_files is not None
            dub = [self._resolve(f, f"dub_files[{i}]") for i, f in enumerate(req.dub_files)]
        master = self._resolve(req.master_file, "master_file") if req.master_file else None
        if req.match_master_duration and master is None:
            raise UnprocessableError("match_master_duration needs master_file",
                                     code="invalid_parameter")
        sources = channel_sources(dub)
        n = len(sources)
        if req.offsets_seconds is not None and len(req.offsets_seconds) != n:
            raise UnprocessableError(
                f"offsets_seconds has {len(req.offsets_seconds)} values but the dub has {n} "
                "channels", code="invalid_parameter",
                details={"channels": n, "offsets": len(req.offsets_seconds)})
        opts = self._options(req.max_offset_seconds)
        folder = self._folder(repair_id)
        t0 = datetime.now(UTC)
        with _removed_on_error(folder):
            analysis = None
            order: list[int] | None = None
            invert: list[bool] | None = None
            if req.offsets_seconds is None:
                assert master is not None
                measured = analyze_channels(master, dub, options=opts,
                                            reference=req.reference, cancel=cancel)
                offsets = measured.repair_offsets()
                analysis = measured.to_dict()
                for c in analysis["channels"]:
                    c.pop("timeline", None)
                wiring = _wiring(master, dub, measured.common_offset_seconds, opts)
                if wiring is not None:
                    order, invert, offsets, analysis["channel_check"] = wiring
            else:
                offsets = list(req.offsets_seconds)
            first = sources[0].path
            stem = _slug(req.output_name or f"{Path(first).stem}_repaired")
            outcome = repair_channels(
                dub, folder / stem, offsets_seconds=offsets, master=master, options=opts,
                match_master_duration=req.match_master_duration,
                output_format=req.output_format, output_codec=req.output_codec,
                output_bitrate=req.output_bitrate, verify=req.verify, order=order,
                invert=invert, cancel=cancel)
        outcomes = outcome if isinstance(outcome, list) else [outcome]
        labels = [s.label for s in sources]
        rate = sources[0].info.sample_rate
        channels = [{"index": i, "label": labels[i], "offset_seconds": o,
                     "offset_samples": int(round(o * rate)),
                     "source": "request" if req.offsets_seconds is not None else
                     ("inferred" if analysis and analysis["channels"][i]["inferred"]
                      else "measured")}
                    for i, o in enumerate(offsets)]
        record = {
            "repair_id": repair_id, "kind": "per_channel", "created_at": t0.isoformat(),
            "elapsed_seconds": round((datetime.now(UTC) - t0).total_seconds(), 3),
            "request": {**asdict(req), "dub_path": [str(p) for p in dub]
                        if isinstance(dub, list) else str(dub),
                        "master_path": str(master) if master else None},
            "channels": channels, "analysis": analysis, "plan": None,
            "outputs": [self._output(o.path) for o in outcomes],
            "verification": outcomes[0].channel_verification}
        _logger.info("repair %s: %d channel(s) shifted %s", repair_id, n,
                     [c["offset_samples"] for c in channels])
        return self._save(folder, record)

    # --- from an analysis -------------------------------------------------------------------
    def from_analysis(self, req: AnalysisRepairRequest, repair_id: str,
                      cancel: CancelToken | None = None) -> dict[str, Any]:
        """Repair the dub of a completed analysis from its result (constant, drift, edits)."""
        row = self.analyses.get(req.analysis_id)
        if row.status != JobStatus.COMPLETED or not row.result:
            raise ConflictError(f"analysis {req.analysis_id} is {row.status}, not completed",
                                code="analysis_not_completed", details={"status": row.status})
        try:
            plan = plan_from_result(row.result, drift_method=req.drift_method)
        except ParameterError as exc:
            raise ConflictError(f"analysis {req.analysis_id} gives nothing to repair: {exc}",
                                code="nothing_to_repair",
                                details={"verdict": row.result.get("verdict"),
                                         "reason": row.result.get("reason")}) from exc
        request = row.request
        master = self._resolve(request["master_path"], "master_file",
                               request.get("master_file"))
        dub = self._resolve(request["dub_path"], "dub_file", request.get("dub_file"))
        opts = self._options(request.get("max_offset_seconds"),
                             master_stream=int(request.get("master_stream", 0)),
                             dub_stream=int(request.get("dub_stream", 0)))
        folder = self._folder(repair_id)
        t0 = datetime.now(UTC)
        with _removed_on_error(folder):
            stem = _slug(req.output_name or f"{dub.stem}_repaired")
            outcome: RepairOutcome = repair_dub(
                master, dub, folder / stem, plan=plan, options=opts,
                match_master_duration=req.match_master_duration,
                output_format=req.output_format, output_codec=req.output_codec,
                output_bitrate=req.output_bitrate, verify=req.verify, cancel=cancel)
        v = outcome.verification
        record = {
            "repair_id": repair_id, "kind": plan.kind, "created_at": t0.isoformat(),
            "elapsed_seconds": round((datetime.now(UTC) - t0).total_seconds(), 3),
            "request": {**asdict(req), "master_path": str(master),
                        "dub_path": str(dub)},
            "channels": None, "analysis": None, "plan": outcome.plan,
            "notes": outcome.notes,
            "outputs": [self._output(outcome.path)],
            "verification": v.to_dict() if v else None,
            "passes": [p.to_dict() for p in outcome.verifications]}
        return self._save(folder, record)

    # --- reads --------------------------------------------------------------------------------
    def get(self, repair_id: str) -> dict[str, Any]:
        if not re.fullmatch(REPAIR_ID_PATTERN, repair_id):
            raise NotFoundError(f"no repair {repair_id!r}", code="repair_not_found")
        path = inside(self.root, repair_id, "repair.json")
        if not path.is_file():
            raise NotFoundError(f"no repair {repair_id!r}", code="repair_not_found",
                                details={"repair_id": repair_id})
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def file(self, repair_id: str, name: str) -> Path:
        """A file written by a repair (only names its record lists)."""
        record = self.get(repair_id)
        names = {o["name"] for o in record["outputs"]}
        if name not in names:
            raise NotFoundError(f"repair {repair_id} has no file {name!r}",
                                code="file_not_available", details={"files": sorted(names)})
        return inside(self.root, repair_id, name)


@contextlib.contextmanager
def _removed_on_error(folder: Path) -> Iterator[None]:
    """Remove the output ``folder`` when the repair inside fails; an engine ParameterError
    becomes a 422 naming the problem."""
    try:
        yield
    except ParameterError as exc:
        _remove_tree(folder)
        raise UnprocessableError(str(exc), code="invalid_parameter") from exc
    except BaseException:
        _remove_tree(folder)
        raise


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _wiring(master: Path, dub: Path | list[Path], common: float | None,
            opts: AnalysisOptions) -> tuple[list[int] | None, list[bool] | None, list[float],
                                            dict[str, Any]] | None:
    """The channel check of an interleaved dub at the measured common offset: when it names
    swapped or mis-wired channels or an inverted one, (output order, polarity flags, each dub
    channel's offset against the master channel it carries, the check) for the repair."""
    if isinstance(dub, list) or common is None:
        return None
    info_m, info_d = probe(master, stream=opts.master_stream), probe(dub, stream=opts.dub_stream)
    check = check_channels(master, dub, info_m, info_d, offset_seconds=common,
                           master_stream=opts.master_stream, dub_stream=opts.dub_stream)
    kinds = {f["kind"] for f in check.faults} if check is not None else set()
    if check is None or check.reference != "matching" or not kinds & {
            "swapped", "film_order", "wrong_channel", "inverted"}:
        return None
    carries = [c["master_channel"] for c in check.channels]
    order = [carries.index(i) if i in carries else i for i in range(len(carries))]
    if sorted(order) != list(range(len(order))):
        order = list(range(len(order)))
    invert = [bool(c["polarity_inverted"]) for c in check.channels]
    offsets = [float(c["offset_seconds"]) if c["offset_seconds"] is not None else common
               for c in check.channels]
    return order, invert, offsets, check.to_dict()
