"""``/api/v1/health``: the service and each of its components."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.deps import HealthServiceDep
from app.api.v1.schemas.health import HealthRead, LiveRead

__all__ = ["router"]

router = APIRouter(prefix="/health", tags=["health"])


@router.get(
    "", response_model=HealthRead, response_model_by_alias=True,
    summary="Health of the service and its components",
    description="`status` is the worst of database, ffmpeg, ai-models, filesystem and jobs; "
                "`system` adds CPU, memory, load and GPUs. 200 when ok or degraded, 503 when "
                "the service cannot analyse.",
    responses={503: {"model": HealthRead, "description": "A component is in error."}},
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/health"},
)
def health(service: HealthServiceDep, response: Response) -> HealthRead:
    report = HealthRead.model_validate(service.report())
    if report.status == "error":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return report


@router.get(
    "/live", response_model=LiveRead, summary="Liveness: the process answers",
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/health/live"},
)
async def live() -> LiveRead:
    return LiveRead()
