"""``/api/v1/ai/models``: the AI model registry (availability, load path, device, why not)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from app.api.deps import SettingsDep
from app.api.v1.schemas.ai import AiModelList, AiModelRead
from app.api.v1.schemas.common import ERROR_RESPONSES
from app.services.ai import AiService

__all__ = ["router"]

router = APIRouter(prefix="/ai", tags=["ai"])


def get_ai_service(settings: SettingsDep) -> AiService:
    """The registry views of this app's settings (the registry itself is process-wide)."""
    return AiService(settings)


AiServiceDep = Annotated[AiService, Depends(get_ai_service)]


@router.get(
    "/models", response_model=AiModelList, summary="AI models and their availability",
    description="Every model the engine knows (enabled ones first): available or exactly why "
                "not, where it loads from, device, frame rate and embedding size. Nothing is "
                "loaded by this call.",
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/ai/models"},
)
async def list_models(service: AiServiceDep) -> AiModelList:
    return AiModelList.model_validate(await run_in_threadpool(service.list_models))


@router.get(
    "/models/{model_name}", response_model=AiModelRead, summary="One AI model",
    responses={404: ERROR_RESPONSES[404]},
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/ai/models/basic_pitch"},
)
async def get_model(model_name: str, service: AiServiceDep) -> AiModelRead:
    return AiModelRead.model_validate(await run_in_threadpool(service.get_model, model_name))
