"""``/api/v1/repair``: per-channel repair and repair from an analysis. Thin: one service call.

Sign convention: an offset > 0 means the dub (or that channel) is late; repair removes that much
from its head, < 0 pads silence.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import FileResponse

from app.api.deps import RepairServiceDep
from app.api.v1.downloads import attachment
from app.api.v1.links import with_repair_links
from app.api.v1.schemas.common import error_responses as _errors
from app.api.v1.schemas.repair import AnalysisRepairCreate, PerChannelRepairCreate, RepairRead

__all__ = ["router"]

router = APIRouter(prefix="/repair", tags=["repair"])

RepairId = Annotated[str, Path(description="repair_YYYYMMDD_HHMMSS_<8 hex>", max_length=64,
                               examples=["repair_20250101_120000_1a2b3c4d"])]


@router.post(
    "/repair/per-channel", status_code=status.HTTP_201_CREATED, response_model=RepairRead,
    summary="Apply per-channel offsets (as documented; the same as /repair/per-channel)",
    description="The same request and answer as `POST /api/v1/repair/per-channel`.",
    responses=_errors(400, 403, 404, 413, 422, 503),
    openapi_extra={"x-curl-example":
                   "curl -s -X POST {base}/api/v1/repair/repair/per-channel -H 'Content-Type: "
                   "application/json' -d '{\"dub_file\": \"show/ep101_de_51.wav\", "
                   "\"offsets_seconds\": [0, 0, 0.12, 0, 0, 0]}'"},
)
@router.post(
    "/per-channel", status_code=status.HTTP_201_CREATED, response_model=RepairRead,
    summary="Shift each channel by its own offset",
    description="A multichannel file (`dub_file`) or a multi-mono set (`dub_files`, one mono "
                "file per channel). Offsets come from `offsets_seconds` or, when left out, are "
                "measured channel by channel against the master. Positive offsets remove "
                "samples from the head, negative ones pad silence; sample-accurate and "
                "bit-exact otherwise, keeping sample rate, channels, layout and bit depth (PCM "
                "in, PCM out unless `output_codec` asks otherwise). With a master, every "
                "repaired channel is measured again and its residual reported. Runs in the "
                "repair pool (MAX_WORKERS at once) while the request waits; when "
                "REPAIR_MAX_PENDING repairs are already running or waiting, 503 "
                "`repair_queue_full` with `Retry-After`.",
    responses=_errors(400, 403, 404, 413, 422, 503),
    openapi_extra={"x-curl-example":
                   "curl -s -X POST {base}/api/v1/repair/per-channel -H 'Content-Type: "
                   "application/json' -d '{\"dub_file\": \"show/ep101_de_51.wav\", "
                   "\"master_file\": \"show/ep101_master_51.wav\", \"offsets_seconds\": "
                   "[0, 0, 0.12, 0, 0, 0]}'"},
)
async def repair_per_channel(body: PerChannelRepairCreate, service: RepairServiceDep,
                             response: Response) -> RepairRead:
    record = with_repair_links(await service.run(service.per_channel, body.to_domain()))
    response.headers["Location"] = record["links"]["self"]
    return RepairRead.model_validate(record)


@router.post(
    "/from-analysis", status_code=status.HTTP_201_CREATED, response_model=RepairRead,
    summary="Repair a dub from its analysis",
    description="Uses a completed analysis' result: a constant offset is removed or padded; "
                "drift is undone by exact rational resampling (pitch restored) or time "
                "stretching (pitch kept); edits get silence where the dub lacks material and "
                "lose what it added, with 5 ms crossfades. The repaired file is analysed "
                "again; a constant residual above 1 ms is shifted out and verified once more. "
                "503 `repair_queue_full` with `Retry-After` when REPAIR_MAX_PENDING repairs "
                "are already running or waiting.",
    responses=_errors(403, 404, 409, 422, 503),
    openapi_extra={"x-curl-example":
                   "curl -s -X POST {base}/api/v1/repair/from-analysis -H 'Content-Type: "
                   "application/json' -d '{\"analysis_id\": \"'$ID'\"}'"},
)
async def repair_from_analysis(body: AnalysisRepairCreate, service: RepairServiceDep,
                               response: Response) -> RepairRead:
    record = with_repair_links(await service.run(service.from_analysis, body.to_domain()))
    response.headers["Location"] = record["links"]["self"]
    return RepairRead.model_validate(record)


@router.get(
    "/{repair_id}", response_model=RepairRead, summary="A repair's record",
    description="What was applied, the files written (with SHA-256) and the verification.",
    responses=_errors(404),
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/repair/$REPAIR_ID"},
)
def get_repair(repair_id: RepairId, service: RepairServiceDep) -> RepairRead:
    return RepairRead.model_validate(with_repair_links(service.get(repair_id)))


@router.get(
    "/{repair_id}/download/{name}", summary="Download a repaired file",
    response_class=FileResponse, responses=_errors(404),
    openapi_extra={"x-curl-example":
                   "curl -s -OJ {base}/api/v1/repair/$REPAIR_ID/download/$NAME"},
)
def download_repair(repair_id: RepairId, name: Annotated[str, Path(max_length=255)],
                    service: RepairServiceDep) -> FileResponse:
    path = service.file(repair_id, name)
    return attachment(path)
