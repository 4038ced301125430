"""Every v1 resource router, mounted under API_PREFIX by ``create_app()``.

``public_router`` (health) is open to everyone; ``api_router`` (everything else) gets the API key
dependency when API_KEYS is set.
"""

from fastapi import APIRouter

from app.api.v1.endpoints import (
    ai,
    analysis,
    auth,
    batch,
    files,
    health,
    repair,
    reports,
    ui_state,
    workflows,
)

__all__ = ["api_router", "public_router"]

public_router = APIRouter()
public_router.include_router(health.router)

api_router = APIRouter()
api_router.include_router(batch.router)  # before analysis: /analysis/batch/... beats /{id}
api_router.include_router(analysis.router)
api_router.include_router(repair.router)
api_router.include_router(workflows.router)
api_router.include_router(files.router)
api_router.include_router(reports.router)
api_router.include_router(ui_state.router)
api_router.include_router(ai.router)
api_router.include_router(auth.router)
