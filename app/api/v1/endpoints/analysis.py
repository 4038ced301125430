"""``/api/v1/analysis``: submit, follow, list and cancel analyses. Thin: one service call each.

Sign convention: ``offset_seconds > 0`` means the dub is late.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from app.api.deps import AnalysisServiceDep, SettingsDep
from app.api.v1.downloads import content_disposition
from app.api.v1.links import analysis_links, with_analysis_links
from app.api.v1.schemas.analysis import (
    AnalysisCreate,
    AnalysisList,
    AnalysisRead,
    AnalysisSubmitted,
    AnalysisSummary,
    BatchCreate,
    BatchSubmitted,
)
from app.api.v1.schemas.common import MAX_OFFSET
from app.api.v1.schemas.common import error_responses as _errors
from app.api.v1.schemas.timeline import TimelineRead
from app.core.errors import UnprocessableError
from app.db.models import AnalysisRow, JobStatus
from app.engine.qc import ToleranceError, parse_tolerance
from app.services.analysis import view_of
from app.services.conform import conform_export
from app.services.timeline import timeline_view

__all__ = ["router"]

router = APIRouter(prefix="/analysis", tags=["analysis"])

AnalysisId = Annotated[str, Path(description="analysis_YYYYMMDD_HHMMSS_<8 hex>",
                                 examples=["analysis_20250101_120000_1a2b3c4d"],
                                 max_length=64)]


def _submitted(row: AnalysisRow) -> AnalysisSubmitted:
    return AnalysisSubmitted(analysis_id=row.id, status=JobStatus(row.status),
                             created_at=row.created_at, links=analysis_links(row.id),  # type: ignore[arg-type]
                             warnings=list((row.request or {}).get("warnings") or []))


@router.post(
    "/sync", status_code=status.HTTP_202_ACCEPTED, response_model=AnalysisSubmitted,
    summary="Submit a master/dub pair",
    description="Checks the request at once — paths inside MOUNT_PATH/UPLOAD_DIR, files that "
                "exist and hold audio, known and enabled methods, option ranges — then queues "
                "the analysis and answers 202 with its id and links. Follow it with GET "
                "/{analysis_id} or its progress stream.",
    responses=_errors(400, 403, 413, 422, 503),
    openapi_extra={"x-curl-example":
                   "curl -s -X POST {base}/api/v1/analysis/sync -H 'Content-Type: "
                   "application/json' -d '{\"master_file\": \"show/ep101_master.wav\", "
                   "\"dub_file\": \"show/ep101_de.wav\"}'"},
)
def submit_analysis(body: AnalysisCreate, service: AnalysisServiceDep,
                    response: Response) -> AnalysisSubmitted:
    row = service.submit(body.to_domain())
    response.headers["Location"] = analysis_links(row.id)["self"]
    return _submitted(row)


@router.post(
    "/batch", status_code=status.HTTP_202_ACCEPTED, response_model=BatchSubmitted,
    summary="Submit several pairs at once",
    description="Every pair is validated first; when one is invalid nothing is started and the "
                "422 lists each bad item by index. Otherwise each pair becomes an analysis "
                "sharing a batch_id.",
    responses=_errors(400, 403, 413, 422, 503),
    openapi_extra={"x-curl-example":
                   "curl -s -X POST {base}/api/v1/analysis/batch -H 'Content-Type: "
                   "application/json' -d '{\"items\": [{\"master_file\": "
                   "\"show/ep101_master.wav\", \"dub_file\": \"show/ep101_de.wav\"}, "
                   "{\"master_file\": \"show/ep101_master.wav\", \"dub_file\": "
                   "\"show/ep101_fr.wav\"}]}'"},
)
def submit_batch(body: BatchCreate, service: AnalysisServiceDep) -> BatchSubmitted:
    batch_id, rows = service.submit_batch([i.to_domain() for i in body.items], body.label)
    return BatchSubmitted(batch_id=batch_id, total=len(rows), items=[_submitted(r) for r in rows])


@router.get(
    "", response_model=AnalysisList, summary="List analyses",
    description="Newest first. Filter by status (repeatable), by a substring of the master's "
                "or dub's file name, or by batch; paginate with limit/offset.",
    responses=_errors(422),
    openapi_extra={"x-curl-example":
                   "curl -s '{base}/api/v1/analysis?status=completed&file=ep101&limit=10'"},
)
def list_analyses(
    service: AnalysisServiceDep, settings: SettingsDep,
    status_: Annotated[list[JobStatus] | None, Query(
        alias="status", description="Only these statuses (repeat the parameter for several).")
    ] = None,
    file: Annotated[str | None, Query(max_length=512, description="Case-insensitive substring "
                                      "of the master's or dub's file name.")] = None,
    batch_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> AnalysisList:
    rows, total = service.search(statuses=[str(s) for s in status_ or []], file=file,
                               batch_id=batch_id, limit=limit, offset=offset)
    return AnalysisList(items=[AnalysisSummary.model_validate(
        with_analysis_links(view_of(r, full=False, settings=settings))) for r in rows],
        total=total, limit=limit, offset=offset)


router.add_api_route("/", list_analyses, methods=["GET"], response_model=AnalysisList,
                     include_in_schema=False)


@router.get(
    "/sync/{analysis_id}/timeline", response_model=TimelineRead,
    summary="Offset over the whole programme (drift, edits)",
    description="Windows (start, end, offset, confidence, status), fitted segments, drift "
                "(speed ratio, ppm, named conversion, pitch) and edits (where, removed or "
                "inserted, how long) of a completed analysis, in seconds and as timecode at "
                "`fps` — ready to plot. 409 until the analysis has completed.",
    responses=_errors(404, 409, 422),
    openapi_extra={"x-curl-example":
                   "curl -s '{base}/api/v1/analysis/sync/$ID/timeline?fps=25'"},
)
def get_timeline(
    analysis_id: AnalysisId, service: AnalysisServiceDep,
    fps: Annotated[float | None, Query(gt=0, le=120, description="Frame rate of the "
                                       "timecodes (23.976 and 29.97 are the exact NTSC rates; "
                                       "29.97 is drop-frame). Default: the programme's "
                                       "(request frame_rate, a file's timecode track, else "
                                       "25).", examples=[25])] = None,
) -> TimelineRead:
    return TimelineRead.model_validate(timeline_view(service.get(analysis_id), fps=fps))


@router.get(
    "/sync/{analysis_id}/conform", summary="Conform export (OTIO, CMX 3600 EDL, FCP XML)",
    description="The timeline's segments and edits as an edit decision list for the conform, "
                "written with OpenTimelineIO: one audio track of dub clips on the master's "
                "programme (record = the master's start timecode + master time, source = the "
                "dub's own timecode), gaps where the dub lacks master material, a marker per "
                "edit, a speed effect (M2) for drift; whole frames at `fps`. "
                "`format`: otio (OTIO JSON), edl (CMX 3600) or fcpxml (FCP 7 XML). A "
                "download (Content-Disposition: attachment). 409 until the analysis has "
                "completed, or when it found no reliable match.",
    response_class=Response,
    responses={200: {"content": {"application/json": {}, "text/plain": {},
                                 "application/xml": {}}}, **_errors(404, 409, 422)},
    openapi_extra={"x-curl-example":
                   "curl -sOJ '{base}/api/v1/analysis/sync/$ID/conform?format=edl'"},
)
def get_conform(
    analysis_id: AnalysisId, service: AnalysisServiceDep,
    format: Annotated[Literal["otio", "edl", "fcpxml"], Query(
        description="otio, edl or fcpxml.")] = "otio",
    fps: Annotated[float | None, Query(gt=0, le=120, description="Frame rate of the edit "
                                       "points (default: the programme's).")] = None,
) -> Response:
    body, filename, media_type = conform_export(service.get(analysis_id), format, fps=fps)
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": content_disposition(filename)})


@router.get(
    "/{analysis_id}", response_model=AnalysisRead, summary="Status, progress and result",
    description="Status (queued, running, completed, failed, cancelled, interrupted), progress "
                "(stage, percent, message, early estimate), timestamps, the result once "
                "completed (with its QC verdict, `result.qc`) and the error otherwise. "
                "`?tolerance=` judges the result again against another tolerance (a preset "
                "name or a JSON object of limits); nothing stored changes.",
    responses=_errors(404, 422),
    openapi_extra={"x-curl-example": "curl -s '{base}/api/v1/analysis/$ID?tolerance=ebu_r37'"},
)
def get_analysis(
    analysis_id: AnalysisId, service: AnalysisServiceDep, settings: SettingsDep,
    tolerance: Annotated[str | None, Query(
        max_length=500, description="Judge the QC verdict against this tolerance instead of "
        "the request's: one_frame (at the request's frame_rate), ebu_r37, itu_bt1359, or "
        '{"early_ms": 40, "late_ms": 60} / {"early_frames": 1, "late_frames": 1, "fps": 25}.',
        examples=["ebu_r37"])] = None,
) -> AnalysisRead:
    row = service.get(analysis_id)
    if tolerance is not None:
        try:
            parse_tolerance(tolerance, fps=(row.request or {}).get("frame_rate"))
        except ToleranceError as exc:
            raise UnprocessableError(str(exc), code="invalid_tolerance",
                                     details={"field": "tolerance", "value": tolerance}) from exc
    return AnalysisRead.model_validate(with_analysis_links(
        view_of(row, settings=settings, tolerance=tolerance)))


_SSE_EXAMPLE = (
    'event: state\nid: 0\ndata: {"type": "state", "status": "queued", ...}\n\n'
    'event: status\nid: 1\ndata: {"type": "status", "status": "running", ...}\n\n'
    'event: progress\nid: 7\ndata: {"type": "progress", "progress": {"stage": "coarse", '
    '"percent": 70.0, "estimate": {"offset_seconds": 0.2345, "confidence": 1.0}}, ...}\n\n'
    'event: completed\nid: 12\ndata: {"type": "completed", "final": true, "result": {...}}\n\n'
)


@router.get(
    "/{analysis_id}/progress/stream", summary="Live progress (Server-Sent Events)",
    description="Sends `state` (the current state) at once, then every `status` and "
                "`progress` event, then one final `completed`, `failed`, `cancelled` or "
                "`interrupted` event, and closes. Works for an analysis that already ended "
                "(state, then its final event). Each event's `id` is its sequence number; "
                "comment pings keep the connection alive every SSE_PING_SECONDS.",
    response_class=EventSourceResponse,
    responses={200: {"description": "An event stream.",
                     "content": {"text/event-stream": {"example": _SSE_EXAMPLE}}},
               **_errors(404)},
    openapi_extra={"x-curl-example": "curl -sN {base}/api/v1/analysis/$ID/progress/stream"},
)
async def stream_progress(analysis_id: AnalysisId, service: AnalysisServiceDep,
                          settings: SettingsDep) -> EventSourceResponse:
    sub, row = await service.open_stream(analysis_id)

    async def events() -> AsyncIterator[ServerSentEvent]:
        async for message in service.stream(sub, row):
            data = with_analysis_links(message.data) if "links" in message.data else message.data
            yield ServerSentEvent(data=json.dumps(data, default=str),
                                  event=message.event, id=str(message.id))

    return EventSourceResponse(events(), ping=settings.SSE_PING_SECONDS,
                               background=BackgroundTask(service.bus.unsubscribe, sub))


@router.delete(
    "/{analysis_id}", response_model=AnalysisRead, summary="Cancel an analysis",
    description="A queued analysis is cancelled at once; a running one stops at its next "
                "check (about a second) and is recorded as cancelled: 200 with the final "
                "state, or 202 if it is still stopping after 5 s. Cancelling a cancelled "
                "analysis is a no-op; one that completed or failed gives 409.",
    responses={202: {"model": AnalysisRead, "description": "Cancellation requested, still "
                                                           "stopping."}, **_errors(404, 409)},
    openapi_extra={"x-curl-example": "curl -s -X DELETE {base}/api/v1/analysis/$ID"},
)
def cancel_analysis(analysis_id: AnalysisId, service: AnalysisServiceDep,
                    settings: SettingsDep, response: Response) -> AnalysisRead:
    row, stopped = service.cancel(analysis_id)
    if not stopped:
        response.status_code = status.HTTP_202_ACCEPTED
    return AnalysisRead.model_validate(with_analysis_links(view_of(row, settings=settings)))
