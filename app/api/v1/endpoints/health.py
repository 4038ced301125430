"""``/api/v1/health``: the service and each of its components."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.api.deps import HealthServiceDep
from app.api.v1.schemas.health import HealthRead, HealthStatusRead, LiveRead
from app.core.security import KeyRing, presented_key

__all__ = ["router"]

router = APIRouter(prefix="/health", tags=["health"])


@router.get(
    "", response_model=HealthRead | HealthStatusRead, response_model_by_alias=True,
    summary="Health of the service and its components",
    description="`status` is the worst of database, ffmpeg, ai-models, filesystem and jobs; "
                "`system` adds CPU, memory, load and GPUs. 200 when ok or degraded, 503 when "
                "the service cannot analyse. Open to everyone; while API_KEYS is set, a request "
                "without a valid key gets the statuses only (no paths, broker or system "
                "details).",
    responses={503: {"model": HealthRead | HealthStatusRead,
                      "description": "A component is in error."}},
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/health"},
)
def health(request: Request, service: HealthServiceDep,
           response: Response) -> HealthRead | HealthStatusRead:
    report = HealthRead.model_validate(service.report())
    if report.status == "error":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    ring: KeyRing = request.app.state.keyring
    if ring.enabled and ring.lookup(presented_key(request)) is None:
        return HealthStatusRead(status=report.status, components=report.components,
                                service=report.service)
    return report


@router.get(
    "/live", response_model=LiveRead, summary="Liveness: the process answers",
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/health/live"},
)
async def live() -> LiveRead:
    return LiveRead()
