"""``/api/v1/ui/state``: the dashboard's saved state (its batch queue), in the database."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from app.api.deps import UiStateServiceDep
from app.api.v1.schemas.common import error_responses as _errors
from app.api.v1.schemas.ui_state import BatchQueueRead, BatchQueueWrite
from app.services.ui_state import BatchQueue

__all__ = ["router"]

router = APIRouter(prefix="/ui/state", tags=["ui-state"])


def _read(queue: BatchQueue) -> BatchQueueRead:
    return BatchQueueRead.model_validate(asdict(queue))


@router.get(
    "/batch-queue", response_model=BatchQueueRead, summary="The dashboard's batch queue",
    description="The stored queue ({items: [], version: 0} when nothing was saved).",
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/ui/state/batch-queue"},
)
def get_batch_queue(service: UiStateServiceDep) -> BatchQueueRead:
    return _read(service.get_queue())


@router.post(
    "/batch-queue", response_model=BatchQueueRead, summary="Save the batch queue",
    description="Replaces the stored queue after validating every row (paths, known method "
                "names, option ranges, unique ids, at most BATCH_MAX_ITEMS rows). With "
                "expected_version, a queue saved meanwhile by someone else gives 409 "
                "ui_state_conflict instead of being overwritten.",
    responses=_errors(409, 422),
    openapi_extra={"x-curl-example":
                   "curl -s -X POST {base}/api/v1/ui/state/batch-queue -H 'Content-Type: "
                   "application/json' -d '{\"items\": [{\"master_file\": "
                   "\"show/ep101_master.wav\", \"dub_file\": \"show/ep101_de.wav\"}]}'"},
)
def save_batch_queue(body: BatchQueueWrite, service: UiStateServiceDep) -> BatchQueueRead:
    items = [i.model_dump(mode="json", exclude_none=True) for i in body.items]
    return _read(service.put_queue(items, expected_version=body.expected_version))


@router.delete(
    "/batch-queue", response_model=BatchQueueRead, summary="Empty the batch queue",
    openapi_extra={"x-curl-example": "curl -s -X DELETE {base}/api/v1/ui/state/batch-queue"},
)
def clear_batch_queue(service: UiStateServiceDep) -> BatchQueueRead:
    return _read(service.clear_queue())
