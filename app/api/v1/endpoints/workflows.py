"""``/api/v1/workflows``: analyze → decide → repair → verify → package. Thin: one service call.

Sign convention: ``offset_seconds > 0`` means the dub is late.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import FileResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.api.deps import SettingsDep, WorkflowServiceDep
from app.api.v1.downloads import attachment
from app.api.v1.links import with_workflow_links, workflow_links
from app.api.v1.schemas.common import MAX_OFFSET
from app.api.v1.schemas.common import error_responses as _errors
from app.api.v1.schemas.workflows import (
    FileType,
    WorkflowCreate,
    WorkflowDeleted,
    WorkflowList,
    WorkflowRead,
    WorkflowSubmitted,
)
from app.db.models import JobStatus

__all__ = ["router"]

router = APIRouter(prefix="/workflows", tags=["workflows"])

WorkflowId = Annotated[str, Path(description="workflow_YYYYMMDD_HHMMSS_<8 hex>", max_length=64,
                                 examples=["workflow_20250101_120000_1a2b3c4d"])]


@router.post(
    "/analyze-and-repair", status_code=status.HTTP_202_ACCEPTED,
    response_model=WorkflowSubmitted, summary="Analyse a pair and repair the dub",
    description="Checks paths and audio at once, then queues: analysis (and per channel for "
                "surround dubs) → decision (repair only when the offset exceeds "
                "repair_threshold_ms and confidence reaches min_confidence; otherwise the "
                "reason is recorded) → repair → verification (the repaired file analysed "
                "again) → reports, plots and the ZIP package. Follow it with GET "
                "/{workflow_id}/status or its stream.",
    responses=_errors(400, 403, 413, 422, 503),
    openapi_extra={"x-curl-example":
                   "curl -s -X POST {base}/api/v1/workflows/analyze-and-repair -H "
                   "'Content-Type: application/json' -d '{\"master_file\": "
                   "\"show/ep101_master.wav\", \"dub_file\": \"show/ep101_de.wav\", "
                   "\"episode_name\": \"EP101 German\"}'"},
)
def submit_workflow(body: WorkflowCreate, service: WorkflowServiceDep,
                    response: Response) -> WorkflowSubmitted:
    row = service.submit(body.to_domain())
    response.headers["Location"] = workflow_links(row.id)["status"]
    return WorkflowSubmitted(workflow_id=row.id, status=JobStatus(row.status),
                             created_at=row.created_at, links=workflow_links(row.id))  # type: ignore[arg-type]


@router.get(
    "/analyze-and-repair/workflows", response_model=WorkflowList,
    summary="List all workflows (as documented; the same as /workflows)",
    description="Newest first; filter by status (repeatable); paginate with limit/offset.",
    responses=_errors(422),
    openapi_extra={"x-curl-example":
                   "curl -s '{base}/api/v1/workflows/analyze-and-repair/workflows?limit=10'"},
)
@router.get(
    "", response_model=WorkflowList, summary="List workflows",
    description="Newest first; filter by status (repeatable); paginate with limit/offset.",
    responses=_errors(422),
    openapi_extra={"x-curl-example": "curl -s '{base}/api/v1/workflows?limit=10'"},
)
def list_workflows(
    service: WorkflowServiceDep,
    status_: Annotated[list[JobStatus] | None, Query(alias="status",
                                                     description="Only these statuses.")
                       ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> WorkflowList:
    rows, total = service.search(statuses=[str(s) for s in status_ or []], limit=limit,
                                 offset=offset)
    return WorkflowList(items=[WorkflowRead.model_validate(with_workflow_links(service.view(r)))
                               for r in rows],
                        total=total, limit=limit, offset=offset)


@router.get(
    "/analyze-and-repair/{workflow_id}/status", response_model=WorkflowRead,
    summary="Get workflow status (as documented; the same as /workflows/{workflow_id}/status)",
    description="Status, the current stage with its progress, every stage's state, the "
                "decision with its reason, the headline result and the files ready.",
    responses=_errors(404),
    openapi_extra={"x-curl-example":
                   "curl -s {base}/api/v1/workflows/analyze-and-repair/$WF/status"},
)
@router.get(
    "/{workflow_id}/status", response_model=WorkflowRead,
    summary="Status, stages, decision and result",
    description="Status, the current stage with its progress, every stage's state, the "
                "decision with its reason, the headline result (analysis, repair, "
                "verification residual) and the files ready for download.",
    responses=_errors(404),
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/workflows/$WF/status"},
)
def workflow_status(workflow_id: WorkflowId, service: WorkflowServiceDep) -> WorkflowRead:
    return WorkflowRead.model_validate(with_workflow_links(service.view(
        service.get(workflow_id))))


@router.get(
    "/{workflow_id}/status/stream", summary="Live stage progress (Server-Sent Events)",
    description="`state` at once, then `status` and `progress` events (stage, percent, "
                "message), then one final `completed`, `failed`, `cancelled` or "
                "`interrupted` event carrying the whole status, and the stream closes.",
    response_class=EventSourceResponse,
    responses={200: {"description": "An event stream.",
                     "content": {"text/event-stream": {}}}, **_errors(404)},
    openapi_extra={"x-curl-example": "curl -sN {base}/api/v1/workflows/$WF/status/stream"},
)
async def workflow_stream(workflow_id: WorkflowId, service: WorkflowServiceDep,
                          settings: SettingsDep) -> EventSourceResponse:
    events = await service.stream(workflow_id)

    async def sse() -> AsyncIterator[ServerSentEvent]:
        async for event, ident, data in events:
            if "links" in data:
                data = with_workflow_links(data)
            yield ServerSentEvent(data=json.dumps(data, default=str), event=event,
                                  id=str(ident))

    return EventSourceResponse(sse(), ping=settings.SSE_PING_SECONDS)


@router.get(
    "/analyze-and-repair/{workflow_id}/download/{file_type}",
    summary="Download a workflow's file (as documented; the same as "
            "/workflows/{workflow_id}/download/{file_type})",
    description="`repaired`, `report`, `formatted`, `plots` or `package`; 404 "
                "`file_not_available` when the workflow has none.",
    response_class=FileResponse, responses=_errors(404, 422),
    openapi_extra={"x-curl-example":
                   "curl -s -OJ {base}/api/v1/workflows/analyze-and-repair/$WF/download/"
                   "package"},
)
@router.get(
    "/{workflow_id}/download/{file_type}", summary="Download a workflow's file",
    description="`repaired` (the repaired audio), `report` (JSON), `formatted` (HTML or "
                "Markdown report), `plots` (ZIP of the PNG plots), `package` (ZIP of all of "
                "it with manifest.json and SHA256SUMS). 404 `file_not_available` when the "
                "workflow has none (e.g. no repaired audio when it declined).",
    response_class=FileResponse, responses=_errors(404, 422),
    openapi_extra={"x-curl-example":
                   "curl -s -OJ {base}/api/v1/workflows/$WF/download/package"},
)
def download(workflow_id: WorkflowId, file_type: FileType,
             service: WorkflowServiceDep) -> FileResponse:
    path = service.file(workflow_id, file_type)
    return attachment(path)


@router.delete(
    "/analyze-and-repair/{workflow_id}", response_model=WorkflowDeleted,
    summary="Cleanup workflow (as documented; the same as DELETE /workflows/{workflow_id})",
    description="Cancels it when queued or running, removes its files from OUTPUT_DIR and "
                "its record.",
    responses=_errors(404),
    openapi_extra={"x-curl-example":
                   "curl -s -X DELETE {base}/api/v1/workflows/analyze-and-repair/$WF"},
)
@router.delete(
    "/{workflow_id}", response_model=WorkflowDeleted, summary="Cancel and delete a workflow",
    description="Cancels it when queued or running, removes its files from OUTPUT_DIR and "
                "its record.",
    responses=_errors(404),
    openapi_extra={"x-curl-example": "curl -s -X DELETE {base}/api/v1/workflows/$WF"},
)
def delete_workflow(workflow_id: WorkflowId, service: WorkflowServiceDep) -> WorkflowDeleted:
    return WorkflowDeleted.model_validate(service.delete(workflow_id))
