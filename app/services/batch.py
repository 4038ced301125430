"""CSV batches: parse and check every row, store the batch, start it as analyses, follow it,
export its results, cancel it.

Each item becomes an ordinary analysis (``batch_id`` set) when the batch starts: it is checked,
stored and queued exactly like ``POST /analysis/sync`` (same validation, same job runner, same
recovery after a restart). The batch's status is derived from its items' analyses whenever it
is read, so nothing has to be kept in step. Batches submitted as JSON (``POST /analysis/batch``)
have no batch row; their status, results and cancellation work from their analyses alone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from app.core.config import Settings
from app.core.errors import AppError, ConflictError, NotFoundError, UnprocessableError
from app.db.models import TERMINAL_STATUSES, AnalysisRow, JobStatus, utcnow
from app.db.models_batch import BatchItemRow, BatchRow, BatchState, ItemState
from app.db.repository_batch import BatchRepository
from app.engine import EngineError, SyncResult
from app.engine.timeline import Timeline
from app.services.analysis import AnalysisService, new_batch_id, qc_of, view_of
from app.services.batch_csv import CsvError, RowError, parse_batch_csv
from app.services.requests import AnalysisRequest

__all__ = ["BatchService", "BatchUpload", "CSV_MAX_BYTES"]

_logger = logging.getLogger(__name__)

#: largest CSV accepted, in bytes
CSV_MAX_BYTES = 5 * 1024 * 1024
_OPTION_FIELDS = ("methods", "enable_ai", "ai_model", "window_size", "confidence_threshold",
                  "sample_rate", "max_offset_seconds", "master_stream", "dub_stream",
                  "master_channel", "dub_channel")
#: a row's request (CSV values) checked and made an AnalysisRequest
Parse = Callable[[dict[str, Any]], AnalysisRequest]
_UNFINISHED = {JobStatus.QUEUED, JobStatus.RUNNING}
#: item statuses counted in a batch's totals
_COUNTED = ("pending", "queued", "running", "completed", "failed", "cancelled", "interrupted",
            "invalid")


@dataclass
class BatchUpload:
    """What an upload produced: the stored batch, its items, the rows left out, warnings."""

    batch: BatchRow
    items: list[BatchItemRow]
    errors: list[dict[str, Any]]
    warnings: list[str]


@dataclass
class _Batch:
    """A batch as read: its row (None for a JSON batch) and items paired with analyses."""

    id: str
    row: BatchRow | None
    items: list[tuple[BatchItemRow | None, AnalysisRow | None]]


def _request_of(values: dict[str, Any]) -> dict[str, Any]:
    request = {"master_file": values["master_file"], "dub_file": values["dub_file"]}
    if values.get("episode_name"):
        request["label"] = values["episode_name"]
    request.update({k: values[k] for k in _OPTION_FIELDS if k in values})
    return request


def _column_of(exc: AppError) -> str | None:
    details = exc.details if isinstance(exc.details, dict) else {}
    if isinstance(details.get("field"), str):
        return str(details["field"])
    return {"unknown_method": "methods", "method_disabled": "methods",
            "ai_unavailable": "enable_ai"}.get(exc.code)


def _row_errors(line: int, exc: Exception) -> list[RowError]:
    """The errors of a row whose request failed validation (pydantic or the service's)."""
    if isinstance(exc, ValidationError):
        out = []
        for e in exc.errors():
            name = str(e["loc"][0]) if e.get("loc") else None
            column = "episode_name" if name == "label" else name
            value = e.get("input")
            out.append(RowError(line, "invalid_value",
                                f"line {line}, {column}: {value!r}: {e['msg']}",
                                column=column, value=None if value is None else str(value)))
        return out
    if isinstance(exc, AppError):
        return [RowError(line, exc.code, f"line {line}: {exc.message}", column=_column_of(exc))]
    if isinstance(exc, EngineError):
        return [RowError(line, "invalid_parameter", f"line {line}: {exc}")]
    _logger.exception("batch row at line %d", line)
    return [RowError(line, "internal_error", f"line {line}: {type(exc).__name__}: {exc}")]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class BatchService:
    """CSV batches on top of the analysis service (same checks, runner and recovery)."""

    def __init__(self, settings: Settings, repo: BatchRepository,
                 analyses: AnalysisService) -> None:
        self.settings = settings
        self.repo = repo
        self.analyses = analyses

    # --- upload ------------------------------------------------------------------------------
    def _check_rows(self, lines: Sequence[int], requests: Sequence[dict[str, Any]], *,
                    batch_id: str, parse: Parse) -> tuple[list[AnalysisRow | None], list[RowError]]:
        """Validate each request as a submission would (``parse``: the API's field checks)."""
        rows: list[AnalysisRow | None] = [None] * len(requests)
        errors: list[list[RowError]] = [[] for _ in requests]

        def check(i: int) -> None:
            try:
                rows[i] = self.analyses.validate(parse(requests[i]),
                                                 batch_id=batch_id)
            except Exception as exc:  # every failure is reported against its line
                errors[i] = _row_errors(lines[i], exc)

        if requests:
            with ThreadPoolExecutor(max_workers=min(4, len(requests))) as pool:
                list(pool.map(check, range(len(requests))))
        return rows, [e for row_errors in errors for e in row_errors]

    def upload_csv(self, data: bytes, *, filename: str | None, label: str | None,
                   skip_invalid: bool, parse: Parse) -> BatchUpload:
        """Parse and check a batch CSV and store it as an ``uploaded`` batch.

        With any bad row and ``skip_invalid`` false nothing is stored: 422 ``invalid_csv`` lists
        every problem with its line. With ``skip_invalid`` the good rows are stored and the bad
        ones reported (and kept on the batch).
        """
        try:
            parsed = parse_batch_csv(data, max_rows=self.settings.BATCH_MAX_ITEMS)
        except CsvError as exc:
            raise UnprocessableError(exc.message, code=exc.code, details=exc.details) from exc
        batch_id = new_batch_id()
        requests = [_request_of(r.values) for r in parsed.rows]
        lines = [r.line for r in parsed.rows]
        _, check_errors = self._check_rows(lines, requests, batch_id=batch_id, parse=parse)
        errors = sorted(parsed.errors + check_errors, key=lambda e: e.line)
        bad_lines = {e.line for e in errors}
        good = [(row, req) for row, req in zip(parsed.rows, requests, strict=True)
                if row.line not in bad_lines]
        error_dicts = [e.to_dict() for e in errors]
        if errors and not skip_invalid:
            raise UnprocessableError(
                f"{len(bad_lines)} row(s) of the CSV are invalid; nothing was stored or started "
                f"(first: {errors[0].message}). Fix them, or upload with ?skip_invalid=true to "
                "keep only the valid rows.", code="invalid_csv",
                details={"errors": error_dicts, "valid_rows": len(good),
                         "invalid_rows": len(bad_lines), "warnings": parsed.warnings})
        if not good:
            raise UnprocessableError("the CSV has no valid row to run", code="csv_empty",
                                     details={"errors": error_dicts,
                                              "warnings": parsed.warnings})
        now = utcnow()
        batch = BatchRow(id=batch_id, label=label, source="csv",
                         filename=(filename or None) and filename[:255],
                         state=BatchState.UPLOADED, skip_invalid=skip_invalid, total=len(good),
                         skipped=error_dicts, warnings=parsed.warnings, created_at=now,
                         updated_at=now)
        items = [BatchItemRow(batch_id=batch_id, position=i, line=row.line,
                              episode_name=row.values.get("episode_name"),
                              master_file=row.values["master_file"],
                              dub_file=row.values["dub_file"], request=req,
                              auto_repair=bool(row.values.get("auto_repair", False)),
                              state=ItemState.PENDING)
                 for i, (row, req) in enumerate(good)]
        self.repo.create(batch, items)
        _logger.info("batch %s uploaded: %d items, %d rows left out", batch_id, len(items),
                     len(bad_lines))
        return BatchUpload(batch, items, error_dicts, parsed.warnings)

    def validate_csv(self, data: bytes, *, parse: Parse) -> dict[str, Any]:
        """Parse and check a batch CSV exactly as :meth:`upload_csv` does, storing nothing:
        the rows that pass (values converted), every problem with its line, the warnings.
        Whole-file problems (encoding, header) raise 422 with their code."""
        try:
            parsed = parse_batch_csv(data, max_rows=self.settings.BATCH_MAX_ITEMS)
        except CsvError as exc:
            raise UnprocessableError(exc.message, code=exc.code, details=exc.details) from exc
        requests = [_request_of(r.values) for r in parsed.rows]
        _, check_errors = self._check_rows([r.line for r in parsed.rows], requests,
                                           batch_id=new_batch_id(), parse=parse)
        errors = sorted(parsed.errors + check_errors, key=lambda e: e.line)
        bad_lines = {e.line for e in errors}
        rows = [{"line": r.line, "episode_name": r.values.get("episode_name"),
                 "master_file": r.values["master_file"], "dub_file": r.values["dub_file"],
                 "auto_repair": bool(r.values.get("auto_repair", False)),
                 "options": {k: r.values[k] for k in _OPTION_FIELDS if k in r.values}}
                for r in parsed.rows if r.line not in bad_lines]
        return {"valid": not errors, "rows": rows, "errors": [e.to_dict() for e in errors],
                "warnings": parsed.warnings, "valid_rows": len(rows),
                "invalid_rows": len(bad_lines), "delimiter": parsed.delimiter,
                "columns": parsed.columns}

    # --- start --------------------------------------------------------------------------------
    def start(self, batch_id: str, *, parse: Parse) -> dict[str, Any]:
        """Check every item again (files may have changed), create and queue its analyses.

        Items that fail now: with the batch's ``skip_invalid`` they are marked ``invalid`` and
        the rest starts; otherwise 422 ``invalid_batch_item`` and nothing starts.
        """
        batch = self.repo.get(batch_id)
        if batch is None:
            if self.repo.analyses(batch_id):
                raise ConflictError(f"batch {batch_id} was submitted as JSON and started then",
                                    code="batch_already_started")
            raise self._not_found(batch_id)
        self._check_startable(batch)
        items = [i for i in self.repo.items(batch_id) if i.state == ItemState.PENDING]
        self.analyses.check_capacity(len(items))
        rows, errors = self._check_rows([i.line for i in items], [i.request for i in items],
                                        batch_id=batch_id, parse=parse)
        by_line: dict[int, list[dict[str, Any]]] = {}
        for e in errors:
            by_line.setdefault(e.line, []).append(e.to_dict())
        if errors and not batch.skip_invalid:
            raise UnprocessableError(
                f"{len(by_line)} item(s) are no longer valid; nothing was started (first: "
                f"{errors[0].message})", code="invalid_batch_item",
                details={"errors": [e.to_dict() for e in errors]})
        started = [(item.id, row) for item, row in zip(items, rows, strict=True)
                   if row is not None and item.line not in by_line]
        invalid = [(item.id, {"code": by_line[item.line][0]["code"],
                              "message": by_line[item.line][0]["message"],
                              "details": by_line[item.line]})
                   for item in items if item.line in by_line]
        if not self.repo.start(batch_id, started, invalid):
            self._check_startable(self.repo.get(batch_id) or batch)
        self.analyses.enqueue([row.id for _, row in started])
        _logger.info("batch %s started: %d analyses queued, %d items invalid", batch_id,
                     len(started), len(invalid))
        return self.status(batch_id)

    @staticmethod
    def _check_startable(batch: BatchRow) -> None:
        if batch.state == BatchState.STARTED:
            raise ConflictError(f"batch {batch.id} has already been started",
                                code="batch_already_started", details={"state": batch.state})
        if batch.state == BatchState.CANCELLED:
            raise ConflictError(f"batch {batch.id} was cancelled; upload the CSV again",
                                code="batch_cancelled", details={"state": batch.state})

    # --- reads --------------------------------------------------------------------------------
    @staticmethod
    def _not_found(batch_id: str) -> NotFoundError:
        return NotFoundError(f"no batch {batch_id!r}", code="batch_not_found",
                             details={"batch_id": batch_id})

    def _load(self, batch_id: str) -> _Batch:
        row = self.repo.get(batch_id)
        analyses = {a.id: a for a in self.repo.analyses(batch_id)}
        if row is None:
            if not analyses:
                raise self._not_found(batch_id)
            return _Batch(batch_id, None, [(None, a) for a in analyses.values()])
        items = self.repo.items(batch_id)
        return _Batch(batch_id, row, [(i, analyses.get(i.analysis_id or "")) for i in items])

    def _item_view(self, index: int, item: BatchItemRow | None,
                   analysis: AnalysisRow | None) -> dict[str, Any]:
        view: dict[str, Any] = {
            "index": index, "line": item.line if item else None,
            "episode_name": item.episode_name if item else (
                analysis.request.get("label") if analysis else None),
            "master_file": item.master_file if item else analysis.request.get("master_file")
            if analysis else None,
            "dub_file": item.dub_file if item else analysis.request.get("dub_file")
            if analysis else None,
            "auto_repair": bool(item.auto_repair) if item else False,
            "options": {k: v for k, v in (item.request if item else analysis.request
                                          if analysis else {}).items()
                        if k in _OPTION_FIELDS},
            "analysis_id": analysis.id if analysis else None,
        }
        if analysis is None:
            state = item.state if item else ItemState.PENDING
            view.update(status=str(state), progress=None, offset_seconds=None, confidence=None,
                        verdict=None, max_abs_offset_ms=None, qc_status=None,
                        error=item.error if item else None, started_at=None,
                        finished_at=None, elapsed_seconds=None, links=None)
            return view
        summary = view_of(analysis, full=False, settings=self.settings)
        view.update(status=str(analysis.status), progress=summary["progress"],
                    offset_seconds=summary["offset_seconds"], confidence=summary["confidence"],
                    verdict=summary["verdict"], max_abs_offset_ms=summary["max_abs_offset_ms"],
                    qc_status=summary["qc_status"], error=analysis.error,
                    started_at=_iso(analysis.started_at),
                    finished_at=_iso(analysis.finished_at),
                    elapsed_seconds=summary["elapsed_seconds"],
                    links=None)  # the API's, for a started item
        return view

    def _overall(self, batch: _Batch, views: list[dict[str, Any]]) -> dict[str, Any]:
        counts = Counter(v["status"] for v in views)
        n = len(views)
        unfinished = counts[JobStatus.QUEUED] + counts[JobStatus.RUNNING]
        state = batch.row.state if batch.row else BatchState.STARTED
        if state == BatchState.UPLOADED:
            status = "uploaded"
        elif state == BatchState.CANCELLED:
            status = "cancelling" if counts[JobStatus.RUNNING] else "cancelled"
        elif unfinished:
            status = "running"
        elif counts[JobStatus.COMPLETED] == n:
            status = "completed"
        else:
            status = "completed_with_errors"
        fractions = [1.0 if v["status"] in TERMINAL_STATUSES or v["status"] in (
            ItemState.INVALID, ItemState.CANCELLED) else (v["progress"] or {}).get("fraction", 0.0)
            for v in views]
        fraction = sum(fractions) / n if n else 1.0
        finished = [v for v in views if v["finished_at"]]
        finished_at = max(v["finished_at"] for v in finished) if finished and not unfinished \
            and status not in ("uploaded", "cancelling") else None
        eta = self._eta(views) if unfinished and state == BatchState.STARTED else None
        totals = {"items": n, **{s: counts.get(s, 0) for s in _COUNTED},
                  "finished": n - unfinished - counts.get("pending", 0)}
        return {"status": status, "totals": totals,
                "progress": {"fraction": round(fraction, 4), "percent": round(100 * fraction, 1)},
                "eta_seconds": None if eta is None else round(eta, 1),
                "eta_at": None if eta is None else (utcnow() + timedelta(seconds=eta)).isoformat(),
                "finished_at": finished_at}

    def _eta(self, views: list[dict[str, Any]]) -> float | None:
        """Seconds until every item has run: the remaining work (mean run time of the finished
        items, or the running ones' pace) spread over the workers."""
        done = [v["elapsed_seconds"] for v in views
                if v["status"] == JobStatus.COMPLETED and v["elapsed_seconds"]]
        running = [v for v in views if v["status"] == JobStatus.RUNNING]
        queued = sum(1 for v in views if v["status"] == JobStatus.QUEUED)
        if done:
            mean = sum(done) / len(done)
        else:
            paces = [v["elapsed_seconds"] / v["progress"]["fraction"] for v in running
                     if v["elapsed_seconds"] and (v["progress"] or {}).get("fraction", 0) > 0.05]
            if not paces:
                return None
            mean = sum(paces) / len(paces)
        work = queued * mean + sum(max(0.0, 1.0 - (v["progress"] or {}).get("fraction", 0.0))
                                   * mean for v in running)
        # threads of this process (local) or pool processes of the workers seen (celery)
        lanes = max(1, min(self.analyses.runner.stats().workers, queued + len(running)))
        return work / lanes

    def _header(self, batch: _Batch) -> dict[str, Any]:
        row = batch.row
        first = min((a.created_at for _, a in batch.items if a), default=None)
        return {"batch_id": batch.id, "label": row.label if row else None,
                "source": row.source if row else "json",
                "filename": row.filename if row else None,
                "skip_invalid": bool(row.skip_invalid) if row else False,
                "created_at": _iso(row.created_at if row else first),
                "started_at": _iso(row.started_at if row else first),
                "cancelled_at": _iso(row.cancelled_at) if row else None,
                "skipped_rows": row.skipped if row else [],
                "warnings": row.warnings if row else []}

    def status(self, batch_id: str) -> dict[str, Any]:
        """Per item: status, progress, offset, confidence; totals, progress and an ETA."""
        batch = self._load(batch_id)
        views = [self._item_view(i, item, a) for i, (item, a) in enumerate(batch.items)]
        return {**self._header(batch), **self._overall(batch, views), "items": views}

    def results(self, batch_id: str) -> dict[str, Any]:
        """Every item with its result's numbers (offset in s, ms, samples, frames, timecode)."""
        batch = self._load(batch_id)
        items = []
        for i, (item, analysis) in enumerate(batch.items):
            view = self._item_view(i, item, analysis)
            view.pop("progress", None)
            result = analysis.result if analysis else None
            if analysis and result and "qc" not in result:  # stored before the QC gate
                result = {**result, "qc": qc_of(result, analysis.request or {},
                                                settings=self.settings)}
            view["result"] = _headline(result) if result else None
            items.append(view)
        return {**self._header(batch), **self._overall(batch, items), "items": items}

    def page(self, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Stored (CSV) batches, newest first, with their status and totals."""
        rows, total = self.repo.page(limit=limit, offset=offset)
        counts = self.repo.counts([r.id for r in rows])
        out = []
        for row in rows:
            c = counts.get(row.id, {})
            unfinished = c.get(JobStatus.QUEUED, 0) + c.get(JobStatus.RUNNING, 0)
            if row.state == BatchState.UPLOADED:
                status = "uploaded"
            elif row.state == BatchState.CANCELLED:
                status = "cancelling" if c.get(JobStatus.RUNNING) else "cancelled"
            elif unfinished:
                status = "running"
            else:
                status = "completed" if c.get(JobStatus.COMPLETED, 0) == row.total \
                    else "completed_with_errors"
            finished = sum(v for k, v in c.items() if k in TERMINAL_STATUSES
                           or k in (ItemState.INVALID, ItemState.CANCELLED))
            out.append({**self._header(_Batch(row.id, row, [])), "status": status,
                        "totals": {"items": row.total, **{k: c.get(k, 0) for k in _COUNTED},
                                   "finished": finished}})
        return out, total

    # --- cancel ---------------------------------------------------------------------------------
    def cancel(self, batch_id: str) -> dict[str, Any]:
        """Cancel what has not finished (queued first, then running), keep what has."""
        batch = self._load(batch_id)
        if batch.row is not None:
            self.repo.cancel(batch_id)
        pending = [a for _, a in batch.items if a is not None and a.status in _UNFINISHED]
        # queued ones first, so no worker picks them up while running ones are stopping
        pending.sort(key=lambda a: a.status != JobStatus.QUEUED)
        queued = [a.id for a in pending if a.status == JobStatus.QUEUED]
        running = [a.id for a in pending if a.status == JobStatus.RUNNING]
        for analysis_id in queued:
            self._cancel_one(analysis_id)
        if running:
            with ThreadPoolExecutor(max_workers=min(8, len(running))) as pool:
                list(pool.map(self._cancel_one, running))
        _logger.info("batch %s cancelled: %d queued and %d running analyses stopped", batch_id,
                     len(queued), len(running))
        return self.status(batch_id)

    def _cancel_one(self, analysis_id: str) -> None:
        try:
            self.analyses.cancel(analysis_id, wait_seconds=1.0)
        except ConflictError:  # it finished meanwhile: kept
            pass


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a result a batch table shows (the full result is in the report)."""
    r = SyncResult.from_dict(result)
    timeline = Timeline.from_dict(r.timeline) if r.timeline else None
    edits = timeline.edits if timeline else []
    qc = result.get("qc") or {}
    offset = r.offset_seconds
    return {
        "verdict": str(r.verdict), "reason": r.reason, "offset_seconds": offset,
        "offset_ms": None if offset is None else round(offset * 1000.0, 3),
        "offset_start_ms": qc.get("offset_start_ms"), "offset_end_ms": qc.get("offset_end_ms"),
        "max_abs_offset_ms": qc.get("max_abs_offset_ms"), "qc": qc or None,
        "offset_samples": r.offset_samples, "offset_frames": r.offset_frames or {},
        "timecodes": r.timecodes or {}, "confidence": r.confidence, "reliable": r.reliable,
        "polarity_inverted": r.polarity_inverted,
        "drift": asdict(timeline.drift) if timeline and timeline.drift else None,
        "edits_count": len(edits),
        "edits": [{"master_time_seconds": e.master_time_seconds, "kind": e.kind,
                   "duration_seconds": e.duration_seconds} for e in edits],
        "findings": r.findings or [],
    }
