"""Every v1 resource router, mounted under API_PREFIX by ``create_app()``."""

from fastapi import APIRouter

from app.api.v1.endpoints import analysis, health, repair, workflows

__all__ = ["api_router"]

api_router = APIRouter()
api_router.include_router(analysis.router)
api_router.include_router(health.router)
api_router.include_router(repair.router)
api_router.include_router(workflows.router)
