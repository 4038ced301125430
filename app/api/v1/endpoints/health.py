"""``/api/v1/health``: the service and each of its components."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from app.api.auth import presented_key
from app.api.deps import HealthServiceDep
from app.api.v1.schemas.health import (
    AiModelsHealth,
    ComponentStatusRead,
    FfmpegHealth,
    FilesystemHealth,
    HealthRead,
    HealthStatusRead,
    LiveRead,
    SystemComponentHealth,
)
from app.core.security import KeyRing
from app.services.health import HealthService

__all__ = ["router"]

router = APIRouter(prefix="/health", tags=["health"])


def _keyless(request: Request) -> bool:
    """Whether API keys are on and the request carries no valid one (statuses only)."""
    ring: KeyRing = request.app.state.keyring
    return ring.enabled and ring.lookup(presented_key(request)) is None


@router.get(
    "/status", response_model=HealthRead | HealthStatusRead, response_model_by_alias=True,
    summary="Comprehensive system health (the same as /health)",
    description="The whole health record, as `GET /api/v1/health`: 200 when ok or degraded, "
                "503 when a component is in error.",
    responses={503: {"model": HealthRead | HealthStatusRead,
                      "description": "A component is in error."}},
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/health/status"},
)
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
    if _keyless(request):
        return HealthStatusRead(status=report.status, components=report.components,
                                service=report.service)
    return report


def _system(service: HealthService) -> dict[str, Any]:
    return {"status": "ok", **service.system()}


#: the component routes: path, what it checks, its model, the service call
_COMPONENTS: list[tuple[str, str, type[BaseModel], Callable[[HealthService], dict[str, Any]]]] = [
    ("ffmpeg", "FFmpeg availability: ffmpeg and ffprobe found, with their versions",
     FfmpegHealth, HealthService.ffmpeg),
    ("ai-models", "AI models status: the enabled models, each available or exactly why not",
     AiModelsHealth, HealthService.ai_models),
    ("filesystem", "File system health: MOUNT_PATH readable, UPLOAD_DIR and OUTPUT_DIR "
     "writable with free space", FilesystemHealth, HealthService.filesystem),
    ("system", "System resources: CPU, memory, load, the process, GPUs",
     SystemComponentHealth, _system),
]


def _component_route(name: str, summary: str, model: type[BaseModel],
                     build: Callable[[HealthService], dict[str, Any]]) -> None:
    def component(request: Request, service: HealthServiceDep,
                  response: Response) -> Any:
        info = model.model_validate(build(service))
        state = getattr(info, "status", "ok")
        if state == "error":
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        if _keyless(request):
            return ComponentStatusRead.model_validate({"component": name, "status": state})
        return info

    component.__name__ = f"health_{name.replace('-', '_')}"
    router.add_api_route(
        f"/{name}", component, methods=["GET"], response_model=model | ComponentStatusRead,
        summary=summary, description=f"The `{name}` part of the health record, with its own "
        "status: 200 when ok, degraded or disabled, 503 when it is in error. Open to everyone; "
        "while API_KEYS is set, a request without a valid key gets the status only.",
        responses={503: {"model": model | ComponentStatusRead,
                         "description": "The component is in error."}},
        openapi_extra={"x-curl-example": f"curl -s {{base}}/api/v1/health/{name}"})


for _name, _summary, _model, _build in _COMPONENTS:
    _component_route(_name, _summary, _model, _build)


@router.get(
    "/live", response_model=LiveRead, summary="Liveness: the process answers",
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/health/live"},
)
async def live() -> LiveRead:
    return LiveRead()
