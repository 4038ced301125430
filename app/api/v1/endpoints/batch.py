"""``/api/v1/analysis/batch``: CSV batches — upload, start, status, results, cancel, list.

Each item runs as an ordinary analysis of the job runner (``batch_id`` set). Sign convention:
``offset_seconds > 0`` means the dub is late.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from app.api.deps import BatchServiceDep
from app.api.v1.batch_export import RESULT_COLUMNS, results_csv
from app.api.v1.downloads import content_disposition
from app.api.v1.links import with_batch_links
from app.api.v1.schemas.analysis import analysis_request
from app.api.v1.schemas.batch import (
    BatchCsvValidation,
    BatchList,
    BatchResultsRead,
    BatchStatusRead,
    BatchSummary,
)
from app.api.v1.schemas.common import MAX_OFFSET
from app.api.v1.schemas.common import error_responses as _errors
from app.api.v1.uploads import read_csv_body
from app.services.batch import CSV_MAX_BYTES

__all__ = ["router"]

router = APIRouter(prefix="/analysis/batch", tags=["batch"])

BatchId = Annotated[str, Path(description="batch_YYYYMMDD_HHMMSS_<8 hex>",
                              examples=["batch_20250101_120000_9f8e7d6c"], max_length=64)]
_EXAMPLE_CSV = ("master_file,dub_file,episode_name,methods,window_size,confidence_threshold,"
                "auto_repair\nshow/ep101_master.wav,show/ep101_de.wav,EP101 German,"
                "correlation|onset,10,0.5,false\n")


@router.get(
    "", response_model=BatchList, summary="List batches",
    description="CSV batches, newest first, with their status and totals.",
    responses=_errors(422),
    openapi_extra={"x-curl-example": "curl -s '{base}/api/v1/analysis/batch?limit=20'"},
)
def list_batches(
    service: BatchServiceDep,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> BatchList:
    rows, total = service.page(limit=limit, offset=offset)
    return BatchList(items=[BatchSummary.model_validate(with_batch_links(r)) for r in rows],
                     total=total, limit=limit, offset=offset)


#: the request body of the CSV routes: a multipart file, or the CSV itself
_CSV_REQUEST_BODY = {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary",
                                "description": "The CSV."}}}},
    "text/csv": {"schema": {"type": "string"}, "example": _EXAMPLE_CSV}}}


@router.post(
    "/upload-csv", status_code=status.HTTP_201_CREATED, response_model=BatchStatusRead,
    summary="Upload a CSV of master/dub pairs",
    description="Columns (header row, case-insensitive, comma, semicolon or tab, UTF-8 with or "
                "without BOM): master_file, dub_file, and optionally episode_name, methods "
                "(e.g. correlation|onset), enable_ai, ai_model, window_size, "
                "confidence_threshold, auto_repair, sample_rate, max_offset_seconds, "
                "master_stream, dub_stream, master_channel, dub_channel. Every row is checked "
                "like a single submission (paths inside MOUNT_PATH/UPLOAD_DIR, files that "
                "exist and hold audio, option ranges). Any bad row: 422 invalid_csv listing "
                "each problem with its line, and nothing is stored — unless "
                "?skip_invalid=true, which keeps the valid rows. The batch is stored as "
                "'uploaded': start it with POST /{batch_id}/start.",
    responses=_errors(400, 413, 422),
    openapi_extra={
        "requestBody": _CSV_REQUEST_BODY,
        "x-curl-example": "curl -s -X POST '{base}/api/v1/analysis/batch/upload-csv"
                          "?skip_invalid=false' -F file=@season1.csv"},
)
async def upload_csv(
    request: Request, service: BatchServiceDep,
    skip_invalid: Annotated[bool, Query(description="Keep the valid rows of a CSV with bad "
                                                    "rows (and skip items that fail their "
                                                    "checks again at start).")] = False,
    label: Annotated[str | None, Query(max_length=200, description="Label of the batch.")]
    = None,
) -> BatchStatusRead:
    data, filename = await read_csv_body(request, limit=CSV_MAX_BYTES)
    upload = await run_in_threadpool(service.upload_csv, data, filename=filename, label=label,
                                     skip_invalid=skip_invalid, parse=analysis_request)
    view = await run_in_threadpool(service.status, upload.batch.id)
    return BatchStatusRead.model_validate(with_batch_links(view))


@router.post(
    "/csv/validate", response_model=BatchCsvValidation,
    summary="Check a CSV of master/dub pairs without storing it",
    description="The same parser and checks as POST /upload-csv (columns, separators, "
                "encodings, paths inside MOUNT_PATH/UPLOAD_DIR, files that exist and hold "
                "audio, option ranges), but nothing is stored or started: 200 with the rows "
                "that pass (their values converted: methods as a list, decimal commas read) "
                "and every problem with its line (valid=false when there is any). A CSV that "
                "cannot be read at all (encoding, header) is a 422 with its code. The "
                "dashboard imports CSVs through this.",
    responses=_errors(400, 413, 415, 422),
    openapi_extra={
        "requestBody": _CSV_REQUEST_BODY,
        "x-curl-example": "curl -s -X POST '{base}/api/v1/analysis/batch/csv/validate' "
                          "-F file=@season1.csv"},
)
async def validate_csv(request: Request, service: BatchServiceDep) -> BatchCsvValidation:
    data, _ = await read_csv_body(request, limit=CSV_MAX_BYTES)
    checked = await run_in_threadpool(service.validate_csv, data, parse=analysis_request)
    return BatchCsvValidation.model_validate(checked)


@router.post(
    "/{batch_id}/start", status_code=status.HTTP_202_ACCEPTED, response_model=BatchStatusRead,
    summary="Start a batch",
    description="Checks every item again (files may have changed since the upload), then "
                "creates and queues one analysis per item in the job runner (MAX_WORKERS run "
                "at a time). 409 when already started or cancelled.",
    responses=_errors(404, 409, 422, 503),
    openapi_extra={"x-curl-example":
                   "curl -s -X POST {base}/api/v1/analysis/batch/$BATCH_ID/start"},
)
def start_batch(batch_id: BatchId, service: BatchServiceDep) -> BatchStatusRead:
    view = service.start(batch_id, parse=analysis_request)
    return BatchStatusRead.model_validate(with_batch_links(view))


@router.get(
    "/{batch_id}/status", response_model=BatchStatusRead, summary="Status of a batch",
    description="Per item: status, progress, offset, confidence, verdict; totals, overall "
                "progress and an estimate of the time left (eta_seconds).",
    responses=_errors(404),
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/analysis/batch/$BATCH_ID/status"},
)
def batch_status(batch_id: BatchId, service: BatchServiceDep) -> BatchStatusRead:
    return BatchStatusRead.model_validate(with_batch_links(service.status(batch_id)))


@router.get(
    "/{batch_id}/results", response_model=BatchResultsRead, summary="Results of a batch",
    description="Every item with its result: offset in seconds, milliseconds, samples, frames "
                "and timecode per frame rate, confidence, verdict, drift and edits. "
                "?format=csv gives a spreadsheet (one row per item).",
    responses={200: {"content": {"text/csv": {"example": ",".join(RESULT_COLUMNS)}}},
               **_errors(404)},
    openapi_extra={"x-curl-example":
                   "curl -s '{base}/api/v1/analysis/batch/$BATCH_ID/results?format=csv'"},
)
def batch_results(
    batch_id: BatchId, service: BatchServiceDep,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv.")] = "json",
) -> Any:
    results = with_batch_links(service.results(batch_id))
    if format == "csv":
        return Response(results_csv(results), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 content_disposition(f"{batch_id}_results.csv")})
    return BatchResultsRead.model_validate(results)


@router.delete(
    "/{batch_id}", response_model=BatchStatusRead, summary="Cancel a batch",
    description="Cancels every item that has not finished (queued ones at once, running ones "
                "at the engine's next check) and keeps the results of those that have. "
                "Cancelling again is a no-op.",
    responses=_errors(404),
    openapi_extra={"x-curl-example": "curl -s -X DELETE {base}/api/v1/analysis/batch/$BATCH_ID"},
)
def cancel_batch(batch_id: BatchId, service: BatchServiceDep) -> BatchStatusRead:
    return BatchStatusRead.model_validate(with_batch_links(service.cancel(batch_id)))
